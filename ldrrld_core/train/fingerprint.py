"""What makes two runs comparable: the environment a run ran in and its accuracy under both protocols.

Every ``summary.json`` carries :func:`fingerprint` (toolkit version and commit, torch, CUDA and
cuDNN, the device, the world size and per-process batch, precision, compilation, determinism)
and :func:`accuracy_record` (top-1 at the last epoch and at the best one). ``ldrrld runs diff``
compares two runs by them.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from ..provenance import numeric_environment
from .history import History
from .recipes import Recipe

__all__ = ["BEST_ON_TEST", "fingerprint", "accuracy_record", "git_commit"]

#: How the summary labels the best-epoch accuracy.
BEST_ON_TEST = (
    "best epoch chosen on the test split: the literature's protocol (mdistiller reports it), "
    "optimistic by construction; top1 is the last epoch's"
)


@functools.cache
def git_commit() -> str | None:
    """The toolkit's git commit (``-dirty`` when the checkout has changes), or ``None`` outside a checkout.

    Only the toolkit's own checkout counts: an installed copy inside some other repository (a
    virtual environment in a project folder) has no commit of its own.
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or device.type


def fingerprint(
    recipe: Recipe, *, device: torch.device, world_size: int, autocast_dtype: torch.dtype | None
) -> dict[str, Any]:
    """The environment of a run, as plain JSON values."""
    from .. import __version__

    cudnn = torch.backends.cudnn
    return {
        "ldrrld": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn.version() if cudnn.is_available() else None,
        "device": _device_name(device),
        "device_type": device.type,
        "world_size": world_size,
        "batch_per_process": recipe.batch_size // world_size,
        "batch_size": recipe.batch_size,
        "amp": str(autocast_dtype).removeprefix("torch.") if autocast_dtype else "none",
        "compile": recipe.compile,
        "deterministic": recipe.deterministic,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": cudnn.deterministic,
        "cudnn_benchmark": cudnn.benchmark,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        # threads, CPU capability and the variables that change numerics: a difference here
        # explains runs that differ bitwise (``ldrrld runs diff`` shows it)
        "numeric_environment": numeric_environment(),
    }


def accuracy_record(history: History) -> dict[str, Any]:
    """``top1_last``, ``top1_best`` and ``best_epoch`` (the first epoch of highest test top-1), labelled."""
    top1 = history.column("test_top1")
    best = max(range(len(top1)), key=lambda index: (top1[index], -index))
    return {
        "top1_last": top1[-1],
        "top1_best": top1[best],
        "best_epoch": history.rows[best]["epoch"],
        "top1_best_protocol": BEST_ON_TEST,
    }
