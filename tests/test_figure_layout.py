"""Figures read at JupyterLab's default width: square matrices, axis titles, short panel titles,
one colour bar per column of comparable matrices, and a widget whose colour ranges hold still."""

import base64
import io
import math

import numpy as np
import pytest
import torch

import ldrrld_viz as viz
from ldrrld_core import analysis

BACKENDS = viz.BACKENDS
STUDENTS = ("ce", "kd", "dkd", "ldrrld")


def relation_data(classes=10, samples=300):
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(samples) % classes
    teacher = torch.randn(samples, classes, generator=g) + 4 * torch.nn.functional.one_hot(labels, classes)
    students = {
        name: teacher + (k + 1) * 0.3 * torch.randn(samples, classes, generator=g) for k, name in enumerate(STUDENTS)
    }
    return teacher, students, labels


def matrices(fig):
    """Per heatmap: (x title, y title, panel title, square?, colour range, colour bar shown?)."""
    if hasattr(fig, "data"):  # plotly
        titles = [a.text for a in fig.layout.annotations]
        found = []
        for trace in (t for t in fig.data if t.type == "heatmap"):
            index = int(trace.xaxis[1:] or 1)
            x, y = fig.layout[f"xaxis{index if index > 1 else ''}"], fig.layout[f"yaxis{index if index > 1 else ''}"]
            axis = fig.layout[trace.coloraxis]
            found.append(
                {
                    "x": x.title.text,
                    "y": y.title.text,
                    "square": y.scaleanchor == trace.xaxis,
                    "range": (axis.cmin, axis.cmax),
                    "bar": axis.showscale is not False,
                    "z": np.asarray(trace.z, dtype=float),
                }
            )
        return found, titles
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    panels = fig.axes[: grid.nrows * grid.ncols]
    bars = len(fig.axes) - len(panels)
    found = [
        {
            "x": ax.get_xlabel(),
            "y": ax.get_ylabel(),
            "square": ax.get_aspect() == 1.0,
            "range": ax.images[0].get_clim(),
            "z": np.ma.filled(ax.images[0].get_array().astype(float), math.nan),
        }
        for ax in panels
        if ax.images
    ]
    return found, [ax.get_title() for ax in panels if ax.images], bars


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["class_mean", "correlation"])
def test_relation_grids_are_square_titled_and_share_colour_bars(kind, backend):
    teacher, students, labels = relation_data()
    if kind == "class_mean":
        fig = viz.class_mean_gaps(students, teacher, labels, backend=backend)
        axis_titles = ("class", "true class")
    else:
        fig = viz.correlation_gaps(students, teacher, backend=backend)
        axis_titles = ("class", "class")
    found, titles, *rest = matrices(fig)
    assert len(found) == 1 + 2 * len(STUDENTS)  # the teacher, each student, each student's gap
    assert all((m["x"], m["y"]) == axis_titles for m in found), "axis titles on every matrix"
    assert all(m["square"] for m in found), "square cells"
    # Two columns: a panel title has room for about 45 characters a line on a 760 px page.
    assert max(len(line) for title in titles for line in title.replace("<br>", "\n").split("\n")) <= 45
    # The teacher, then each student beside its gap: matrices in the left column, gaps in the right.
    matrix_panels, gap_panels = [found[0], *found[1::2]], found[2::2]
    assert [title.split(" (")[0] for title in [titles[0], *titles[1::2]]] == ["teacher", *STUDENTS]
    assert titles[0].endswith("(left column: one scale)") and "right column: one scale" in titles[2]
    # One colour scale per column, so one colour bar per column.
    assert len({m["range"] for m in matrix_panels}) == 1
    assert len({m["range"] for m in gap_panels}) == 1
    shown = sum(m["bar"] for m in found) if backend == "plotly" else rest[0]
    assert shown == 2


def weights_sample():
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(10, generator=g) * 3
    return teacher + torch.randn(10, generator=g) * 1.5, teacher


@pytest.mark.parametrize("backend", BACKENDS)
def test_panel_colour_ranges_hold_still_when_sliders_move(backend):
    student, teacher = weights_sample()
    panel = viz.weight_panel(
        student_logits=student, teacher_logits=teacher, depth=7, decay=0.05, temperature=4.0, backend=backend
    )
    first, _, *_ = matrices(panel.state.figure)
    decays = [k / 100 for k in range(51)]  # every stop of the decay slider: the largest value over them
    starts = [
        analysis.sample_relations(student_logits=student, teacher_logits=teacher, depth=7, decay=g, temperature=4.0)
        for g in decays
    ]
    expected = [
        2 / (1.5 + 1),
        1.0,
        2 / (1.5 + 1),
        max(float(analysis.weight_maps(7, g).share.max()) for g in decays),
        float(starts[0].pair_kl.max()),
        max(float(start.contribution.max()) for start in starts),
    ]
    assert [m["range"] for m in first] == [(0.0, pytest.approx(top)) for top in expected]
    for slider, value in (("depth", 4), ("depth", 10), ("decay", 0.3), ("temperature", 1.5)):
        getattr(panel.controls, slider).value = value
        moved, _, *_ = matrices(panel.state.figure)
        assert [m["range"] for m in moved] == [m["range"] for m in first], f"{slider} = {value} moved a scale"
    assert panel.state.redraws == 5
    assert any(
        a["z"].shape != b["z"].shape or not np.allclose(a["z"], b["z"], equal_nan=True) for a, b in zip(first, moved)
    ), "the picture changed"


def test_panel_shows_a_still_picture_before_it_runs():
    student, teacher = weights_sample()
    panel = viz.weight_panel(student_logits=student, teacher_logits=teacher)
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live where a kernel runs
    png = base64.b64decode(bundle["image/png"])  # a still where none does
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert bundle["text/plain"] == repr(panel)
    # ... and says what it is and how to make it live
    assert bundle["image/png"] in bundle["text/html"] and viz.widgets.STILL_CAPTION in bundle["text/html"]
    assert "run this cell for live sliders" in viz.widgets.STILL_CAPTION


def test_each_matplotlib_colour_bar_sits_beside_its_own_run_of_heatmaps():
    """IRW, ERD and ADW have three scales: three colour bars, each right of its own heatmap only."""
    maps = analysis.weight_maps(7, 0.05)
    fig = viz.weight_heatmaps(maps, backend="matplotlib")
    fig.savefig(io.BytesIO(), format="png")  # lays the figure out
    heatmaps, bars = fig.axes[:3], fig.axes[3:]
    assert len(bars) == 3
    for ax, bar in zip(heatmaps, bars):
        box, bar_box = ax.get_position(), bar.get_position()
        assert box.x1 <= bar_box.x0 + 1e-6, "the bar is right of its heatmap"
        others = [other.get_position() for other in heatmaps if other is not ax]
        assert all(not (o.x0 < bar_box.x1 and bar_box.x0 < o.x1) for o in others), "and over no other"
