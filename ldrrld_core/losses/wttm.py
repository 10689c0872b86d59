"""WTTM (Zheng & Yang, ICLR 2024): weighted transformed teacher matching.

The temperature acts on the teacher alone. Its distribution is power-transformed,
``q = p_t^(1/T) / U`` with ``U = sum_c p_t,c^(1/T)`` and ``p_t = softmax(z_t)``, which is exactly
``softmax(z_t / T)``; the student keeps temperature 1. Each sample's ``KL(q || softmax(z_s))`` is
weighted by its ``U``, which is large where the teacher is unsure (a flat ``p_t``), so the
student spends its effort on the samples whose teacher carries the most class-relation
information. The authors write the exponent ``gamma = 1 / T``.
"""

from __future__ import annotations

from torch import Tensor

from ..relations import compute_dtype, full_precision, kl_from_logits, upcast
from .base import DistillationLoss, cross_entropy
from .checks import check_logit_pair, check_positive, check_target, check_weights
from .fused import fused_wttm, use_fused

__all__ = ["transformed_teacher", "wttm_loss", "WTTMLoss"]


def transformed_teacher(teacher_logits: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """``(log q, log U)``: the power-transformed teacher and its normaliser. ``(B, C) -> (B, C), (B,)``.

    ``log q = z_t / T - logsumexp(z_t / T)`` and ``log U = logsumexp(z_t / T) - logsumexp(z_t) / T``,
    both in log space, so no power of a tiny probability underflows.
    """
    tempered = teacher_logits / temperature
    lse_tempered = tempered.logsumexp(1)
    return tempered - lse_tempered[:, None], lse_tempered - teacher_logits.logsumexp(1) / temperature


def wttm_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 4.0,
    *,
    validate: bool = True,
    fused: bool = True,
) -> Tensor:
    """``mean_b U_b * KL(q_b || softmax(z_s)_b)``: the WTTM term. ``(B, C) x 2 -> ()``.

    Computed in float32 at least (also under autocast); the teacher never receives gradient.
    ``fused=True`` (the default): one autograd node, gradient ``U_b (softmax(z_s) - q)_b / B``
    (:func:`~ldrrld_core.losses.fused.fused_wttm`); ``False``: traced by autograd (double backward).
    """
    check_positive("temperature", temperature)
    if validate:
        check_logit_pair(student_logits, teacher_logits)
    dtype = compute_dtype(student_logits, teacher_logits)
    with full_precision(student_logits.device):
        if use_fused(fused):
            return fused_wttm(student_logits, teacher_logits, temperature, dtype)
        log_q, log_u = transformed_teacher(upcast(teacher_logits.detach(), dtype), temperature)
        return (log_u.exp() * kl_from_logits(upcast(student_logits, dtype), log_q)).mean()


class WTTMLoss(DistillationLoss):
    """``ce_weight * CE + kd_weight * wttm_loss``; ``temperature`` transforms the teacher only.

    Defaults: the WTTM example of the authors' code (exponent 0.2, so T 5, weight 4, CE 1); its
    paper tunes both per pair (see ``docs/method.md``).
    """

    def __init__(
        self,
        temperature: float = 5.0,
        ce_weight: float = 1.0,
        kd_weight: float = 4.0,
        validate: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_weights(ce_weight=ce_weight, kd_weight=kd_weight)
        self.temperature, self.ce_weight, self.kd_weight = temperature, ce_weight, kd_weight
        self.validate, self.fused = validate, fused

    def hparams(self) -> dict[str, object]:
        return {"temperature": self.temperature, "ce_weight": self.ce_weight, "kd_weight": self.kd_weight}

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        kd = wttm_loss(student_logits, teacher_logits, self.temperature, validate=self.validate, fused=self.fused)
        if self.validate:
            check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
        ce = cross_entropy(student_logits, target)
        return self._record(self.ce_weight * ce + self.kd_weight * kd, ce=ce, kd=kd)
