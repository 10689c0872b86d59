"""Inter-class relations: class-mean logits, logit correlations, their gaps, superclass order.

Two definitions of the gap between a teacher's and a student's class-mean matrix are offered, and
every figure says which one it shows (:data:`GAP_DEFINITIONS`):

* ``"all_cells"``: ``|teacher - student|`` on all ``C x C`` cells, the diagonal (a class's own
  logit on its own samples) included;
* ``"mdistiller"``: the view of mdistiller's ``tools/visualizations/correlation.ipynb``: the same
  difference divided by a common scale of 3 (its ``MAX_DIFF``), with the diagonal set to 0, so
  the figure shows how the *other* classes relate; max and mean are over all ``C x C`` cells,
  the zeroed diagonal included, as there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor

from .checks import check_labels, check_logits, check_students, check_superclass_of

__all__ = [
    "class_mean_logits",
    "logit_correlation",
    "MatrixGap",
    "matrix_gap",
    "GAP_DEFINITIONS",
    "MDISTILLER_GAP_SCALE",
    "RELATION_KINDS",
    "relation_gaps",
    "superclass_order",
    "group_boundaries",
]

#: How the gap between two relation matrices is measured: name -> the words a figure shows.
GAP_DEFINITIONS = {
    "all_cells": "|teacher - student| on all cells",
    "mdistiller": "|teacher - student| / 3, diagonal zeroed (mdistiller)",
}
#: The common scale mdistiller divides class-mean gaps by (``MAX_DIFF`` in its correlation notebook).
MDISTILLER_GAP_SCALE = 3.0


def class_mean_logits(logits: Tensor, labels: Tensor, num_classes: int | None = None) -> Tensor:
    """The class-mean logit matrix: ``(N, C), (N,) -> (C, C)`` float64.

    Row ``k`` is the mean logit vector of the samples labelled ``k``. ``labels`` must lie in
    ``[0, C)`` and every class needs at least one sample; ``num_classes``, if given, must be ``C``.
    """
    check_logits("logits", logits)
    count = logits.shape[1]
    if num_classes is not None and num_classes != count:
        raise ValueError(
            f"num_classes is {num_classes} but the logits have {count} classes; "
            "pass the data set's class count, the model's output size"
        )
    check_labels(labels, logits.shape[0], count)
    labels = labels.to(logits.device).long()
    sizes = torch.bincount(labels, minlength=count)
    if bool((sizes == 0).any()):
        empty = torch.nonzero(sizes == 0).flatten().tolist()
        raise ValueError(
            f"class(es) {empty[:10]} have no samples, so they have no mean logits; "
            "evaluate on a larger split (e.g. the whole test set)"
        )
    sums = logits.new_zeros(count, count, dtype=torch.float64)
    return sums.index_add_(0, labels, logits.detach().double()) / sizes[:, None]


def logit_correlation(logits: Tensor) -> Tensor:
    """Pearson correlation between the logits of every two classes over samples: ``(N, C) -> (C, C)``.

    Symmetric, values in ``[-1, 1]``, ones on the diagonal. A class whose logit never changes has
    no correlation: its row and column are NaN.
    """
    check_logits("logits", logits, min_samples=2)
    values = logits.detach().double()
    centred = values - values.mean(0)
    norms = centred.norm(dim=0)
    unit = centred / torch.where(norms > 0, norms, math.nan)
    return (unit.T @ unit).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class MatrixGap:
    """How far a student's relation matrix is from the teacher's.

    Attributes:
        student, teacher: the two matrices, same shape.
        gap: the difference under ``definition`` (see :data:`GAP_DEFINITIONS`), elementwise.
        max, mean: of ``gap`` (NaN cells ignored).
        definition: the name of the definition, a key of :data:`GAP_DEFINITIONS`.
    """

    student: Tensor
    teacher: Tensor
    gap: Tensor
    max: float
    mean: float
    definition: str = "all_cells"

    @property
    def label(self) -> str:
        """The definition in words, for a figure's title."""
        return GAP_DEFINITIONS[self.definition]


def _check_definition(definition: str) -> None:
    if definition not in GAP_DEFINITIONS:
        raise ValueError(f"unknown gap definition {definition!r}; choose one of {', '.join(GAP_DEFINITIONS)}")


