"""Data-parallel training on PyTorch's own engine: ``torchrun`` set-up, ranks and reductions.

Launch any training entry point with ``torchrun`` and it trains on every process::

    torchrun --nproc_per_node 4 -m ldrrld_core distill --recipe cifar100 ...

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_distributed` reads them, joins the process group (NCCL on GPUs, Gloo on CPUs) and
pins each process to its GPU. Without those variables everything here is a no-op on one process,
so the same code serves a laptop and a cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistributedContext", "init_distributed", "current_context", "close_distributed", "all_reduce_sum"]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly one-process) data-parallel job.

    Attributes:
        rank: this process's index, ``0 .. world_size - 1``.
        world_size: number of processes.
        local_rank: index on this machine (which GPU to use).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the one process that logs and writes files (rank 0)."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    def device(self, requested: torch.device | str | None = None) -> torch.device:
        """The device this process trains on.

        ``requested`` decides the type (default: CUDA when present, else CPU); a CUDA device
        without an index becomes ``cuda:<local_rank>`` so every process gets its own GPU.
        """
        if requested is None:
            requested = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(requested)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", self.local_rank if self.enabled else torch.cuda.current_device())
        return device


def _launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device | str | None = None) -> DistributedContext:
    """Join the process group that ``torchrun`` describes in the environment, once.

    Uses NCCL when ``device`` is (or defaults to) CUDA and Gloo otherwise. Returns a
    one-process context when the environment describes no job; calling it again returns the
    context of the group already joined.
    """
    if dist.is_available() and dist.is_initialized():
        return current_context()
    if not _launched_by_torchrun():
        return DistributedContext()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise RuntimeError(
                f"WORLD_SIZE is set but {name} is not: launch with "
                "`torchrun --nproc_per_node N ...` rather than setting WORLD_SIZE by hand"
            )
    local_rank = int(os.environ["LOCAL_RANK"])
    device_type = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    if device_type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) are "
                "visible; use --nproc_per_node <= the number of GPUs"
            )
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return current_context()


def current_context() -> DistributedContext:
    """The context of the process group already joined, or a one-process context."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistributedContext()
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
    )


def close_distributed() -> None:
    """Leave the process group if one was joined (safe to call in any case)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes in place and return it; unchanged on one process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
