"""Inter-class relations: class-mean logits, logit correlations, their gaps, superclass order."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor

__all__ = ["class_mean_logits", "logit_correlation", "MatrixGap", "matrix_gap", "RELATION_KINDS", "relation_gaps",
           "superclass_order", "group_boundaries"]


def class_mean_logits(logits: Tensor, labels: Tensor, num_classes: int | None = None) -> Tensor:
    """The class-mean logit matrix: ``(N, C), (N,) -> (K, C)`` float64.

    Row ``k`` is the mean logit vector of the samples labelled ``k``; ``K`` is ``num_classes``
    (default ``C``). Every class needs at least one sample.
    """
    if logits.dim() != 2 or labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")
    count = logits.shape[1] if num_classes is None else int(num_classes)
    labels = labels.to(logits.device).long()
    sizes = torch.bincount(labels, minlength=count)
    if sizes.shape[0] > count:
        raise ValueError(f"labels go up to {int(labels.max())} but num_classes is {count}")
    if bool((sizes == 0).any()):
        empty = torch.nonzero(sizes == 0).flatten().tolist()
        raise ValueError(f"class(es) {empty[:10]} have no samples, so they have no mean logits; "
                         "evaluate on a larger split (e.g. the whole test set)")
    sums = logits.new_zeros(count, logits.shape[1], dtype=torch.float64)
    return sums.index_add_(0, labels, logits.detach().double()) / sizes[:, None]


def logit_correlation(logits: Tensor) -> Tensor:
    """Pearson correlation between the logits of every two classes over samples: ``(N, C) -> (C, C)``.

    Symmetric, values in ``[-1, 1]``, ones on the diagonal. A class whose logit never changes has
    no correlation: its row and column are NaN.
    """
    if logits.dim() != 2 or logits.shape[0] < 2:
        raise ValueError(f"expected logits (N, C) with N >= 2 samples, got {tuple(logits.shape)}")
    values = logits.detach().double()
    centred = values - values.mean(0)
    norms = centred.norm(dim=0)
    unit = centred / torch.where(norms > 0, norms, math.nan)
    return (unit.T @ unit).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class MatrixGap:
    """How far a student's relation matrix is from the teacher's.

    Attributes:
        teacher, student: the two matrices, same shape.
        gap: ``|teacher - student|``, elementwise.
        max, mean: of ``gap`` (NaN cells ignored).
    """

    teacher: Tensor
    student: Tensor
    gap: Tensor
    max: float
    mean: float


def matrix_gap(teacher: Tensor, student: Tensor) -> MatrixGap:
    """The absolute difference of two relation matrices with its max and mean (the KD literature's view)."""
    if teacher.shape != student.shape:
        raise ValueError(f"the matrices differ in shape: teacher {tuple(teacher.shape)}, "
                         f"student {tuple(student.shape)}; compute both on the same classes")
    gap = (teacher.double() - student.double().to(teacher.device)).abs()
    valid = gap[~gap.isnan()]
    if valid.numel() == 0:
        raise ValueError("the matrices have no finite cells to compare")
    return MatrixGap(teacher=teacher, student=student, gap=gap, max=float(valid.max()),
                     mean=float(valid.mean()))


#: The inter-class relation matrices :func:`relation_gaps` compares.
RELATION_KINDS = ("class_mean", "correlation")


def relation_gaps(teacher_logits: Tensor, students: Mapping[str, Tensor], *, kind: str = "class_mean",
                  labels: Tensor | None = None, num_classes: int | None = None) -> dict[str, MatrixGap]:
    """Each student's relation matrix against the teacher's, by name: ``{name: MatrixGap}``.

    Args:
        teacher_logits: ``(N, C)``; ``students`` maps names to ``(N, C)`` logits on the same samples.
        kind: ``"class_mean"`` (:func:`class_mean_logits`, needs ``labels``) or ``"correlation"``
            (:func:`logit_correlation`).
        labels, num_classes: for ``"class_mean"``.
    """
    if kind == "class_mean":
        if labels is None:
            raise ValueError("kind='class_mean' needs the labels (N,) of the samples")
        relation = lambda logits: class_mean_logits(logits, labels, num_classes)  # noqa: E731
    elif kind == "correlation":
        relation = logit_correlation
    else:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(RELATION_KINDS)}")
    if not students:
        raise ValueError("give at least one student to compare with the teacher")
    teacher = relation(teacher_logits)
    return {name: matrix_gap(teacher, relation(logits)) for name, logits in students.items()}


def superclass_order(superclass_of: Tensor) -> Tensor:
    """An order of the classes that groups them by superclass: ``(C,) -> (C,)`` long.

    Classes of superclass 0 come first, then 1, ...; within a superclass the class order is kept.
    Index a matrix with it on both axes (``m[order][:, order]``) to make the groups visible.
    """
    return torch.sort(superclass_of.long(), stable=True).indices


def group_boundaries(groups: Tensor) -> list[int]:
    """Positions where a sorted group sequence changes: ``[i for i in 1..n-1 if g[i] != g[i-1]]``."""
    change = torch.nonzero(groups[1:] != groups[:-1]).flatten() + 1
    return change.tolist()
