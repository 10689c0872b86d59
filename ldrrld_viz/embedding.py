"""t-SNE maps of penultimate features, one panel per model, coloured by class or superclass."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from .colors import MAX_DISTINCT_GROUPS, palette
from .panels import Points, Scatter, as_array, draw

__all__ = ["tsne_scatter"]


def tsne_scatter(embeddings: Mapping[str, Tensor], labels: Tensor, *,
                 class_names: Sequence[str] | None = None, superclass_of: Tensor | None = None,
                 superclass_names: Sequence[str] | None = None, color_by: str = "auto",
                 backend: str = "plotly"):
    """Side-by-side scatter plots of 2-D embeddings (e.g. :func:`ldrrld_core.analysis.tsne_embedding`).

    Args:
        embeddings: model name -> ``(N, 2)`` points, all for the same ``N`` samples.
        labels: ``(N,)`` class of each sample.
        class_names: name of each class (hover text; default the class index).
        superclass_of: ``(C,)`` superclass of each class; ``superclass_names`` their names.
        color_by: ``"class"``, ``"superclass"`` or ``"auto"`` (superclass when there are more
            than 20 classes and superclasses exist, so each colour stays distinguishable).

    Each group has one colour, the same in every panel; hovering a point names its class.
    Panels run three to a row.
    """
    labels = labels.detach().cpu().long()
    num_classes = len(class_names) if class_names is not None else int(labels.max()) + 1
    if color_by == "auto":
        color_by = "superclass" if superclass_of is not None and num_classes > MAX_DISTINCT_GROUPS else "class"
    if color_by == "superclass":
        if superclass_of is None:
            raise ValueError("color_by='superclass' needs superclass_of (the superclass of each class); "
                             "this data set has none, so use color_by='class'")
        group_of_class = superclass_of.detach().cpu().long()
        group_names = superclass_names
    elif color_by == "class":
        group_of_class, group_names = torch.arange(num_classes), class_names
    else:
        raise ValueError(f"color_by must be 'class', 'superclass' or 'auto', got {color_by!r}")
    num_groups = int(group_of_class.max()) + 1
    colors = palette(num_groups)
    groups = group_of_class[labels].numpy()                                      # (N,)
    hover = [class_names[c] if class_names is not None else f"class {c}" for c in labels.tolist()]
    panels = []
    for model, points in embeddings.items():
        points = as_array(points)
        if points.shape != (labels.shape[0], 2):
            raise ValueError(f"the embedding of {model!r} has shape {points.shape}; expected "
                             f"({labels.shape[0]}, 2), one 2-D point per label")
        panels.append(Scatter([
            Points(group_names[g] if group_names is not None else f"{color_by} {g}",
                   points[mask, 0], points[mask, 1], colors[g],
                   [hover[i] for i in np.flatnonzero(mask)])
            for g in range(num_groups) if (mask := groups == g).any()
        ], title=model))
    return draw(panels, title=f"t-SNE of penultimate features, coloured by {color_by}", backend=backend,
                cols=min(len(panels), 3), panel_size=(4.0, 3.8))
