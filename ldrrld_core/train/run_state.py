"""What a run writes to disk and reads back to resume: ``latest.pth`` and ``student.pth``.

* ``latest.pth`` holds everything needed to continue bitwise-identically: the model, the
  optimiser, the gradient scaler, the loss's state, every random-number generator, the history,
  the recipe and the number of finished epochs.
* ``student.pth`` holds the trained weights in the literature's ``{'model': state_dict}`` format
  (plus ``arch``, ``num_classes``, ``epoch`` and ``top1`` for the record), so any
  ``create_model(arch, checkpoint="student.pth")`` or CRD/mdistiller-style loader reads it.

Both are written with :func:`ldrrld_core.io.atomic_save` (a crash never leaves half a file where
a good one was), their SHA-256 recorded in ``checksums.json`` beside them (checked whenever they are
read back), and contain only tensors, numbers, strings and plain containers, so
:func:`ldrrld_core.io.load_file` reads them without the unsafe unpickler.

A run is resumed only with what it started with: every recipe field is either in
:data:`RESUME_FIELDS` (must be equal) or in :data:`RESUME_FREE_FIELDS` (may change, with the
reason), and the teacher's weights are compared by their hash (:func:`teacher_record`). A run started
afresh never replaces a stored run of other settings unless told to (:func:`check_new_run`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..io import CHECKSUMS, CheckpointError, atomic_save, load_file, sha256_file
from ..models.checkpoint import check_finite

__all__ = [
    "LATEST",
    "STUDENT",
    "FORMAT_VERSION",
    "RESUME_FIELDS",
    "RESUME_FREE_FIELDS",
    "rng_state",
    "restore_rng_state",
    "save_training_state",
    "load_training_state",
    "save_student",
    "check_resumable",
    "check_new_run",
    "RUN_FILES",
    "teacher_record",
    "weights_sha256",
]

log = logging.getLogger("ldrrld.train")

LATEST = "latest.pth"
STUDENT = "student.pth"
FORMAT_VERSION = 1

#: Recipe fields that must be the same to continue a run: each changes what the run computes.
RESUME_FIELDS = (
    "model",
    "model_options",
    "teacher",
    "loss",
    "loss_options",
    "data",
    "data_options",
    "teacher_data_options",
    "data_seed",
    "validation_fraction",
    "augment",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "nesterov",
    "warmup_epochs",
    "decay_epochs",
    "decay_rate",
    "schedule",
    "optimizer",
    "decay_norm_and_bias",
    "warmup_lr",
    "min_lr",
    "clip_grad",
    "label_smoothing",
    "mixup",
    "cutmix",
    "seed",
    "amp",
)

#: Recipe fields a resumed run may change, each with the reason that is harmless.
RESUME_FREE_FIELDS = {
    "epochs": "a run is continued up to a new number of epochs (not a cosine one: its rates depend on it)",
    "teacher_checkpoint": "a path; the teacher's weights themselves are compared by their hash",
    "data_root": "a path; the same files may have moved",
    "download": "fetches missing files only",
    "num_workers": "loader speed; the order of the samples is fixed by (seed, epoch)",
    "channels_last": "memory layout: the same arithmetic",
    "compile": "speed: the same arithmetic",
    "deterministic": "kernel choice: the same arithmetic up to rounding",
    "out_dir": "output",
    "save_every": "output",
    "tensorboard": "output",
    "name": "the label of the preset the recipe came from",
}


def rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's (CPU and every GPU's) random generators."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`rng_state` recorded (GPU generators only if as many GPUs are visible)."""
    random.setstate(_as_tuples(state["python"]))
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _as_tuples(value: Any) -> Any:
    """``random.setstate`` wants tuples; a round trip through some loaders turns them into lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save_training_state(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    loss: nn.Module,
    epoch: int,
    history_rows: list[dict],
    recipe: dict,
    teacher: dict | None = None,
) -> Path:
    """Write ``latest.pth`` atomically after ``epoch`` finished (hash recorded); return its path.

    ``teacher`` is the :func:`teacher_record` of the run's teacher, compared on resume.
    """
    return atomic_save(
        {
            "format": FORMAT_VERSION,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "loss": loss.state_dict(),
            "rng": rng_state(),
            "history": history_rows,
            "recipe": recipe,
            "teacher": teacher,
        },
        path,
        record=True,
    )


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``latest.pth`` (or the run folder holding one) safely and check its layout."""
    path = Path(path)
    if path.is_dir():
        path = path / LATEST
    state = load_file(path)
    needed = ("format", "epoch", "model", "optimizer", "scaler", "loss", "rng", "history", "recipe")
    if not isinstance(state, dict) or any(key not in state for key in needed) or not isinstance(state["model"], dict):
        held = ", ".join(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a training checkpoint of this toolkit (it holds: {held}); "
            f"resume needs a {LATEST} written by the trainer. To start from weights "
            "alone, pass the model (create_model(..., checkpoint=...)) instead."
        )
    if state["format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {state['format']}, this toolkit reads "
            f"format {FORMAT_VERSION}; resume it with the version that wrote it"
        )
    check_finite(state["model"], source=f"Training checkpoint {path}")
    state["path"] = str(path)
    return state


