"""Panels drawn with matplotlib: static figures for papers, reports and headless runs.

Figures are built as :class:`StaticFigure` objects (a ``matplotlib.figure.Figure``) without
pyplot, so nothing global changes and a notebook shows a figure once, when a cell returns it.
Heatmaps are ``imshow`` images (``ax.images[0].get_array()`` is the matrix), row 0 at the top, in
square cells; neighbours in a row on one colour scale share one colour bar.

Figures are drawn at :data:`DPI` = 72 dots an inch, so a font's size in points is its height in
pixels when a page shows the picture one to one; no text is smaller than
:data:`~ldrrld_viz.panels.MIN_TEXT_PX`, and a figure is never wider than :data:`MAX_WIDTH_IN`, so a
notebook never shrinks it (and its text with it).
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure

from .colors import BOUNDARY, DIVERGING, REFERENCE, SEQUENTIAL
from .panels import (
    LABEL_GAP_PX,
    LABEL_POSITIONS,
    MIN_TEXT_PX,
    Bars,
    Heatmap,
    Lines,
    Panel,
    Scatter,
    colorbar_owners,
    label_step,
    series_colors,
)

__all__ = ["DPI", "MAX_WIDTH_IN", "StaticFigure", "draw_matplotlib"]

#: Dots an inch of every static figure: a point of text is a pixel.
DPI = 72
#: The widest figure, in inches: JupyterLab's output area in a 1280 x 800 window (760 px).
MAX_WIDTH_IN = 760 / DPI
TITLE_PT, PANEL_TITLE_PT = 12, 11


class StaticFigure(Figure):
    """A matplotlib ``Figure`` that Jupyter shows as a PNG on its own, without pyplot.

    Jupyter displays plain figures only once matplotlib's notebook backend is loaded (by pyplot);
    this one renders itself, so returning it from a cell always shows the picture, once.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()


def draw_matplotlib(
    panels: list[Panel | None], *, title: str, cols: int, panel_size: tuple[float, float]
) -> StaticFigure:
    rows = math.ceil(len(panels) / cols)
    width, height = panel_size
    shrink = min(1.0, MAX_WIDTH_IN / (cols * width))  # a wide grid is drawn smaller, its text is not
    fig = StaticFigure(figsize=(cols * width * shrink, rows * height * shrink), dpi=DPI, layout="constrained")
    cell_px = {  # the side of a square cell, before the colour bars take their share
        i: min(width * shrink / p.z.shape[1], height * shrink / p.z.shape[0]) * DPI * 0.7
        for i, p in enumerate(panels)
        if isinstance(p, Heatmap)
    }
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colors = series_colors(panels)
    owners = colorbar_owners(panels, cols) + [False] * (len(axes) - len(panels))
    legend_names: set[str] = set()
    sharing: list = []  # the axes of the current run of heatmaps on one scale
    for index, (ax, panel) in enumerate(zip(axes, panels + [None] * (len(axes) - len(panels)))):
        if index % cols == 0 or not isinstance(panel, Heatmap):
            sharing = []
        if panel is None:
            ax.axis("off")
            continue
        if isinstance(panel, Heatmap):
            image = _heatmap(ax, panel, cell_px[index])
            sharing.append(ax)
            if owners[index]:  # the run ends here
                clipped = any(p.clipped() for p in panels[index - len(sharing) + 1 : index + 1])
                _colorbar(fig, image, sharing, panel, clipped=clipped)
                sharing = []
        elif isinstance(panel, Lines):
            for name, y in panel.series.items():
                ax.plot(
                    panel.x,
                    y,
                    marker="o",
                    markersize=3,
                    color=colors[name],
                    label=name,
                    linestyle="--" if name in panel.dashed else "-",
                )
            if panel.x_ticks is not None:
                ax.set_xticks(list(panel.x_ticks))
        elif isinstance(panel, Bars):
            _bars(ax, panel, colors)
        elif isinstance(panel, Scatter):
            _scatter(ax, panel)
        else:
            raise TypeError(f"cannot draw a {type(panel).__name__}; expected a panel of ldrrld_viz.panels")
        ax.set_title(panel.title, fontsize=PANEL_TITLE_PT)
        ax.set_xlabel(panel.x_title, fontsize=MIN_TEXT_PX)
        ax.set_ylabel(panel.y_title, fontsize=MIN_TEXT_PX)
        ax.tick_params(labelsize=MIN_TEXT_PX)
        handles, names = ax.get_legend_handles_labels()
        if names and not set(names) <= legend_names:
            legend_names.update(names)
            ax.legend(fontsize=MIN_TEXT_PX, ncols=2 if len(names) > 10 else 1, markerscale=2)
    if title:
        fig.suptitle(title, fontsize=TITLE_PT)
    _annotate(fig, [(ax, p) for ax, p in zip(axes, panels) if isinstance(p, Heatmap)])
    return fig


