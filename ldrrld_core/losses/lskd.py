"""LSKD (Sun et al., CVPR 2024): KD on standardised logits.

Each model's logits are standardised per sample, ``(z - mean z) / (1e-7 + std z)``
(:mod:`.standardize`), before the usual temperature-scaled KL. The student then has to match the
teacher's logit *relations* (their shape) and is free in their scale and offset. The same
transform plugs into ``kd``, ``dkd`` and ``ldrrld`` as ``standardize=True``; this module is the
named method with its authors' settings.
"""

from __future__ import annotations

from torch import Tensor

from .kd import KDLoss, kd_loss

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
    """
    return kd_loss(student_logits, teacher_logits, temperature, validate=validate, fused=fused, standardize=True)


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
