"""Panels drawn with matplotlib: static figures for papers, reports and headless runs.

Figures are built as :class:`StaticFigure` objects (a ``matplotlib.figure.Figure``) without
pyplot, so nothing global changes and a notebook shows a figure once, when a cell returns it.
Heatmaps are ``imshow`` images (``ax.images[0].get_array()`` is the matrix), row 0 at the top, in
square cells; neighbours in a row on one colour scale share one colour bar.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure

from .colors import BOUNDARY, DIVERGING, SEQUENTIAL
from .panels import LABELS_UP_TO, Bars, Heatmap, Lines, Panel, Scatter, colorbar_owners, series_colors

__all__ = ["StaticFigure", "draw_matplotlib"]


class StaticFigure(Figure):
    """A matplotlib ``Figure`` that Jupyter shows as a PNG on its own, without pyplot.

    Jupyter displays plain figures only once matplotlib's notebook backend is loaded (by pyplot);
    this one renders itself, so returning it from a cell always shows the picture, once.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()


def draw_matplotlib(
    panels: list[Panel | None], *, title: str, cols: int, panel_size: tuple[float, float]
) -> StaticFigure:
    rows = math.ceil(len(panels) / cols)
    width, height = panel_size
    fig = StaticFigure(figsize=(cols * width, rows * height), layout="constrained")
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
            image = _heatmap(ax, panel)
            sharing.append(ax)
            if owners[index]:  # the run ends here
                _colorbar(fig, image, sharing, panel)
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
        elif isinstance(panel, Bars):
            _bars(ax, panel, colors)
        elif isinstance(panel, Scatter):
            for group in panel.groups:
                ax.scatter(group.x, group.y, s=6, color=group.color, label=group.name)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            raise TypeError(f"cannot draw a {type(panel).__name__}; expected a panel of ldrrld_viz.panels")
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel(panel.x_title, fontsize=8)
        ax.set_ylabel(panel.y_title, fontsize=8)
        ax.tick_params(labelsize=7)
        handles, names = ax.get_legend_handles_labels()
        if names and not set(names) <= legend_names:
            legend_names.update(names)
            ax.legend(fontsize=6, ncols=2 if len(names) > 10 else 1, markerscale=2)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _colorbar(fig: Figure, image, axes: list, panel: Heatmap) -> None:
    colorbar = fig.colorbar(image, ax=axes, shrink=0.85, aspect=25)
    colorbar.ax.tick_params(labelsize=7)
    if panel.colorbar_title:
        colorbar.set_label(panel.colorbar_title, fontsize=7)


def _heatmap(ax, panel: Heatmap):
    low, high = panel.scale()
    scale = DIVERGING[1] if panel.colors == "diverging" else SEQUENTIAL[1]
    image = ax.imshow(panel.z, cmap=scale, vmin=low, vmax=high, aspect="equal", interpolation="nearest")
    for axis, labels in (("x", panel.labels("x")), ("y", panel.labels("y"))):
        set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
        if len(labels) <= LABELS_UP_TO:
            set_ticks(range(len(labels)), labels, rotation=90 if axis == "x" and max(map(len, labels)) > 3 else 0)
        else:
            set_ticks([])
    for position in panel.boundaries:
        ax.axhline(position - 0.5, color=BOUNDARY, linewidth=0.6)
        ax.axvline(position - 0.5, color=BOUNDARY, linewidth=0.6)
    if panel.annotated():
        middle = (low + high) / 2
        for (i, j), value in np.ndenumerate(panel.z):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if value > middle else "white",
                )
    return image


def _bars(ax, panel: Bars, colors: dict[str, str]) -> None:
    positions = np.arange(len(panel.categories))
    width = 0.8 / max(len(panel.series), 1)
    for k, (name, y) in enumerate(panel.series.items()):
        ax.bar(positions + (k - (len(panel.series) - 1) / 2) * width, y, width, color=colors[name], label=name)
    ax.set_xticks(positions, panel.categories, rotation=90 if max(map(len, panel.categories)) > 3 else 0)
    ax.axhline(0, color="grey", linewidth=0.5)
