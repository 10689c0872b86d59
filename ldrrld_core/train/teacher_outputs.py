"""The teacher's logits on the training split, computed once where the data cannot change them.

With no augmentation (``augment="none"``) every epoch shows the teacher the same images, so its
logits are the same in every epoch, for every loss and every seed of a recipe. The trainer then
runs the teacher once over the training split, in the data set's order and in batches of the
training batch size, and every step reads its batch's rows instead of running the teacher
(:meth:`~ldrrld_core.data.DeviceLoader.with_sample_values`). On a CPU the result is bitwise that
of the live teacher: a row's logits do not depend on which other images share its batch, as
long as the batch is not tiny, which is why the batch size stays the training one (checked by
``tests/test_teacher_outputs.py`` against uncached runs).

The logits are also written to a cache folder, so other runs on the same data reuse them. The
file's name is a hash (:func:`cache_key`) of everything they depend on: the teacher's weights
(:func:`~ldrrld_core.train.run_state.weights_sha256`) and its computation, as the SHA-256 of its
logits on a fixed probe batch (the split's first :data:`PROBE_SAMPLES` images, bit for bit: a
module given through the API may compute otherwise than its weights say, through a forward hook, a
patched ``forward`` or a changed non-persistent buffer), the data set, its options and the split
(by name, and by a SHA-256 of the split's images and labels, so a changed option can never
read a stale file), the precision (autocast dtype), the memory format, the batch size, the
device kind and the torch version. Files are written atomically and verified on load (their key
and a SHA-256 of the logits); a file that fails is logged, computed again and replaced.

Random augmentation (``"cifar"``), folder data sets streamed through a ``DataLoader`` and runs
under ``torch.compile`` keep the live teacher forward. The folder is ``$LDRRLD_TEACHER_OUTPUTS``,
else ``teacher_outputs`` under ``$LDRRLD_CACHE_DIR`` or ``~/.cache/ldrrld`` (absolute paths only:
an empty or relative variable means the default, never the working folder);
``LDRRLD_TEACHER_OUTPUTS=off`` keeps the logits in memory only.

The cache follows the kernel cache's trust rule (:mod:`ldrrld_core.cache_trust`): the folder and
the folders above it must be safe from other users, and a file is read only when it is a regular
file of this user's. A stored tensor is used only when its dtype, width and finiteness fit and its
first batch equals the teacher's live logits on that batch, to round-off. A teacher that computes
otherwise on the probe batch, by however little, has another key, so it neither reads nor replaces
the plain teacher's file; one that computes the same logits on the probe batch and other logits
elsewhere cannot be told apart from it (the probe is the guard). Where the probe itself is not
repeatable bit for bit (some GPU kernels choose their algorithm per process), the file is only
missed and computed again: speed, never a wrong answer. Any failure, to read or to write, whatever
its type, is one warning and costs speed, never the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..cache_trust import UntrustedCacheError, absolute_setting, cache_base, open_private, private_folder
from ..data import DeviceLoader
from ..io import CheckpointError, atomic_save, load_file

__all__ = ["ENV_FOLDER", "cache_folder", "cache_key", "compute_teacher_outputs", "attach_teacher_outputs"]

log = logging.getLogger("ldrrld.train")

#: The environment variable naming the cache folder (``off`` for none).
ENV_FOLDER = "LDRRLD_TEACHER_OUTPUTS"
_OFF = ("off", "0", "none", "false", "no")
_FORMAT = 2  # bumped when the file's layout or key changes


def cache_folder() -> Path | None:
    """Where cached teacher outputs live, or ``None`` when ``$LDRRLD_TEACHER_OUTPUTS`` is ``off``."""
    configured = os.environ.get(ENV_FOLDER, "")
    if configured.strip().lower() in _OFF:
        return None
    return absolute_setting(ENV_FOLDER) or cache_base() / "teacher_outputs"


def _tensor_sha256(*tensors: Tensor) -> str:
    """SHA-256 of tensors' dtypes, shapes and bytes (on the CPU)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_key(description: dict[str, Any]) -> str:
    """The file name stem of a description: 32 hex digits of the SHA-256 of its sorted JSON."""
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:32]


def describe(
    loader: DeviceLoader,
    teacher_sha256: str,
    data: dict[str, Any],
    autocast_dtype: torch.dtype | None,
    memory_format: torch.memory_format,
    probe: Tensor | None = None,
) -> dict[str, Any]:
    """Everything the teacher's logits on ``loader``'s split depend on (see the module doc);
    ``probe``: the teacher's logits on the probe batch, which stand for its computation."""
    device = loader.device
    description = {
        "format": _FORMAT,
        "teacher_weights_sha256": teacher_sha256,
        "teacher_probe_sha256": None if probe is None else _tensor_sha256(probe),
        "data": data,
        "split_sha256": _tensor_sha256(loader.resident.images, loader.resident.labels),
        "samples": len(loader.dataset),
        "precision": str(autocast_dtype or "float32 (no autocast)"),
        "memory_format": str(memory_format),
        "batch_size": loader.batch_size,
        "device": device.type if device.type != "cuda" else f"cuda {torch.cuda.get_device_name(device)}",
        "torch": torch.__version__,
    }
    return json.loads(json.dumps(description, sort_keys=True, default=str))  # plain JSON values, as stored


