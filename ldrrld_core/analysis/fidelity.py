"""Relation fidelity: how well a student keeps the teacher's relations, measured several ways.

Two families of measures, and the difference matters when methods are compared:

* **Over all** ``C`` **classes**: Kendall's tau of the two full rankings, which no method
  optimises, and the KL of the full softmaxes (teacher || student) at ``T``, which is KD's own
  distillation term divided by ``T^2`` (so it favours KD, as the next family favours LDRRLD).
* **On the teacher's top** ``d`` **classes**: the per-pair two-class KL (uniform weights), the
  pair order agreement, Kendall and Spearman of the top-d order, top-d overlap and top-1
  agreement. The pair KL is the uniform-weight form of LDRRLD's own local term, so these favour
  LDRRLD *by construction*: read them as "does LDRRLD do what it optimises", and compare
  methods on ``kendall_tau_all``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor

from ..losses import ldrrld_loss
from ..losses.checks import check_depth, check_logit_pair, check_positive
from ..relations import class_mask, kl_from_logits, rank_pairs, top_classes
from .checks import check_students

__all__ = [
    "RelationFidelity",
    "relation_fidelity",
    "compare_fidelity",
    "fidelity_table",
    "kendall_tau",
    "FIDELITY_CAVEAT",
    "FIDELITY_HEADERS",
]

#: The caveat every table or figure of the top-d measures carries.
FIDELITY_CAVEAT = (
    "pair KL and top-d agreement measure what LDRRLD optimises, so they favour it by "
    "construction (and the KL over all classes, kl_all, is KD's objective / T^2); the tau over "
    "all classes, kendall_tau_all, is no method's objective"
)

#: Short column names for people, by key of :meth:`RelationFidelity.summary` (and :func:`fidelity_table`'s
#: ``"student"``), for ``ldrrld_viz.format_table(rows, headers=FIDELITY_HEADERS)``; "top-d" is the
#: teacher's ``d`` highest classes.
FIDELITY_HEADERS = {
    "student": "student",
    "kl_all": "KL, all",
    "kendall_tau_all": "tau, all",
    "pair_kl": "pair KL, top-d",
    "pair_agreement": "pair order, top-d",
    "kendall_tau": "tau, top-d",
    "spearman_rho": "rho, top-d",
    "topd_overlap": "overlap, top-d",
    "top1_agreement": "same top-1",
}

#: Entries of :func:`kendall_tau`'s working arrays per chunk of rows: memory stays near this many values.
_KENDALL_CHUNK = 1 << 22


def _tied_pairs(*rows: Tensor) -> Tensor:
    """Pairs of entries equal in every one of ``rows`` (``(n, C)`` each, sorted so that equal
    entries sit together): ``(n,)`` int64. Each entry is tied with the entries of its run before it.
    """
    first = rows[0]
    starts = torch.ones_like(first, dtype=torch.bool)
    starts[:, 1:] = False
    for values in rows:
        starts[:, 1:] |= values[:, 1:] != values[:, :-1]
    position = torch.arange(first.shape[1], device=first.device).expand_as(first)
    return (position - torch.where(starts, position, 0).cummax(1).values).sum(1)


def _inversions(values: Tensor) -> Tensor:
    """Pairs ``i < j`` with ``values[i] > values[j]`` (strictly) in each row: ``(n, C) -> (n,)`` int64.

    A merge count without loops over rows: at each level every block of ``2w`` entries counts, for
    each entry of its right half, the entries of its (sorted) left half above it, then sorts the
    block. ``log2 C`` levels of ``O(C log C)`` work: ``C = 10,000`` costs milliseconds per row,
    where counting all ``C (C - 1) / 2`` pairs cost seconds.
    """
    rows, count = values.shape
    width = 1 << max(0, (count - 1).bit_length())
    padded = values.new_full((rows, width), math.inf)  # +inf at the end adds no inversion
    padded[:, :count] = values
    total = torch.zeros(rows, dtype=torch.int64, device=values.device)
    half = 1
    while half < width:
        blocks = padded.reshape(rows, width // (2 * half), 2 * half)
        left, right = blocks[..., :half].contiguous(), blocks[..., half:].contiguous()
        above = half - torch.searchsorted(left, right, right=True)  # left entries > each right entry
        total += above.sum((1, 2))
        padded = blocks.sort(dim=-1).values.reshape(rows, width)
        half *= 2
    return total


def kendall_tau(first: Tensor, second: Tensor) -> Tensor:
    """Kendall's tau-b between two rankings of each row: ``(N, C), (N, C) -> (N,)`` float64.

    Over all ``n0 = C (C - 1) / 2`` class pairs ``i < j``, a pair is concordant when both rows
    order it the same way and discordant when they order it oppositely;
    ``tau_b = (concordant - discordant) / sqrt((n0 - n1) (n0 - n2))`` with ``n1`` and ``n2`` the
    pairs tied in the first and in the second row. This is ``scipy.stats.kendalltau``'s default:
    ties (common in bf16 logits) shrink the denominator as they shrink the numerator, so they do
    not pull tau towards 0 as tau-a's fixed ``n0`` does. Without ties it equals tau-a. A row whose
    values are all equal has no order (SciPy returns NaN); its tau here is 0, so a mean over rows
    stays defined.

    Cost ``O(N C log^2 C)``, not ``O(N C^2)``: the pairs are never listed. Sorting each row by
    ``(first, second)`` leaves the discordant pairs as the inversions of ``second``, counted by
    merging (:func:`_inversions`); ``concordant - discordant = n0 - n1 - n2 + n3 - 2 discordant``
    with ``n3`` the pairs tied in both. Exact (integer counts), in chunks of rows so memory stays
    near ``2^22`` values, on the inputs' device. The values must be finite.
    """
    if first.shape != second.shape or first.dim() != 2 or first.shape[1] < 2:
        raise ValueError(
            f"expected two (N, C) tensors of one shape with C >= 2, got {tuple(first.shape)} and {tuple(second.shape)}"
        )
    for name, values in (("first", first), ("second", second)):
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f"kendall_tau's {name} ranking holds NaN or inf values; rank finite values only")
    count = first.shape[1]
    pairs = count * (count - 1) // 2
    rows = max(1, _KENDALL_CHUNK // (1 << max(0, (count - 1).bit_length())))
    taus = []
    for start in range(0, first.shape[0], rows):
        a, b = first[start : start + rows].double(), second[start : start + rows].double()
        by_b = torch.sort(b, dim=1, stable=True)
        order = by_b.indices.gather(1, torch.sort(a.gather(1, by_b.indices), dim=1, stable=True).indices)
        a_sorted, b_by_a = a.gather(1, order), b.gather(1, order)  # sorted by (a, b)
        tied_a, tied_b, tied_both = _tied_pairs(a_sorted), _tied_pairs(by_b.values), _tied_pairs(a_sorted, b_by_a)
        score = pairs - tied_a - tied_b + tied_both - 2 * _inversions(b_by_a)  # concordant - discordant
        untied = (pairs - tied_a).double() * (pairs - tied_b).double()  # (n0 - n1) (n0 - n2)
        taus.append(torch.where(untied > 0, score.double() / untied.clamp_min(1).sqrt(), torch.zeros_like(untied)))
    return torch.cat(taus)


@dataclass(frozen=True)
class RelationFidelity:
    """How well a student keeps the teacher's relations: over all classes, and on the teacher's top-d.

    Over all ``C`` classes (``(N,)``, per sample):

    Attributes:
        kl_all: KL of the full softmaxes at ``T``, teacher || student (KD's term without ``T^2``).
        kendall_all: Kendall's tau-b (:func:`kendall_tau`, ties do not lower it) of the teacher's
            and the student's ranking of all classes, the one measure here that no method optimises.

    On the teacher's top-d classes. For each sample the teacher ranks its ``d`` largest logits;
    the student is judged on those same classes. Per pair ``(i, j)`` of teacher ranks (``(P,)``,
    pair order of :func:`~ldrrld_core.relations.rank_pairs`). These favour LDRRLD by construction
    (:data:`FIDELITY_CAVEAT`):

    Attributes:
        depth, temperature: the settings.
        pair_kl: ``(P,)`` mean over samples of the pair's two-class KL (teacher || student) at ``T``.
        pair_agreement: ``(P,)`` fraction of samples where the student orders the two classes as the
            teacher does (a tie counts one half).
        kendall: ``(N,)`` Kendall's tau-b (:func:`kendall_tau`) between the teacher's and the
            student's order of the teacher's top-d classes (1: same order, -1: reversed).
        spearman: ``(N,)`` Spearman's rho of the same two orders.
        topd_overlap: ``(N,)`` fraction of the teacher's top-d classes that are also in the student's.
        top1_agreement: ``(N,)`` 1 where the student's top class is the teacher's.
    """

    depth: int
    temperature: float
    kl_all: Tensor
    kendall_all: Tensor
    pair_kl: Tensor
    pair_agreement: Tensor
    kendall: Tensor
    spearman: Tensor
    topd_overlap: Tensor
    top1_agreement: Tensor

    def summary(self) -> dict[str, float]:
        """One number per measure, averaged over pairs and samples: the all-class ones first."""
        return {
            "kl_all": float(self.kl_all.mean()),
            "kendall_tau_all": float(self.kendall_all.mean()),
            "pair_kl": float(self.pair_kl.mean()),
            "pair_agreement": float(self.pair_agreement.mean()),
            "kendall_tau": float(self.kendall.mean()),
            "spearman_rho": float(self.spearman.mean()),
            "topd_overlap": float(self.topd_overlap.mean()),
            "top1_agreement": float(self.top1_agreement.mean()),
        }


def relation_fidelity(
    *, student_logits: Tensor, teacher_logits: Tensor, depth: int = 7, temperature: float = 4.0
) -> RelationFidelity:
    """Measure how well a student keeps the teacher's relations: ``(N, C), (N, C) -> RelationFidelity``.

    Keyword-only, so two logit tensors of one shape cannot be swapped unnoticed. The top-d
    measures favour LDRRLD by construction and ``kl_all`` favours KD; ``kendall_all`` favours none.
    """
    student, teacher = student_logits.detach().double(), teacher_logits.detach().double()
    check_logit_pair(student, teacher)
    check_depth(depth, teacher.shape[1])
    check_positive("temperature", temperature)
    terms = ldrrld_loss(
        student, teacher, depth=depth, temperature=temperature, weighting="uniform", rank_by="teacher", validate=False
    )
    top = terms.top_classes  # (N, d) teacher order
    s_top = student.gather(1, top)  # (N, d)
    first, second = rank_pairs(depth, device=top.device)
    s_first, s_second = s_top[:, first], s_top[:, second]
    agree = (s_first > s_second).double() + 0.5 * (s_first == s_second).double()
    order = torch.argsort(s_top, dim=1, descending=True, stable=True)  # (N, d)
    student_rank = torch.argsort(order, dim=1).double()  # rank of each class
    teacher_rank = torch.arange(depth, dtype=torch.float64, device=top.device)
    spearman = 1 - 6 * ((student_rank - teacher_rank) ** 2).sum(1) / (depth * (depth**2 - 1))
    in_student_top = class_mask(top_classes(student, depth), student.shape[1])
    return RelationFidelity(
        depth=depth,
        temperature=float(temperature),
        kl_all=kl_from_logits(teacher_logits=teacher / temperature, student_logits=student / temperature, dim=1),
        kendall_all=kendall_tau(teacher, student),
        pair_kl=terms.pair_kl.mean(0),
        pair_agreement=agree.mean(0),
        kendall=kendall_tau(teacher.gather(1, top), s_top),
        spearman=spearman,
        topd_overlap=in_student_top.gather(1, top).double().mean(1),
        top1_agreement=(student.argmax(1) == top[:, 0]).double(),
    )


def compare_fidelity(
    students: Mapping[str, Tensor], teacher_logits: Tensor, *, depth: int = 7, temperature: float = 4.0
) -> dict[str, RelationFidelity]:
    """:func:`relation_fidelity` of several students (``{name: (N, C)}``) against one teacher."""
    check_students(students, teacher_logits)
    return {
        name: relation_fidelity(
            student_logits=logits, teacher_logits=teacher_logits, depth=depth, temperature=temperature
        )
        for name, logits in students.items()
    }


def fidelity_table(fidelities: Mapping[str, RelationFidelity]) -> list[dict[str, object]]:
    """One row per student: ``{"student": name, **fidelity.summary()}``, in the mapping's order.

    The all-class columns (``kl_all``, ``kendall_tau_all``) come first; read the table with
    :data:`FIDELITY_CAVEAT` in mind.
    """
    if not isinstance(fidelities, Mapping) or not fidelities:
        raise ValueError("no students to tabulate: pass {name: relation_fidelity(...)}, e.g. compare_fidelity's result")
    return [{"student": name, **fidelity.summary()} for name, fidelity in fidelities.items()]
