"""Pictures of inter-class relations: class-mean logits and logit correlations, teacher vs students.

Both views follow the KD literature: the teacher's matrix, each student's, and the absolute
difference on one fixed colour scale with its max and mean, so students can be compared at a
glance. Classes are ordered by superclass when the data set has superclasses. Every figure says
which gap it shows (:data:`ldrrld_core.analysis.GAP_DEFINITIONS`): all cells, or mdistiller's
off-diagonal gap divided by 3 (class-mean logits only).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from ldrrld_core.analysis import (
    MatrixGap,
    check_class_names,
    check_superclass_of,
    group_boundaries,
    relation_gaps,
    select_classes,
    superclass_order,
)

from .panels import Heatmap
from .render import Figure, draw

__all__ = ["MAX_CLASSES", "class_mean_gaps", "correlation_gaps"]

#: The most classes a relation figure draws: each matrix is ``C x C`` cells (256: 65,536 per matrix,
#: a figure of a few MB). Beyond it the figures refuse, before computing anything; both figures draw a
#: chosen subset (``classes=``) of any data set.
MAX_CLASSES = 256


def _check_size(num_classes: int, figure: str, hint: str) -> None:
    if num_classes > MAX_CLASSES:
        raise ValueError(
            f"{figure} draws {num_classes} x {num_classes} = {num_classes**2:,} cells per matrix; it draws at most "
            f"{MAX_CLASSES} classes (ldrrld_viz.MAX_CLASSES): {hint}"
        )


def class_mean_gaps(
    students: Mapping[str, Tensor],
    teacher_logits: Tensor,
    labels: Tensor,
    *,
    num_classes: int | None = None,
    superclass_of: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    gap_scale: float | None = None,
    definition: str = "all_cells",
    classes: Sequence[int] | Tensor | None = None,
    backend: str = "plotly",
) -> Figure:
    """Class-mean logit matrices (row: true class, column: logit) of the teacher and each student,
    and ``|teacher - student|`` beside each student (two matrices a row, one colour scale per column).

    Args:
        students: names -> ``(N, C)`` logits; ``teacher_logits``: ``(N, C)`` on the same samples;
            ``labels``: ``(N,)`` in ``[0, C)``.
        superclass_of: ``(C,)`` superclass of each class, to group rows and columns (optional).
        class_names: ``C`` names (optional).
        gap_scale: top of the difference colour scale (default: the largest difference shown, or
            1 for ``"mdistiller"``, its fixed scale); fix it to compare figures.
        definition: ``"all_cells"`` (``|teacher - student|`` everywhere) or ``"mdistiller"``
            (divided by 3, diagonal zeroed); the titles say which one is shown.

        classes: draw only these classes (indices in ``[0, C)``, at most :data:`MAX_CLASSES`): the
            rows of the samples labelled with one of them, the columns of their logits, so the cells
            shown are those of the full matrix.

    Without ``classes``, more than :data:`MAX_CLASSES` classes are refused before any work.
    """
    num_classes_shown = getattr(teacher_logits, "shape", (0, 0))[-1]
    chosen, superclass_of, class_names = _subset(
        classes, num_classes_shown, superclass_of, class_names, "class_mean_gaps"
    )
    gaps = relation_gaps(
        students,
        teacher_logits,
        kind="class_mean",
        labels=labels,
        num_classes=num_classes,
        definition=definition,
        classes=chosen,
    )
    if gap_scale is None and definition == "mdistiller":
        gap_scale = 1.0
    return _relation_grid(
        "class-mean logits",
        gaps,
        superclass_of=superclass_of,
        class_names=class_names,
        gap_scale=gap_scale,
        axis_titles=("class", "true class"),
        backend=backend,
    )


def correlation_gaps(
    students: Mapping[str, Tensor],
    teacher_logits: Tensor,
    *,
    superclass_of: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    gap_scale: float | None = None,
    classes: Sequence[int] | Tensor | None = None,
    backend: str = "plotly",
) -> Figure:
    """Class-by-class correlation matrices of the logits (``(C, C)``, on ``[-1, 1]``) of the
    teacher and each student, and ``|teacher - student|`` beside each student. Arguments as
    :func:`class_mean_gaps`.

    ``classes``: draw only these classes (indices in ``[0, C)``, at most :data:`MAX_CLASSES`): a
    correlation involves two classes alone, so the cells shown are those of the full matrix. Without
    it, more than :data:`MAX_CLASSES` classes are refused before any work.
    """
    chosen, superclass_of, class_names = _subset(
        classes, getattr(teacher_logits, "shape", (0, 0))[-1], superclass_of, class_names, "correlation_gaps"
    )
    gaps = relation_gaps(students, teacher_logits, kind="correlation", classes=chosen)
    return _relation_grid(
        "logit correlation",
        gaps,
        superclass_of=superclass_of,
        class_names=class_names,
        gap_scale=gap_scale,
        matrix_scale=(-1.0, 1.0),
        axis_titles=("class", "class"),
        backend=backend,
    )


def _subset(
    classes: Sequence[int] | Tensor | None,
    num_classes: int,
    superclass_of: Tensor | None,
    class_names: Sequence[str] | None,
    figure: str,
) -> tuple[Tensor | None, Tensor | None, Sequence[str] | None]:
    """``(classes checked, superclass_of and class_names of those classes)``; without ``classes``,
    more than :data:`MAX_CLASSES` classes are refused before any work."""
    if classes is None:
        _check_size(num_classes, figure, "pass classes=[...] to draw a subset (e.g. one superclass)")
        return None, superclass_of, class_names
    _check_size(len(torch.as_tensor(classes).reshape(-1)), figure, "pass fewer classes")
    chosen = select_classes(classes, num_classes, figure)
    check_superclass_of(superclass_of, num_classes)
    check_class_names(class_names, num_classes)
    if superclass_of is not None:
        superclass_of = superclass_of[chosen.to(superclass_of.device)]
    if class_names is not None:
        class_names = [class_names[c] for c in chosen.tolist()]
    return chosen, superclass_of, class_names


def _relation_grid(
    kind: str,
    gaps: Mapping[str, MatrixGap],
    *,
    superclass_of: Tensor | None,
    class_names: Sequence[str] | None,
    gap_scale: float | None,
    backend: str,
    axis_titles: tuple[str, str],
    matrix_scale: tuple[float, float] | None = None,
):
    """Row 1: the teacher; then one row per student: its matrix beside its gap to the teacher.

    Two columns, so that a 100-class matrix keeps about 300 px of width in a notebook (each cell a
    few pixels, the superclass blocks plain to see). Every matrix of the left column shares one
    diverging colour scale, every gap of the right column one sequential scale; each column has
    one colour bar, and the panel titles say so. Superclasses are shown by the order of the rows
    and columns and thin separators, not by a grid around every cell.
    """
    teacher = next(iter(gaps.values())).teacher
    size = teacher.shape[1]
    check_superclass_of(superclass_of, size)
    check_class_names(class_names, size)
    if gap_scale is not None and not 0 < gap_scale < float("inf"):
        raise ValueError(f"gap_scale must be a finite number > 0 (the top of the gap colour scale), got {gap_scale!r}")
    order = torch.arange(size) if superclass_of is None else superclass_order(superclass_of.cpu())
    boundaries = [] if superclass_of is None else group_boundaries(superclass_of.cpu()[order])
    names = [class_names[c] if class_names is not None else str(c) for c in order.tolist()]
    matrices = {"teacher": teacher, **{name: gap.student for name, gap in gaps.items()}}
    if matrix_scale is None:  # off the diagonal is where the relations are: scale the colours to them
        off = ~torch.eye(size, dtype=torch.bool)
        reach = _percentile([m[off] for m in matrices.values()])
        matrix_scale = (-reach, reach)
    top = gap_scale if gap_scale is not None else _percentile([gap.gap.flatten() for gap in gaps.values()])

    def heatmap(matrix: Tensor, title: str, *, colorbar: bool, **scale) -> Heatmap:
        ordered = matrix.cpu()[order][:, order]
        return Heatmap(
            ordered,
            title=title,
            x_labels=names,
            y_labels=names,
            boundaries=boundaries,
            x_title=axis_titles[0],
            y_title=axis_titles[1],
            annotate=False,
            colorbar=colorbar,
            **scale,
        )

    def matrix(name: str, first: bool) -> Heatmap:
        title = f"{name}" + (" (left column: one scale)" if first else "")
        return heatmap(
            matrices[name], title, colorbar=first, colors="diverging", zmin=matrix_scale[0], zmax=matrix_scale[1]
        )

    panels: list[Heatmap | None] = [matrix("teacher", True), None]
    for index, (name, gap) in enumerate(gaps.items()):
        title = f"|teacher - {name}|: max {gap.max:.2f}, mean {gap.mean:.2f}" + (
            "\n(right column: one scale)" if index == 0 else ""
        )
        panels += [matrix(name, False), heatmap(gap.gap, title, colorbar=index == 0, zmin=0.0, zmax=top)]
    title = (
        f"Inter-class relations: {kind}, ordered by superclass; gap = {next(iter(gaps.values())).label}\n"
        f"colours saturate beyond the {SATURATE:.0%} quantile (hover for values)"
    )
    return draw(panels, cols=2, title=title, backend=backend, panel_size=(3.0, 2.7))


#: The quantile of the values shown where colour scales end when not given: the few extreme cells
#: (a diagonal of confident logits, one badly learnt class) do not wash out the rest.
SATURATE = 0.99


def _percentile(values: list[Tensor]) -> float:
    """The :data:`SATURATE` quantile of the absolute finite values (1 when there are none or all are 0)."""
    flat = torch.cat([v.detach().double().flatten().cpu() for v in values]).abs()
    flat = flat[torch.isfinite(flat)]
    top = float(torch.quantile(flat, SATURATE)) if flat.numel() else 0.0
    return top if top > 0 else 1.0
