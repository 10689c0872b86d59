"""Compiled forms of the fused LDRRLD forward: :mod:`.cpu_ldrrld` (C, for a CPU) and :mod:`.triton_ldrrld` (CUDA).

Each exposes ``ENABLED`` (with an environment switch), ``available(device, dtype)`` and a
``ldrrld_rows`` that returns what the torch form :func:`ldrrld_core.losses.fused._ldrrld_rows`
returns. :func:`ldrrld_core.losses.fused.fused_ldrrld` picks the first that applies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["torch_only"]


@contextlib.contextmanager
def torch_only() -> Iterator[None]:
    """Within this block the losses run their torch forms: both compiled kernels are switched off.

    For comparisons and debugging (``benchmarks/loss_speed.py`` times ``ldrrld-torch`` this way);
    for a whole process, set ``LDRRLD_CPU_KERNEL=0`` and ``LDRRLD_TRITON=0`` instead. Not thread-safe.
    """
    from . import cpu_ldrrld, triton_ldrrld  # here: importing Triton is slow, and kernels/ loads with the relations

    saved = cpu_ldrrld.ENABLED, triton_ldrrld.ENABLED
    cpu_ldrrld.ENABLED = triton_ldrrld.ENABLED = False
    try:
        yield
    finally:
        cpu_ldrrld.ENABLED, triton_ldrrld.ENABLED = saved
