"""What ``d`` and the decay do to a student, measured: a view of a ``sweep.json`` driven by sliders.

The weight panel (:func:`~ldrrld_viz.widgets.weight_panel`) shows what ``d`` and the decay do to
the *weights*; this view shows what they did to students trained with them, read from the output
of ``ldrrld sweep`` (``docs/sweep.json`` by default, or a user's file). For each measure, two
panels: the measure over ``d`` (one line per decay) and over the decay (at the slider's ``d``),
each point the mean over seeds with its 95% Student-t interval as an error bar, the sliders' point
ringed, and the reference methods as dashed lines, each named with the runs it comes from
(accuracy: the study's own seeds; relation measures: the sweep's reference runs on its seeds). A
grid point that was not run, or a slider value that is not a grid point, is a gap: nothing is
interpolated. Nothing trains: every redraw only reads the file, so the view answers at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ldrrld_core.study.sweep import DEFAULT_RESULTS, MEASURES, find_point, load_sweep, point_name, sweep_slice
from ldrrld_core.study.sweep_report import bound_text

from .colors import palette
from .render import mime_bundle

__all__ = [
    "DEFAULT_SWEEP",
    "VIEW_MEASURES",
    "Series",
    "SweepViewState",
    "SweepView",
    "sweep_view",
    "attach_sweep_view",
    "value_range",
    "reference_name",
    "as_sweep",
]

#: The committed full sweep, next to the study's results.
DEFAULT_SWEEP = DEFAULT_RESULTS.parent / "sweep.json"
#: The measures the view draws unless told otherwise: accuracy, the neutral relation measure, and the
#: one LDRRLD optimises.
VIEW_MEASURES = ("test_top1_last", "kendall_tau", "topd_pair_agreement")
_TITLES = {
    "test_top1_last": "test top-1, last epoch (%)",
    "test_top1_best_val": "test top-1, best-val epoch (%)",
    "kendall_tau": "Kendall tau, all classes (neutral)",
    "kl_all": "KL, all classes (KD's objective)",
    "topd_pair_agreement": "top-7 pair agreement (LDRRLD's)",
    "seconds": "seconds per run",
}
_REFERENCE_STYLE = {"ce": "#808080", "kd": "#000000", "dkd": "#9a6324"}


@dataclass(frozen=True)
class Series:
    """One drawn line: ``y[i]`` at ``x[i]`` with the interval ``[low[i], high[i]]``; ``None`` is a gap.

    Attributes:
        measure: what ``y`` is (a key of :data:`~ldrrld_core.study.sweep.MEASURES`).
        column: ``"depth"`` (the measure over ``d``) or ``"decay"``.
        name: the legend entry, e.g. ``"decay 0.05"``, ``"d 7"``, ``"KD"`` or ``"sliders' point"``.
        kind: ``"line"`` (a grid line), ``"reference"`` (a method, dashed) or ``"highlight"``.
    """

    measure: str
    column: str
    name: str
    kind: str
    x: list
    y: list
    low: list
    high: list


@dataclass
class SweepViewState:
    """What the view shows right now; replaced on every change of a slider.

    Attributes:
        depth, decay: the sliders' values.
        point: the sweep's entry at the sliders' values and the default ``T``, ``None`` when that is
            not a grid point.
        series: every line drawn, the data of the figure.
        figure: the figure (plotly or matplotlib).
        summary: the text above the figure.
        redraws: how many times the view has drawn.
    """

    depth: int
    decay: float
    point: dict | None
    series: list[Series]
    figure: object
    summary: str
    redraws: int

    def highlighted(self, measure: str, column: str) -> tuple[float, float | None]:
        """``(x, y)`` of the ringed point in one panel; ``y`` is ``None`` when the point was not run."""
        (found,) = [s for s in self.series if s.kind == "highlight" and (s.measure, s.column) == (measure, column)]
        return found.x[0], found.y[0]


def _reference_value(entry: Mapping, measure: str) -> tuple[float | None, str | None]:
    """A method's value and the runs it comes from: accuracy over the study's seeds, other measures from
    the sweep's own reference runs (e.g. ``(87.98, "study, seeds 0-4")``)."""
    if measure in ("test_top1_last", "test_top1_best_val"):
        return entry["study"][measure]["mean"], entry["study"].get("source", "study")
    summary = entry.get(measure)
    return (summary["mean"], entry.get("runs_source", "sweep reference runs")) if summary else (None, None)


