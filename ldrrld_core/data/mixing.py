"""Soft targets for a training batch: timm's mixup/cutmix, or label smoothing alone.

Both give the loss ``(B, C)`` class probabilities instead of labels (docs/training.md, "Soft
targets"): :func:`soft_targets` returns a function ``(images, labels) -> (images, targets)``.

* mixup or cutmix on: timm's ``Mixup`` (per batch: with probability 1/2 mixup with ``lam`` from
  Beta(mixup, mixup), else cutmix with Beta(cutmix, cutmix), each image paired with the batch's
  mirror image; the targets carry the label smoothing too). The batch must have an even size.
* label smoothing alone: the images as they are, targets ``(1 - s) * one_hot + s / C`` (timm's
  ``mixup_target`` at ``lam = 1``), whose cross-entropy is timm's ``LabelSmoothingCrossEntropy``.

timm's ``Mixup`` draws from NumPy's global generator, which the trainer seeds and checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor

__all__ = ["soft_targets"]

Mixer = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def soft_targets(
    num_classes: int, *, label_smoothing: float = 0.0, mixup: float = 0.0, cutmix: float = 0.0
) -> Mixer | None:
    """The function that turns a batch's labels into soft targets, or ``None`` when all three settings are 0."""
    if mixup or cutmix:
        from timm.data import Mixup

        return Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, label_smoothing=label_smoothing, num_classes=num_classes)
    if label_smoothing:
        return partial(_smoothed, num_classes=num_classes, smoothing=label_smoothing)
    return None


def _smoothed(images: Tensor, labels: Tensor, *, num_classes: int, smoothing: float) -> tuple[Tensor, Tensor]:
    from timm.data.mixup import mixup_target

    return images, mixup_target(labels, num_classes, lam=1.0, smoothing=smoothing)
