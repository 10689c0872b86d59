"""Seeds, determinism and device choice: the few global switches a reproducible run needs."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "set_deterministic", "default_device", "fast_mode"]


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (every device) and return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_deterministic(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (bitwise-repeatable runs on CPU; slower on CUDA).

    Sets ``CUBLAS_WORKSPACE_CONFIG`` as CUDA requires, and ``warn_only`` so an operation without a
    deterministic kernel warns instead of failing a long run.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


def default_device() -> torch.device:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def fast_mode() -> bool:
    """Whether notebooks and demos should use their small CI-sized settings.

    ``LDRRLD_FAST=1`` or ``0`` decides; unset, fast mode is on unless a GPU is present.
    """
    value = os.environ.get("LDRRLD_FAST")
    if value is None:
        return not torch.cuda.is_available()
    return value.strip().lower() not in ("0", "false", "no", "")