def reference_name(method: str, source: str) -> str:
    """The legend entry of a reference line: the method and the runs its number comes from."""
    return f"{method.upper()} ({source})"


def _series(sweep: Mapping, measures: Sequence[str], depth: int, decay: float) -> list[Series]:
    protocol = sweep["protocol"]
    point = find_point(sweep, depth, decay)
    series = []
    for measure in measures:
        for g in protocol["decays"]:
            line = sweep_slice(sweep, measure, along="depth", decay=g)
            series.append(
                Series(measure, "depth", f"decay {g:g}", "line", line["x"], line["mean"], line["low"], line["high"])
            )
        line = sweep_slice(sweep, measure, along="decay", depth=depth)
        series.append(
            Series(measure, "decay", f"d {depth}", "line", line["x"], line["mean"], line["low"], line["high"])
        )
        summary = point.get(measure) if point else None
        y = summary["mean"] if summary else None
        low, high = summary["ci95"] if summary and summary["ci95"] else (None, None)
        for column, x in (("depth", depth), ("decay", decay)):
            series.append(Series(measure, column, "sliders' point", "highlight", [x], [y], [low], [high]))
        for method, entry in sweep["references"].items():
            value, source = _reference_value(entry, measure)
            if method == "ldrrld" or value is None:
                continue
            for column, grid in (("depth", protocol["depths"]), ("decay", protocol["decays"])):
                series.append(
                    Series(
                        measure,
                        column,
                        reference_name(method, source),
                        "reference",
                        [min(grid), max(grid)],
                        [value, value],
                        [None, None],
                        [None, None],
                    )
                )
    return series


def _errors(series: Series) -> tuple[list, list]:
    """Error bar lengths above and below each point (``None`` where there is no interval)."""
    plus = [None if h is None or y is None else h - y for y, h in zip(series.y, series.high)]
    minus = [None if lo is None or y is None else y - lo for y, lo in zip(series.y, series.low)]
    return plus, minus


def value_range(series: list[Series], measure: str) -> tuple[float, float] | None:
    """The y-range of one measure's row: its means and reference lines, padded by a tenth.

    Intervals do not widen it: with three seeds a noisy point's 95% interval can span far more than
    every mean together (``d = 2`` in the committed sweep), and would flatten the rest into a line. Such
    a bar runs off the plot's edge instead. ``None`` when nothing of ``measure`` is drawn.
    """
    values = [y for s in series if s.measure == measure and s.kind != "highlight" for y in s.y if y is not None]
    if not values:
        return None
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or abs(high) * 0.05 or 1.0
    return low - pad, high + pad


def _grid(series: list[Series], column: str) -> list:
    """The grid values of one column (every line lists all of them, run or not): the axis ticks."""
    return sorted({x for s in series if s.kind == "line" and s.column == column for x in s.x})


def _colors(sweep: Mapping, depth: int) -> dict[str, str]:
    names = [f"decay {g:g}" for g in sweep["protocol"]["decays"]] + [f"d {depth}"]
    references = {
        reference_name(method, source): _REFERENCE_STYLE.get(method, "#404040")
        for method, entry in sweep["references"].items()
        for source in (entry["study"].get("source", "study"), entry.get("runs_source", "sweep reference runs"))
    }
    return {**dict(zip(names, palette(len(names)))), **references, "sliders' point": "#e6194b"}