def matrix_gap(*, student: Tensor, teacher: Tensor, definition: str = "all_cells") -> MatrixGap:
    """The gap between two relation matrices with its max and mean (the KD literature's view).

    ``definition="all_cells"``: ``|teacher - student|``; ``"mdistiller"``: that divided by
    :data:`MDISTILLER_GAP_SCALE` with the diagonal set to 0 (square matrices only).
    Keyword-only, so a student and a teacher of the same shape cannot be swapped unnoticed.
    """
    _check_definition(definition)
    if teacher.shape != student.shape or teacher.dim() != 2:
        raise ValueError(
            f"the matrices differ in shape or are not 2-D: student {tuple(student.shape)}, "
            f"teacher {tuple(teacher.shape)}; compute both on the same classes"
        )
    gap = (teacher.double() - student.double().to(teacher.device)).abs()
    if definition == "mdistiller":
        if gap.shape[0] != gap.shape[1]:
            raise ValueError(f"definition='mdistiller' zeroes the diagonal of a square matrix, got {tuple(gap.shape)}")
        gap = (gap / MDISTILLER_GAP_SCALE).fill_diagonal_(0.0)
    valid = gap[~gap.isnan()]
    if valid.numel() == 0:
        raise ValueError("the matrices have no finite cells to compare")
    return MatrixGap(
        student=student,
        teacher=teacher,
        gap=gap,
        max=float(valid.max()),
        mean=float(valid.mean()),
        definition=definition,
    )


#: The inter-class relation matrices :func:`relation_gaps` compares.
RELATION_KINDS = ("class_mean", "correlation")


def relation_gaps(
    students: Mapping[str, Tensor],
    teacher_logits: Tensor,
    *,
    kind: str = "class_mean",
    labels: Tensor | None = None,
    num_classes: int | None = None,
    definition: str = "all_cells",
) -> dict[str, MatrixGap]:
    """Each student's relation matrix against the teacher's, by name: ``{name: MatrixGap}``.

    Args:
        students: names -> ``(N, C)`` logits; ``teacher_logits``: ``(N, C)`` on the same samples.
        kind: ``"class_mean"`` (:func:`class_mean_logits`, needs ``labels``) or ``"correlation"``
            (:func:`logit_correlation`).
        labels, num_classes: for ``"class_mean"``.
        definition: of the gap, a key of :data:`GAP_DEFINITIONS`; ``"mdistiller"`` is for
            ``kind="class_mean"`` only (its scale of 3 is a logit scale).
    """
    check_students(students, teacher_logits)
    _check_definition(definition)
    if kind == "class_mean":
        if labels is None:
            raise ValueError("kind='class_mean' needs the labels (N,) of the samples")
        relation = lambda logits: class_mean_logits(logits, labels, num_classes)  # noqa: E731
    elif kind == "correlation":
        if definition != "all_cells":
            raise ValueError(
                "definition='mdistiller' divides class-mean logit gaps by 3; it is for "
                "kind='class_mean' only, use definition='all_cells' for correlations"
            )
        relation = logit_correlation
    else:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(RELATION_KINDS)}")
    teacher = relation(teacher_logits)
    return {
        name: matrix_gap(student=relation(logits), teacher=teacher, definition=definition)
        for name, logits in students.items()
    }


def superclass_order(superclass_of: Tensor) -> Tensor:
    """An order of the classes that groups them by superclass: ``(C,) -> (C,)`` long.

    Classes of superclass 0 come first, then 1, ...; within a superclass the class order is kept.
    Index a matrix with it on both axes (``m[order][:, order]``) to make the groups visible.
    """
    check_superclass_of(superclass_of, len(superclass_of) if isinstance(superclass_of, Tensor) else 0)
    return torch.sort(superclass_of.long(), stable=True).indices


def group_boundaries(groups: Tensor) -> list[int]:
    """Positions where a sorted group sequence changes: ``[i for i in 1..n-1 if g[i] != g[i-1]]``."""
    change = torch.nonzero(groups[1:] != groups[:-1]).flatten() + 1
    return change.tolist()
