"""Pictures of relation fidelity: how well each student keeps the teacher's local relations.

The per-pair measures drawn here are LDRRLD's own objective (uniform pair weights), so they favour
LDRRLD by construction; the panel titles also give Kendall's tau over all classes, which no method
optimises (:data:`ldrrld_core.analysis.FIDELITY_CAVEAT`).
"""

from __future__ import annotations

import math
from typing import Mapping

from ldrrld_core.analysis import RelationFidelity, pair_matrix

from .class_relations import MAX_CLASSES
from .panels import Heatmap
from .render import Figure, draw

__all__ = ["MEASURES", "fidelity_heatmaps"]

#: Per-pair measures of :class:`~ldrrld_core.analysis.RelationFidelity` that can be drawn.
MEASURES = {"pair_agreement": "order agreement", "pair_kl": "mean pair KL"}


def fidelity_heatmaps(
    fidelities: Mapping[str, RelationFidelity], *, measure: str = "pair_agreement", backend: str = "plotly"
) -> Figure:
    """One ``d x d`` heatmap per student over the teacher's ranks, on one shared colour scale.

    ``measure`` is ``"pair_agreement"`` (fraction of samples where the student orders the
    teacher's rank-i and rank-j classes as the teacher does; scale 0 to 1) or ``"pair_kl"``
    (mean two-class KL; scale 0 to the largest shown). Titles give each student's mean Kendall
    tau on the teacher's top-d and over all classes; the figure title carries the caveat that the
    per-pair measures favour LDRRLD by construction. At most :data:`~ldrrld_viz.MAX_CLASSES` ranks
    (a ``ValueError`` beyond, before any drawing).
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if not isinstance(fidelities, Mapping) or not fidelities:
        raise ValueError("no students to draw: pass {name: relation_fidelity(...)}")
    depths = {f.depth for f in fidelities.values()}
    if len(depths) > 1:
        raise ValueError(f"the students were measured at different depths {sorted(depths)}; use one depth")
    depth = depths.pop()
    if depth > MAX_CLASSES:
        raise ValueError(
            f"fidelity_heatmaps draws {depth} x {depth} = {depth**2:,} cells per student; it draws at most "
            f"{MAX_CLASSES} ranks (ldrrld_viz.MAX_CLASSES): measure the students at a smaller depth"
        )
    temperatures = {f.temperature for f in fidelities.values()}
    if measure == "pair_kl" and len(temperatures) > 1:
        raise ValueError(
            f"the students' pair KLs were measured at different temperatures "
            f"{sorted(temperatures)}; use one temperature to compare them"
        )
    values = {name: getattr(f, measure) for name, f in fidelities.items()}
    top = 1.0 if measure == "pair_agreement" else max(float(v.max()) for v in values.values())
    ranks = [str(r) for r in range(1, depth + 1)]
    panels = [
        Heatmap(
            pair_matrix(v, depth, diagonal=math.nan),
            zmin=0.0,
            zmax=top,
            x_labels=ranks,
            y_labels=ranks,
            x_title="teacher rank j",
            y_title="teacher rank i",
            title=f"{name}: Kendall tau {float(fidelities[name].kendall.mean()):.3f}\n"
            f"all classes {float(fidelities[name].kendall_all.mean()):.3f}",
        )
        for name, v in values.items()
    ]
    return draw(
        panels,
        title=f"Relation fidelity: {MEASURES[measure]} per rank pair (d = {depth})\n"
        "LDRRLD's own objective, so it favours LDRRLD by construction",
        backend=backend,
        cols=min(len(panels), 4),
        panel_size=(2.8, 2.6),
    )
