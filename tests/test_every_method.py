"""Every method of the toolkit side by side (notebook 04): a recipe for each, tuned or at its authors'
preset, and the figure of relation fidelity against accuracy, checked by what it draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ldrrld_viz as viz
from ldrrld_core import analysis
from ldrrld_core.data import load_dataset
from ldrrld_core.losses import create_loss, list_losses
from ldrrld_core.study import load_results
from ldrrld_core.study.report import (
    _LABELS,
    EVERY_METHOD,
    chosen_recipe,
    method_recipes,
    point_labels,
    preset_recipe,
)
from ldrrld_core.study.sweep import DEFAULT_RESULTS
from ldrrld_core.train import compare, compare_recipes, get_recipe, train_teacher
from ldrrld_viz.fidelity_accuracy import place_labels
from ldrrld_viz.panels import LABEL_POSITIONS, Points

TUNED = ("ce", "kd", "dkd", "ldrrld")
PRESETS = ("dist", "lskd", "wttm", "ctkd", "tekap", "sdd")


@pytest.fixture(scope="module")
def study():
    return load_results(DEFAULT_RESULTS)


# ------------------------------------------------------------------------------------- recipes


def test_every_method_is_registered_and_labelled():
    assert EVERY_METHOD == TUNED + PRESETS
    assert set(EVERY_METHOD) <= set(list_losses())
    assert all(method in _LABELS for method in EVERY_METHOD)


def test_the_committed_study_tunes_the_first_four(study):
    """What notebook 04 says: the committed study tuned ce, kd, dkd and ldrrld, no other method."""
    assert list(study["methods"]) == list(TUNED)


def test_method_recipes_take_the_chosen_point_or_the_authors_preset_at_kds_rate(study):
    recipe = get_recipe("teaching").rescheduled(4)
    recipes = method_recipes(recipe, study)
    assert list(recipes) == list(EVERY_METHOD)
    for method in TUNED:
        assert recipes[method] == chosen_recipe(recipe, study, method)
    kd_lr = float(study["methods"]["kd"]["lr"])
    for method in PRESETS:
        preset = recipes[method]
        assert preset == recipe.replace(loss=method, lr=kd_lr), "only the loss and the rate change"
        assert preset.loss_hparams == {}, "the registry's defaults: the authors' setting"
        assert preset.build_loss().hparams() == create_loss(method).hparams()
        assert preset.epochs == 4 and preset.seed == recipe.seed


def test_a_preset_keeps_what_the_recipe_gives_its_loss_and_takes_another_rate(study):
    recipe = get_recipe("teaching").replace(loss_options={"dist": {"temperature": 2.0}})
    preset = preset_recipe(recipe, study, "dist", lr_of="dkd")
    assert preset.loss_hparams == {"temperature": 2.0}
    assert preset.lr == float(study["methods"]["dkd"]["lr"])


def test_presets_refuse_tuned_methods_unknown_rates_and_repeats(study):
    recipe = get_recipe("teaching")
    with pytest.raises(ValueError, match="the study tuned 'kd': use chosen_recipe"):
        preset_recipe(recipe, study, "kd")
    with pytest.raises(ValueError, match="lr_of='dist' names no method the study tuned"):
        preset_recipe(recipe, study, "sdd", lr_of="dist")
    with pytest.raises(ValueError, match="names a method twice"):
        method_recipes(recipe, study, ["ce", "dist", "ce"])
    with pytest.raises(ValueError, match="no-such-loss"):
        method_recipes(recipe, study, ["ce", "no-such-loss"])


def test_point_labels_say_which_points_were_tuned(study):
    recipe = get_recipe("teaching")
    labels = point_labels(study, method_recipes(recipe, study))
    assert labels["kd"] == f"lr {float(study['methods']['kd']['lr']):g}, T 2, weights hinton (tuned)"
    assert all(labels[m].endswith("(tuned)") for m in TUNED)
    assert all(
        labels[m] == f"lr {float(study['methods']['kd']['lr']):g} (KD's), authors' preset, untuned" for m in PRESETS
    )


def test_compare_recipes_trains_each_method_at_its_own_point():
    digits = load_dataset("digits")
    base = get_recipe("digits", epochs=1, warmup_epochs=0, decay_epochs=())
    teacher = train_teacher(base, data=digits, progress=False)
    recipes = {"ce": base.with_loss("ce", lr=0.05), "dist": base.with_loss("dist", {"temperature": 2.0}, lr=0.02)}
    runs = compare_recipes(recipes, teacher=teacher, data=digits, progress=False)
    assert list(runs.students) == ["ce", "dist"] and runs.teacher is teacher
    assert [runs.students[m].recipe.lr for m in recipes] == [0.05, 0.02]
    assert runs.students["dist"].recipe.loss_hparams == {"temperature": 2.0}
    alone = compare(recipes["dist"], ["dist"], teacher=teacher, data=digits, progress=False).students["dist"]
    assert alone.top1 == runs.students["dist"].top1, "the same student as compare trains at that recipe"
    with pytest.raises(ValueError, match="recipes is empty"):
        compare_recipes({}, teacher=teacher)
    with pytest.raises(ValueError, match=r"train another: \{'kd': 'ce'\}"):
        compare_recipes({"kd": base.with_loss("ce")}, teacher=teacher)
    with pytest.raises(ValueError, match=r"recipes of \['kd'\] differ from ce's in more than"):
        compare_recipes({"ce": base.with_loss("ce"), "kd": base.with_loss("kd", seed=1)}, teacher=teacher)


# ------------------------------------------------------------------------------------- tables


def test_format_table_heads_columns_for_people():
    rows = [{"student": "kd", "kendall_tau_all": 0.5, "extra": 1}]
    text = viz.format_table(rows, headers=analysis.FIDELITY_HEADERS).splitlines()
    assert text[0].split("  ")[0] == "student" and "tau, all" in text[0] and text[0].endswith("extra")
    assert text[2].split() == ["kd", "0.500", "1"]


def test_fidelity_headers_name_every_column_shortly():
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(50, 10, generator=g)
    rows = analysis.fidelity_table(
        analysis.compare_fidelity({"kd": teacher + torch.randn(50, 10, generator=g)}, teacher)
    )
    assert set(rows[0]) == set(analysis.FIDELITY_HEADERS), "every column of the fidelity table has a name"
    assert all(len(name) <= 18 for name in analysis.FIDELITY_HEADERS.values()), "short: ten students fit a page"


# ------------------------------------------------------------------------------------- the figure

TAUS = {"ce": 0.30, "kd": 0.38, "dkd": 0.53, "ldrrld": 0.51, "dist": 0.47, "wttm": 0.20}
TOP1 = {"ce": 52.8, "kd": 57.9, "dkd": 61.2, "ldrrld": 63.0, "dist": 66.5, "wttm": 30.0}
GROUPS = {"tuned by the study": ["ce", "kd", "dkd", "ldrrld"], "authors' preset": ["dist", "wttm"]}
TEACHER = 94.4
#: Ten students as one fast run of notebook 04 measured them: four crowd together at the right.
CROWDED_TAUS = {
    **{"ce": 0.307, "kd": 0.380, "dkd": 0.539, "ldrrld": 0.517, "dist": 0.455},
    **{"lskd": 0.527, "wttm": 0.383, "ctkd": 0.423, "tekap": 0.542, "sdd": 0.484},
}
CROWDED_TOP1 = {
    **{"ce": 52.8, "kd": 57.9, "dkd": 61.2, "ldrrld": 63.0, "dist": 67.7},
    **{"lskd": 60.5, "wttm": 30.5, "ctkd": 50.3, "tekap": 57.3, "sdd": 51.0},
}


def drawn(fig):
    """What the figure draws, read back from it: points by group ({group: (x, y, labels, colour)}),
    reference lines ({name: y}), the axes' ranges, and (matplotlib) whether every label lies inside
    the axes and covers no other label and no marker."""
    if hasattr(fig, "data"):  # plotly
        points = {
            t.name: (np.asarray(t.x, float), np.asarray(t.y, float), list(t.text), t.marker.color)
            for t in fig.data
            if t.mode == "markers+text"
        }
        lines = {t.name: (np.asarray(t.x, float), np.asarray(t.y, float)) for t in fig.data if t.mode == "lines"}
        return points, lines, tuple(fig.layout.xaxis.range), tuple(fig.layout.yaxis.range), None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    (ax,) = fig.axes
    FigureCanvasAgg(fig).draw()
    box = ax.get_window_extent()
    texts = {text.get_text(): text.get_window_extent() for text in ax.texts}
    inside = all(box.x0 <= t.x0 and t.x1 <= box.x1 and box.y0 <= t.y0 and t.y1 <= box.y1 for t in texts.values())
    marker = 4  # half a marker's side, in pixels (s=36 points squared: 6 points wide)
    centres = [ax.transData.transform(xy) for c in ax.collections for xy in np.asarray(c.get_offsets(), float)]
    boxes = [*texts.values(), *(Bbox.from_extents(x - marker, y - marker, x + marker, y + marker) for x, y in centres)]
    apart = all(not first.overlaps(second) for i, first in enumerate(boxes[: len(texts)]) for second in boxes[i + 1 :])
    inside = inside and apart and bool(texts)
    by_position = {tuple(np.round(text.xy, 9)): text.get_text() for text in ax.texts}
    points = {}
    for collection in ax.collections:
        offsets = np.asarray(collection.get_offsets(), float)
        labels = [by_position[tuple(np.round(xy, 9))] for xy in offsets]
        points[collection.get_label()] = (offsets[:, 0], offsets[:, 1], labels, collection.get_facecolor()[0])
    lines = {line.get_label(): (None, np.asarray(line.get_ydata(), float)) for line in ax.lines}
    return points, lines, ax.get_xlim(), ax.get_ylim(), inside


@pytest.mark.parametrize("backend", viz.BACKENDS)
def test_fidelity_vs_accuracy_plots_each_student_where_its_numbers_say(backend):
    fig = viz.fidelity_vs_accuracy(TAUS, TOP1, teacher_top1=TEACHER, groups=GROUPS, backend=backend)
    points, lines, x_range, y_range, inside = drawn(fig)
    assert list(points) == list(GROUPS)
    for group, members in GROUPS.items():
        xs, ys, labels, _ = points[group]
        assert labels == members, "every point named after its student"
        assert np.allclose(xs, [TAUS[m] for m in members]) and np.allclose(ys, [TOP1[m] for m in members])
    colours = [str(colour) for *_, colour in points.values()]
    assert len(set(colours)) == len(GROUPS), "a colour per group"
    (name,) = lines
    assert name == "teacher top-1 94.4%" and np.allclose(lines[name][1], TEACHER)
    every_x = np.concatenate([xs for xs, *_ in points.values()])
    every_y = np.concatenate([ys for _, ys, *_ in points.values()] + [[TEACHER]])
    assert x_range[0] < every_x.min() and every_x.max() < x_range[1], "every point inside the axes"
    assert y_range[0] < every_y.min() and every_y.max() < y_range[1], "every point and the teacher's line inside"
    if backend == "plotly":
        assert np.allclose(lines[name][0], x_range), "the line crosses the whole panel"
        positions = [p for t in fig.data if t.mode == "markers+text" for p in t.textposition]
        assert len(positions) == len(TAUS) and set(positions) <= set(LABEL_POSITIONS)
    else:
        assert inside, "every label inside the axes, on no other label or marker"
        assert fig.axes[0].get_xticks().size and fig.axes[0].get_yticks().size, "the axes carry their values"


@pytest.mark.parametrize("backend", viz.BACKENDS)
def test_fidelity_vs_accuracy_reads_taus_from_fidelities_and_needs_no_teacher_or_groups(backend):
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(40, 8, generator=g)
    students = {"near": teacher + 0.1 * torch.randn(40, 8, generator=g), "far": torch.randn(40, 8, generator=g)}
    fidelities = analysis.compare_fidelity(students, teacher, depth=3)
    top1 = {"near": 70.0, "far": 20.0}
    points, lines, *_, inside = drawn(viz.fidelity_vs_accuracy(fidelities, top1, backend=backend))
    (xs, ys, labels, _) = points["students"]
    assert labels == ["near", "far"] and not lines
    assert np.allclose(xs, [float(fidelities[n].kendall_all.mean()) for n in labels]) and np.allclose(ys, [70, 20])
    assert inside in (None, True)


def test_fidelity_vs_accuracy_writes_crowded_labels_apart():
    groups = {"tuned": ["ce", "kd", "dkd", "ldrrld"], "preset": ["dist", "lskd", "wttm", "ctkd", "tekap", "sdd"]}
    fig = viz.fidelity_vs_accuracy(
        CROWDED_TAUS, CROWDED_TOP1, teacher_top1=TEACHER, groups=groups, backend="matplotlib"
    )
    points, *_, inside = drawn(fig)
    assert sorted(name for *_, labels, _ in points.values() for name in labels) == sorted(CROWDED_TAUS)
    assert inside, "no label leaves the axes or covers another label or a marker"
    plotly = viz.fidelity_vs_accuracy(CROWDED_TAUS, CROWDED_TOP1, teacher_top1=TEACHER, groups=groups)
    positions = [p for t in plotly.data if t.mode == "markers+text" for p in t.textposition]
    assert len(set(positions)) > 1, "crowded points get their labels on different sides"


def test_place_labels_moves_a_label_off_its_neighbour():
    # Two points side by side, 20 px apart: the second label cannot sit above its point as the first does.
    positions = place_labels([0.0, 20.0], [50.0, 50.0], ["first", "second"], (-100.0, 340.0), (0.0, 210.0))
    assert positions[0] == "top center" and positions[1] != "top center"
    assert place_labels([100.0], [50.0], ["alone"], (0.0, 440.0), (0.0, 210.0)) == ["top center"]
    assert place_labels([1.0], [50.0], ["edge"], (0.0, 440.0), (0.0, 210.0)) == ["middle right"], "not off the left"
    with pytest.raises(ValueError, match="label_positions must give one of"):
        Points("g", [0.0], [0.0], "red", hover=["a"], label_positions=["above"])


def test_fidelity_vs_accuracy_keeps_labels_inside_when_all_points_coincide():
    fig = viz.fidelity_vs_accuracy({"a": 0.5, "b": 0.5}, {"a": 60.0, "b": 60.0}, backend="matplotlib")
    *_, x_range, y_range, inside = drawn(fig)
    assert inside and x_range[0] < 0.5 < x_range[1] and y_range[0] < 60 < y_range[1]


def test_fidelity_vs_accuracy_refuses_numbers_that_do_not_fit():
    with pytest.raises(ValueError, match="no students"):
        viz.fidelity_vs_accuracy({}, {})
    with pytest.raises(ValueError, match="the same students"):
        viz.fidelity_vs_accuracy({"a": 0.5}, {"b": 60.0})
    with pytest.raises(ValueError, match="finite"):
        viz.fidelity_vs_accuracy({"a": math.nan}, {"a": 60.0})
    with pytest.raises(ValueError, match=r"in no group \['b'\]"):
        viz.fidelity_vs_accuracy({"a": 0.5, "b": 0.4}, {"a": 60.0, "b": 50.0}, groups={"g": ["a"]})
    with pytest.raises(ValueError, match=r"in several \['a'\]; not students \['c'\]"):
        viz.fidelity_vs_accuracy({"a": 0.5}, {"a": 60.0}, groups={"g": ["a"], "h": ["a", "c"]})
