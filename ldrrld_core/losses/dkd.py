"""Decoupled knowledge distillation (Zhao et al., CVPR 2022).

KD's KL splits into a target-class part (TCKD: the binary "target vs. everything else"
distribution) and a non-target part (NCKD: the softmax over the non-target classes alone);
DKD weights them separately.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..relations import exclusion_bias, kl_excluding, kl_from_logits, upcast
from .base import DistillationLoss, cross_entropy
from .checks import check_logit_pair, check_non_negative, check_positive, check_target

__all__ = ["dkd_terms", "dkd_loss", "DKDLoss"]


def dkd_terms(student_logits: Tensor, teacher_logits: Tensor, target: Tensor,
              temperature: float = 4.0, *, validate: bool = True) -> tuple[Tensor, Tensor]:
    """The two DKD terms ``(tckd, nckd)``, each ``T^2`` times a batch-mean KL (scalars, at least float32).

    Shapes: ``(B, C), (B, C), (B,)``. The non-target softmax leaves the target class out
    exactly (see :func:`~ldrrld_core.relations.kl_excluding`), not with a large negative mask.
    """
    check_positive("temperature", temperature)
    if validate:
        check_logit_pair(student_logits, teacher_logits)
        check_target(target, student_logits.shape[0], student_logits.shape[1])
    num_classes = student_logits.shape[1]
    if num_classes < 2:
        raise ValueError("DKD needs at least 2 classes (a target and a non-target)")
    z_s = upcast(student_logits) / temperature
    z_t = upcast(teacher_logits) / temperature
    label = target[:, None]                                              # (B, 1)
    not_target = exclusion_bias(label, z_s)                              # (B, C): -inf at y

    def target_vs_rest(z: Tensor) -> Tensor:
        """Binary logits ``[z_y, logsumexp(z_others)]``: their softmax is ``[p_y, 1 - p_y]``. (B, 2)"""
        return torch.stack((z.gather(1, label)[:, 0], (z + not_target).logsumexp(1)), dim=1)

    tckd = temperature ** 2 * kl_from_logits(target_vs_rest(z_t), target_vs_rest(z_s)).mean()
    nckd = temperature ** 2 * kl_excluding(z_t, z_s, excluded=label).mean()
    return tckd, nckd


def dkd_loss(student_logits: Tensor, teacher_logits: Tensor, target: Tensor, alpha: float = 1.0,
             beta: float = 8.0, temperature: float = 4.0, *, validate: bool = True) -> Tensor:
    """``alpha * TCKD + beta * NCKD``; defaults are DKD's CIFAR-100 setting. Returns a scalar."""
    tckd, nckd = dkd_terms(student_logits, teacher_logits, target, temperature, validate=validate)
    return alpha * tckd + beta * nckd


class DKDLoss(DistillationLoss):
    """``ce_weight * CE + warm-up * (alpha * TCKD + beta * NCKD)``.

    The DKD part ramps up linearly over the first ``warmup_epochs`` epochs
    (factor ``min(epoch / warmup_epochs, 1)``), as DKD's recipe does; call :meth:`set_epoch`.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 8.0, temperature: float = 4.0,
                 ce_weight: float = 1.0, warmup_epochs: int = 20, validate: bool = True) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_non_negative("warmup_epochs", warmup_epochs)
        self.alpha, self.beta, self.temperature = alpha, beta, temperature
        self.ce_weight, self.warmup_epochs, self.validate = ce_weight, warmup_epochs, validate
        self.warmup = 1.0

    def hparams(self) -> dict[str, object]:
        return {"alpha": self.alpha, "beta": self.beta, "temperature": self.temperature,
                "ce_weight": self.ce_weight, "warmup_epochs": self.warmup_epochs}

    def set_epoch(self, epoch: int) -> None:
        self.warmup = min(epoch / self.warmup_epochs, 1.0) if self.warmup_epochs else 1.0

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        tckd, nckd = dkd_terms(student_logits, teacher_logits, target, self.temperature,
                               validate=self.validate)
        ce = cross_entropy(student_logits, target)
        total = self.ce_weight * ce + self.warmup * (self.alpha * tckd + self.beta * nckd)
        return self._record(total, ce=ce, tckd=tckd, nckd=nckd)
