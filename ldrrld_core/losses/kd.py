"""Knowledge distillation (Hinton et al., 2015): match the teacher's softened class distribution."""

from __future__ import annotations

from torch import Tensor

from ..relations import compute_dtype, full_precision, kl_from_logits, upcast
from .base import DistillationLoss, cross_entropy
from .checks import check_flag, check_logit_pair, check_positive, check_target, check_weights
from .fused import fused_kd, use_fused
from .standardize import standardize_hparam, standardized_pair

__all__ = ["kd_loss", "KDLoss"]


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 4.0,
    *,
    validate: bool = True,
    fused: bool = True,
    standardize: bool = False,
) -> Tensor:
    """``T^2 * mean_b KL(softmax(z_t / T) || softmax(z_s / T))``.

    Args:
        student_logits: ``(B, C)``.
        teacher_logits: ``(B, C)``; never receives gradient.
        temperature: ``T > 0``.
        validate: check shapes and finiteness first (reads one value back from the device).
        fused: ``True`` (the default): one autograd node with the closed-form backward
            ``(softmax(z_s / T) - softmax(z_t / T)) T / B``, keeping no ``(B, C)`` intermediate
            alive between forward and backward; ``False``: traced by autograd (double backward).

    Returns:
        A float32 scalar tensor (float64 if either logit set is float64), even under autocast.
    """
    check_positive("temperature", temperature)
    if validate:
        check_logit_pair(student_logits, teacher_logits)
    teacher_logits = teacher_logits.detach()
    dtype = compute_dtype(student_logits, teacher_logits)
    with full_precision(student_logits.device):
        if standardize:
            student_logits, teacher_logits = standardized_pair(student_logits, teacher_logits, dtype)
        if use_fused(fused):
            return fused_kd(student_logits, teacher_logits, temperature, dtype)
        z_s = upcast(student_logits, dtype) / temperature
        z_t = upcast(teacher_logits, dtype) / temperature
        return temperature**2 * kl_from_logits(z_s, z_t).mean()


class KDLoss(DistillationLoss):
    """``ce_weight * CE + kd_weight * kd_loss``; defaults are the usual CIFAR-100 setting (0.1 / 0.9, T = 4).

    ``standardize=True`` distils standardised logits (LSKD's plug-in); the CE term keeps the raw ones.
    """

    def __init__(
        self,
        temperature: float = 4.0,
        ce_weight: float = 0.1,
        kd_weight: float = 0.9,
        validate: bool = True,
        fused: bool = True,
        standardize: bool = False,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_weights(ce_weight=ce_weight, kd_weight=kd_weight)
        check_flag("standardize", standardize)
        self.temperature, self.ce_weight, self.kd_weight = temperature, ce_weight, kd_weight
        self.validate, self.fused, self.standardize = validate, fused, standardize

    def hparams(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "ce_weight": self.ce_weight,
            "kd_weight": self.kd_weight,
            **standardize_hparam(self.standardize),
        }

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        kd = kd_loss(
            student_logits,
            teacher_logits,
            self.temperature,
            validate=self.validate,
            fused=self.fused,
            standardize=self.standardize,
        )
        if self.validate:
            check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
        ce = cross_entropy(student_logits, target)
        return self._record(self.ce_weight * ce + self.kd_weight * kd, ce=ce, kd=kd)
