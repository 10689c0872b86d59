"""Decoupled knowledge distillation (Zhao et al., CVPR 2022).

KD's KL splits into a target-class part (TCKD: the binary "target vs. everything else"
distribution) and a non-target part (NCKD: the softmax over the non-target classes alone);
DKD weights them separately.
"""

from __future__ import annotations

from torch import Tensor

from ..relations import binary_kl_from_gaps, compute_dtype, exclusion_bias, full_precision, kl_excluding, upcast
from .base import DistillationLoss, cross_entropy
from .checks import (
    as_labels,
    check_flag,
    check_logit_pair,
    check_non_negative,
    check_positive,
    check_target,
    check_weights,
)
from .fused import fused_dkd, use_fused
from .standardize import standardize_hparam, standardized_pair

__all__ = ["dkd_terms", "dkd_loss", "DKDLoss"]


def dkd_terms(
    student_logits: Tensor,
    teacher_logits: Tensor,
    target: Tensor,
    temperature: float = 4.0,
    *,
    validate: bool = True,
    fused: bool = True,
    standardize: bool = False,
) -> tuple[Tensor, Tensor]:
    """The two DKD terms ``(tckd, nckd)``, each ``T^2`` times a batch-mean KL (scalars, at least float32).

    Shapes: ``(B, C), (B, C), (B,)`` with integer labels of any integer dtype. The non-target
    softmax leaves the target class out exactly (see :func:`~ldrrld_core.relations.kl_excluding`),
    not with a large negative mask. The teacher's logits never receive gradient. ``fused=True``
    (the default) runs :func:`~ldrrld_core.losses.fused.fused_dkd`, one autograd node with the
    closed-form backward; ``fused=False`` is traced by autograd (double backward).
    ``standardize=True`` standardises both logit sets first (LSKD's plug-in, :mod:`.standardize`).
    """
    check_positive("temperature", temperature)
    if validate:
        check_logit_pair(student_logits, teacher_logits)
        check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
    num_classes = student_logits.shape[1]
    if num_classes < 2:
        raise ValueError("DKD needs at least 2 classes (a target and a non-target)")
    teacher_logits = teacher_logits.detach()
    dtype = compute_dtype(student_logits, teacher_logits)
    label = as_labels(target)[:, None]  # (B, 1)
    with full_precision(student_logits.device):
        if standardize:
            student_logits, teacher_logits = standardized_pair(student_logits, teacher_logits, dtype)
        if use_fused(fused):
            return fused_dkd(student_logits, teacher_logits, label, temperature, dtype)
        z_s = upcast(student_logits, dtype) / temperature
        z_t = upcast(teacher_logits, dtype) / temperature
        not_target = exclusion_bias(label, z_s)  # (B, C): -inf at y

        def target_gap(z: Tensor) -> Tensor:
            """``z_y - logsumexp(z_others)``: its sigmoid is ``p_y``, the binary target probability. (B,)"""
            return z.gather(1, label)[:, 0] - (z + not_target).logsumexp(1)

        tckd = temperature**2 * binary_kl_from_gaps(target_gap(z_s), target_gap(z_t)).mean()
        nckd = temperature**2 * kl_excluding(z_s, z_t, excluded=label).mean()
        return tckd, nckd


def dkd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    target: Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
    *,
    validate: bool = True,
    fused: bool = True,
    standardize: bool = False,
) -> Tensor:
    """``alpha * TCKD + beta * NCKD``; defaults are DKD's CIFAR-100 setting. Returns a scalar."""
    check_weights(alpha=alpha, beta=beta)
    tckd, nckd = dkd_terms(
        student_logits, teacher_logits, target, temperature, validate=validate, fused=fused, standardize=standardize
    )
    return alpha * tckd + beta * nckd


class DKDLoss(DistillationLoss):
    """``ce_weight * CE + warm-up * (alpha * TCKD + beta * NCKD)``.

    The DKD part ramps up linearly over the first ``warmup_epochs`` epochs
    (factor ``min(epoch / warmup_epochs, 1)``), as DKD's recipe does; call :meth:`set_epoch`.
    ``standardize=True`` distils standardised logits (LSKD's plug-in); CE keeps the raw ones.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 8.0,
        temperature: float = 4.0,
        ce_weight: float = 1.0,
        warmup_epochs: int = 20,
        validate: bool = True,
        fused: bool = True,
        standardize: bool = False,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_non_negative("warmup_epochs", warmup_epochs)
        check_weights(alpha=alpha, beta=beta, ce_weight=ce_weight)
        check_flag("standardize", standardize)
        self.standardize = standardize
        self.alpha, self.beta, self.temperature = alpha, beta, temperature
        self.ce_weight, self.warmup_epochs, self.validate = ce_weight, warmup_epochs, validate
        self.fused = fused
        self.warmup = 1.0

    def hparams(self) -> dict[str, object]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "temperature": self.temperature,
            "ce_weight": self.ce_weight,
            "warmup_epochs": self.warmup_epochs,
            **standardize_hparam(self.standardize),
        }

    def set_epoch(self, epoch: int) -> None:
        self.warmup = min(epoch / self.warmup_epochs, 1.0) if self.warmup_epochs else 1.0

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        tckd, nckd = dkd_terms(
            student_logits,
            teacher_logits,
            target,
            self.temperature,
            validate=self.validate,
            fused=self.fused,
            standardize=self.standardize,
        )
        ce = cross_entropy(student_logits, target)
        total = self.ce_weight * ce + self.warmup * (self.alpha * tckd + self.beta * nckd)
        return self._record(total, ce=ce, tckd=tckd, nckd=nckd)
