"""DIST (Huang et al., NeurIPS 2022): match the teacher's class *correlations*, not its probabilities.

Where KD asks the student for the teacher's exact probabilities, DIST asks only that they move
together. With ``y = softmax(z / T)`` for both models:

* the **inter-class** relation: for each sample, the Pearson correlation of the student's and
  the teacher's probability vectors over the classes, ``inter = 1 - mean_b rho(y_s[b, :], y_t[b, :])``;
* the **intra-class** relation: for each class, the correlation across the batch,
  ``intra = 1 - mean_c rho(y_s[:, c], y_t[:, c])``, so this term depends on the whole batch.

``rho(a, b) = <a - mean a, b - mean b> / (|a - mean a| |b - mean b| + eps)`` with ``eps = 1e-8``, and
the term is ``T^2 (inter_weight * inter + intra_weight * intra)`` (``beta`` and ``gamma`` in the
paper). Pearson correlation ignores shift and scale, which is why DIST copes with a much
stronger teacher. See ``docs/method.md``.
"""

from __future__ import annotations

from torch import Tensor

from ..relations import compute_dtype, full_precision, upcast
from .base import DistillationLoss, cross_entropy
from .checks import check_logit_pair, check_positive, check_target, check_weights
from .fused import fused_dist, use_fused

__all__ = ["PEARSON_EPS", "pearson_rows", "dist_terms", "dist_loss", "DISTLoss"]

#: Added to the product of the norms in the Pearson denominator (the authors' constant).
PEARSON_EPS = 1e-8


def pearson_rows(a: Tensor, b: Tensor, eps: float = PEARSON_EPS) -> Tensor:
    """Pearson correlation of every row of ``a`` with the same row of ``b``: ``(N, K), (N, K) -> (N,)``."""
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def _dist(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float,
    inter_weight: float,
    intra_weight: float,
    validate: bool,
    fused: bool,
    terms: bool = True,
) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """``(inter, intra, inter_weight * inter + intra_weight * intra)``; the last alone if not ``terms``."""
    check_positive("temperature", temperature)
    check_weights(inter_weight=inter_weight, intra_weight=intra_weight)
    if validate:
        check_logit_pair(student_logits, teacher_logits)
    dtype = compute_dtype(student_logits, teacher_logits)
    with full_precision(student_logits.device):
        if use_fused(fused):
            weights = (inter_weight, intra_weight)
            return fused_dist(student_logits, teacher_logits, temperature, *weights, PEARSON_EPS, dtype, terms=terms)
        y_s = (upcast(student_logits, dtype) / temperature).softmax(1)  # (B, C)
        y_t = (upcast(teacher_logits.detach(), dtype) / temperature).softmax(1)
        inter = temperature**2 * (1 - pearson_rows(y_s, y_t).mean())
        intra = temperature**2 * (1 - pearson_rows(y_s.t(), y_t.t()).mean())
        total = inter_weight * inter + intra_weight * intra
        return (inter, intra, total) if terms else total


def dist_terms(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 4.0,
    *,
    validate: bool = True,
    fused: bool = True,
) -> tuple[Tensor, Tensor]:
    """DIST's ``(inter, intra)`` relation losses, each already multiplied by ``T^2``. ``(B, C) x 2 -> () x 2``.

    ``inter`` correlates each sample's class distribution; ``intra`` each class's column over the
    batch (with one sample it is the constant 1). Computed in float32 at least, under autocast
    too; the teacher's logits never receive gradient. ``fused=True`` (the default): one autograd
    node with the closed-form derivative through Pearson's correlation and the softmax
    (:func:`~ldrrld_core.losses.fused.fused_dist`); ``False``: traced by autograd (double backward).
    """
    inter, intra, _ = _dist(student_logits, teacher_logits, temperature, 1.0, 1.0, validate, fused)
    return inter, intra


def dist_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 4.0,
    inter_weight: float = 1.0,
    intra_weight: float = 1.0,
    *,
    validate: bool = True,
    fused: bool = True,
) -> Tensor:
    """``T^2 (inter_weight * inter + intra_weight * intra)``: the DIST term. ``(B, C) x 2 -> ()``."""
    return _dist(student_logits, teacher_logits, temperature, inter_weight, intra_weight, validate, fused, terms=False)


class DISTLoss(DistillationLoss):
    """``ce_weight * CE + kd_weight * dist_loss``; defaults are the authors' CIFAR-100 setting.

    (T 4, ``inter_weight`` = ``intra_weight`` = 1, ``kd_weight`` 2, ``ce_weight`` 1.)
    """

    def __init__(
        self,
        temperature: float = 4.0,
        inter_weight: float = 1.0,
        intra_weight: float = 1.0,
        ce_weight: float = 1.0,
        kd_weight: float = 2.0,
        validate: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_weights(inter_weight=inter_weight, intra_weight=intra_weight, ce_weight=ce_weight, kd_weight=kd_weight)
        self.temperature, self.inter_weight, self.intra_weight = temperature, inter_weight, intra_weight
        self.ce_weight, self.kd_weight, self.validate, self.fused = ce_weight, kd_weight, validate, fused

    def hparams(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "inter_weight": self.inter_weight,
            "intra_weight": self.intra_weight,
            "ce_weight": self.ce_weight,
            "kd_weight": self.kd_weight,
        }

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        inter, intra, kd = _dist(
            student_logits,
            teacher_logits,
            self.temperature,
            self.inter_weight,
            self.intra_weight,
            self.validate,
            self.fused,
        )
        if self.validate:
            check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
        ce = cross_entropy(student_logits, target)
        return self._record(self.ce_weight * ce + self.kd_weight * kd, ce=ce, inter=inter, intra=intra)
