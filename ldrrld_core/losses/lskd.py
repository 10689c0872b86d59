"""LSKD (Sun et al., CVPR 2024): KD on standardised logits.

Each model's logits are standardised per sample, ``(z - mean z) / (1e-7 + std z)``
(:mod:`.standardize`), before the usual temperature-scaled KL. The student then has to match the
teacher's logit *relations* (their shape) and is free in their scale and offset. The same
transform plugs into ``kd``, ``dkd`` and ``ldrrld`` as ``standardize=True``; this module is the
named method with its authors' settings.
"""

from __future__ import annotations

from torch import Tensor

from ..relations import compute_dtype, full_precision
from .base import cross_entropy
from .checks import check_logit_pair, check_positive, check_target
from .fused import fused_lskd, use_fused
from .kd import KDLoss, kd_loss
from .standardize import check_standardizable

__all__ = ["lskd_loss", "LSKDLoss"]


def lskd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 2.0,
    *,
    validate: bool = True,
    fused: bool = True,
) -> Tensor:
    """``T^2 * mean_b KL(softmax(std(z_t) / T) || softmax(std(z_s) / T))``, ``std`` the standardisation.

    ``(B, C) x 2 -> ()``; :func:`~ldrrld_core.losses.kd.kd_loss` with ``standardize=True``.
    ``fused=True`` (the default): standardisation and KD as one autograd node, the derivative
    through the standardisation in closed form (:func:`~ldrrld_core.losses.fused.fused_lskd`);
    ``False``: traced by autograd (double backward).
    """
    if not use_fused(fused):
        return kd_loss(student_logits, teacher_logits, temperature, validate=validate, fused=False, standardize=True)
    check_positive("temperature", temperature)
    if validate:
        check_logit_pair(student_logits, teacher_logits)
    check_standardizable(student_logits.shape[-1])
    dtype = compute_dtype(student_logits, teacher_logits)
    with full_precision(student_logits.device):
        return fused_lskd(student_logits, teacher_logits, temperature, dtype)


class LSKDLoss(KDLoss):
    """``ce_weight * CE + kd_weight * lskd_loss``; defaults are the authors' CIFAR-100 KD setting (0.1 / 9, T 2)."""

    def __init__(
        self,
        temperature: float = 2.0,
        ce_weight: float = 0.1,
        kd_weight: float = 9.0,
        validate: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__(temperature, ce_weight, kd_weight, validate=validate, fused=fused, standardize=True)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        kd = lskd_loss(student_logits, teacher_logits, self.temperature, validate=self.validate, fused=self.fused)
        if self.validate:
            check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
        ce = cross_entropy(student_logits, target)
        return self._record(self.ce_weight * ce + self.kd_weight * kd, ce=ce, kd=kd)
