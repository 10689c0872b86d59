"""A live panel for the depth ``d``, the decay and the temperature: sliders that redraw the weights.

:func:`weight_panel` returns a :class:`WeightPanel`: the ipywidgets box to show, its sliders, and
the state it currently draws (the numbers, computed by :mod:`ldrrld_core.analysis`). Tests and
notebooks set a slider's ``value`` and read the recomputed state; in JupyterLab a person moves
the slider and sees the figure change.

Each quantity keeps one colour range for every slider position, so a move changes the picture,
not the scale (see :func:`_colour_ranges`); a cell that a move pushes above its range shows in the
top colour, and the panel says so: an arrow on that colour bar and a count in the caption under the
summary (:func:`clipped_caption`). A disabled slider says why beside it. Displayed, the panel
also carries a static PNG of its current figure: a saved notebook shows it before it is run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import ipywidgets as widgets
from torch import Tensor

from ldrrld_core.analysis import SampleRelations, WeightMaps, check_class_names, sample_relations, weight_maps

from .render import check_backend, draw, mime_bundle
from .sample import contribution_panels
from .weights import share_panel, weight_panels

__all__ = ["PanelState", "WeightPanel", "weight_panel", "clipped_caption", "NO_SAMPLE_TEMPERATURE"]

#: The largest depth the slider offers when the sample has more classes (a 12 x 12 grid still reads).
MAX_SLIDER_DEPTH = 12
#: The ranges of the decay and temperature sliders.
DECAY_RANGE = (0.0, 0.5)
TEMPERATURE_RANGE = (0.5, 10.0)
TEMPERATURE_STEP = 0.5
#: Beside (and as the tooltip of) the temperature slider when the panel has no sample: why it is grey.
NO_SAMPLE_TEMPERATURE = (
    "T is off: the weights do not depend on it; give student_logits and teacher_logits to see a sample"
)


@dataclass
class PanelState:
    """What the panel shows right now; replaced on every change of a slider.

    Attributes:
        depth, decay, temperature: the slider values.
        weights: the IRW / ERD / ADW grids and pair shares at this depth and decay.
        sample: the chosen sample taken apart at these settings (``None`` without logits).
        figure: the figure on display (plotly or matplotlib).
        summary: the one-line text shown above the figure.
        caption: the line under the summary: how many cells lie above their fixed colour range
            (``""`` when none does).
        clipped: per heatmap part (``"irw"``, ..., ``"contribution"``), how many of its cells lie above
            its colour range.
        redraws: how many times the panel has drawn (1 after construction).
    """

    depth: int
    decay: float
    temperature: float
    weights: WeightMaps
    sample: SampleRelations | None
    figure: object
    summary: str
    redraws: int
    caption: str = ""
    clipped: dict[str, int] | None = None


@dataclass(frozen=True)
class Controls:
    """The panel's sliders (``temperature`` is disabled when the panel has no sample).

    Continuous sliders, or, over measured data (a sweep attached), selection sliders that stop
    only at the measured values. Either way ``.value`` is the number.
    """

    depth: widgets.IntSlider | widgets.SelectionSlider
    decay: widgets.FloatSlider | widgets.SelectionSlider
    temperature: widgets.FloatSlider | widgets.SelectionSlider


class WeightPanel:
    """Sliders, a summary line and a figure, kept in step. Build it with :func:`weight_panel`.

    Attributes:
        widget: the ``ipywidgets.VBox`` to display (a notebook cell can also just end with the panel).
        controls: the sliders; set ``controls.depth.value = 5`` to change the depth from code.
        state: the :class:`PanelState` currently drawn.
    """

    def __init__(
        self,
        student_logits: Tensor | None,
        teacher_logits: Tensor | None,
        *,
        depth: int,
        decay: float,
        temperature: float,
        max_depth: int,
        class_names: Sequence[str] | None,
        backend: str,
        grid: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self._logits = (student_logits, teacher_logits)
        self._class_names, self._backend = class_names, backend
        # Sliders act when released: dragging does not queue one redraw per step.
        common = {
            "continuous_update": False,
            "style": {"description_width": "110px"},
            "layout": widgets.Layout(width="420px"),
        }
        self.controls = (
            _measured_controls(grid, depth, decay, temperature, disabled=student_logits is None, **common)
            if grid is not None
            else self._free_controls(depth, decay, temperature, max_depth, student_logits is None, common)
        )
        self._ranges = _colour_ranges(student_logits, teacher_logits, depth=depth, temperature=temperature)
        self._summary = widgets.HTML()
        self._output = widgets.Output()
        self._caption = widgets.HTML()
        # Why a slider is grey, beside it (a tooltip alone shows only to a pointer that hovers).
        self.temperature_note = widgets.HTML(
            NO_SAMPLE_TEMPERATURE if self.controls.temperature.disabled else "",
            layout=widgets.Layout(max_width="320px"),  # wraps beside the 420 px slider, inside a 760 px page
        )
        if self.controls.temperature.disabled:
            self.controls.temperature.tooltip = NO_SAMPLE_TEMPERATURE
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.controls.depth, self.controls.decay]),
                widgets.HBox([self.controls.temperature, self.temperature_note]),
                self._summary,
                self._output,
                self._caption,
            ]
        )
        self.widget.add_class("ldrrld-weight-panel")
        self.state: PanelState | None = None
        self._redraw()
        for slider in (self.controls.depth, self.controls.decay, self.controls.temperature):
            slider.observe(self._redraw, names="value")

    @staticmethod
    def _free_controls(depth, decay, temperature, max_depth, no_sample: bool, common: dict) -> Controls:
        return Controls(
            depth=widgets.IntSlider(value=depth, min=2, max=max_depth, step=1, description="depth d", **common),
            decay=widgets.FloatSlider(
                value=decay,
                min=DECAY_RANGE[0],
                max=DECAY_RANGE[1],
                step=0.01,
                readout_format=".2f",
                description="decay gamma",
                **common,
            ),
            temperature=widgets.FloatSlider(
                value=temperature,
                min=TEMPERATURE_RANGE[0],
                max=TEMPERATURE_RANGE[1],
                step=TEMPERATURE_STEP,
                description="temperature T",
                disabled=no_sample,
                **common,
            ),
        )

    def _redraw(self, change: dict | None = None) -> None:
        depth, decay = self.controls.depth.value, self.controls.decay.value
        temperature = self.controls.temperature.value
        maps = weight_maps(depth, decay)
        panels = weight_panels(maps) + [share_panel(maps)]
        student, teacher = self._logits
        sample = None
        if student is not None:
            sample = sample_relations(
                student_logits=student, teacher_logits=teacher, depth=depth, decay=decay, temperature=temperature
            )
            panels += contribution_panels(sample, class_names=self._class_names, parts=PARTS[4:])
        panels = [replace(panel, zmax=self._ranges[part]) for part, panel in zip(PARTS, panels)]
        summary = _summary(maps, sample)
        clipped = {part: panel.clipped() for part, panel in zip(PARTS, panels)}
        caption = clipped_caption(clipped)
        self._drawing = {
            "panels": panels,
            "cols": 2,  # two a row: at d = 7 every cell still holds its value on a narrow page
            "panel_size": (3.3, 2.4),
            "title": f"d = {depth}, decay = {decay:.2f}, T = {temperature:g}",
        }
        figure = draw(**self._drawing, backend=self._backend)
        redraws = self.state.redraws + 1 if self.state is not None else 1
        self.state = PanelState(
            depth=depth,
            decay=decay,
            temperature=temperature,
            weights=maps,
            sample=sample,
            figure=figure,
            summary=summary,
            redraws=redraws,
            caption=caption,
            clipped=clipped,
        )
        self._summary.value = f"<span class='ldrrld-summary'>{summary}</span>"
        self._caption.value = f"<span class='ldrrld-caption'>{caption}</span>" if caption else ""
        self._output.outputs = ({"output_type": "display_data", "data": mime_bundle(figure), "metadata": {}},)

    def _repr_mimebundle_(self, **kwargs) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = repr(self)
        # A still of the current figure: what JupyterLab shows where the live widget cannot run
        # (a saved notebook before it is executed, an untrusted one, a static viewer).
        png = mime_bundle(draw(**self._drawing, backend="matplotlib"))["image/png"]
        bundle["image/png"] = png
        bundle["text/html"] = (
            f'<div class="ldrrld-still"><img src="data:image/png;base64,{png}" alt="{self._drawing["title"]}"/>'
            f"<p><em>{STILL_CAPTION}</em></p></div>"
        )
        return bundle

    def __repr__(self) -> str:
        s = self.state
        return f"WeightPanel(depth={s.depth}, decay={s.decay:.2f}, temperature={s.temperature:g})"


def _measured_controls(grid, depth, decay, temperature, *, disabled: bool, **common) -> Controls:
    """Selection sliders that stop only at the values of ``grid`` (``depth``, ``decay``, ``temperature``)."""

    def slider(name: str, value: float, description: str, label) -> widgets.SelectionSlider:
        options = [(label(v), v) for v in grid[name]]
        return widgets.SelectionSlider(options=options, value=value, description=description, **common)

    controls = Controls(
        depth=slider("depth", depth, "depth d", str),
        decay=slider("decay", decay, "decay gamma", "{:.2f}".format),
        temperature=slider("temperature", temperature, "temperature T", "{:g}".format),
    )
    controls.temperature.disabled = disabled
    return controls


#: Under the still picture that shows where no kernel runs (a saved notebook, a static viewer).
STILL_CAPTION = "A still picture of the panel at its starting values: run this cell for live sliders."

#: The panel's heatmaps, in order: the three weight grids, the pair shares, the sample's two.
PARTS = ("irw", "erd", "adw", "share", "pair_kl", "contribution")


def _colour_ranges(
    student_logits: Tensor | None, teacher_logits: Tensor | None, *, depth: int, temperature: float
) -> dict[str, float]:
    """The top of each heatmap's colour range (the bottom is 0), fixed for the panel's life.

    IRW and ADW never exceed ``a / (c + 1)`` (neighbouring ranks, no decay) and ERD never exceeds
    1, whatever the sliders. A pair's share and the sample's pair KLs and contributions grow as
    the depth or the temperature falls (by ten times and more over the sliders), so their ranges
    fit the starting depth and temperature, at the decay on the slider that gives the largest value
    (a larger decay moves share to the top pair): the usual settings stay vivid, and a smaller depth
    or temperature pushes cells above the range, which the panel marks (:func:`clipped_caption`).
    """
    decays = [DECAY_RANGE[0] + k * 0.01 for k in range(round((DECAY_RANGE[1] - DECAY_RANGE[0]) / 0.01) + 1)]
    top = weight_maps(depth, DECAY_RANGE[0]).irw.max()
    ranges = {
        "irw": float(top),
        "erd": 1.0,
        "adw": float(top),
        "share": max(float(weight_maps(depth, g).share.max()) for g in decays),
    }
    if student_logits is not None:
        found = [
            sample_relations(
                student_logits=student_logits,
                teacher_logits=teacher_logits,
                depth=depth,
                decay=g,
                temperature=temperature,
            )
            for g in decays
        ]
        ranges["pair_kl"] = float(found[0].pair_kl.max())  # the decay weighs the pairs, not their KLs
        ranges["contribution"] = max(float(rel.contribution.max()) for rel in found)
    return ranges


#: How the caption names each heatmap part.
PART_NAMES = {
    "irw": "IRW",
    "erd": "ERD",
    "adw": "ADW",
    "share": "pair share",
    "pair_kl": "pair KL",
    "contribution": "contribution",
}


def clipped_caption(clipped: Mapping[str, int]) -> str:
    """The caption under the panel when cells lie above their fixed colour range, e.g. ``"3 cells lie
    above their fixed colour range (pair KL 2, contribution 1): drawn in the top colour ..."``;
    ``""`` when none does."""
    found = {part: n for part, n in clipped.items() if n}
    if not found:
        return ""
    total = sum(found.values())
    parts = ", ".join(f"{PART_NAMES.get(part, part)} {n}" for part, n in found.items())
    cells = f"{total} cells lie above their" if total != 1 else "1 cell lies above its"
    return (
        f"{cells} fixed colour range ({parts}): drawn in the top colour (an arrow tops a static picture's "
        "colour bar); the cell or its hover gives the value."
    )


def _summary(maps: WeightMaps, sample: SampleRelations | None) -> str:
    """One line on where the weight goes: pair count, strongest pair, the top-d set's share."""
    first, second = divmod(int(maps.adw.argmax()), maps.depth)
    pairs = maps.share.numel()
    text = (
        f"d = {maps.depth}: {pairs} pair{'s' if pairs != 1 else ''}; heaviest pair ranks ({first + 1}, {second + 1}) "
        f"with weight {float(maps.adw.max()):.3f}; with equal KLs the pairs carry "
        f"{1 - maps.topd_share:.1%} of the local term, the top-{maps.depth} set {maps.topd_share:.1%}."
    )
    if sample is not None:
        text += (
            f" This sample: local term {sample.local:.4f} (pairs {float(sample.contribution.sum()):.4f}, "
            f"top-{sample.depth} set {sample.topd_contribution:.4f}), remaining classes {sample.rntk:.4f}."
        )
    return text