def weights_sha256(model: nn.Module) -> str:
    """A SHA-256 of a model's state dict: names, dtypes, shapes and bytes, in key order.

    Equal for equal weights whatever file (or none) they came from, and on any device.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def teacher_record(teacher: nn.Module, file: str | os.PathLike | None = None) -> dict[str, Any]:
    """What a run records of its teacher: its weights' hash, and its file and SHA-256 if it came from one."""
    return {
        "weights_sha256": weights_sha256(teacher),
        "file": None if file is None else str(file),
        "file_sha256": None if file is None else sha256_file(Path(file).expanduser()),
    }


def _differences(
    saved_recipe: dict, recipe: dict, fields, *, saved_teacher: dict | None, teacher: dict | None, there: str
) -> list[str]:
    """Each of ``fields`` in which ``recipe`` differs from ``saved_recipe``, and the teacher's weights
    when both records are known, as ``"name: <saved> <there>, <now> now"``."""
    changed = [
        f"{name}: {saved_recipe.get(name)!r} {there}, {recipe.get(name)!r} now"
        for name in fields
        if saved_recipe.get(name) != recipe.get(name)
    ]
    if saved_teacher and teacher and saved_teacher.get("weights_sha256") != teacher.get("weights_sha256"):
        changed.append(f"teacher weights: {_teacher_text(saved_teacher)} {there}, {_teacher_text(teacher)} now")
    return changed


def check_resumable(
    saved_recipe: dict, recipe: dict, path: str, *, saved_teacher: dict | None = None, teacher: dict | None = None
) -> None:
    """Raise a ``ValueError`` naming every setting in which a resumed run would differ from the saved one.

    Compares the :data:`RESUME_FIELDS` of the two recipes and, when both are known, the hash of the
    teacher's weights (:func:`teacher_record`): a run is continued only with what it started with.
    """
    there = "in the checkpoint"
    # a cosine schedule spans the whole run: another length changes the rates of every epoch
    fields = (*RESUME_FIELDS, "epochs") if recipe.get("schedule") == "cosine" else RESUME_FIELDS
    changed = _differences(saved_recipe, recipe, fields, saved_teacher=saved_teacher, teacher=teacher, there=there)
    if changed:
        raise ValueError(
            f"cannot resume {path} with a different recipe ({'; '.join(changed)}). Resume with "
            "the recipe and teacher the run started with (only "
            f"{', '.join(RESUME_FREE_FIELDS)} may change), or start a new run in another "
            "out_dir."
        )


#: What a run writes into its out_dir (besides TensorBoard's folder): what ``overwrite`` removes first.
RUN_FILES = (LATEST, STUDENT, "summary.json", "recipe.json", "history.csv", "history.json", CHECKSUMS)


def check_new_run(out_dir: Path, recipe: dict, teacher: dict | None, *, overwrite: bool = False) -> None:
    """Before a run starts from scratch in ``out_dir``: never over a stored run of other settings.

    A folder without ``latest.pth``, ``student.pth`` or ``summary.json`` holds no run. One whose
    ``latest.pth`` records the same settings (every field of :data:`RESUME_FIELDS`, ``epochs``,
    and the teacher's weights) is simply trained again. Anything else (other settings, or run files
    that cannot be read) raises a ``ValueError`` naming the folder and the differences, unless
    ``overwrite``: then the stored run's files are removed first, with a warning.
    """
    stored = [name for name in (LATEST, STUDENT, "summary.json") if (out_dir / name).exists()]
    if not stored:
        return
    if overwrite:
        log.warning("overwriting the run stored in %s (overwrite=True)", out_dir)
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
        return
    keep = (
        "it is kept: continue it with resume=True (--resume), choose another out_dir, or replace it "
        "with overwrite=True (--overwrite)"
    )
    try:
        state = load_training_state(out_dir / LATEST)
    except (OSError, ValueError) as error:  # missing or damaged: what it holds cannot be compared
        raise ValueError(f"{out_dir} holds a run ({', '.join(stored)}) whose {LATEST} cannot be read ({error}); {keep}")
    there = f"in {out_dir}"
    fields = (*RESUME_FIELDS, "epochs")
    changed = _differences(
        state["recipe"], recipe, fields, saved_teacher=state.get("teacher"), teacher=teacher, there=there
    )
    if changed:
        raise ValueError(f"{out_dir} holds a run of other settings ({'; '.join(changed)}); {keep}")


def _teacher_text(record: dict) -> str:
    source = f"from {record['file']}" if record.get("file") else "given as a model"
    return f"sha256 {record['weights_sha256'][:12]}... ({source})"


def save_student(path: str | os.PathLike, model: nn.Module, *, arch: str, epoch: int, top1: float) -> Path:
    """Write ``{'model': state_dict, 'arch', 'num_classes', 'epoch', 'top1'}`` (its hash recorded)."""
    return atomic_save(
        {
            "model": model.state_dict(),
            "arch": arch,
            "num_classes": int(getattr(model, "num_classes", -1)),
            "epoch": epoch,
            "top1": top1,
        },
        path,
        record=True,
    )
