"""Relation fidelity: how well a student keeps the teacher's relations, measured several ways."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor

from ..losses import ldrrld_loss
from ..losses.checks import check_depth, check_logit_pair, check_positive
from ..relations import rank_pairs, top_classes

__all__ = ["RelationFidelity", "relation_fidelity", "compare_fidelity", "fidelity_table"]


@dataclass(frozen=True)
class RelationFidelity:
    """How well a student keeps the teacher's local relations on the teacher's top-d classes.

    For each sample the teacher ranks its ``d`` largest logits; the student is then judged on
    those same classes. Per pair ``(i, j)`` of teacher ranks (``(P,)``, pair order of
    :func:`~ldrrld_core.relations.rank_pairs`):

    Attributes:
        depth, temperature: the settings.
        pair_kl: ``(P,)`` mean over samples of the pair's two-class KL (teacher || student) at ``T``.
        pair_agreement: ``(P,)`` fraction of samples where the student orders the two classes as the
            teacher does (a tie counts one half).
        kendall: ``(N,)`` Kendall's tau between the teacher's and the student's order of the
            teacher's top-d classes (1: same order, -1: reversed).
        spearman: ``(N,)`` Spearman's rho of the same two orders.
        topd_overlap: ``(N,)`` fraction of the teacher's top-d classes that are also in the student's.
        top1_agreement: ``(N,)`` 1 where the student's top class is the teacher's.
    """

    depth: int
    temperature: float
    pair_kl: Tensor
    pair_agreement: Tensor
    kendall: Tensor
    spearman: Tensor
    topd_overlap: Tensor
    top1_agreement: Tensor

    def summary(self) -> dict[str, float]:
        """One number per measure, averaged over pairs and samples."""
        return {"pair_kl": float(self.pair_kl.mean()),
                "pair_agreement": float(self.pair_agreement.mean()),
                "kendall_tau": float(self.kendall.mean()),
                "spearman_rho": float(self.spearman.mean()),
                "topd_overlap": float(self.topd_overlap.mean()),
                "top1_agreement": float(self.top1_agreement.mean())}


def relation_fidelity(teacher_logits: Tensor, student_logits: Tensor, *, depth: int = 7,
                      temperature: float = 4.0) -> RelationFidelity:
    """Measure how well a student keeps the teacher's local relations: ``(N, C), (N, C) -> RelationFidelity``."""
    teacher, student = teacher_logits.detach().double(), student_logits.detach().double()
    check_logit_pair(student, teacher)
    check_depth(depth, teacher.shape[1])
    check_positive("temperature", temperature)
    terms = ldrrld_loss(student, teacher, depth=depth, temperature=temperature,
                        weighting="uniform", rank_by="teacher", validate=False)
    top = terms.top_classes                                                    # (N, d) teacher order
    s_top = student.gather(1, top)                                             # (N, d)
    first, second = rank_pairs(depth, device=top.device)
    agree = (s_top[:, first] > s_top[:, second]).double() + 0.5 * (s_top[:, first] == s_top[:, second]).double()
    order = torch.argsort(s_top, dim=1, descending=True, stable=True)          # (N, d)
    student_rank = torch.argsort(order, dim=1).double()                        # rank of each class
    teacher_rank = torch.arange(depth, dtype=torch.float64, device=top.device)
    spearman = 1 - 6 * ((student_rank - teacher_rank) ** 2).sum(1) / (depth * (depth ** 2 - 1))
    in_student_top = torch.zeros_like(student, dtype=torch.bool).scatter_(1, top_classes(student, depth), True)
    return RelationFidelity(
        depth=depth, temperature=float(temperature), pair_kl=terms.pair_kl.mean(0),
        pair_agreement=agree.mean(0), kendall=2 * agree.mean(1) - 1, spearman=spearman,
        topd_overlap=in_student_top.gather(1, top).double().mean(1),
        top1_agreement=(student.argmax(1) == top[:, 0]).double())


def compare_fidelity(teacher_logits: Tensor, students: Mapping[str, Tensor], *, depth: int = 7,
                     temperature: float = 4.0) -> dict[str, RelationFidelity]:
    """:func:`relation_fidelity` of several students against one teacher, by name (same samples)."""
    return {name: relation_fidelity(teacher_logits, logits, depth=depth, temperature=temperature)
            for name, logits in students.items()}


def fidelity_table(fidelities: Mapping[str, RelationFidelity]) -> list[dict[str, object]]:
    """One row per student: ``{"student": name, **fidelity.summary()}``, in the mapping's order."""
    return [{"student": name, **fidelity.summary()} for name, fidelity in fidelities.items()]