def weight_panel(
    *,
    student_logits: Tensor | None = None,
    teacher_logits: Tensor | None = None,
    depth: int = 7,
    decay: float = 0.05,
    temperature: float = 4.0,
    max_depth: int | None = None,
    class_names: Sequence[str] | None = None,
    backend: str = "plotly",
    sweep=None,
) -> WeightPanel:
    """Sliders for ``d``, decay and ``T`` that redraw the weight heatmaps and one sample's pair terms.

    Args:
        student_logits, teacher_logits: ``(C,)`` logits of one sample (both or neither, by
            keyword); with them the panel also shows that sample's pair KLs and contributions to
            the local term.
        depth, decay, temperature: starting values.
        max_depth: the depth slider's end (default ``min(C, 12)``, or 12 without a sample; with a
            sweep, at least its largest ``d`` when the sample has that many classes, so every grid
            depth can be reached).
        class_names: the ``C`` names of the classes, for the sample's axes.
        backend: ``"plotly"`` or ``"matplotlib"``.
        sweep: a ``sweep.json`` (path or loaded), or ``True`` for ``docs/sweep.json``: adds the
            measured view of :mod:`ldrrld_viz.sweep` under the panel, driven by the same ``d`` and
            decay sliders (``panel.sweep_view``; ``None`` without a sweep).

    Returns:
        A :class:`WeightPanel`; display it, or its ``widget``.
    """
    if (student_logits is None) != (teacher_logits is None):
        raise ValueError("give both student_logits and teacher_logits of the sample, or neither")
    check_backend(backend)
    if student_logits is not None:
        # A depth-2 look at the sample checks the pair: (C,) vectors, one class count, finite.
        sample_relations(student_logits=student_logits, teacher_logits=teacher_logits, depth=2)
        check_class_names(class_names, student_logits.shape[-1])
    from .sweep import as_sweep, attach_sweep_view

    sweep = as_sweep(sweep) if sweep is not None else None
    limit = max([MAX_SLIDER_DEPTH, *(sweep["protocol"]["depths"] if sweep is not None else ())])
    limit = limit if student_logits is None else min(student_logits.shape[-1], limit)
    max_depth = limit if max_depth is None else max_depth
    if student_logits is not None and max_depth > student_logits.shape[-1]:
        raise ValueError(f"max_depth {max_depth} exceeds the sample's {student_logits.shape[-1]} classes")
    if not 2 <= depth <= max_depth:
        raise ValueError(f"depth must lie in [2, {max_depth}] (the slider's range), got {depth}")
    for name, value, (low, high) in (("decay", decay, DECAY_RANGE), ("temperature", temperature, TEMPERATURE_RANGE)):
        if not low <= value <= high:
            raise ValueError(f"{name} must lie in [{low:g}, {high:g}] (the slider's range), got {value!r}")
    grid = None
    if sweep is not None:  # over measured data the sliders stop only where students were trained
        protocol = sweep["protocol"]
        grid = {
            "depth": [d for d in protocol["depths"] if d <= max_depth],
            "decay": list(protocol["decays"]),
            "temperature": list(protocol["temperatures"]),
        }
        for name, value in (("depth", depth), ("decay", decay), ("temperature", temperature)):
            if value not in grid[name]:
                raise ValueError(
                    f"with a sweep the sliders move over the measured values; {name} {value!r} is not one of "
                    f"{grid[name]}"
                )
    panel = WeightPanel(
        student_logits,
        teacher_logits,
        depth=depth,
        decay=decay,
        temperature=temperature,
        max_depth=max_depth,
        class_names=class_names,
        backend=backend,
        grid=grid,
    )
    panel.sweep_view = attach_sweep_view(panel, sweep) if sweep is not None else None
    return panel
