"""Soft targets for a training batch: timm's mixup/cutmix, or label smoothing alone.

Both give the loss ``(B, C)`` class probabilities instead of labels (docs/training.md, "Soft
targets"): :func:`soft_targets` returns a function ``(images, labels) -> (images, targets)``.

* mixup or cutmix on: timm's ``Mixup`` (per batch: with probability 1/2 mixup with ``lam`` from
  Beta(mixup, mixup), else cutmix with Beta(cutmix, cutmix), each image paired with the batch's
  mirror image; the targets carry the label smoothing too). The batch must have an even size.
* label smoothing alone: the images as they are, targets ``(1 - s) * one_hot + s / C`` (timm's
  ``mixup_target`` at ``lam = 1``), whose cross-entropy is timm's ``LabelSmoothingCrossEntropy``.

**Whose draws.** timm's ``Mixup`` draws from NumPy's global generator. Seeded alike on every
process, that would give every data-parallel process the same mixup/cutmix choices, ``lam`` and
boxes in every step (OFA-KD avoids it by seeding each process with ``seed + rank``). Here each
batch's draws come from a generator of their own, derived from ``(seed, epoch, MIX_STREAM, rank,
step)`` through NumPy's ``SeedSequence`` (as the data order and augmentation are, see
:mod:`ldrrld_core.data.order`): every rank draws its own, the same ones in every run with the same
seed, a resumed run draws what an uninterrupted one would (nothing to checkpoint: the trainer calls
:meth:`RankMixup.set_epoch` at each epoch), and NumPy's global generator is left as it was. Mixing
the keys rather than adding them keeps seed 1 on rank 0 apart from seed 0 on rank 1.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from torch import Tensor

from .order import MIX_STREAM

__all__ = ["soft_targets", "RankMixup"]

Mixer = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


class RankMixup:
    """timm's ``Mixup`` whose draws belong to one process: ``(seed, rank)``, then the epoch and step.

    Args:
        seed: the run's seed (``Recipe.seed``).
        rank: this process's rank in a data-parallel job (0 alone).
        **options: timm ``Mixup``'s arguments.

    Call :meth:`set_epoch` before each epoch; each call then takes the next step's draws.
    """

    def __init__(self, *, seed: int = 0, rank: int = 0, **options) -> None:
        from timm.data import Mixup

        if seed < 0 or rank < 0:
            raise ValueError(f"seed and rank must be non-negative integers, got seed={seed}, rank={rank}")
        self.seed, self.rank = seed, rank
        self.epoch, self.step = 0, 0
        self.mixup = Mixup(**options)

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch``: its first batch takes step 0's draws."""
        self.epoch, self.step = epoch, 0

    def draw_seed(self, step: int | None = None) -> np.ndarray:
        """The words that seed step ``step``'s draws (the next step's by default)."""
        step = self.step if step is None else step
        keys = [self.seed, self.epoch, MIX_STREAM, self.rank, step]
        return np.random.SeedSequence(keys).generate_state(4, dtype=np.uint32)

    def __call__(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        saved = np.random.get_state()
        np.random.seed(self.draw_seed())  # timm draws from the global generator: lend it this step's
        try:
            mixed = self.mixup(images, labels)
        finally:
            np.random.set_state(saved)
        self.step += 1
        return mixed


def soft_targets(
    num_classes: int,
    *,
    label_smoothing: float = 0.0,
    mixup: float = 0.0,
    cutmix: float = 0.0,
    seed: int = 0,
    rank: int = 0,
) -> Mixer | None:
    """The function that turns a batch's labels into soft targets, or ``None`` when all three settings are 0.

    With mixup or cutmix it is a :class:`RankMixup` drawing from ``(seed, rank)``; ``seed`` and
    ``rank`` change nothing for label smoothing alone, which draws nothing.
    """
    if mixup or cutmix:
        return RankMixup(
            seed=seed,
            rank=rank,
            mixup_alpha=mixup,
            cutmix_alpha=cutmix,
            label_smoothing=label_smoothing,
            num_classes=num_classes,
        )
    if label_smoothing:
        return partial(_smoothed, num_classes=num_classes, smoothing=label_smoothing)
    return None


def _smoothed(images: Tensor, labels: Tensor, *, num_classes: int, smoothing: float) -> tuple[Tensor, Tensor]:
    from timm.data.mixup import mixup_target

    return images, mixup_target(labels, num_classes, lam=1.0, smoothing=smoothing)
