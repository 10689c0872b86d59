"""One sample taken apart the way the loss sees it, and the gradient each loss puts on its logits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..losses import dkd_loss, kd_loss, ldrrld_loss
from ..losses.checks import check_logit_pair
from ..relations import num_pairs
from .checks import check_class_index
from .weights import check_grid_depth

__all__ = ["SampleRelations", "sample_relations", "logit_gradients"]


@dataclass(frozen=True)
class SampleRelations:
    """The local relations of one sample, as LDRRLD sees them. Tensors are float64 on the input's device.

    Attributes:
        depth, temperature: the settings.
        num_classes: ``C``, the length of the sample's logit vectors.
        top_classes: ``(d,)`` the selected classes, highest rank first.
        teacher_global, student_global: ``(d,)`` the probabilities of those classes under the
            softmax over all ``C`` classes (at temperature ``T``).
        teacher_local, student_local: ``(d,)`` the softmax over the ``d`` selected classes only.
        teacher_pair, student_pair: ``(d, d)`` the two-class distributions: entry ``[p, q]`` is
            the probability of rank ``p + 1`` in the pair with rank ``q + 1``,
            ``sigmoid((z[p] - z[q]) / T)``; ``[p, q] + [q, p] = 1``, diagonal 0.5.
        pair_kl: ``(P,)`` KL of every pair's two-class distributions (teacher || student).
        pair_weights: ``(P,)`` the weight of every pair.
        contribution: ``(P,)`` what each pair adds to this sample's local term,
            ``T^2 w_p KL_p / (P + 1)``.
        topd_kl: KL of the top-d softmaxes; ``topd_contribution = T^2 topd_kl / (P + 1)``.
        local: this sample's local term, ``contribution.sum() + topd_contribution``; equal to
            ``ldrrld_loss(...).local`` for a batch of this one sample.
        rntk: this sample's remaining non-target term, ``T^2 KL`` over the ``C - d`` other classes.
    """

    depth: int
    temperature: float
    num_classes: int
    top_classes: Tensor
    teacher_global: Tensor
    student_global: Tensor
    teacher_local: Tensor
    student_local: Tensor
    teacher_pair: Tensor
    student_pair: Tensor
    pair_kl: Tensor
    pair_weights: Tensor
    contribution: Tensor
    topd_kl: float
    topd_contribution: float
    local: float
    rntk: float


def _one_sample(student_logits: Tensor, teacher_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Check two ``(C,)`` logit vectors and return them as float64 ``(1, C)`` rows."""
    for name, x in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        if not isinstance(x, Tensor) or x.dim() != 1:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{name} must be the 1-D logits (classes,) of one sample, got {shape}; pick a row with logits[i]"
            )
    student, teacher = student_logits.detach().double()[None], teacher_logits.detach().double()[None]
    check_logit_pair(student, teacher)
    return student, teacher


def _pair_probabilities(top_logits: Tensor) -> Tensor:
    """``(d,) -> (d, d)``: ``sigmoid(z[p] - z[q])``, each pair's two-class softmax of tempered logits."""
    return torch.sigmoid(top_logits[:, None] - top_logits[None, :])


def sample_relations(
    *,
    student_logits: Tensor,
    teacher_logits: Tensor,
    depth: int = 7,
    temperature: float = 4.0,
    decay: float = 0.05,
    irw_scale: float = 2.0,
    irw_offset: float = 1.5,
    weighting: str = "adw",
    rank_by: str = "student",
) -> SampleRelations:
    """Take one sample apart the way the LDRRLD loss does: ``(C,), (C,) -> SampleRelations``.

    Student and teacher are keyword-only: two vectors of one shape cannot be swapped unnoticed.

    The selection, pair KLs, weights and totals come from :func:`~ldrrld_core.losses.ldrrld_loss`
    itself (run in float64), so the picture shows exactly what the loss computes.
    """
    check_grid_depth(depth, "sample_relations")
    student, teacher = _one_sample(student_logits, teacher_logits)
    terms = ldrrld_loss(
        student,
        teacher,
        depth=depth,
        temperature=temperature,
        decay=decay,
        irw_scale=irw_scale,
        irw_offset=irw_offset,
        weighting=weighting,
        rank_by=rank_by,
    )
    top = terms.top_classes[0]
    scale = temperature**2 / (num_pairs(depth) + 1)
    z_s, z_t = student[0] / temperature, teacher[0] / temperature
    weights, pair_kl = terms.pair_weights, terms.pair_kl[0]
    topd_kl = float(terms.topd_kl[0])
    contribution = scale * weights * pair_kl
    return SampleRelations(
        depth=depth,
        temperature=float(temperature),
        num_classes=student.shape[1],
        top_classes=top,
        teacher_global=z_t.softmax(0)[top],
        student_global=z_s.softmax(0)[top],
        teacher_local=z_t[top].softmax(0),
        student_local=z_s[top].softmax(0),
        teacher_pair=_pair_probabilities(z_t[top]),
        student_pair=_pair_probabilities(z_s[top]),
        pair_kl=pair_kl,
        pair_weights=weights,
        contribution=contribution,
        topd_kl=topd_kl,
        topd_contribution=scale * topd_kl,
        local=float(contribution.sum()) + scale * topd_kl,
        rntk=float(terms.rntk),
    )


def logit_gradients(
    *,
    student_logits: Tensor,
    teacher_logits: Tensor,
    target: int,
    temperature: float = 4.0,
    depth: int = 7,
    decay: float = 0.05,
    alpha: float = 10.5,
    beta: float = 7.0,
    dkd_alpha: float = 1.0,
    dkd_beta: float = 8.0,
) -> dict[str, Tensor]:
    """The gradient each distillation loss puts on each student logit of one sample.

    Returns ``{"KD": g, "DKD": g, "LDRRLD": g}``, each ``(C,)`` float64: the derivative of the
    loss's distillation part (no cross-entropy) with respect to ``student_logits``: KD is
    ``T^2 KL``, DKD ``dkd_alpha TCKD + dkd_beta NCKD``, LDRRLD ``alpha L_local + beta L_rntk``.
    A negative entry means the loss pushes that logit up. Every loss is a KL between softmaxes,
    so each gradient sums to zero (adding a constant to all logits changes nothing).
    The logits are keyword-only, like :func:`sample_relations`'s; ``target`` lies in ``[0, C)``.
    """
    student, teacher = _one_sample(student_logits, teacher_logits)
    target = check_class_index("target", target, student.shape[1])
    label = torch.tensor([target], device=student.device)
    objectives = {
        "KD": lambda s: kd_loss(s, teacher, temperature),
        "DKD": lambda s: dkd_loss(s, teacher, label, dkd_alpha, dkd_beta, temperature),
        "LDRRLD": lambda s: ldrrld_loss(s, teacher, depth=depth, temperature=temperature, decay=decay).total(
            alpha, beta
        ),
    }
    gradients = {}
    for name, objective in objectives.items():
        s = student.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(s), s)
        gradients[name] = grad[0]
    return gradients