def _colorbar(fig: Figure, image, axes: list, panel: Heatmap, *, clipped: bool = False) -> None:
    """The colour bar of a run of heatmaps; an arrow at its top when some cell lies above its range."""
    colorbar = fig.colorbar(image, ax=axes, shrink=0.85, aspect=25, extend="max" if clipped else "neither")
    colorbar.ax.tick_params(labelsize=MIN_TEXT_PX)
    if panel.colorbar_title:
        colorbar.set_label(panel.colorbar_title, fontsize=MIN_TEXT_PX)


def _heatmap(ax, panel: Heatmap, cell_px: float):
    low, high = panel.scale()
    scale = DIVERGING[1] if panel.colors == "diverging" else SEQUENTIAL[1]
    image = ax.imshow(panel.z, cmap=scale, vmin=low, vmax=high, aspect="equal", interpolation="nearest")
    for axis, labels in (("x", panel.labels("x")), ("y", panel.labels("y"))):
        set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
        step = label_step(labels, cell_px, across=axis == "x")
        if step is not None:
            set_ticks(range(0, len(labels), step), labels[::step])
        else:
            set_ticks([])
    for position in panel.separators(cell_px):
        ax.axhline(position - 0.5, color=BOUNDARY, linewidth=0.6)
        ax.axvline(position - 0.5, color=BOUNDARY, linewidth=0.6)
    return image


def _annotate(fig: Figure, heatmaps: list) -> None:
    """Write the values into the cells of each ``(ax, panel)`` whose cells, as laid out, hold them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.font_manager import FontProperties

    canvas = FigureCanvasAgg(fig)  # a canvas to lay the figure out with (the picture is drawn the same way)
    fig.get_layout_engine().execute(fig)
    # The widest value written, in this font, with 2 px to spare on each side.
    room = canvas.get_renderer().get_text_width_height_descent("0.00", FontProperties(size=MIN_TEXT_PX), False)[0] + 4
    for ax, panel in heatmaps:
        ax.apply_aspect()  # square cells: the matrix fills the width or the height of its box
        box = ax.get_window_extent()
        cell_px = min(box.width / panel.z.shape[1], box.height / panel.z.shape[0]) * DPI / fig.dpi
        if not (panel.annotated(cell_px) and cell_px >= room):
            continue
        low, high = panel.scale()
        middle = (low + high) / 2
        for (i, j), value in np.ndenumerate(panel.z):
            if np.isfinite(value):
                color = "black" if value > middle else "white"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=MIN_TEXT_PX, color=color)


def _bars(ax, panel: Bars, colors: dict[str, str]) -> None:
    positions = np.arange(len(panel.categories))
    width = 0.8 / max(len(panel.series), 1)
    for k, (name, y) in enumerate(panel.series.items()):
        ax.bar(positions + (k - (len(panel.series) - 1) / 2) * width, y, width, color=colors[name], label=name)
    ax.set_xticks(positions, panel.categories, rotation=90 if max(map(len, panel.categories)) > 3 else 0)
    ax.axhline(0, color="grey", linewidth=0.5)


def _scatter(ax, panel: Scatter) -> None:
    """Groups of points; with ``labelled`` each named above its marker, with ``references`` dashed lines."""
    for group in panel.groups:
        ax.scatter(group.x, group.y, s=36 if panel.labelled else 6, color=group.color, label=group.name)
        if panel.labelled:
            for x, y, text, position in zip(group.x, group.y, group.hover, group.positions()):
                right, up = LABEL_POSITIONS[position]
                ax.annotate(
                    text,
                    (x, y),
                    xytext=(LABEL_GAP_PX * right, LABEL_GAP_PX * up),
                    textcoords="offset points",
                    ha={1: "left", 0: "center", -1: "right"}[right],
                    va={1: "bottom", 0: "center", -1: "top"}[up],
                    fontsize=MIN_TEXT_PX,
                )
    for line in panel.references:
        draw_line = ax.axhline if line.axis == "y" else ax.axvline
        draw_line(line.value, color=REFERENCE, linestyle="--", linewidth=1.2, label=line.name)
    if panel.x_range is not None:
        ax.set_xlim(*panel.x_range)
    if panel.y_range is not None:
        ax.set_ylim(*panel.y_range)
    if not panel.values:
        ax.set_xticks([])
        ax.set_yticks([])
