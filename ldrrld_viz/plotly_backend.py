"""Panels drawn with plotly: interactive figures (hover, zoom) for notebooks and widgets.

Heatmaps keep the matrix as given (``trace.z``), with row 0 at the top, in square cells; each
heatmap has its own colour axis (``cmin``/``cmax``), and neighbours in a row on one scale share one
colour bar, drawn beside the last of them. A ``"\n"`` in a title breaks the line.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .colors import BOUNDARY, DIVERGING, REFERENCE, SEQUENTIAL
from .panels import (
    CHAR_PX,
    LABELS_UP_TO,
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

__all__ = ["draw_plotly"]

PIXELS_PER_INCH = 110
#: The narrowest page a figure is laid out for, in CSS pixels: JupyterLab's output area in a 1280 x 800
#: window with the file browser open. Wider pages only widen the panels.
MIN_PAGE_WIDTH = 760
TITLE_PX, PANEL_TITLE_PX, AXIS_TITLE_PX = 15, 12, 11
LINE = 1.35  # line height, as a multiple of the font size
MARGIN = {"l": 60, "r": 50, "b": 50}
COLORBAR_PX = 52  # a colour bar with its tick labels


def draw_plotly(panels: list[Panel | None], *, title: str, cols: int, panel_size: tuple[float, float]) -> go.Figure:
    rows = math.ceil(len(panels) / cols)
    owners = colorbar_owners(panels, cols)
    geometry = _Geometry(panels, cols=cols, rows=rows, title=title, panel_size=panel_size, owners=owners)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[_text(p.title) if p is not None else "" for p in panels],
        horizontal_spacing=geometry.horizontal_spacing,
        vertical_spacing=geometry.vertical_spacing,
        row_heights=geometry.row_px,
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
            cell_px = geometry.cell_px(panel)
            shapes += _heatmap(fig, panel, index, axis, row, col, show_scale=owners[index], cell_px=cell_px)
        elif isinstance(panel, (Lines, Bars, Scatter)):
            for trace in _traces(panel, colors, shown):
                fig.add_trace(trace, row=row, col=col)
            if isinstance(panel, Bars):
                fig.update_xaxes(type="category", row=row, col=col)
            if isinstance(panel, Lines) and panel.x_ticks is not None:
                fig.update_xaxes(tickmode="array", tickvals=list(panel.x_ticks), row=row, col=col)
            if isinstance(panel, Scatter):
                fig.update_xaxes(range=panel.x_range, row=row, col=col)
                fig.update_yaxes(range=panel.y_range, row=row, col=col)
            # Invisible outside ticks hold the labels off the axes, so the corner's two never touch.
            spacing = {"ticks": "outside", "ticklen": 5, "tickcolor": "rgba(0,0,0,0)"}
            fig.update_xaxes(row=row, col=col, **spacing)
            fig.update_yaxes(row=row, col=col, **spacing)
        else:
            raise TypeError(f"cannot draw a {type(panel).__name__}; expected a panel of ldrrld_viz.panels")
        if panel is not None:
            fig.update_xaxes(
                title_text=panel.x_title, title_font_size=AXIS_TITLE_PX, tickfont_size=MIN_TEXT_PX, row=row, col=col
            )
            fig.update_yaxes(
                title_text=panel.y_title, title_font_size=AXIS_TITLE_PX, tickfont_size=MIN_TEXT_PX, row=row, col=col
            )
    fig.update_annotations(font_size=PANEL_TITLE_PX)  # the panel titles
    if shapes:
        fig.update_layout(shapes=shapes)
    # The width follows the page (notebook output or widget); the height follows the panels.
    fig.update_layout(
        title={
            "text": _text(title),
            "font": {"size": TITLE_PX},
            "y": 1 - 10 / geometry.height,
            "yanchor": "top",
            "x": 0.01,
            "xanchor": "left",
        },
        barmode="group",
        template="plotly_white",
        height=geometry.height,
        margin={**MARGIN, "t": geometry.top},
        legend={"tracegroupgap": 2, "font": {"size": MIN_TEXT_PX}},
        font={"size": MIN_TEXT_PX},
    )
    return fig


class _Geometry:
    """Where the rows and columns go, in pixels, so that no title, label or colour bar meets another.

    Heights are fixed (the panels' height, their titles, axis labels); widths follow the page, so
    the gaps between columns are sized for :data:`MIN_PAGE_WIDTH` and only grow on wider pages.
    """

    def __init__(self, panels, *, cols: int, rows: int, title: str, panel_size, owners: list[bool]) -> None:
        lines = [(p.title.count("\n") + 1 if p is not None and p.title else 0) for p in panels]
        row_title_lines = [max(lines[r * cols : (r + 1) * cols], default=0) for r in range(rows)]
        title_px = (title.count("\n") + 1) * TITLE_PX * LINE + 12 if title else 0
        panel_title_px = [n * PANEL_TITLE_PX * LINE + (6 if n else 0) for n in row_title_lines]
        x_titles = any(p is not None and p.x_title for p in panels)
        below = MIN_TEXT_PX * 2 + (AXIS_TITLE_PX * LINE + 8 if x_titles else 0)  # x tick labels and title
        self.top = int(10 + title_px + panel_title_px[0])
        # Between columns: the next panel's y labels and title, and an inner colour bar with its ticks.
        y_labels = max([_y_label_px(p) for p in panels], default=0)
        y_titles = any(p is not None and p.y_title for p in panels)
        inner_bar = any(owner and index % cols != cols - 1 for index, owner in enumerate(owners))
        gap_px = 16 + y_labels + (AXIS_TITLE_PX * LINE + 6 if y_titles else 0) + (COLORBAR_PX if inner_bar else 0)
        self.width = MIN_PAGE_WIDTH - MARGIN["l"] - MARGIN["r"]
        self.horizontal_spacing = min(gap_px / self.width, 0.9 / max(cols - 1, 1)) if cols > 1 else 0.0
        right_bar = COLORBAR_PX if any(owners) else 0
        self.panel_width = (self.width * (1 - self.horizontal_spacing * (cols - 1))) / cols - right_bar / cols
        # A row of heatmaps alone is as tall as its square panels are wide on the narrowest page, so
        # colour bars (one row high) match the matrices; other rows take the panel height.
        self.panel_px = panel_size[1] * PIXELS_PER_INCH
        self.row_px = []
        for r in range(rows):
            row = [p for p in panels[r * cols : (r + 1) * cols] if p is not None]
            square = row and all(isinstance(p, Heatmap) for p in row)
            self.row_px.append(min(self.panel_px, self.panel_width) if square else self.panel_px)
        gap = max([below + 14 + px for px in panel_title_px[1:]], default=0)
        plot_height = sum(self.row_px) + (rows - 1) * gap
        self.height = int(self.top + MARGIN["b"] + plot_height)
        self.vertical_spacing = gap / plot_height if rows > 1 else 0.0

    def cell_px(self, panel: Heatmap) -> float:
        """The side of one cell of a square-celled heatmap on the narrowest page, in pixels."""
        rows, columns = panel.z.shape
        return min(self.panel_width / columns, min(self.row_px) / rows)


def _y_label_px(panel: Panel | None) -> float:
    if isinstance(panel, Heatmap):
        labels = panel.labels("y")
        return 0 if len(labels) > LABELS_UP_TO else max(map(len, labels)) * CHAR_PX
    return 5 * CHAR_PX if panel is not None else 0  # numbers such as 0.25 or 100


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
    if panel.labelled:  # a few named points: SVG, which writes text beside the markers
        traces = [
            go.Scatter(
                x=group.x,
                y=group.y,
                name=group.name,
                mode="markers+text",
                marker={"color": group.color, "size": 9},
                text=list(group.hover),
                textposition=group.positions(),
                textfont={"size": MIN_TEXT_PX},
                hovertext=list(group.hover),
                hoverinfo="text+x+y",
                legendgroup=group.name,
                showlegend=_first(group.name, shown),
            )
            for group in panel.groups
        ]
    else:
        traces = [
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
    return traces + [_reference(panel, line) for line in panel.references]


def _reference(panel: Scatter, line) -> go.Scatter:
    """A dashed line across the panel: from end to end of the axis it does not mark (its range, else the
    points' extent), named in the legend."""
    other = panel.x_range if line.axis == "y" else panel.y_range
    if other is None:
        values = [v for group in panel.groups for v in (group.x if line.axis == "y" else group.y)]
        other = (min(values), max(values))
    ends, level = list(other), [line.value, line.value]
    return go.Scatter(
        x=ends if line.axis == "y" else level,
        y=level if line.axis == "y" else ends,
        name=line.name,
        mode="lines",
        line={"color": REFERENCE, "dash": "dash", "width": 1.5},
        hoverinfo="name",
    )


def _text(title: str) -> str:
    return title.replace("\n", "<br>")


def _first(name: str, shown: set[str]) -> bool:
    if name in shown:
        return False
    shown.add(name)
    return True


def _heatmap(
    fig: go.Figure, panel: Heatmap, index: int, axis: str, row: int, col: int, *, show_scale: bool, cell_px: float
) -> list[dict]:
    """Draw one heatmap panel; returns its group-boundary lines for the caller to add (layout shapes)."""
    low, high = panel.scale()
    coloraxis = f"coloraxis{index + 1}"
    x_labels, y_labels = panel.labels("x"), panel.labels("y")
    trace = go.Heatmap(
        z=panel.z, x=x_labels, y=y_labels, coloraxis=coloraxis, hovertemplate="%{y} / %{x}: %{z:.4g}<extra></extra>"
    )
    if panel.annotated(cell_px):
        trace.update(texttemplate="%{z:.2f}", textfont={"size": MIN_TEXT_PX})
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
            "tickfont": {"size": MIN_TEXT_PX},
            "title": {"text": panel.colorbar_title, "font": {"size": MIN_TEXT_PX}},
        },
    }
    for name, labels in (("x", x_labels), ("y", y_labels)):
        update = fig.update_xaxes if name == "x" else fig.update_yaxes
        # Every label where the cells hold it, else every step-th one, so that no two touch.
        step = label_step(labels, cell_px, across=name == "x")
        ticks = {"tickmode": "array", "tickvals": labels[::step], "tickangle": 0} if step else {}
        update(type="category", showticklabels=step is not None, showgrid=False, row=row, col=col, **ticks)
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
    line, refs = {"color": BOUNDARY, "width": 0.8}, {"xref": f"x{axis}", "yref": f"y{axis}"}
    return [
        {**shape, "line": line, **refs}
        for position in panel.separators(cell_px)
        for shape in (
            {"type": "line", "x0": position - 0.5, "x1": position - 0.5, "y0": -0.5, "y1": size[0] - 0.5},
            {"type": "line", "y0": position - 0.5, "y1": position - 0.5, "x0": -0.5, "x1": size[1] - 0.5},
        )
    ]
