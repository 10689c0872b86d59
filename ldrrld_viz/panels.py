"""What a figure shows, apart from how it is drawn: panels as plain data.

Every picture of the toolkit is a grid of a few kinds of panels (heatmap, lines, bars,
scatter). A figure function of :mod:`ldrrld_viz` turns analysis numbers into panels; a backend
(:mod:`.plotly_backend` for interactive figures, :mod:`.matplotlib_backend` for static ones)
turns panels into a figure, and :func:`ldrrld_viz.render.draw` picks the backend. So both
backends draw the same numbers, each picture is written once, and this module imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

import numpy as np

from .colors import palette

__all__ = [
    "MIN_TEXT_PX",
    "CELL_TEXT_PX",
    "label_step",
    "Heatmap",
    "Lines",
    "Bars",
    "Points",
    "LABEL_POSITIONS",
    "Reference",
    "Scatter",
    "Panel",
    "as_array",
    "blank_diagonal",
    "colorbar_owners",
]

#: The smallest text a figure shows, in pixels: CSS pixels in a page (plotly), points at the 72 dots
#: an inch of static figures (matplotlib), which a page shows one to one.
MIN_TEXT_PX = 10
#: A heatmap writes its values in its cells only when a cell is at least this many pixels wide: a
#: "0.80" at :data:`MIN_TEXT_PX` with a little room. Smaller cells leave the value to the colour and
#: the hover.
CELL_TEXT_PX = 24
#: Group separators are drawn only when every group is at least this many pixels wide.
GROUP_PX = 24
#: Axes with more labels than this hide them (hover still names every cell).
LABELS_UP_TO = 30
#: Average width of one character of :data:`MIN_TEXT_PX` text, in pixels, for fitting tick labels.
CHAR_PX = 6.2
#: Pixels between a labelled point's centre and its label (plotly's own gap for ``textposition``).
LABEL_GAP_PX = 6


def label_step(labels: Sequence[str], cell_px: float, *, across: bool) -> int | None:
    """Show every ``step``-th tick label so that neighbours never touch; ``None``: show none.

    ``across`` is True for labels side by side along the axis (x ticks, written horizontally), whose
    width must fit the cells; False for labels stacked along it (y ticks), whose height must fit.
    """
    if not labels or len(labels) > LABELS_UP_TO:
        return None
    need = (max(map(len, labels)) * CHAR_PX + 4) if across else MIN_TEXT_PX * 1.4
    return max(1, -(-int(need) // max(int(cell_px), 1)))


def as_array(values) -> np.ndarray:
    """A tensor, list or array as a float64 NumPy array on the host."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64)


def blank_diagonal(matrix) -> np.ndarray:
    """A square matrix as a float64 array with NaN on the diagonal: cells that mean nothing (a rank
    paired with itself) stay blank in a heatmap."""
    out = as_array(matrix).copy()
    np.fill_diagonal(out, np.nan)
    return out


@dataclass(frozen=True)
class Heatmap:
    """A matrix drawn as coloured cells, row 0 at the top.

    ``zmin``/``zmax`` fix the colour scale (give the same to panels that must be compared);
    ``colors`` is ``"sequential"`` or ``"diverging"`` (centred on zero when no scale is given);
    ``boundaries`` are positions where a line separates groups on both axes (superclasses);
    ``annotate`` writes values in the cells (default: where the cells are large enough to hold
    them, :data:`CELL_TEXT_PX`; ``True`` asks for it under the same condition, ``False`` never);
    ``colorbar`` forces the colour bar on or off (default: see :func:`colorbar_owners`).
    """

    z: np.ndarray
    title: str = ""
    x_labels: Sequence[str] | None = None
    y_labels: Sequence[str] | None = None
    x_title: str = ""
    y_title: str = ""
    zmin: float | None = None
    zmax: float | None = None
    colors: str = "sequential"
    colorbar_title: str = ""
    boundaries: Sequence[int] = ()
    annotate: bool | None = None
    colorbar: bool | None = None

    def __post_init__(self) -> None:
        z = as_array(self.z)
        if z.ndim != 2:
            raise ValueError(f"a heatmap needs a 2-D matrix, got shape {z.shape}")
        if self.colors not in ("sequential", "diverging"):
            raise ValueError(f"colors must be 'sequential' or 'diverging', got {self.colors!r}")
        object.__setattr__(self, "z", z)

    def labels(self, axis: str) -> list[str]:
        """Tick labels of the ``"x"`` or ``"y"`` axis (indices when none were given)."""
        given = self.x_labels if axis == "x" else self.y_labels
        size = self.z.shape[1] if axis == "x" else self.z.shape[0]
        return [str(label) for label in given] if given is not None else [str(i) for i in range(size)]

    def scale(self) -> tuple[float, float]:
        """The ``(low, high)`` ends of the colour scale."""
        finite = self.z[np.isfinite(self.z)]
        if self.colors == "diverging" and self.zmin is None and self.zmax is None:
            reach = float(np.abs(finite).max()) if finite.size else 1.0
            return -reach, reach
        low = self.zmin if self.zmin is not None else (float(finite.min()) if finite.size else 0.0)
        high = self.zmax if self.zmax is not None else (float(finite.max()) if finite.size else 1.0)
        return low, high

    def clipped(self) -> int:
        """How many cells lie above a fixed top of the colour scale (``zmax``): drawn in its top colour,
        so a figure marks them (an arrow on the colour bar, a count in a caption)."""
        if self.zmax is None:
            return 0
        finite = self.z[np.isfinite(self.z)]
        return int((finite > self.zmax * (1 + 1e-9)).sum())

    def separators(self, cell_px: float) -> list[int]:
        """The group boundaries to draw for cells ``cell_px`` wide: all of them when every group is
        at least :data:`GROUP_PX` wide, else none (then the ordering alone shows the groups; lines
        that close would read as a grid)."""
        edges = [0, *self.boundaries, max(self.z.shape)]
        narrowest = min(b - a for a, b in zip(edges, edges[1:]))
        return list(self.boundaries) if narrowest * cell_px >= GROUP_PX else []

    def annotated(self, cell_px: float) -> bool:
        """Whether values are written in cells ``cell_px`` pixels wide."""
        return self.annotate is not False and cell_px >= CELL_TEXT_PX


