"""Load model weights from the checkpoint files users bring, strictly and safely.

Accepted layouts of the file (read with :func:`ldrrld_core.io.load_file`, so code in it never
runs unless the caller passes ``trusted=True``):

* ``{'model': state_dict, ...}``: the distillation literature's format (CRD, mdistiller and this
  toolkit's trainer), other entries such as ``epoch`` or ``optimizer`` are ignored;
* ``{'state_dict': state_dict, ...}`` or ``{'model_state_dict': state_dict, ...}``;
* a raw state dict ``{name: tensor}``.

Keys written by wrappers are mapped back to the model's own names: ``module.`` (DataParallel /
DistributedDataParallel), ``_orig_mod.`` (``torch.compile``), ``model.`` (a training wrapper
holding the network as ``.model``) and ``student.`` (a distiller that also holds a
``teacher.``; only the student's tensors are kept). The load is strict: every tensor of the model
must be in the file with the same shape and the file may hold nothing else, and every floating
tensor must be finite (a file with NaN or infinite weights is refused, naming the tensors). The
single tolerance is BatchNorm's ``num_batches_tracked`` counters, which files from PyTorch before
0.4.1 lack entirely (a file that has some of them must have all).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..io import CheckpointError, load_file
from .catalog import list_models

__all__ = [
    "CheckpointMismatchError",
    "NonFiniteWeightsError",
    "STATE_DICT_ENTRIES",
    "check_finite",
    "extract_state_dict",
    "load_checkpoint",
    "load_state_dict_strict",
    "strip_wrapper_prefixes",
]

#: Entries of a checkpoint dict that may hold the model's state dict, tried in this order.
STATE_DICT_ENTRIES = ("model", "state_dict", "model_state_dict")

#: Prefixes that wrappers add in front of every key.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")
#: How many names each list of an error message shows before "... and N more".
_LISTED = 8


class CheckpointMismatchError(CheckpointError):
    """The state dict does not fit the model: keys missing, unexpected, or of the wrong shape."""


class NonFiniteWeightsError(CheckpointError):
    """The state dict holds NaN or infinite values: the run that saved it diverged, or the file is damaged."""


def check_finite(state_dict: Mapping[str, Tensor], *, source: str = "The state dict") -> None:
    """Raise :class:`NonFiniteWeightsError` naming every floating tensor with a NaN or an infinity."""
    bad = []
    for key, value in state_dict.items():
        if isinstance(value, Tensor) and (value.is_floating_point() or value.is_complex()):
            finite = torch.isfinite(value)
            if not bool(finite.all()):
                nans = int(torch.isnan(value).sum())
                bad.append(f"{key} ({nans} NaN, {int((~finite).sum()) - nans} infinite of {value.numel()})")
    if bad:
        raise NonFiniteWeightsError(
            f"{source} holds non-finite weights in {len(bad)} tensor(s): {_listing(bad)}. A model with these "
            "weights outputs NaN: the run that saved them diverged, or the file is damaged. Use an earlier "
            "checkpoint of that run, or train again (lower lr)."
        )


def extract_state_dict(obj: Any, *, source: str = "the checkpoint") -> dict[str, Tensor]:
    """The state dict inside a loaded checkpoint object.

    Args:
        obj: what :func:`ldrrld_core.io.load_file` returned: a raw state dict, a dict with one of
            :data:`STATE_DICT_ENTRIES`, or (only from trusted files) a whole ``nn.Module``.
        source: how to name the checkpoint in error messages (usually its path).

    Returns:
        A new ``dict`` mapping parameter and buffer names to tensors.

    Raises:
        CheckpointError: no state dict found; the message lists what the object holds.
    """
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict())
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for entry in STATE_DICT_ENTRIES:
            if _is_state_dict(obj.get(entry)):
                return dict(obj[entry])
        entries = ", ".join(repr(key) for key in list(obj)[:_LISTED])
        raise CheckpointError(
            f"{source} holds a dict with entries {entries}{', ...' if len(obj) > _LISTED else ''} "
            f"but no state dict: expected a dict of tensors, or one under "
            f"{' / '.join(map(repr, STATE_DICT_ENTRIES))}. If the weights sit under another "
            "entry, load the file with ldrrld_core.io.load_file and pass that entry to "
            "load_state_dict_strict."
        )
    raise CheckpointError(
        f"{source} holds a {type(obj).__name__}, not a state dict (a dict of "
        "tensors, possibly under 'model' or 'state_dict')."
    )


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(key, str) and isinstance(value, Tensor) for key, value in obj.items())
    )


def strip_wrapper_prefixes(state_dict: Mapping[str, Tensor], model_keys: Iterable[str] = ()) -> dict[str, Tensor]:
    """Remove the key prefixes that training wrappers add, as long as any are there.

    A prefix from ``module.``, ``_orig_mod.``, ``model.`` is removed when every key carries it
    (and the model's own keys do not all carry it). A distiller's state dict, whose keys all start
    with ``student.`` or ``teacher.``, is reduced to the student's tensors. Nested wrappers such
    as ``module._orig_mod.`` are unwound one layer at a time.

    Args:
        state_dict: the tensors as found in the file.
        model_keys: the keys of the model they are meant for (a prefix the model itself uses is
            never removed).

    Returns:
        A new dict with the same tensors under the model-side names.
    """
    own = list(model_keys)
    result = dict(state_dict)
    while result:
        if (
            all(key.startswith(("student.", "teacher.")) for key in result)
            and any(key.startswith("student.") for key in result)
            and not _all_start_with(own, "student.")
        ):
            result = {key[len("student.") :]: value for key, value in result.items() if key.startswith("student.")}
            continue
        prefix = next(
            (
                candidate
                for candidate in _WRAPPER_PREFIXES
                if _all_start_with(result, candidate) and not _all_start_with(own, candidate)
            ),
            None,
        )
        if prefix is None:
            return result
        result = {key[len(prefix) :]: value for key, value in result.items()}
    return result


def _all_start_with(keys: Iterable[str], prefix: str) -> bool:
    keys = list(keys)
    return bool(keys) and all(key.startswith(prefix) for key in keys)


def load_state_dict_strict(
    model: nn.Module, state_dict: Mapping[str, Tensor], *, source: str = "The state dict"
) -> nn.Module:
    """Copy ``state_dict`` into ``model`` after checking that it fits exactly.

    Wrapper prefixes are removed first (:func:`strip_wrapper_prefixes`). Nothing is copied unless
    every check passes, so a failed load leaves the model as it was. Tensors are copied onto the
    model's own device and dtype.

    Args:
        model: the network to fill.
        state_dict: names to tensors.
        source: how error messages name the origin of ``state_dict`` (e.g. ``"Checkpoint x.pth"``).

    Returns:
        ``model``, for chaining.

    Raises:
        CheckpointMismatchError: listing missing keys, unexpected keys and shape mismatches
            (each list shortened to a readable length), with a hint when only the number of
            classes differs.
        NonFiniteWeightsError: a tensor holds NaN or infinite values (each such tensor named).
    """
    expected = model.state_dict()
    given = strip_wrapper_prefixes(state_dict, expected)
    check_finite(given, source=source)
    # Files from PyTorch < 0.4.1 have no BatchNorm counters at all; only then may they be absent.
    counters_optional = not any(key.endswith("num_batches_tracked") for key in given)
    missing = [
        key for key in expected if key not in given and not (counters_optional and key.endswith("num_batches_tracked"))
    ]
    unexpected = [key for key in given if key not in expected]
    wrong_shape = [
        (key, tuple(given[key].shape), tuple(expected[key].shape))
        for key in expected
        if key in given and given[key].shape != expected[key].shape
    ]
    if missing or unexpected or wrong_shape:
        raise CheckpointMismatchError(_mismatch_message(model, source, given, missing, unexpected, wrong_shape))
    wrong_kind = [
        f"{key} ({given[key].dtype} in the file, {expected[key].dtype} in the model)"
        for key in expected
        if key in given and _kind(given[key]) != _kind(expected[key])
    ]
    if wrong_kind:  # copying would cast silently: integers into weights, or fractions into counters
        raise CheckpointMismatchError(
            f"{source} holds tensors of another kind than the model's: "
            f"{_listing(wrong_kind)}. The file was not saved from this model."
        )
    for key, value in expected.items():  # only BatchNorm counters can be absent at this point
        given.setdefault(key, value)
    model.load_state_dict(given, strict=True)
    return model


def _names_another_model(saved_arch: object, arch: object) -> bool:
    """Whether a file's ``arch`` entry (the trainer writes one) is another registered model than ``arch``.

    Names outside the registry (other projects' conventions) are not compared.
    """
    return isinstance(saved_arch, str) and isinstance(arch, str) and saved_arch != arch and saved_arch in list_models()


def _kind(tensor: Tensor) -> str:
    """``"float"``, ``"complex"``, ``"bool"`` or ``"int"``: what a copy between them would change."""
    if tensor.is_floating_point():
        return "float"
    return "complex" if tensor.is_complex() else "bool" if tensor.dtype == torch.bool else "int"


def load_checkpoint(
    model: nn.Module, path: str | os.PathLike, *, trusted: bool = False, sha256: str | None = None
) -> nn.Module:
    """Load the weights stored in the file ``path`` into ``model``, strictly.

    Args:
        model: the network to fill (on any device).
        path: a checkpoint in one of the layouts of this module's docstring.
        trusted: allow full unpickling for files that hold Python objects besides tensors (this
            runs code from the file: only for files from a trusted source).
        sha256: the file's expected SHA-256 (e.g. as its publisher lists it); ``None`` checks the
            record a run of this toolkit keeps beside its files, if there is one.

    Returns:
        ``model``, for chaining.

    Raises:
        CheckpointNotFoundError: no such file (this and the next three: see :func:`ldrrld_core.io.load_file`).
        CorruptCheckpointError: not a complete ``torch.save`` file.
        UnsafeCheckpointError: only a code-running unpickler could load it, and ``trusted`` is off.
        ChecksumMismatchError: its SHA-256 differs from the one given or recorded.
        CheckpointError: the file holds no state dict.
        CheckpointMismatchError: the state dict does not fit ``model``.
        NonFiniteWeightsError: the weights hold NaN or infinite values.
    """
    obj = load_file(path, map_location="cpu", trusted=trusted, sha256=sha256)
    saved_arch, arch = (obj.get("arch") if isinstance(obj, Mapping) else None), getattr(model, "arch", None)
    if _names_another_model(saved_arch, arch):
        raise CheckpointMismatchError(
            f"Checkpoint {path} was saved from the model {saved_arch!r} (its 'arch' "
            f"entry), not {arch!r}; create the model with create_model({saved_arch!r}, "
            "...)"
        )
    state_dict = extract_state_dict(obj, source=f"Checkpoint {path}")
    return load_state_dict_strict(model, state_dict, source=f"Checkpoint {path}")


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f", ... and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def _grouped(keys: list[str]) -> list[str]:
    """Keys of one module written together: ``bn1.weight, bn1.bias`` -> ``bn1.{weight,bias}``."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        module, _, tensor = key.rpartition(".")
        groups.setdefault(module, []).append(tensor)
    return [
        (f"{module}." if module else "") + (tensors[0] if len(tensors) == 1 else "{" + ",".join(tensors) + "}")
        for module, tensors in groups.items()
    ]


def _mismatch_message(
    model: nn.Module,
    source: str,
    given: Mapping[str, Tensor],
    missing: list[str],
    unexpected: list[str],
    wrong_shape: list[tuple[str, tuple, tuple]],
) -> str:
    name = getattr(model, "arch", type(model).__name__)
    lines = [
        f"{source} does not fit the model {name!r}: {len(missing)} missing, "
        f"{len(unexpected)} unexpected and {len(wrong_shape)} wrongly shaped tensors."
    ]
    if missing:
        lines.append(f"  in the model but not in the file: {_listing(_grouped(missing))}")
    if unexpected:
        lines.append(f"  in the file but not in the model: {_listing(_grouped(unexpected))}")
    if wrong_shape:
        described = [
            f"{key} {file_shape} in the file, {model_shape} in the model"
            for key, file_shape, model_shape in wrong_shape
        ]
        lines.append(f"  wrong shape: {_listing(described)}")
    head_outputs = _head_outputs_if_only_difference(model, given, missing, unexpected, wrong_shape)
    if head_outputs is not None:
        lines.append(
            f"Only the classifier differs: the file was trained for {head_outputs} "
            f"classes. Create the model with num_classes={head_outputs}."
        )
    else:
        top_level = sorted({key.split(".", 1)[0] for key in given})
        lines.append(
            f"The file's top-level modules are {_listing(top_level)}. Check that the "
            "model name (and num_classes) match the architecture the file was saved "
            "from."
        )
    return "\n".join(lines)


def _head_outputs_if_only_difference(
    model: nn.Module,
    given: Mapping[str, Tensor],
    missing: list[str],
    unexpected: list[str],
    wrong_shape: list[tuple[str, tuple, tuple]],
) -> int | None:
    """The file's number of classes when the head's shape is the only mismatch, else ``None``."""
    get_classifier = getattr(model, "get_classifier", None)
    if missing or unexpected or get_classifier is None:
        return None
    head = get_classifier()
    head_linears = [sub for sub in head.modules() if isinstance(sub, nn.Linear)]
    if not head_linears:
        return None
    last = head_linears[-1]
    head_name = next((prefix for prefix, module in model.named_modules() if module is last), None)
    head_keys = {f"{head_name}.weight", f"{head_name}.bias"}
    if head_name is None or not {key for key, _, _ in wrong_shape} <= head_keys:
        return None
    return int(given[f"{head_name}.weight"].shape[0])
