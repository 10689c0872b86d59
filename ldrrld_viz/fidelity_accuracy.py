"""Relation fidelity against accuracy: do the students that keep the teacher's class relations score better?

One labelled point per student: across, its all-class Kendall tau to the teacher (the relation
measure no method optimises, :data:`ldrrld_core.analysis.FIDELITY_CAVEAT`); up, its test top-1. The
teacher's top-1 is a dashed reference line (its tau to itself is 1 by definition). Each point is one
run: the figure shows where the students of one run lie, not a trend with its uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ldrrld_core.analysis import RelationFidelity

from .colors import palette
from .panels import CHAR_PX, LABEL_GAP_PX, LABEL_POSITIONS, MIN_TEXT_PX, Points, Reference, Scatter
from .render import Figure, draw

__all__ = ["fidelity_vs_accuracy", "LABEL_ROOM", "place_labels"]

#: Room around the points, as a share of their spread on each axis, so that the label written beside
#: each point stays inside the axes: (left and right, below, above).
LABEL_ROOM = (0.14, 0.08, 0.16)
#: The plotting area the labels are placed for, in pixels (width, height): a little smaller than
#: either backend draws it, so labels that do not touch here do not touch there.
PLOT_PX = (440.0, 210.0)
#: Half the side of a marker, in pixels, that no label may cover.
MARKER_PX = 5.0


def _box(x: float, y: float, text: str, position: str) -> tuple[float, float, float, float]:
    """``(left, bottom, right, top)`` in pixels of ``text`` written at ``position`` around point ``(x, y)``."""
    width, height = len(text) * CHAR_PX + 2, MIN_TEXT_PX * 1.3
    right, up = LABEL_POSITIONS[position]
    left = x + right * LABEL_GAP_PX - width * {1: 0.0, 0: 0.5, -1: 1.0}[right]
    bottom = y + up * LABEL_GAP_PX - height * {1: 0.0, 0: 0.5, -1: 1.0}[up]
    return left, bottom, left + width, bottom + height


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def place_labels(
    xs: Sequence[float],
    ys: Sequence[float],
    texts: Sequence[str],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    size: tuple[float, float] = PLOT_PX,
) -> list[str]:
    """A label position (:data:`~ldrrld_viz.panels.LABEL_POSITIONS`) for every point, chosen greedily
    so that labels cover no marker and no other label and stay inside the axes, where the
    ``size``-pixel plotting area allows (else the position that covers least)."""
    to_px = [
        ((x - x_range[0]) / (x_range[1] - x_range[0]) * size[0], (y - y_range[0]) / (y_range[1] - y_range[0]) * size[1])
        for x, y in zip(xs, ys)
    ]
    markers = [(x - MARKER_PX, y - MARKER_PX, x + MARKER_PX, y + MARKER_PX) for x, y in to_px]
    area = (0.0, 0.0, size[0], size[1])
    placed: list[tuple[float, ...]] = []
    chosen = []
    for (x, y), text in zip(to_px, texts):

        def cost(position: str) -> float:
            box = _box(x, y, text, position)
            outside = (box[2] - box[0]) * (box[3] - box[1]) - _overlap(box, area)
            return sum(_overlap(box, other) for other in [*markers, *placed]) + 10 * outside

        best = min(LABEL_POSITIONS, key=cost)  # the first position that covers nothing, if any
        chosen.append(best)
        placed.append(_box(x, y, text, best))
    return chosen


def _tau(value: RelationFidelity | float) -> float:
    return float(value.kendall_all.mean()) if isinstance(value, RelationFidelity) else float(value)


def _groups(students: Sequence[str], groups: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """Legend name -> students; every student in exactly one group (default: one group, "students")."""
    if groups is None:
        return {"students": list(students)}
    placed = [name for members in groups.values() for name in members]
    twice = sorted({name for name in placed if placed.count(name) > 1})
    unknown = sorted(set(placed) - set(students))
    missing = [name for name in students if name not in placed]
    if twice or unknown or missing:
        raise ValueError(
            "groups must place every student in exactly one group: "
            + "; ".join(
                part
                for part in (
                    f"in several {twice}" if twice else "",
                    f"not students {unknown}" if unknown else "",
                    f"in no group {missing}" if missing else "",
                )
                if part
            )
        )
    return {name: list(members) for name, members in groups.items() if members}


def _span(values: Sequence[float], below: float, above: float, least: float) -> tuple[float, float]:
    """``(low, high)`` around ``values`` with ``below``/``above`` of their spread (at least ``least``) spare."""
    low, high = min(values), max(values)
    spread = max(high - low, least)
    return low - below * spread, high + above * spread


def fidelity_vs_accuracy(
    fidelities: Mapping[str, RelationFidelity | float],
    top1: Mapping[str, float],
    *,
    teacher_top1: float | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    backend: str = "plotly",
) -> Figure:
    """Each student's all-class Kendall tau to the teacher (x) against its test top-1 in % (y).

    Args:
        fidelities: student name -> its :class:`~ldrrld_core.analysis.RelationFidelity` (the mean of
            ``kendall_all`` is drawn) or the tau itself.
        top1: student name -> test top-1 (%), the same students.
        teacher_top1: the teacher's test top-1 (%), drawn as a dashed horizontal line (optional).
        groups: legend name -> students, one colour each (e.g. ``{"tuned": [...], "preset": [...]}``);
            every student in exactly one group. Default: one group.
        backend: ``"plotly"`` (interactive) or ``"matplotlib"`` (static).

    Every point is labelled with its student's name, beside it where the label covers no other
    marker or label (:func:`place_labels`); the axes leave room (:data:`LABEL_ROOM`) so that every
    point, label and the reference line lie inside them.
    """
    if not isinstance(fidelities, Mapping) or not fidelities:
        raise ValueError("no students to draw: pass {name: relation_fidelity(...)} and {name: top-1}")
    if not isinstance(top1, Mapping) or set(top1) != set(fidelities):
        raise ValueError(
            f"fidelities and top1 must name the same students, got {sorted(fidelities)} and "
            f"{sorted(top1) if isinstance(top1, Mapping) else type(top1).__name__}"
        )
    taus = {name: _tau(value) for name, value in fidelities.items()}
    accuracies = {name: float(top1[name]) for name in fidelities}
    shown = [*taus.values(), *accuracies.values(), *([] if teacher_top1 is None else [float(teacher_top1)])]
    if not all(math.isfinite(v) for v in shown):
        raise ValueError(f"every tau and top-1 must be a finite number, got taus {taus}, top-1 {accuracies}")
    members = _groups(list(fidelities), groups)
    side, below, above = LABEL_ROOM
    references = [] if teacher_top1 is None else [Reference(f"teacher top-1 {teacher_top1:.1f}%", float(teacher_top1))]
    x_range = _span(list(taus.values()), side, side, least=0.05)
    y_range = _span([*accuracies.values(), *(line.value for line in references)], below, above, least=5.0)
    order = [name for students in members.values() for name in students]
    where = dict(
        zip(order, place_labels([taus[n] for n in order], [accuracies[n] for n in order], order, x_range, y_range))
    )
    points = [
        Points(
            name,
            [taus[s] for s in students],
            [accuracies[s] for s in students],
            color,
            hover=list(students),
            label_positions=[where[s] for s in students],
        )
        for (name, students), color in zip(members.items(), palette(len(members)))
    ]
    panel = Scatter(
        points,
        x_title="Kendall tau to the teacher, all classes",
        y_title="test top-1 (%)",
        labelled=True,
        values=True,
        x_range=x_range,
        y_range=y_range,
        references=references,
    )
    return draw(
        [panel],
        title="Does keeping the teacher's class relations buy accuracy?\n"
        "one point per student, one run each: no error bars",
        backend=backend,
        panel_size=(7.5, 4.2),
    )
