"""Every figure of the toolkit, as a person sees it: drawn by plotly.js in headless Chromium (or by
matplotlib into a PNG) at JupyterLab's narrowest width, then measured: no two texts overlap, no text
under 10 px, 100-class matrices at least 250 px wide, nothing wider than its output area.

Synthetic numbers of the real shapes stand in for trained models (100 classes in 20 superclasses, a
100-class sample for the live panel at every extreme of its sliders), so this runs in seconds; the
JupyterLab test (``tests/test_browser.py``) measures the notebooks' own figures the same way. The
checker itself is shown to catch each kind of fault on figures built to have it.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from figure_page import browser_page, show
from page_layout import layout_faults
from test_every_method import CROWDED_TAUS, CROWDED_TOP1

import ldrrld_viz as viz
from ldrrld_core import analysis
from ldrrld_viz.matplotlib_backend import DPI, MAX_WIDTH_IN
from ldrrld_viz.panels import MIN_TEXT_PX

pytestmark = pytest.mark.browser

NARROW, WIDE = 760, 1100  # output-area widths at 1280 x 800 with the file browser open, and closed


def relation_data(classes=100, samples=1000):
    g = torch.Generator().manual_seed(0)
    superclass_of = torch.arange(classes) // 5
    labels = torch.arange(samples) % classes
    shared = 3.0 * (superclass_of[:, None] == superclass_of[None, :]).float() + 6 * torch.eye(classes)
    teacher = (shared + 0.5 * torch.randn(classes, classes, generator=g))[labels] + torch.randn(
        samples, classes, generator=g
    )
    students = {
        name: teacher * scale + noise * torch.randn(samples, classes, generator=g)
        for name, scale, noise in [("ce", 1.8, 2.0), ("kd", 1.0, 1.0), ("dkd", 1.0, 0.9), ("ldrrld", 1.0, 0.8)]
    }
    return teacher, students, labels, superclass_of


def sample(classes=100):
    g = torch.Generator().manual_seed(3)
    teacher = torch.randn(classes, generator=g) * 3
    return teacher + torch.randn(classes, generator=g) * 1.5, teacher


def history(epochs=15, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = [
        {"epoch": e, "test_top1": 50 + e + float(torch.rand(1, generator=g)), "train_loss": 3 / e}
        for e in range(1, epochs + 1)
    ]
    return type("History", (), {"rows": rows})()


def panel_figures():
    """The live panel at both ends of every slider, and its measured view at the grid's corners."""
    student, teacher = sample()
    panel = viz.weight_panel(student_logits=student, teacher_logits=teacher, sweep=True)
    figures = {"panel d=7": panel.state.figure, "measured d=7": panel.sweep_view.state.figure}
    grid = {
        name: [value for _, value in getattr(panel.controls, name).options]
        for name in ("depth", "decay", "temperature")
    }
    for depth, decay, temperature in itertools.product(*[(values[0], values[-1]) for values in grid.values()]):
        panel.controls.depth.value, panel.controls.decay.value = depth, decay
        panel.controls.temperature.value = temperature
        figures[f"panel d={depth} decay={decay} T={temperature}"] = panel.state.figure
        figures[f"measured d={depth} decay={decay}"] = panel.sweep_view.state.figure
    free = viz.weight_panel(student_logits=student[:12], teacher_logits=teacher[:12])
    for depth in (2, 12):  # the free panel's ends (12 classes)
        free.controls.depth.value = depth
        figures[f"free panel d={depth}"] = free.state.figure
    return figures


def every_figure(backend="plotly"):
    teacher, students, labels, superclass_of = relation_data()
    names = [f"class {c}" for c in range(100)]
    student, teacher_one = sample(10)
    rel = analysis.sample_relations(student_logits=student, teacher_logits=teacher_one, depth=7)
    grads = analysis.logit_gradients(student_logits=student, teacher_logits=teacher_one, target=2, depth=7)
    fidelity = analysis.compare_fidelity(students, teacher, depth=5, temperature=4.0)
    g = torch.Generator().manual_seed(0)
    shown = superclass_of[labels] < 5
    points = {name: torch.randn(int(shown.sum()), 2, generator=g) for name in ("teacher", *students)}
    figures = {
        "class-mean gaps": viz.class_mean_gaps(
            students, teacher, labels, superclass_of=superclass_of, class_names=names, backend=backend
        ),
        "correlation gaps": viz.correlation_gaps(
            students, teacher, superclass_of=superclass_of, class_names=names, backend=backend
        ),
        "fidelity agreement": viz.fidelity_heatmaps(fidelity, measure="pair_agreement", backend=backend),
        "fidelity KL": viz.fidelity_heatmaps(fidelity, measure="pair_kl", backend=backend),
        "weights d=7": viz.weight_heatmaps(7, 0.05, backend=backend),
        "weights d=12": viz.weight_heatmaps(12, 0.05, backend=backend),
        "weight curves": viz.weight_curves(analysis.weight_maps(7, 0.05), backend=backend),
        "weight share": viz.weight_share(analysis.weight_maps(7, 0.05), backend=backend),
        "local distributions": viz.local_distributions(rel, backend=backend),
        "pair contributions": viz.pair_contributions(rel, backend=backend),
        "gradient bars": viz.gradient_bars(grads, student, target=2, backend=backend),
        "t-SNE": viz.tsne_scatter(
            points,
            labels[shown],
            class_names=names,
            superclass_of=superclass_of,
            superclass_names=[f"group {s}" for s in range(20)],
            backend=backend,
        ),
        "training curves": viz.training_curves(
            {m: history(seed=k) for k, m in enumerate(students)}, ["test_top1", "train_loss"], backend=backend
        ),
        "fidelity vs accuracy": viz.fidelity_vs_accuracy(
            CROWDED_TAUS,
            CROWDED_TOP1,
            teacher_top1=94.4,
            groups={"tuned": ["ce", "kd", "dkd", "ldrrld"], "preset": ["dist", "lskd", "wttm", "ctkd", "tekap", "sdd"]},
            backend=backend,
        ),
    }
    return figures


