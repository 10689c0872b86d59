"""Pictures of one sample: global vs local softmax, per-pair KL contributions, logit gradients."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
from torch import Tensor

from ldrrld_core.analysis import SampleRelations, check_class_index, check_class_names, pair_matrix

from .class_relations import MAX_CLASSES
from .panels import Bars, Heatmap, blank_diagonal
from .render import Figure, draw

__all__ = ["local_distributions", "pair_contributions", "gradient_bars", "contribution_panels"]


def _names(classes: Sequence[int], class_names: Sequence[str] | None) -> list[str]:
    return [class_names[c] if class_names is not None else str(c) for c in classes]


def _rank_labels(rel: SampleRelations, class_names: Sequence[str] | None) -> list[str]:
    check_class_names(class_names, rel.num_classes)
    names = _names(rel.top_classes.tolist(), class_names)
    return [f"{rank}: {name}" for rank, name in enumerate(names, start=1)]


def local_distributions(
    rel: SampleRelations, *, class_names: Sequence[str] | None = None, backend: str = "plotly"
) -> Figure:
    """Global vs local distributions of the ``d`` selected classes of one sample.

    Top row: the teacher's and the student's probabilities of those classes under the softmax over
    all classes, then under the softmax over the ``d`` classes alone. Bottom row: the two-class
    (pair) distributions, entry ``[i, j]`` the probability of rank ``i`` against rank ``j``.
    At most :data:`~ldrrld_viz.MAX_CLASSES` ranks (a ``ValueError`` beyond, before any work).
    """
    _check_depth(rel.depth, "local_distributions")
    labels = _rank_labels(rel, class_names)
    pair = {
        "zmin": 0.0,
        "zmax": 1.0,
        "x_labels": labels,
        "y_labels": labels,
        "x_title": "against rank j",
        "y_title": "rank i",
    }
    panels = [
        Bars(
            labels,
            {"teacher": rel.teacher_global, "student": rel.student_global},
            title="global softmax (all classes)",
            y_title="probability",
        ),
        Bars(
            labels,
            {"teacher": rel.teacher_local, "student": rel.student_local},
            title=f"local softmax (top-{rel.depth} only)",
            y_title="probability",
        ),
        Heatmap(blank_diagonal(rel.teacher_pair), title="teacher: pair softmax", **pair),
        Heatmap(blank_diagonal(rel.student_pair), title="student: pair softmax", **pair),
    ]
    return draw(panels, cols=2, title=f"One sample at T = {rel.temperature:g}", backend=backend, panel_size=(4.4, 3.6))


def pair_contributions(
    rel: SampleRelations, *, class_names: Sequence[str] | None = None, backend: str = "plotly"
) -> Figure:
    """Where one sample's local term comes from: pair KL, pair weight and their weighted share.

    Three ``d x d`` heatmaps over ranks: ``KL_ij``, ``w_ij`` and ``T^2 w_ij KL_ij / (P + 1)``;
    the pair contributions (counted once per pair) plus the top-d set's make ``rel.local``.
    At most :data:`~ldrrld_viz.MAX_CLASSES` ranks (a ``ValueError`` beyond, before any work).
    """
    _check_depth(rel.depth, "pair_contributions")
    title = (
        f"local term {rel.local:.4f} = pairs {float(rel.contribution.sum()):.4f} "
        f"+ top-{rel.depth} set {rel.topd_contribution:.4f}"
    )
    return draw(contribution_panels(rel, class_names=class_names), title=title, backend=backend, panel_size=(4.0, 3.6))


def _check_depth(depth: int, figure: str) -> None:
    if depth > MAX_CLASSES:
        raise ValueError(
            f"{figure} draws {depth} x {depth} = {depth**2:,} cells per panel; it draws at most {MAX_CLASSES} "
            "ranks (ldrrld_viz.MAX_CLASSES): compute the sample's relations at a smaller depth"
        )


def contribution_panels(
    rel: SampleRelations,
    *,
    class_names: Sequence[str] | None = None,
    parts: Sequence[str] = ("pair_kl", "pair_weights", "contribution"),
) -> list[Heatmap]:
    """The heatmap panels of :func:`pair_contributions` (pick some with ``parts``), to compose other figures."""
    titles = {
        "pair_kl": "pair KL (teacher || student)",
        "pair_weights": "pair weight",
        "contribution": "contribution to the local term",
    }
    _check_depth(rel.depth, "contribution_panels")
    unknown = set(parts) - set(titles)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(titles)}")
    labels = _rank_labels(rel, class_names)
    return [
        Heatmap(
            pair_matrix(getattr(rel, part), rel.depth, diagonal=math.nan),
            title=titles[part],
            x_labels=labels,
            y_labels=labels,
            x_title="rank j",
            y_title="rank i",
            zmin=0.0,
        )
        for part in parts
    ]


def gradient_bars(
    gradients: Mapping[str, Tensor],
    student_logits: Tensor,
    *,
    target: int | None = None,
    class_names: Sequence[str] | None = None,
    max_classes: int = 15,
    backend: str = "plotly",
) -> Figure:
    """The gradient each loss puts on each student logit, classes in the student's rank order.

    ``gradients`` is :func:`ldrrld_core.analysis.logit_gradients`' result (``{name: (C,)}``);
    only the ``max_classes`` highest student logits are shown. A bar below zero means the loss
    raises that logit. The target class, if given, is marked with ``*``. Every gradient must be
    ``(C,)`` like ``student_logits``, and finite.
    """
    if not isinstance(student_logits, Tensor) or student_logits.dim() != 1:
        raise ValueError(
            "student_logits must be the 1-D logits (classes,) of the gradients' sample, "
            f"got {tuple(getattr(student_logits, 'shape', ()))}; pick a row with logits[i]"
        )
    num_classes = student_logits.shape[0]
    if not isinstance(gradients, Mapping) or not gradients:
        raise ValueError(
            "gradients must be a non-empty mapping {loss name: (C,) gradient}, e.g. analysis.logit_gradients(...)"
        )
    for name, grad in gradients.items():
        if not isinstance(grad, Tensor) or tuple(grad.shape) != (num_classes,):
            raise ValueError(
                f"the gradient {name!r} has shape {tuple(getattr(grad, 'shape', ()))} but the "
                f"sample has {num_classes} classes; pass the gradients of this sample"
            )
    for name, values in {
        "student_logits": student_logits,
        **{f"the gradient {k!r}": g for k, g in gradients.items()},
    }.items():
        if not bool(torch.isfinite(values).all()):
            bad = int((~torch.isfinite(values)).sum())
            raise ValueError(
                f"{name} holds {bad} non-finite value(s) (NaN or inf); a bar cannot show them: compute the "
                "gradients of a model that has not diverged"
            )
    if target is not None:
        target = check_class_index("target", target, num_classes)
    check_class_names(class_names, num_classes)
    if isinstance(max_classes, bool) or not isinstance(max_classes, int) or max_classes < 1:
        raise ValueError(f"max_classes must be an integer >= 1, got {max_classes!r}")
    order = torch.argsort(student_logits.detach().cpu(), descending=True, stable=True)[:max_classes]
    labels = [
        f"{name}*" if c == target else name for c, name in zip(order.tolist(), _names(order.tolist(), class_names))
    ]
    series = {name: grad.detach().cpu()[order] for name, grad in gradients.items()}
    panel = Bars(
        labels,
        series,
        title="gradient on each student logit (no CE)",
        x_title="class, by student rank" + (" (* the true class)" if target is not None else ""),
        y_title="dL / dz_s",
    )
    return draw([panel], backend=backend, panel_size=(7.0, 3.4))
