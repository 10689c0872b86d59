"""LDRRLD: Local Dense Relational Logit Distillation (Xu et al., ICCV 2025).

For each sample, the ``d`` highest-ranked classes are taken apart: every pair of them becomes a
two-class problem whose local distribution the student must match (weighted by ADW), the ``d``
classes together form one more local distribution, and the remaining ``C - d`` classes form the
"remaining non-target knowledge" (RNTK) distribution. See ``docs/method.md`` for the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..relations import (
    WEIGHTINGS,
    binary_kl_from_gaps,
    cached_pair_weights,
    compute_dtype,
    full_precision,
    kl_excluding,
    kl_from_logits,
    num_pairs,
    top_classes,
    upcast,
)
from .base import DistillationLoss, cross_entropy
from .checks import (
    check_depth,
    check_flag,
    check_logit_pair,
    check_non_negative,
    check_positive,
    check_target,
    check_weights,
)
from .fused import fused_ldrrld, use_fused
from .standardize import standardize_hparam, standardized_pair

__all__ = ["RANK_SOURCES", "LDRRLDTerms", "ldrrld_loss", "LDRRLDLoss"]

#: Whose logits choose the top-d classes: the student's (the authors' code) or the teacher's (ablation).
RANK_SOURCES = ("student", "teacher")


@dataclass(frozen=True)
class LDRRLDTerms:
    """Everything :func:`ldrrld_loss` computed. Scalars are float32 (float64 for float64 logits) and carry
    gradients to the student's logits; the per-sample tensors carry gradients only with ``fused=False``.
    Every tensor is the caller's own (no cache is shared).

    Attributes:
        local: ``()`` the local term, ``T^2 / B * sum_b [sum_p w_p KL_p + KL_topd] / (P + 1)``.
        rntk: ``()`` the remaining non-target term, ``T^2 / B * sum_b KL_rest`` (0 when ``d == C``).
        pair_kl: ``(B, P)`` KL of every rank pair's two-class distributions, pairs as in
            :func:`ldrrld_core.relations.rank_pairs`.
        topd_kl: ``(B,)`` KL of the softmaxes over the ``d`` selected classes.
        rntk_kl: ``(B,)`` KL of the softmaxes over the ``C - d`` remaining classes.
        pair_weights: ``(P,)`` the weight of every pair.
        top_classes: ``(B, d)`` the selected classes, highest rank first.
        temperature: the temperature used.
    """

    local: Tensor
    rntk: Tensor
    pair_kl: Tensor
    topd_kl: Tensor
    rntk_kl: Tensor
    pair_weights: Tensor
    top_classes: Tensor
    temperature: float

    def total(self, alpha: float = 10.5, beta: float = 7.0) -> Tensor:
        """``alpha * local + beta * rntk``: the distillation part of the LDRRLD objective."""
        check_weights(alpha=alpha, beta=beta)
        return alpha * self.local + beta * self.rntk


def _check_hparams(
    depth: int,
    num_classes: int | None,
    temperature: float,
    decay: float,
    irw_scale: float,
    irw_offset: float,
    weighting: str,
    rank_by: str,
) -> None:
    check_depth(depth, num_classes)
    check_positive("temperature", temperature)
    check_non_negative("decay", decay)
    check_positive("irw_scale", irw_scale)
    check_non_negative("irw_offset", irw_offset)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    if rank_by not in RANK_SOURCES:
        raise ValueError(f"unknown rank_by {rank_by!r}; choose 'student' (the authors' choice) or 'teacher'")


def ldrrld_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    *,
    depth: int = 7,
    temperature: float = 4.0,
    decay: float = 0.05,
    irw_scale: float = 2.0,
    irw_offset: float = 1.5,
    weighting: str = "adw",
    rank_by: str = "student",
    validate: bool = True,
    fused: bool = True,
    standardize: bool = False,
) -> LDRRLDTerms:
    """The two LDRRLD distillation terms of a batch, computed exactly and without loops.

    Args:
        student_logits: ``(B, C)`` student logits ``z_s``.
        teacher_logits: ``(B, C)`` teacher logits ``z_t``.
        depth: ``d``, how many top-ranked classes are decoupled, ``2 <= d <= C``.
        temperature: ``T > 0``, applied to both logit sets.
        decay: ``gamma >= 0``, the ERD decay rate.
        irw_scale, irw_offset: ``a`` and ``c`` of ``IRW = a / (c + |i - j|)``.
        weighting: ``"adw"`` (IRW x ERD), ``"irw"``, ``"erd"`` or ``"uniform"`` (ablations).
        rank_by: whose logits choose the top-d classes, ``"student"`` or ``"teacher"``.
        validate: check shapes and finiteness first (reads one value back from the device).
        fused: ``True`` (the default) runs :func:`~ldrrld_core.losses.fused.fused_ldrrld`, one
            autograd node with the closed-form backward: less memory and time, no second
            derivative, and ``pair_kl``, ``topd_kl``, ``rntk_kl`` without gradient. ``False``
            lets autograd trace every step (gradients of every intermediate, double backward).
            Both give the same values and gradients to round-off. Inside ``torch.compile`` the
            traced form runs either way (compiled, it is the faster one).
        standardize: standardise both logit sets first (LSKD's plug-in, :mod:`.standardize`);
            standardising keeps each row's order, so the same top-d classes are chosen.

    Returns:
        :class:`LDRRLDTerms`; everything is computed in float32 (float64 if either logit set is
        float64), whatever the input precision and even under ``torch.autocast``. The teacher's
        logits never receive gradient.
    """
    if validate:
        check_logit_pair(student_logits, teacher_logits)
    batch, num_classes = student_logits.shape
    _check_hparams(depth, num_classes, temperature, decay, irw_scale, irw_offset, weighting, rank_by)
    teacher_logits = teacher_logits.detach()
    dtype = compute_dtype(student_logits, teacher_logits)
    top = top_classes(student_logits if rank_by == "student" else teacher_logits, depth)  # (B, d)
    first, second, weights = cached_pair_weights(
        depth,
        decay,
        irw_scale=irw_scale,
        irw_offset=irw_offset,
        weighting=weighting,
        dtype=dtype,
        device=student_logits.device,
    )  # (P,) each
    with full_precision(student_logits.device):
        if standardize:
            student_logits, teacher_logits = standardized_pair(student_logits, teacher_logits, dtype)
        terms = (student_logits, teacher_logits, top, weights, first, second, temperature, dtype)
        local, rntk, pair_kl, topd_kl, rntk_kl = fused_ldrrld(*terms) if use_fused(fused) else _traced_ldrrld(*terms)
    return LDRRLDTerms(
        local=local,
        rntk=rntk,
        pair_kl=pair_kl,
        topd_kl=topd_kl,
        rntk_kl=rntk_kl,
        pair_weights=weights.clone(),
        top_classes=top,
        temperature=temperature,
    )


def _traced_ldrrld(
    student_logits: Tensor,
    teacher_logits: Tensor,
    top: Tensor,
    weights: Tensor,
    first: Tensor,
    second: Tensor,
    temperature: float,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The terms from logits ``(B, C)`` (as :func:`~.fused.fused_ldrrld` takes them), traced by autograd."""
    z_s = upcast(student_logits, dtype) / temperature
    z_t = upcast(teacher_logits, dtype) / temperature
    batch, num_classes = z_s.shape
    depth = top.shape[1]
    s_top, t_top = z_s.gather(1, top), z_t.gather(1, top)  # (B, d)
    # Each pair's two-class softmax depends only on the logit gap between its two classes.
    pair_kl = binary_kl_from_gaps(s_top[:, first] - s_top[:, second], t_top[:, first] - t_top[:, second])  # (B, P)
    topd_kl = kl_from_logits(s_top, t_top)  # (B,)
    local_per_sample = ((pair_kl * weights).sum(1) + topd_kl) / (num_pairs(depth) + 1)  # (B,)
    if depth < num_classes:
        rntk_kl = kl_excluding(z_s, z_t, excluded=top)  # (B,)
    else:
        rntk_kl = z_s.new_zeros(batch)
    scale = temperature**2
    return scale * local_per_sample.mean(), scale * rntk_kl.mean(), pair_kl, topd_kl, rntk_kl


class LDRRLDLoss(DistillationLoss):
    """``ce_weight * CE(z_s, y) + alpha * L_local + beta * L_rntk``, the full LDRRLD objective.

    Defaults are the authors' CIFAR-100 settings. After a call, :attr:`last_terms` holds
    ``ce``, ``local``, ``rntk`` and ``loss`` and :attr:`last_details` the full :class:`LDRRLDTerms`.
    ``standardize=True`` distils standardised logits (LSKD's plug-in). ``fused`` and ``validate``
    are passed to :func:`ldrrld_loss` (they change speed and memory, not the result, so they are
    not among :meth:`hparams`).
    """

    def __init__(
        self,
        depth: int = 7,
        temperature: float = 4.0,
        decay: float = 0.05,
        alpha: float = 10.5,
        beta: float = 7.0,
        ce_weight: float = 1.0,
        rank_by: str = "student",
        irw_scale: float = 2.0,
        irw_offset: float = 1.5,
        weighting: str = "adw",
        validate: bool = True,
        fused: bool = True,
        standardize: bool = False,
    ) -> None:
        super().__init__()
        check_flag("standardize", standardize)
        self.standardize = standardize
        _check_hparams(depth, None, temperature, decay, irw_scale, irw_offset, weighting, rank_by)
        check_weights(alpha=alpha, beta=beta, ce_weight=ce_weight)
        self.depth, self.temperature, self.decay = depth, temperature, decay
        self.alpha, self.beta, self.ce_weight = alpha, beta, ce_weight
        self.rank_by, self.irw_scale, self.irw_offset = rank_by, irw_scale, irw_offset
        self.weighting, self.validate, self.fused = weighting, validate, fused
        self.last_details: LDRRLDTerms | None = None

    def check_num_classes(self, num_classes: int, *, source: str = "the data") -> None:
        if self.depth > num_classes:
            raise ValueError(
                f"depth {self.depth} but {source} has only {num_classes} classes; choose depth <= {num_classes}"
            )

    def hparams(self) -> dict[str, object]:
        return {
            "depth": self.depth,
            "temperature": self.temperature,
            "decay": self.decay,
            "alpha": self.alpha,
            "beta": self.beta,
            "ce_weight": self.ce_weight,
            "rank_by": self.rank_by,
            "irw_scale": self.irw_scale,
            "irw_offset": self.irw_offset,
            "weighting": self.weighting,
            **standardize_hparam(self.standardize),
        }

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        terms = ldrrld_loss(
            student_logits,
            teacher_logits,
            depth=self.depth,
            temperature=self.temperature,
            decay=self.decay,
            irw_scale=self.irw_scale,
            irw_offset=self.irw_offset,
            weighting=self.weighting,
            rank_by=self.rank_by,
            validate=self.validate,
            fused=self.fused,
            standardize=self.standardize,
        )
        if self.validate:
            check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
        ce = cross_entropy(student_logits, target)
        self.last_details = terms
        total = self.ce_weight * ce + terms.total(self.alpha, self.beta)
        return self._record(total, ce=ce, local=terms.local, rntk=terms.rntk)
