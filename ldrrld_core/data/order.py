"""Which samples a rank sees in an epoch, and in what order; shared by both loaders.

Randomness is derived from ``(seed, epoch, ...)`` through NumPy's ``SeedSequence``, which mixes
its inputs, so neighbouring seeds and epochs give unrelated streams (unlike ``seed + epoch``,
where seed 0 at epoch 1 would repeat seed 1 at epoch 0). Orders are drawn on the CPU and are
therefore the same whatever device trains.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

__all__ = ["derive_generator", "epoch_order", "check_shard", "ShardSampler"]

# Stream tags keep the order, the augmentation and the mixing of an epoch independent of each other.
ORDER_STREAM = 0
AUGMENT_STREAM = 1
MIX_STREAM = 2  # mixup/cutmix draws (ldrrld_core.data.mixing)


def derive_generator(*keys: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by mixing the non-negative integers ``keys``."""
    if any(key < 0 for key in keys):
        raise ValueError(f"seeds, epochs and ranks must be non-negative integers, got {keys}")
    state = np.random.SeedSequence(list(keys)).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def check_shard(rank: int, world_size: int) -> None:
    """Raise a ``ValueError`` unless ``0 <= rank < world_size``."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need world_size >= 1 and 0 <= rank < world_size, got rank={rank}, world_size={world_size}")


def epoch_order(
    num_samples: int, *, shuffle: bool, seed: int, epoch: int, rank: int = 0, world_size: int = 1, equal_shards: bool
) -> Tensor:
    """Indices of the samples rank ``rank`` visits in epoch ``epoch``, in order.

    One permutation of ``range(num_samples)`` is drawn from ``(seed, epoch)`` (or the identity
    when ``shuffle`` is false); rank ``r`` takes positions ``r, r + world_size, ...`` of it, so
    the ranks' shards are disjoint. With ``equal_shards`` the permutation is first cut to a
    multiple of ``world_size`` so every rank gets ``num_samples // world_size`` indices (what
    DDP training needs: equal step counts; the few samples dropped change every epoch).
    Without it the shards cover every sample exactly once and differ in size by at most one
    (what evaluation needs: summed counts are exact).

    Returns:
        ``(n,)`` long CPU tensor.
    """
    check_shard(rank, world_size)
    if shuffle:
        order = torch.randperm(num_samples, generator=derive_generator(seed, epoch, ORDER_STREAM))
    else:
        order = torch.arange(num_samples)
    if equal_shards:
        if num_samples < world_size:
            raise ValueError(f"{num_samples} samples cannot be split equally over {world_size} ranks")
        order = order[: num_samples - num_samples % world_size]
    return order[rank::world_size]


class ShardSampler(Sampler[int]):
    """A torch ``Sampler`` over :func:`epoch_order`, with ``set_epoch`` like ``DistributedSampler``.

    Unlike ``DistributedSampler`` it never repeats samples to even out the ranks: evaluation
    shards cover the set exactly once and training shards drop the remainder instead.
    """

    def __init__(
        self, num_samples: int, *, shuffle: bool, seed: int, rank: int, world_size: int, equal_shards: bool
    ) -> None:
        check_shard(rank, world_size)
        self.num_samples, self.shuffle, self.seed = num_samples, shuffle, seed
        self.rank, self.world_size, self.equal_shards = rank, world_size, equal_shards
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self, epoch: int | None = None) -> Tensor:
        """The ``(n,)`` indices of this rank in ``epoch`` (default: the epoch last set)."""
        return epoch_order(
            self.num_samples,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch if epoch is None else epoch,
            rank=self.rank,
            world_size=self.world_size,
            equal_shards=self.equal_shards,
        )

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        if self.equal_shards:
            return self.num_samples // self.world_size
        return len(range(self.rank, self.num_samples, self.world_size))
