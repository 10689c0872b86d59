"""Knowledge distillation (Hinton et al., 2015): match the teacher's softened class distribution."""

from __future__ import annotations

from torch import Tensor

from ..relations import kl_from_logits, upcast
from .base import DistillationLoss, cross_entropy
from .checks import check_logit_pair, check_positive, check_target

__all__ = ["kd_loss", "KDLoss"]


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0, *,
            validate: bool = True) -> Tensor:
    """``T^2 * mean_b KL(softmax(z_t / T) || softmax(z_s / T))``.

    Args:
        student_logits: ``(B, C)``.
        teacher_logits: ``(B, C)``.
        temperature: ``T > 0``.
        validate: check shapes and finiteness first (reads one value back from the device).

    Returns:
        A float32 scalar tensor (float64 for float64 logits).
    """
    check_positive("temperature", temperature)
    if validate:
        check_logit_pair(student_logits, teacher_logits)
    z_s = upcast(student_logits) / temperature
    z_t = upcast(teacher_logits) / temperature
    return temperature ** 2 * kl_from_logits(z_t, z_s).mean()


class KDLoss(DistillationLoss):
    """``ce_weight * CE + kd_weight * kd_loss``; defaults are the usual CIFAR-100 setting (0.1 / 0.9, T = 4)."""

    def __init__(self, temperature: float = 4.0, ce_weight: float = 0.1, kd_weight: float = 0.9,
                 validate: bool = True) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        self.temperature, self.ce_weight, self.kd_weight = temperature, ce_weight, kd_weight
        self.validate = validate

    def hparams(self) -> dict[str, object]:
        return {"temperature": self.temperature, "ce_weight": self.ce_weight, "kd_weight": self.kd_weight}

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        kd = kd_loss(student_logits, teacher_logits, self.temperature, validate=self.validate)
        if self.validate:
            check_target(target, student_logits.shape[0], student_logits.shape[1])
        ce = cross_entropy(student_logits, target)
        return self._record(self.ce_weight * ce + self.kd_weight * kd, ce=ce, kd=kd)
