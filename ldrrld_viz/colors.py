"""Colours that stay apart: one palette for every figure, both backends."""

from __future__ import annotations

import colorsys

__all__ = ["palette", "MAX_DISTINCT_GROUPS", "BOUNDARY", "REFERENCE", "SEQUENTIAL", "DIVERGING"]

#: Twenty colours chosen to be told apart on a white background, most distinct first
#: (after Sasha Trubetskoy's list of 20 simple distinct colours, with the palest ones darkened).
_DISTINCT = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#000075",
    "#9a6324",
    "#469990",
    "#800000",
    "#808000",
    "#e6beff",
    "#ffe119",
    "#fabebe",
    "#aaffc3",
    "#ffd8b1",
    "#808080",
    "#000000",
)
#: How many groups get clearly distinct colours; colour by superclass beyond that.
MAX_DISTINCT_GROUPS = len(_DISTINCT)

#: Lines between groups (superclasses) on a heatmap: seen on dark and on white cells alike.
BOUNDARY = "#8c8c8c"
#: Reference lines across a panel (a teacher's value): dark grey, dashed.
REFERENCE = "#555555"

#: Colour scales by role, as (plotly name, matplotlib name).
SEQUENTIAL = ("Viridis", "viridis")
DIVERGING = ("RdBu_r", "RdBu_r")


def palette(n: int) -> list[str]:
    """``n`` distinct ``#rrggbb`` colours: the fixed twenty first, then evenly spread hues.

    Up to 20 groups (CIFAR-100's superclasses) get colours that are easy to tell apart; beyond
    that (100 classes) hues are spread around the wheel with alternating lightness, still all
    different, and hover text should carry the names.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n <= len(_DISTINCT):
        return list(_DISTINCT[:n])
    colours = []
    for i in range(n):
        red, green, blue = colorsys.hls_to_rgb(i / n, 0.35 + 0.2 * (i % 3) / 2, 0.75)
        colours.append(f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}")
    return colours