def _draw_plotly(series: list[Series], measures: Sequence[str], colors: Mapping[str, str], title: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    columns = ("depth", "decay")
    fig = make_subplots(
        rows=len(measures),
        cols=2,
        horizontal_spacing=0.1,
        vertical_spacing=0.12,
        subplot_titles=[f"{_TITLES[m]} over {'d' if c == 'depth' else 'decay'}" for m in measures for c in columns],
    )
    shown = set()
    for s in series:
        row, col = measures.index(s.measure) + 1, columns.index(s.column) + 1
        plus, minus = _errors(s)
        color = colors[s.name]
        style = {"line": {"color": color, "dash": "dash" if s.kind == "reference" else "solid"}}
        if s.kind == "highlight":
            style = {"marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"color": color, "width": 3}}}
        mode = {"highlight": "markers", "reference": "lines", "line": "lines+markers"}[s.kind]
        bars = {"type": "data", "array": plus, "arrayminus": minus, "visible": True} if s.kind == "line" else None
        fig.add_trace(
            go.Scatter(
                x=s.x,
                y=s.y,
                name=s.name,
                legendgroup=s.name,
                showlegend=s.name not in shown,
                mode=mode,
                connectgaps=False,
                error_y=bars,
                **style,
            ),
            row=row,
            col=col,
        )
        shown.add(s.name)
    for row in range(1, len(measures) + 1):
        for col, column in enumerate(columns, 1):
            grid = _grid(series, column)
            margin = (grid[-1] - grid[0]) * 0.05 or 1
            fig.update_xaxes(
                title_text="depth d" if column == "depth" else "decay",
                tickvals=grid,
                range=[grid[0] - margin, grid[-1] + margin],
                row=row,
                col=col,
            )
            fig.update_yaxes(range=value_range(series, measures[row - 1]), row=row, col=col)
    fig.update_layout(  # the legend below the panels: its names (with their runs) would squeeze them
        title={"text": title.replace("\n", "<br>")},
        template="plotly_white",
        height=260 * len(measures) + 260,
        margin={"t": 150, "l": 60, "r": 40, "b": 170},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -60 / (260 * len(measures)), "yanchor": "top"},
    )
    return fig


#: One style per reference method in the static picture (each drawn in every panel, named once).
_REFERENCE_LINESTYLE = {"ce": ":", "kd": "--", "dkd": "-."}
#: Text of the static picture, in pixels as the page shows it (it is drawn one to one).
FIGURE_TEXT_PX, FIGURE_TITLE_PX = 11, 12


def _reference_sources(series: list[Series], measures: Sequence[str]) -> str:
    """Where each row's reference numbers come from, e.g. ``"test top-1 from the study, seeds 0-4"``."""
    parts = []
    for measure in measures:
        names = {s.name for s in series if s.kind == "reference" and s.measure == measure and " (" in s.name}
        sources = sorted(name.split(" (", 1)[1].rstrip(")") for name in names)
        if sources:
            parts.append(f"{_TITLES[measure].split(',')[0]} from the {' and the '.join(dict.fromkeys(sources))}")
    return "; ".join(parts)


def _draw_matplotlib(series: list[Series], measures: Sequence[str], colors: Mapping[str, str], title: str):
    from .matplotlib_backend import DPI, MAX_WIDTH_IN, StaticFigure

    # At most the page's width, so the page shows the picture one to one and its text at full size.
    fig = StaticFigure(figsize=(min(10, MAX_WIDTH_IN), 2.9 * len(measures) + 1.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(measures), 2, squeeze=False)
    nan = math.nan
    entries: dict[str, Any] = {}  # one legend entry per name, under the panels
    for s in series:
        ax = axes[measures.index(s.measure), ("depth", "decay").index(s.column)]
        y = [nan if v is None else v for v in s.y]
        if s.kind == "highlight":
            (handle,) = ax.plot(
                s.x,
                y,
                "o",
                markersize=12,
                markerfacecolor="none",
                markeredgewidth=2,
                color=colors[s.name],
            )
            entries.setdefault(s.name, handle)
        elif s.kind == "reference":
            method = s.name.split(" (", 1)[0]  # one style and one entry per method, whatever runs it names
            style = _REFERENCE_LINESTYLE.get(method.lower(), (0, (8, 2, 2, 2, 2, 2)))
            (handle,) = ax.plot(s.x, y, linestyle=style, linewidth=1.6, color=colors[s.name])
            entries.setdefault(method, handle)
        else:
            plus, minus = _errors(s)
            below, above = ([nan if v is None else v for v in bar] for bar in (minus, plus))
            handle = ax.errorbar(s.x, y, yerr=[below, above], marker="o", markersize=3, capsize=3, color=colors[s.name])
            entries.setdefault(s.name, handle)
    for (measure, column), ax in zip([(m, c) for m in measures for c in ("depth", "decay")], axes.ravel()):
        grid = _grid(series, column)
        margin = (grid[-1] - grid[0]) * 0.05 or 1
        ax.set_title(f"{_TITLES[measure]} over {'d' if column == 'depth' else 'decay'}", fontsize=FIGURE_TEXT_PX)
        ax.set_xlabel("depth d" if column == "depth" else "decay", fontsize=FIGURE_TEXT_PX)
        ax.set(xticks=grid, xlim=(grid[0] - margin, grid[-1] + margin))
        if (limits := value_range(series, measure)) is not None:
            ax.set_ylim(*limits)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=FIGURE_TEXT_PX)
    # One legend outside the panels, under them: inside, it covers points, error bars or a reference line.
    fig.legend(
        entries.values(), entries.keys(), fontsize=FIGURE_TEXT_PX, loc="outside lower center", ncols=5, frameon=False
    )
    sources = _reference_sources(series, measures)
    if sources:
        title += f"\nCE, KD, DKD: {sources}"
    fig.suptitle(title, fontsize=FIGURE_TITLE_PX)
    return fig


def _summary(sweep: Mapping, depth: int, decay: float, point: Mapping | None) -> str:
    protocol = sweep["protocol"]
    temperature = protocol["default"]["temperature"]
    if point is None:
        return (
            f"d = {depth}, decay = {decay:.2f} is not a grid point of this sweep (d in "
            f"{protocol['depths']}, "
            f"decay in {protocol['decays']}, T {temperature:g}): no point is drawn there, and nothing is "
            "interpolated."
        )
    if not point["per_seed"]:
        why = "every seed diverged at the sweep's learning rate" if point.get("diverged_seeds") else "not run yet"
        return f"d = {depth}, decay = {decay:.2f}, T {temperature:g} is in the grid but has no result ({why}): a gap."
    accuracy, tau = point["test_top1_last"], point["kendall_tau"]
    default_name = point_name(tuple(protocol["default"][k] for k in ("depth", "decay", "temperature")))
    text = (
        f"Measured at d = {depth}, decay = {decay:.2f}, T {temperature:g} over "
        f"{len(point['per_seed'])} seed(s): "
        f"test top-1 {accuracy['mean']:.2f}"
    )
    if accuracy["ci95"]:
        text += f" (95% CI {accuracy['ci95'][0]:.2f} to {accuracy['ci95'][1]:.2f})"
    text += f", Kendall tau over all classes {tau['mean']:.3f}"
    kd = sweep["references"].get("kd", {})
    for key, name in (
        ("delta_vs_default", "the default point"),
        ("delta_vs_kd", f"KD ({kd.get('runs_source', 'sweep reference runs')})"),
    ):
        delta = point.get(key)
        if delta and not (key == "delta_vs_default" and point["name"] == default_name):
            text += (
                f"; vs {name} {delta['mean']:+.2f} points (paired 95% CI {delta['ci95'][0]:+.2f} to "
                f"{delta['ci95'][1]:+.2f}"
            )
            if "p_holm" in delta:  # files written before the Holm families have only the interval
                text += (
                    f", Holm-adjusted p {delta['p_holm']:.2g}: {bound_text(delta)}; "
                    f"{delta['n']} seeds detect {delta['detectable']:.2f} points at 80% power"
                )
            text += ")"
    if point.get("collapsed_seeds"):
        text += f"; seed(s) {point['collapsed_seeds']} collapsed (below the student trained alone) and are kept"
    if point.get("diverged_seeds"):
        text += f"; seed(s) {point['diverged_seeds']} diverged and are left out"
    return text + "."


class SweepView:
    """The measured view: an output widget redrawn from a sweep for the sliders' ``d`` and decay.

    Build it with :func:`sweep_view` (stand-alone) or :func:`attach_sweep_view` (under a weight panel).

    Attributes:
        sweep: the loaded ``sweep.json``.
        widget: the ``ipywidgets.VBox`` to display.
        state: the :class:`SweepViewState` drawn now.
    """

    def __init__(self, sweep: Mapping, *, depth: int, decay: float, measures: Sequence[str], backend: str) -> None:
        self.sweep, self._measures, self._backend = sweep, tuple(measures), backend
        self._summary, self._output = widgets.HTML(), widgets.Output()
        self.widget = widgets.VBox([self._summary, self._output])
        self.widget.add_class("ldrrld-sweep-view")
        self.state: SweepViewState | None = None
        self.update(depth, decay)

    def update(self, depth: int, decay: float) -> SweepViewState:
        """Redraw for these slider values (only reads the sweep: no training)."""
        point = find_point(self.sweep, depth, decay)
        series = _series(self.sweep, self._measures, depth, decay)
        protocol = self.sweep["protocol"]
        title = (
            f"Students at lr {protocol['lr']:g}, seeds {protocol['seeds']}: d = {depth}, decay = {decay:.2f} "
            "ringed\n(error bars: 95% CI over the seeds run, cut at the plot's edge; gaps: not run)"
        )
        if self._backend == "plotly":  # the static picture names its references' runs itself
            title += "\ndashed: the reference methods, each named with the runs its number comes from"
        draw = _draw_plotly if self._backend == "plotly" else _draw_matplotlib
        figure = draw(series, self._measures, _colors(self.sweep, depth), title)
        summary = _summary(self.sweep, depth, decay, point)
        redraws = self.state.redraws + 1 if self.state is not None else 1
        self.state = SweepViewState(
            depth=depth, decay=decay, point=point, series=series, figure=figure, summary=summary, redraws=redraws
        )
        self._summary.value = f"<span class='ldrrld-sweep-summary'>{summary}</span>"
        self._output.outputs = ({"output_type": "display_data", "data": mime_bundle(figure), "metadata": {}},)
        return self.state


def as_sweep(sweep: str | Path | Mapping | bool) -> Mapping:
    """A loaded sweep from what the view functions accept: a path, the loaded content, or ``True``
    for ``docs/sweep.json``."""
    if sweep is True:
        return load_sweep(DEFAULT_SWEEP)
    if isinstance(sweep, Mapping):
        if "points" not in sweep or "protocol" not in sweep:
            raise ValueError(
                "a sweep must be the content of a sweep.json written by `ldrrld sweep` (with "
                "'points' and 'protocol'), a path to one, or True for docs/sweep.json"
            )
        return sweep
    if isinstance(sweep, (str, Path)):
        return load_sweep(sweep)
    raise ValueError(f"sweep must be a path to a sweep.json, its loaded content, or True; got {type(sweep).__name__}")


def sweep_view(
    sweep: str | Path | Mapping | bool = True,
    *,
    depth: int = 7,
    decay: float = 0.05,
    measures: Sequence[str] = VIEW_MEASURES,
    backend: str = "plotly",
) -> SweepView:
    """A stand-alone measured view at ``depth`` and ``decay``; call ``view.update(d, decay)`` to move it.

    Args:
        sweep: a ``sweep.json`` path, its loaded content, or ``True`` for ``docs/sweep.json``.
        measures: rows of the figure, from :data:`~ldrrld_core.study.sweep.MEASURES`.
        backend: ``"plotly"`` or ``"matplotlib"``.
    """
    unknown = [m for m in measures if m not in MEASURES]
    if unknown or not measures:
        raise ValueError(f"measures must be some of {', '.join(MEASURES)}, got {list(measures)}")
    if backend not in ("plotly", "matplotlib"):
        raise ValueError(f"unknown backend {backend!r}; choose 'plotly' or 'matplotlib'")
    return SweepView(as_sweep(sweep), depth=depth, decay=decay, measures=measures, backend=backend)


def attach_sweep_view(
    panel, sweep: str | Path | Mapping | bool = True, *, measures: Sequence[str] = VIEW_MEASURES
) -> SweepView:
    """Put a measured view under a :class:`~ldrrld_viz.widgets.WeightPanel`, driven by its ``d`` and decay
    sliders."""
    controls = panel.controls
    view = sweep_view(
        sweep, depth=controls.depth.value, decay=controls.decay.value, measures=measures, backend=panel._backend
    )

    def follow(change: dict | None = None) -> None:
        view.update(controls.depth.value, controls.decay.value)

    controls.depth.observe(follow, names="value")
    controls.decay.observe(follow, names="value")
    panel.widget.children = (*panel.widget.children, view.widget)
    return view