def compute_teacher_outputs(
    teacher: nn.Module,
    loader: DeviceLoader,
    *,
    autocast_dtype: torch.dtype | None,
    memory_format: torch.memory_format,
) -> Tensor:
    """The teacher's logits ``(N, C)`` on every sample of ``loader``'s split, in the data set's order.

    Runs as a training step runs the teacher: under ``torch.inference_mode`` and the same
    autocast, in batches of ``loader.batch_size``, images in ``memory_format``. The result is a
    normal tensor (not an inference tensor) in the autocast dtype.
    """
    images = loader.resident.images
    autocast = torch.autocast(loader.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None)
    chunks = []
    with torch.inference_mode(), autocast:
        for start in range(0, len(images), loader.batch_size):
            batch = images[start : start + loader.batch_size]
            chunks.append(teacher(batch.contiguous(memory_format=memory_format) if batch.dim() == 4 else batch))
    return torch.cat([chunk.clone() for chunk in chunks]) if len(chunks) > 1 else chunks[0].clone()


def _load(path: Path, key: str, description: dict[str, Any], device: torch.device, probe: Tensor) -> Tensor | None:
    """The logits in ``path`` if it holds those of ``description``, verified; ``None`` if absent or bad.

    ``probe``: the teacher's live logits on the first batch; the stored ones must have their dtype and
    width, be finite, and equal them on that batch.
    """
    try:
        descriptor = open_private(path, "file")  # a FIFO or another user's file: refused before reading
        if descriptor is None:
            return None
        os.close(descriptor)
        stored = load_file(path)
        logits = stored["logits"]
        if stored.get("key") != key or stored.get("description") != description:
            raise ValueError("it was written for other settings")
        if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != description["samples"]:
            raise ValueError("its logits have the wrong shape")
        if _tensor_sha256(logits) != stored.get("logits_sha256"):
            raise ValueError("its logits do not match their recorded SHA-256")
        if logits.dtype != probe.dtype or logits.shape[1] != probe.shape[1]:
            raise ValueError(
                f"its logits are {logits.dtype} of {logits.shape[1]} classes, the teacher's "
                f"{probe.dtype} of {probe.shape[1]}"
            )
        if not torch.isfinite(logits).all():
            raise ValueError("its logits hold NaN or infinite values")
        first = logits[: len(probe)].to(probe.device, probe.dtype)
        scale = float(probe.abs().max()) if probe.numel() else 1.0
        if not torch.allclose(first, probe, rtol=1e-3, atol=1e-4 * max(scale, 1.0)):
            raise ValueError("its first batch differs from the teacher's logits (the teacher computes otherwise)")
    except (CheckpointError, UntrustedCacheError, ValueError, KeyError, TypeError, OSError) as error:
        log.warning("cached teacher outputs %s are unusable (%s); computing them again", path, error)
        return None
    return logits.to(device)


#: The samples of the probe batch: the teacher's live logits on the split's first few images, which
#: the stored ones must equal (to round-off: a batch of another size may round differently).
PROBE_SAMPLES = 8


class _FirstBatch:
    """The split's first :data:`PROBE_SAMPLES` images, shaped as :func:`compute_teacher_outputs` reads a loader."""

    def __init__(self, loader: DeviceLoader) -> None:
        images = loader.resident.images[:PROBE_SAMPLES]
        self.device, self.batch_size = loader.device, len(images)
        self.resident = type("Resident", (), {"images": images})()


def _first_batch(loader: DeviceLoader) -> Any:
    return _FirstBatch(loader)


def attach_teacher_outputs(
    loader: Any,
    teacher: nn.Module | None,
    *,
    teacher_sha256: str | None,
    data: dict[str, Any],
    autocast_dtype: torch.dtype | None,
    memory_format: torch.memory_format,
    compiled: bool = False,
) -> Any:
    """``loader`` with the teacher's logits attached to its batches, or ``loader`` itself where they may change.

    Args:
        loader: the training loader.
        teacher: the frozen teacher in eval mode, or ``None`` (no teacher: nothing to do).
        teacher_sha256: its :func:`~ldrrld_core.train.run_state.weights_sha256`.
        data: what names the split: the data set, its options and seeds, the split's name.
        autocast_dtype, memory_format: as the training steps use them.
        compiled: the run compiles its models (the compiled teacher may round differently, so
            its live forward is kept).

    Returns:
        A :class:`~ldrrld_core.data.DeviceLoader` yielding ``(x, y, teacher_logits)`` when the
        split is a tensor set without augmentation, else ``loader`` unchanged (``(x, y)``).
    """
    if teacher is None or compiled or not isinstance(loader, DeviceLoader) or loader.augment != "none":
        return loader
    folder = cache_folder()
    if folder is not None:
        try:
            private_folder(folder)
        except (UntrustedCacheError, OSError) as error:
            log.warning("not caching the teacher's outputs: %s", error)
            folder = None
    logits = path = None
    if folder is not None:
        probe = compute_teacher_outputs(
            teacher, _first_batch(loader), autocast_dtype=autocast_dtype, memory_format=memory_format
        )
        description = describe(loader, teacher_sha256 or "", data, autocast_dtype, memory_format, probe)
        key = cache_key(description)
        path = folder / f"{key}.pt"
        logits = _load(path, key, description, loader.device, probe)
    if logits is None:
        logits = compute_teacher_outputs(teacher, loader, autocast_dtype=autocast_dtype, memory_format=memory_format)
        if path is not None:
            record = {"key": key, "description": description, "logits": logits.cpu(), "logits_sha256": ""}
            record["logits_sha256"] = _tensor_sha256(record["logits"])
            try:
                if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
                    raise UntrustedCacheError(f"{path} is not a regular file (a FIFO, device, link or folder)")
                atomic_save(record, path)
            except Exception as error:  # noqa: BLE001 - a full disk, a read-only folder, anything: speed, not the run
                log.warning("could not cache the teacher's outputs in %s (%s: %s)", path, type(error).__name__, error)
    else:
        log.info("teacher outputs for the training split read from %s", path)
    return loader.with_sample_values(logits)
