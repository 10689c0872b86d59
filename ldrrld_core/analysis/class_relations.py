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
from typing import Mapping, Sequence

import torch
from torch import Tensor

from .checks import check_labels, check_logits, check_students, check_superclass_of

__all__ = [
    "MAX_RELATION_CLASSES",
    "select_classes",
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


#: The most classes a ``(C, C)`` relation matrix is built for at once: 2,048 classes make 4.2 M cells
#: (34 MB in float64) per matrix, where 10,000 would make 800 MB each and take seconds. Beyond it the
#: functions refuse before any work; pass ``classes=`` (a subset, e.g. one superclass) instead.
MAX_RELATION_CLASSES = 2048


def select_classes(classes: Sequence[int] | Tensor | None, num_classes: int, function: str) -> Tensor | None:
    """``classes`` checked as distinct indices in ``[0, C)``, as a ``(k,)`` long CPU tensor, at most
    :data:`MAX_RELATION_CLASSES` of them; ``None`` (all ``C`` classes) where ``C`` is within that limit.
    Any other case is a one-line ``ValueError`` naming ``function``."""
    if classes is None:
        if num_classes > MAX_RELATION_CLASSES:
            raise ValueError(
                f"{function} would build {num_classes} x {num_classes} matrices ({num_classes**2:,} cells each); it "
                f"builds at most {MAX_RELATION_CLASSES} classes at once (MAX_RELATION_CLASSES): pass classes=[...], "
                "a subset such as one superclass"
            )
        return None
    chosen = torch.as_tensor(classes).reshape(-1).cpu()
    if chosen.is_floating_point() or chosen.dtype == torch.bool or chosen.numel() == 0:
        raise ValueError(f"classes must be a non-empty list of class indices, got {classes!r}")
    if len(set(chosen.tolist())) != chosen.numel():
        raise ValueError(f"classes must be distinct class indices, got {classes!r}")
    if not bool(((chosen >= 0) & (chosen < num_classes)).all()):
        raise ValueError(
            f"classes must lie in [0, {num_classes}), got values from {int(chosen.min())} to {int(chosen.max())}"
        )
    if chosen.numel() > MAX_RELATION_CLASSES:
        raise ValueError(
            f"{function} got {chosen.numel()} classes; it builds at most {MAX_RELATION_CLASSES} classes at once "
            "(MAX_RELATION_CLASSES): pass fewer classes"
        )
    return chosen.long()


def class_mean_logits(
    logits: Tensor, labels: Tensor, num_classes: int | None = None, *, classes: Sequence[int] | Tensor | None = None
) -> Tensor:
    """The class-mean logit matrix: ``(N, C), (N,) -> (C, C)`` float64.

    Row ``k`` is the mean logit vector of the samples labelled ``k``. ``labels`` must lie in
    ``[0, C)`` and every class needs at least one sample; ``num_classes``, if given, must be ``C``.

    ``classes``: the matrix of these classes only, ``(k, k)`` in their order (the rows of the samples
    labelled with one of them, the columns of their logits): the same cells as the full matrix.
    Needed beyond :data:`MAX_RELATION_CLASSES` classes, which are refused before any work.
    """
    check_logits("logits", logits)
    count = logits.shape[1]
    if num_classes is not None and num_classes != count:
        raise ValueError(
            f"num_classes is {num_classes} but the logits have {count} classes; "
            "pass the data set's class count, the model's output size"
        )
    check_labels(labels, logits.shape[0], count)
    chosen = select_classes(classes, count, "class_mean_logits")
    labels = labels.to(logits.device).long()
    if chosen is not None:
        position = torch.full((count,), -1, dtype=torch.long, device=logits.device)
        position[chosen.to(logits.device)] = torch.arange(chosen.numel(), device=logits.device)
        keep = position[labels] >= 0
        logits, labels, count = logits[keep][:, chosen.to(logits.device)], position[labels[keep]], chosen.numel()
        if logits.shape[0] == 0:
            raise ValueError("no sample is labelled with one of the chosen classes; choose classes the labels hold")
    sizes = torch.bincount(labels, minlength=count)
    if bool((sizes == 0).any()):
        empty = torch.nonzero(sizes == 0).flatten()
        empty = (empty if chosen is None else chosen[empty.cpu()]).tolist()
        raise ValueError(
            f"class(es) {empty[:10]} have no samples, so they have no mean logits; "
            "evaluate on a larger split (e.g. the whole test set)"
        )
    sums = logits.new_zeros(count, count, dtype=torch.float64)
    return sums.index_add_(0, labels, logits.detach().double()) / sizes[:, None]


def logit_correlation(logits: Tensor, *, classes: Sequence[int] | Tensor | None = None) -> Tensor:
    """Pearson correlation between the logits of every two classes over samples: ``(N, C) -> (C, C)``.

    Symmetric, values in ``[-1, 1]``, ones on the diagonal. A class whose logit never changes has
    no correlation: its row and column are NaN. ``classes``: of these classes only, ``(k, k)`` in
    their order (a correlation involves its two classes alone, so the cells are the full matrix's);
    needed beyond :data:`MAX_RELATION_CLASSES` classes, which are refused before any work.
    """
    check_logits("logits", logits, min_samples=2)
    chosen = select_classes(classes, logits.shape[1], "logit_correlation")
    values = (logits if chosen is None else logits[:, chosen.to(logits.device)]).detach().double()
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
    classes: Sequence[int] | Tensor | None = None,
) -> dict[str, MatrixGap]:
    """Each student's relation matrix against the teacher's, by name: ``{name: MatrixGap}``.

    Args:
        students: names -> ``(N, C)`` logits; ``teacher_logits``: ``(N, C)`` on the same samples.
        kind: ``"class_mean"`` (:func:`class_mean_logits`, needs ``labels``) or ``"correlation"``
            (:func:`logit_correlation`).
        labels, num_classes: for ``"class_mean"``.
        definition: of the gap, a key of :data:`GAP_DEFINITIONS`; ``"mdistiller"`` is for
            ``kind="class_mean"`` only (its scale of 3 is a logit scale).
        classes: compare these classes only (``(k, k)`` matrices, the full matrices' cells); needed
            beyond :data:`MAX_RELATION_CLASSES` classes, which are refused before any work.
    """
    check_students(students, teacher_logits)
    _check_definition(definition)
    select_classes(classes, teacher_logits.shape[1], "relation_gaps")  # refuse before any work
    if kind == "class_mean":
        if labels is None:
            raise ValueError("kind='class_mean' needs the labels (N,) of the samples")
        relation = lambda logits: class_mean_logits(logits, labels, num_classes, classes=classes)  # noqa: E731
    elif kind == "correlation":
        if definition != "all_cells":
            raise ValueError(
                "definition='mdistiller' divides class-mean logit gaps by 3; it is for "
                "kind='class_mean' only, use definition='all_cells' for correlations"
            )
        relation = lambda logits: logit_correlation(logits, classes=classes)  # noqa: E731
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