@pytest.fixture(scope="module")
def page():
    with browser_page() as page:
        yield page


@pytest.mark.parametrize("width", [NARROW, WIDE])
def test_every_plotly_figure_reads_at_lab_widths(page, tmp_path, width):
    figures = {**every_figure(), **panel_figures()}
    faults = []
    for name, figure in figures.items():
        show(page, [figure], width, tmp_path)
        faults += [f"{name}: {fault}" for fault in layout_faults(page)]
    assert not faults, "\n".join(faults[:40])


# ------------------------------------------------------------------------------ static figures


def drawn_texts(figure) -> list:
    """The texts a matplotlib figure draws: titles, axis labels, the tick labels inside the axes'
    ranges (matplotlib keeps, but does not draw, the others), legends and free texts."""
    texts = [figure._suptitle] if figure._suptitle is not None else []
    for ax in figure.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            texts += [t.label1 for t in axis.get_major_ticks() if low - 1e-9 <= t.get_loc() <= high + 1e-9]
        if ax.get_legend() is not None:
            texts += list(ax.get_legend().get_texts())
    return texts


def text_faults(figure) -> list[str]:
    """What :func:`page_layout.layout_faults` checks, for a matplotlib figure as its PNG shows it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    assert figure.dpi == DPI, "static figures are drawn at 72 dpi: a point of text is a pixel"
    canvas = FigureCanvasAgg(figure)
    canvas.draw()  # lays the figure out as its picture does
    renderer = canvas.get_renderer()
    faults = []
    if figure.get_figwidth() > MAX_WIDTH_IN + 1e-6:
        faults.append(f"{figure.get_figwidth() * DPI:.0f} px wide (> {MAX_WIDTH_IN * DPI:.0f}): a page shrinks it")
    texts = [t for t in drawn_texts(figure) if t.get_visible() and t.get_text().strip()]
    boxes = []
    for text in texts:
        px = text.get_fontsize() * DPI / 72
        if px < MIN_TEXT_PX - 1e-6:
            faults.append(f"text {text.get_text()[:30]!r} is {px:.1f} px (< {MIN_TEXT_PX})")
        boxes.append((text.get_window_extent(renderer), text.get_text()[:30]))
    for (a, name_a), (b, name_b) in itertools.combinations(boxes, 2):
        if a.x0 < b.x1 - 1 and b.x0 < a.x1 - 1 and a.y0 < b.y1 - 1 and b.y0 < a.y1 - 1:
            faults.append(f"{name_a!r} overlaps {name_b!r}")
    return faults


def test_every_matplotlib_figure_keeps_its_text_readable():
    faults = []
    for name, figure in every_figure(backend="matplotlib").items():
        faults += [f"{name}: {fault}" for fault in text_faults(figure)]
    assert not faults, "\n".join(faults[:40])


# ------------------------------------------------------------------------ the checker can fail


def test_the_checker_catches_each_kind_of_fault(page, tmp_path):
    """Figures built with one fault each: each is reported (a checker that passes everything is no test)."""
    teacher, students, labels, superclass_of = relation_data()
    squeezed = viz.class_mean_gaps(students, teacher, labels, superclass_of=superclass_of)
    squeezed.update_layout(width=NARROW * 0.9)  # fixed narrow width ...
    squeezed.layout.grid = None
    tiny = viz.weight_heatmaps(7, 0.05)
    tiny.update_xaxes(tickfont_size=8)
    crowded = viz.fidelity_heatmaps(analysis.compare_fidelity(students, teacher, depth=5, temperature=4.0))
    crowded.update_layout(margin_t=20)  # the figure title falls onto the panel titles
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    five = make_subplots(rows=1, cols=5)  # five 100-class matrices side by side
    for col in range(1, 6):
        five.add_trace(go.Heatmap(z=torch.rand(100, 100).tolist(), showscale=False), row=1, col=col)
    checks = {
        "small text": (tiny, "px (< 10)"),
        "overlap": (crowded, "overlaps"),
        "narrow matrix": (five, "100-class matrix is"),
    }
    for name, (figure, expected) in checks.items():
        show(page, [figure], NARROW, tmp_path)
        faults = layout_faults(page)
        assert any(expected in fault for fault in faults), f"{name} not caught: {faults[:5]}"
    page.set_content(
        '<div class="jp-OutputArea" style="width:200px"><pre style="white-space:pre-wrap;'
        'word-break:break-all">the local term of every pair of classes</pre></div>'
    )
    assert any("breaks a word" in fault for fault in layout_faults(page))
    page.set_content(
        '<div class="jp-OutputArea" style="width:200px"><pre style="white-space:pre-wrap">'
        "the local term of every pair</pre></div>"
    )
    assert layout_faults(page) == [], "wrapping between words is fine"


def test_the_static_checker_catches_small_and_overlapping_text():
    from ldrrld_viz.matplotlib_backend import StaticFigure

    figure = StaticFigure(figsize=(4, 3), dpi=DPI)
    ax = figure.subplots()
    ax.set_title("a title", fontsize=8)
    ax.text(0.5, 0.5, "one label", fontsize=12)
    ax.text(0.5, 0.5, "another label", fontsize=12)
    faults = text_faults(figure)
    assert any("a title" in f and "px (< 10)" in f for f in faults)
    assert any("overlaps" in f for f in faults)
