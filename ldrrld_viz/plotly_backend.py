"""Panels drawn with plotly: interactive figures (hover, zoom) for notebooks and widgets.

Heatmaps keep the matrix as given (``trace.z``), with row 0 at the top, in square cells; each
heatmap has its own colour axis (``cmin``/``cmax``), and neighbours in a row on one scale share one
colour bar, drawn beside the last of them. A ``"\n"`` in a title breaks the line.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .colors import BOUNDARY, DIVERGING, SEQUENTIAL
from .panels import ANNOTATE_UP_TO, LABELS_UP_TO, Bars, Heatmap, Lines, Panel, Scatter, colorbar_owners, series_colors

__all__ = ["draw_plotly"]

PIXELS_PER_INCH = 110


def draw_plotly(panels: list[Panel | None], *, title: str, cols: int, panel_size: tuple[float, float]) -> go.Figure:
    rows = math.ceil(len(panels) / cols)
    owners = colorbar_owners(panels, cols)
    inner_colorbar = any(owner and index % cols != cols - 1 for index, owner in enumerate(owners))
    two_line_titles = any(p is not None and "\n" in p.title for p in panels)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[_text(p.title) if p is not None else "" for p in panels],
        horizontal_spacing=min(0.15 if inner_colorbar else 0.06, 0.9 / max(cols - 1, 1)),
        vertical_spacing=(0.2 if two_line_titles else 0.16) if rows > 1 else 0.1,
    )
    colors = series_colors(panels)
    shown: set[str] = set()  # legend entries already drawn, so each name appears once
    shapes: list[dict] = []  # added once at the end: each shape makes every later layout update slower
    for index, panel in enumerate(panels):
        row, col = index // cols + 1, index % cols + 1
        axis = "" if index == 0 else str(index + 1)
        if panel is None:
            fig.update_xaxes(visible=False, row=row, col=col)
            fig.update_yaxes(visible=False, row=row, col=col)
        elif isinstance(panel, Heatmap):
            shapes += _heatmap(fig, panel, index, axis, row, col, show_scale=owners[index])
        elif isinstance(panel, (Lines, Bars, Scatter)):
            for trace in _traces(panel, colors, shown):
                fig.add_trace(trace, row=row, col=col)
            if isinstance(panel, Bars):
                fig.update_xaxes(type="category", row=row, col=col)
        else:
            raise TypeError(f"cannot draw a {type(panel).__name__}; expected a panel of ldrrld_viz.panels")
        if panel is not None:
            fig.update_xaxes(title_text=panel.x_title, title_font_size=11, tickfont_size=10, row=row, col=col)
            fig.update_yaxes(title_text=panel.y_title, title_font_size=11, tickfont_size=10, row=row, col=col)
    fig.update_annotations(font_size=12)  # the panel titles
    if shapes:
        fig.update_layout(shapes=shapes)
    # The width follows the page (notebook output or widget); the height follows the panels.
    fig.update_layout(
        title={"text": _text(title), "font": {"size": 15}},
        barmode="group",
        template="plotly_white",
        height=int(rows * panel_size[1] * PIXELS_PER_INCH) + 90,
        margin={"t": 90 if "\n" in title else 70, "l": 60, "r": 50, "b": 50},
        legend={"tracegroupgap": 2},
    )
    return fig


def _traces(panel: Lines | Bars | Scatter, colors: dict[str, str], shown: set[str]) -> list[go.BaseTraceType]:
    """The traces of a line, bar or scatter panel; a name is in the legend once (``shown``)."""
    if isinstance(panel, Lines):
        return [
            go.Scatter(
                x=panel.x,
                y=y,
                name=name,
                mode="lines+markers",
                line={"color": colors[name], "dash": "dash" if name in panel.dashed else "solid"},
                legendgroup=name,
                showlegend=_first(name, shown),
            )
            for name, y in panel.series.items()
        ]
    if isinstance(panel, Bars):
        return [
            go.Bar(
                x=panel.categories,
                y=y,
                name=name,
                marker_color=colors[name],
                legendgroup=name,
                showlegend=_first(name, shown),
            )
            for name, y in panel.series.items()
        ]
    return [
        go.Scattergl(
            x=group.x,
            y=group.y,
            name=group.name,
            mode="markers",
            marker={"color": group.color, "size": 5},
            hovertext=list(group.hover),
            hoverinfo="text",
            legendgroup=group.name,
            showlegend=_first(group.name, shown),
        )
        for group in panel.groups
    ]


def _text(title: str) -> str:
    return title.replace("\n", "<br>")


def _first(name: str, shown: set[str]) -> bool:
    if name in shown:
        return False
    shown.add(name)
    return True


def _heatmap(
    fig: go.Figure, panel: Heatmap, index: int, axis: str, row: int, col: int, *, show_scale: bool
) -> list[dict]:
    """Draw one heatmap panel; returns its group-boundary lines for the caller to add (layout shapes)."""
    low, high = panel.scale()
    coloraxis = f"coloraxis{index + 1}"
    x_labels, y_labels = panel.labels("x"), panel.labels("y")
    trace = go.Heatmap(
        z=panel.z, x=x_labels, y=y_labels, coloraxis=coloraxis, hovertemplate="%{y} / %{x}: %{z:.4g}<extra></extra>"
    )
    if panel.annotated():
        trace.update(texttemplate="%{z:.2f}", textfont={"size": 9})
    fig.add_trace(trace, row=row, col=col)
    x_domain = fig.layout[f"xaxis{axis}"].domain
    y_domain = fig.layout[f"yaxis{axis}"].domain
    scale = DIVERGING[0] if panel.colors == "diverging" else SEQUENTIAL[0]
    fig.layout[coloraxis] = {
        "colorscale": scale,
        "cmin": low,
        "cmax": high,
        "showscale": show_scale,
        "colorbar": {
            "x": x_domain[1] + 0.005,
            "xanchor": "left",
            "y": y_domain[1],
            "yanchor": "top",
            "len": y_domain[1] - y_domain[0],
            "thickness": 10,
            "title": {"text": panel.colorbar_title},
        },
    }
    for name, labels in (("x", x_labels), ("y", y_labels)):
        update = fig.update_xaxes if name == "x" else fig.update_yaxes
        # Up to a dozen labels are all written; plotly would skip every other one in a small panel.
        update(
            type="category",
            showticklabels=len(labels) <= LABELS_UP_TO,
            showgrid=False,
            dtick=1 if len(labels) <= ANNOTATE_UP_TO else None,
            row=row,
            col=col,
        )
    # Square cells: the panel keeps its width or height, whichever fits, next to its colour bar.
    fig.update_xaxes(constrain="domain", constraintoward="right", row=row, col=col)
    fig.update_yaxes(
        autorange="reversed",
        scaleanchor=f"x{axis}",
        scaleratio=1,
        constrain="domain",
        constraintoward="top",
        row=row,
        col=col,
    )
    # Group boundaries as lines, returned for draw_plotly to add once.
    size = panel.z.shape
    line, refs = {"color": BOUNDARY, "width": 1}, {"xref": f"x{axis}", "yref": f"y{axis}"}
    return [
        {**shape, "line": line, **refs}
        for position in panel.boundaries
        for shape in (
            {"type": "line", "x0": position - 0.5, "x1": position - 0.5, "y0": -0.5, "y1": size[0] - 0.5},
            {"type": "line", "y0": position - 0.5, "y1": position - 0.5, "x0": -0.5, "x1": size[1] - 0.5},
        )
    ]
