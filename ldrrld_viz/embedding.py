"""t-SNE maps of penultimate features, one panel per model, coloured by class or superclass."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ldrrld_core.analysis import check_class_names, check_labels, check_superclass_of

from .class_relations import MAX_CLASSES
from .colors import MAX_DISTINCT_GROUPS, palette
from .panels import Points, Scatter, as_array
from .render import Figure, draw

__all__ = ["tsne_scatter"]


def _class_count(labels: Tensor, class_names: Sequence[str] | None, superclass_of: Tensor | None) -> int:
    """``C``: from the class names, else from ``superclass_of``, else the largest label + 1."""
    if class_names is not None:
        return len(class_names)
    if isinstance(superclass_of, Tensor) and superclass_of.dim() == 1:
        return superclass_of.shape[0]
    if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(
            f"labels must be a non-empty 1-D tensor of class indices, got {tuple(getattr(labels, 'shape', ()))}"
        )
    return int(labels.max()) + 1


def tsne_scatter(
    embeddings: Mapping[str, Tensor],
    labels: Tensor,
    *,
    class_names: Sequence[str] | None = None,
    superclass_of: Tensor | None = None,
    superclass_names: Sequence[str] | None = None,
    color_by: str = "auto",
    backend: str = "plotly",
) -> Figure:
    """Side-by-side scatter plots of 2-D embeddings (e.g. :func:`ldrrld_core.analysis.tsne_embedding`).

    Args:
        embeddings: model name -> ``(N, 2)`` points, all for the same ``N`` samples.
        labels: ``(N,)`` class of each sample, in ``[0, C)``.
        class_names: name of each of the ``C`` classes (hover text; default the class index).
        superclass_of: ``(C,)`` superclass of each class; ``superclass_names`` their names.
            ``C`` is the number of class names, else of ``superclass_of`` entries, else the
            largest label + 1; every argument must agree with it.
        color_by: ``"class"``, ``"superclass"`` or ``"auto"`` (superclass when there are more
            than 20 classes and superclasses exist, so each colour stays distinguishable).

    Each group has one colour, the same in every panel; hovering a point names its class.
    Panels run three to a row. At most :data:`~ldrrld_viz.MAX_CLASSES` colour groups (a legend
    entry and a trace each): more is a ``ValueError`` before any drawing; colour by superclass.
    """
    if not isinstance(embeddings, Mapping) or not embeddings:
        raise ValueError("embeddings must be a non-empty mapping {model name: (N, 2) points}")
    num_classes = _class_count(labels, class_names, superclass_of)
    check_labels(labels, labels.shape[0], num_classes)
    check_class_names(class_names, num_classes)
    check_superclass_of(superclass_of, num_classes)
    labels = labels.detach().cpu().long()
    color_by, group_of_class, group_names = _coloring(
        color_by, num_classes, class_names, superclass_of, superclass_names
    )
    num_groups = int(group_of_class.max()) + 1
    colors = palette(num_groups)
    groups = group_of_class[labels].numpy()  # (N,)
    hover = [class_names[c] if class_names is not None else f"class {c}" for c in labels.tolist()]
    panels = []
    for model, points in embeddings.items():
        points = as_array(points)
        if points.shape != (labels.shape[0], 2):
            raise ValueError(
                f"the embedding of {model!r} has shape {points.shape}; expected "
                f"({labels.shape[0]}, 2), one 2-D point per label"
            )
        panels.append(
            Scatter(
                [
                    Points(
                        group_names[g] if group_names is not None else f"{color_by} {g}",
                        points[mask, 0],
                        points[mask, 1],
                        colors[g],
                        [hover[i] for i in np.flatnonzero(mask)],
                    )
                    for g in range(num_groups)
                    if (mask := groups == g).any()
                ],
                title=model,
            )
        )
    return draw(
        panels,
        title=f"t-SNE of penultimate features, coloured by {color_by}",
        backend=backend,
        cols=min(len(panels), 3),
        panel_size=(4.0, 3.8),
    )


def _coloring(
    color_by: str,
    num_classes: int,
    class_names: Sequence[str] | None,
    superclass_of: Tensor | None,
    superclass_names: Sequence[str] | None,
) -> tuple[str, Tensor, Sequence[str] | None]:
    """``(color_by resolved, (C,) group of each class, group names)`` for a ``color_by`` setting."""
    if color_by == "auto":
        color_by = "superclass" if superclass_of is not None and num_classes > MAX_DISTINCT_GROUPS else "class"
    if color_by == "superclass":
        if superclass_of is None:
            raise ValueError(
                "color_by='superclass' needs superclass_of (the superclass of each class); "
                "this data set has none, so use color_by='class'"
            )
        group_of_class, group_names = superclass_of.detach().cpu().long(), superclass_names
    elif color_by == "class":
        group_of_class, group_names = torch.arange(num_classes), class_names
    else:
        raise ValueError(f"color_by must be 'class', 'superclass' or 'auto', got {color_by!r}")
    num_groups = int(group_of_class.max()) + 1
    if num_groups > MAX_CLASSES:
        raise ValueError(
            f"tsne_scatter would colour {num_groups} {color_by}es apart (a legend entry each); it draws at most "
            f"{MAX_CLASSES} (ldrrld_viz.MAX_CLASSES): "
            + ("pass superclass_of=... to colour by superclass" if color_by == "class" else "use fewer superclasses")
        )
    if group_names is not None and len(group_names) < num_groups:
        raise ValueError(
            f"{len(group_names)} {color_by} names for {num_groups} {color_by}es; give one name "
            f"per {color_by}, in index order"
        )
    return color_by, group_of_class, group_names