@dataclass(frozen=True)
class Lines:
    """Curves over a shared x axis; ``series`` maps a legend name to y values (NaN leaves a gap);
    ``x_ticks`` fixes where the x axis is labelled (e.g. whole epochs), else the backend chooses."""

    x: np.ndarray
    series: Mapping[str, np.ndarray]
    title: str = ""
    x_title: str = ""
    y_title: str = ""
    dashed: Sequence[str] = ()
    x_ticks: Sequence[float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", as_array(self.x))
        object.__setattr__(self, "series", {name: as_array(y) for name, y in self.series.items()})


@dataclass(frozen=True)
class Bars:
    """Grouped bars: one group per category, one bar per series."""

    categories: Sequence[str]
    series: Mapping[str, np.ndarray]
    title: str = ""
    x_title: str = ""
    y_title: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", [str(c) for c in self.categories])
        object.__setattr__(self, "series", {name: as_array(y) for name, y in self.series.items()})


@dataclass(frozen=True)
class Points:
    """One coloured group of a scatter plot; ``hover`` names each point.

    ``label_positions``: where a labelled scatter writes each point's name, one of
    :data:`LABEL_POSITIONS` per point (default: all ``"top center"``).
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    color: str
    hover: Sequence[str] = field(default_factory=list)
    label_positions: Sequence[str] = ()

    def __post_init__(self) -> None:
        wrong = [position for position in self.label_positions if position not in LABEL_POSITIONS]
        if wrong or (self.label_positions and len(self.label_positions) != len(self.x)):
            raise ValueError(
                f"label_positions must give one of {', '.join(LABEL_POSITIONS)} for each of the "
                f"{len(self.x)} points, got {list(self.label_positions)}"
            )

    def positions(self) -> list[str]:
        """The label position of every point."""
        return list(self.label_positions) or ["top center"] * len(self.x)


#: Where a label can sit around its point (plotly's ``textposition`` names), and the direction it
#: extends in, ``(right, up)`` in units of the gap between marker and label.
LABEL_POSITIONS = {
    "top center": (0, 1),
    "bottom center": (0, -1),
    "middle right": (1, 0),
    "middle left": (-1, 0),
    "top right": (1, 1),
    "top left": (-1, 1),
    "bottom right": (1, -1),
    "bottom left": (-1, -1),
}


@dataclass(frozen=True)
class Reference:
    """A dashed line across a scatter panel at ``value`` on the ``axis`` it marks (``"y"``: a
    horizontal line, ``"x"``: a vertical one), named in the legend (a teacher's accuracy)."""

    name: str
    value: float
    axis: str = "y"

    def __post_init__(self) -> None:
        if self.axis not in ("x", "y"):
            raise ValueError(f"a reference line marks the 'x' or the 'y' axis, got {self.axis!r}")


@dataclass(frozen=True)
class Scatter:
    """Points in groups, each group one colour (the same group keeps its colour across panels).

    ``labelled`` writes each point's hover text beside it (a few named points, one per model);
    ``values`` shows the axes' values (False, the default, suits maps whose coordinates mean nothing,
    such as t-SNE); ``x_range``/``y_range`` fix what the axes show, so a figure function can leave
    room for the labels; ``references`` are dashed lines across the panel.
    """

    groups: Sequence[Points]
    title: str = ""
    x_title: str = ""
    y_title: str = ""
    labelled: bool = False
    values: bool = False
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    references: Sequence[Reference] = ()


Panel = Union[Heatmap, Lines, Bars, Scatter]


def series_colors(panels: Sequence[Panel | None]) -> dict[str, str]:
    """One colour per series name of the line and bar panels, the same in every panel."""
    names: list[str] = []
    for panel in panels:
        if isinstance(panel, (Lines, Bars)):
            names += [name for name in panel.series if name not in names]
    return dict(zip(names, palette(len(names))))


def colorbar_owners(panels: Sequence[Panel | None], cols: int) -> list[bool]:
    """Which heatmaps draw a colour bar: the last of each run of neighbours in a row on one scale.

    Heatmaps side by side with the same colour scale share one bar, at the right end of the run,
    so a row of comparable matrices spends its width on the matrices.
    """

    def key(panel):
        return (panel.scale(), panel.colors, panel.colorbar_title) if isinstance(panel, Heatmap) else None

    owners = []
    for index, panel in enumerate(panels):
        if isinstance(panel, Heatmap) and panel.colorbar is not None:
            owners.append(panel.colorbar)
            continue
        right = index + 1
        shares_right = (
            right % cols != 0 and right < len(panels) and key(panel) is not None and key(panels[right]) == key(panel)
        )
        owners.append(isinstance(panel, Heatmap) and not shares_right)
    return owners
