"""Every figure checked by the numbers it draws, in both backends, against ``ldrrld_core.analysis``."""

import dataclasses
import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ldrrld_viz as viz
from ldrrld_core import analysis
from ldrrld_viz.colors import MAX_DISTINCT_GROUPS
from ldrrld_viz.panels import as_array

BACKENDS = viz.BACKENDS


def panels(fig):
    """What each panel of a figure draws, read back from the figure itself.

    A list (panel order) of dicts with ``title`` and, where present, ``heatmap`` (the matrix),
    ``scale`` (colour scale ends), ``bars`` / ``lines`` ({legend name: y}) and ``points``
    ({group: (colour, x, hover)}).
    """
    if hasattr(fig, "data"):  # plotly: traces know their subplot by axis name
        count = len([k for k in fig.layout if k.startswith("xaxis")])
        found = [{} for _ in range(count)]
        for trace in fig.data:
            panel = found[int(trace.xaxis[1:] or 1) - 1]
            if trace.type == "heatmap":
                axis = fig.layout[trace.coloraxis]
                panel.update(heatmap=np.asarray(trace.z, dtype=float), scale=(axis.cmin, axis.cmax))
            elif trace.type == "bar":
                panel.setdefault("bars", {})[trace.name] = np.asarray(trace.y, dtype=float)
            elif trace.mode == "markers":
                panel.setdefault("points", {})[trace.name] = (
                    trace.marker.color,
                    np.asarray(trace.x),
                    list(trace.hovertext),
                )
            else:
                panel.setdefault("lines", {})[trace.name] = np.asarray(trace.y, dtype=float)
        titles = [a.text for a in fig.layout.annotations]
        return found, titles, fig.layout.title.text
    found = []
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    for ax in fig.axes[: grid.nrows * grid.ncols]:  # colour bars come after the panels
        panel = {}
        if ax.images:
            image = ax.images[0]
            panel.update(heatmap=np.ma.filled(image.get_array().astype(float), math.nan), scale=image.get_clim())
        bars = {c.get_label(): np.array([p.get_height() for p in c]) for c in ax.containers}
        if bars:
            panel["bars"] = bars
        lines = {
            line.get_label(): np.asarray(line.get_ydata(), dtype=float)
            for line in ax.lines
            if not line.get_label().startswith("_")
        }
        if lines:
            panel["lines"] = lines
        points = {
            c.get_label(): (c.get_facecolor()[0], np.asarray(c.get_offsets())[:, 0], None)
            for c in ax.collections
            if not c.get_label().startswith("_")
        }
        if points:
            panel["points"] = points
        found.append(panel)
    titles = [ax.get_title() for ax in fig.axes]
    return found, titles, fig._suptitle.get_text() if fig._suptitle else ""


def nan_diagonal(matrix):
    matrix = as_array(matrix).copy()
    np.fill_diagonal(matrix, math.nan)
    return matrix


def same(a, b):
    return np.allclose(as_array(a), as_array(b), equal_nan=True)


def sample_logits(classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(classes, generator=g) * 3, torch.randn(classes, generator=g) * 3


# ------------------------------------------------------------------------------------- weights


@pytest.mark.parametrize("backend", BACKENDS)
def test_weight_heatmaps_draw_irw_erd_adw(backend):
    maps = analysis.weight_maps(6, 0.2)
    drawn, titles, title = panels(viz.weight_heatmaps(6, 0.2, backend=backend))
    assert len(drawn) == 3 and "d = 6" in title and "decay = 0.2" in title
    for panel, matrix in zip(drawn, (maps.irw, maps.erd, maps.adw)):
        assert panel["heatmap"].shape == (6, 6)
        assert same(panel["heatmap"], nan_diagonal(matrix))  # no pair on the diagonal
        assert same(panel["heatmap"], panel["heatmap"].T)
        assert panel["scale"][0] == 0.0
    adw = drawn[2]["heatmap"]
    assert np.nanargmax(adw) in (1, 6)  # the heaviest pair is ranks (1, 2): close and at the top


@pytest.mark.parametrize("backend", BACKENDS)
def test_weight_curves_and_share(backend):
    maps = analysis.weight_maps(5, 0.05)
    (curves,), _, _ = panels(viz.weight_curves(maps, backend=backend))
    assert set(curves["lines"]) == {f"ADW, from rank {i}" for i in range(1, 5)} | {"IRW"}
    for i in range(1, 5):
        assert same(curves["lines"][f"ADW, from rank {i}"], maps.by_distance()[i - 1])
    assert same(curves["lines"]["IRW"], [2 / (1.5 + k) for k in range(1, 5)])
    (share,), _, title = panels(viz.weight_share(maps, backend=backend))
    upper = share["heatmap"][np.triu_indices(5, 1)]
    assert upper.sum() + maps.topd_share == pytest.approx(1.0)
    assert f"{maps.topd_share:.1%}" in title


# ------------------------------------------------------------------------------------- one sample


@pytest.mark.parametrize("backend", BACKENDS)
def test_local_distributions(backend):
    student, teacher = sample_logits()
    rel = analysis.sample_relations(student_logits=student, teacher_logits=teacher, depth=5)
    drawn, _, _ = panels(viz.local_distributions(rel, backend=backend))
    assert same(drawn[0]["bars"]["teacher"], rel.teacher_global)
    assert same(drawn[1]["bars"]["student"], rel.student_local)
    assert drawn[1]["bars"]["student"].sum() == pytest.approx(1.0)
    for panel, pair in ((drawn[2], rel.teacher_pair), (drawn[3], rel.student_pair)):
        z = panel["heatmap"]
        assert same(z, nan_diagonal(pair)) and panel["scale"] == (0.0, 1.0)
        off = ~np.eye(5, dtype=bool)
        assert np.allclose((z + z.T)[off], 1.0)  # a pair's two probabilities


@pytest.mark.parametrize("backend", BACKENDS)
def test_pair_contributions_add_up_to_the_local_term(backend):
    student, teacher = sample_logits(seed=1)
    rel = analysis.sample_relations(student_logits=student, teacher_logits=teacher, depth=6, decay=0.1)
    drawn, _, title = panels(viz.pair_contributions(rel, backend=backend))
    kl, weight, contribution = (p["heatmap"] for p in drawn)
    upper = np.triu_indices(6, 1)
    assert same(kl[upper], rel.pair_kl) and same(weight[upper], rel.pair_weights)
    assert contribution[upper].sum() + rel.topd_contribution == pytest.approx(rel.local)
    assert f"local term {rel.local:.4f}" in title


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_bars_follow_the_student_ranking(backend):
    student, teacher = sample_logits(seed=2)
    grads = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=4, depth=5)
    (bars,), _, _ = panels(viz.gradient_bars(grads, student, target=4, max_classes=6, backend=backend))
    order = torch.argsort(student, descending=True)[:6]
    assert set(bars["bars"]) == {"KD", "DKD", "LDRRLD"}
    for name, heights in bars["bars"].items():
        assert same(heights, grads[name][order])


def test_gradient_bars_mark_the_target():
    student, teacher = sample_logits(seed=2)
    grads = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=4, depth=5)
    fig = viz.gradient_bars(grads, student, target=4, class_names=[f"c{i}" for i in range(10)])
    labels = list(fig.data[0].x)
    assert "c4*" in labels and labels == [
        f"c{c}*" if c == 4 else f"c{c}" for c in torch.argsort(student, descending=True)[:15].tolist()
    ]
    assert fig.layout.xaxis.title.text.endswith("(* the true class)"), "the mark is explained where it is shown"
    unmarked = viz.gradient_bars(grads, student)
    assert "*" not in unmarked.layout.xaxis.title.text


def test_inconsistent_sample_figure_arguments_are_refused():
    student, teacher = sample_logits(seed=2)
    rel = analysis.sample_relations(student_logits=student, teacher_logits=teacher, depth=5)
    with pytest.raises(ValueError, match="class_names has 9 names but there are 10 classes"):
        viz.local_distributions(rel, class_names=[f"c{i}" for i in range(9)])
    with pytest.raises(ValueError, match="class_names has 11 names but there are 10 classes"):
        viz.pair_contributions(rel, class_names=[f"c{i}" for i in range(11)])
    grads = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=4, depth=5)
    with pytest.raises(ValueError, match="has shape \\(10,\\) but the sample has 9 classes"):
        viz.gradient_bars(grads, student[:9])
    with pytest.raises(ValueError, match=r"target must be a class index in \[0, 10\), got -1"):
        viz.gradient_bars(grads, student, target=-1)
    with pytest.raises(ValueError, match="1-D logits"):
        viz.gradient_bars(grads, student[None])
    with pytest.raises(ValueError, match="max_classes must be an integer >= 1"):
        viz.gradient_bars(grads, student, max_classes=0)


# ------------------------------------------------------------------------------------- classes


def relation_data(classes=8, samples=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(samples) % classes
    teacher = torch.randn(samples, classes, generator=g) + 4 * torch.nn.functional.one_hot(labels, classes)
    students = {
        "KD": teacher + 0.3 * torch.randn(samples, classes, generator=g),
        "CE": teacher + 1.0 * torch.randn(samples, classes, generator=g),
    }
    superclass_of = torch.tensor([1, 0, 1, 0, 2, 2, 0, 1])[:classes]
    return teacher, students, labels, superclass_of


@pytest.mark.parametrize("backend", BACKENDS)
def test_class_mean_gaps_ordered_by_superclass(backend):
    teacher, students, labels, superclass_of = relation_data()
    fig = viz.class_mean_gaps(students, teacher, labels, superclass_of=superclass_of, gap_scale=2.5, backend=backend)
    drawn, titles, _ = panels(fig)
    # Two columns: the teacher (and an empty cell), then each student beside its gap to the teacher.
    assert len(drawn) == 6 and "heatmap" not in drawn[1]
    matrices, gap_panels = [drawn[0], drawn[2], drawn[4]], [drawn[3], drawn[5]]
    order = analysis.superclass_order(superclass_of)
    reorder = lambda m: m[order][:, order].numpy()  # noqa: E731
    means = {
        "teacher": analysis.class_mean_logits(teacher, labels),
        **{k: analysis.class_mean_logits(v, labels) for k, v in students.items()},
    }
    for panel, name in zip(matrices, means):
        assert same(panel["heatmap"], reorder(means[name]))
    scales = {panel["scale"] for panel in matrices}
    assert len(scales) == 1 and -min(scales)[0] == max(scales)[1]  # one scale, centred on zero
    # ... ending at the 99% quantile of the off-diagonal values, where the relations are
    off = ~torch.eye(8, dtype=torch.bool)
    expected = torch.quantile(torch.cat([m[off] for m in means.values()]).abs().double(), 0.99)
    assert max(scales)[1] == pytest.approx(float(expected))
    for panel, name in zip(gap_panels, students):
        gap = analysis.matrix_gap(student=means[name], teacher=means["teacher"])
        assert same(panel["heatmap"], reorder(gap.gap)) and tuple(panel["scale"]) == (0.0, 2.5)
        assert any(f"max {gap.max:.2f}, mean {gap.mean:.2f}" in t for t in titles)
    # Lines between the superclasses: after 3 classes of superclass 0 and 3 of superclass 1.
    if backend == "plotly":
        assert {shape.x0 for shape in fig.layout.shapes if shape.x0 == shape.x1} == {2.5, 5.5}
    else:
        vertical = [line.get_xdata() for line in fig.axes[0].lines if line.get_xdata()[0] == line.get_xdata()[1]]
        assert {x[0] for x in vertical} == {2.5, 5.5}


@pytest.mark.parametrize("backend", BACKENDS)
def test_correlation_gaps(backend):
    teacher, students, _, _ = relation_data(seed=1)
    drawn, _, title = panels(viz.correlation_gaps(students, teacher, backend=backend))
    for panel in (drawn[0], drawn[2], drawn[4]):
        z = panel["heatmap"]
        assert same(z, z.T) and np.allclose(np.diag(z), 1.0) and tuple(panel["scale"]) == (-1.0, 1.0)
        assert (np.abs(z) <= 1.0).all()
    correlation = analysis.logit_correlation
    gaps = [analysis.matrix_gap(student=correlation(s), teacher=correlation(teacher)) for s in students.values()]
    assert "gap = |teacher - student| on all cells" in title
    assert same(drawn[3]["heatmap"], gaps[0].gap)
    # Without a gap_scale, the gaps share one scale, up to the 99% quantile of the gaps shown.
    top = torch.quantile(torch.cat([g.gap.flatten() for g in gaps]).double(), 0.99)
    assert drawn[3]["scale"][1] == drawn[5]["scale"][1] == pytest.approx(float(top))


@pytest.mark.parametrize("backend", BACKENDS)
def test_class_mean_gaps_say_which_gap_they_show(backend):
    teacher, students, labels, _ = relation_data()
    _, _, title = panels(viz.class_mean_gaps(students, teacher, labels, backend=backend))
    assert "gap = |teacher - student| on all cells" in title
    drawn, titles, title = panels(
        viz.class_mean_gaps(students, teacher, labels, definition="mdistiller", backend=backend)
    )
    assert "gap = |teacher - student| / 3, diagonal zeroed (mdistiller)" in title
    means_t = analysis.class_mean_logits(teacher, labels)
    for panel, (name, logits) in zip((drawn[3], drawn[5]), students.items()):
        expected = ((means_t - analysis.class_mean_logits(logits, labels)).abs() / 3).fill_diagonal_(0.0)
        assert same(panel["heatmap"], expected) and tuple(panel["scale"]) == (0.0, 1.0)  # mdistiller's scale
        assert any(f"max {expected.max():.2f}, mean {expected.mean():.2f}" in t for t in titles)


def test_inconsistent_relation_grid_arguments_are_refused():
    teacher, students, labels, superclass_of = relation_data()
    with pytest.raises(ValueError, match="superclass_of lists 7 classes but there are 8"):
        viz.class_mean_gaps(students, teacher, labels, superclass_of=superclass_of[:7])
    with pytest.raises(ValueError, match="superclass_of lists 9 classes but there are 8"):
        viz.correlation_gaps(students, teacher, superclass_of=torch.cat([superclass_of, torch.tensor([0])]))
    with pytest.raises(ValueError, match="superclass_of must be a 1-D integer tensor"):
        viz.correlation_gaps(students, teacher, superclass_of=superclass_of.float())
    with pytest.raises(ValueError, match="class_names has 3 names but there are 8 classes"):
        viz.correlation_gaps(students, teacher, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"lie in \[0, 8\), found values from -1"):
        viz.class_mean_gaps(students, teacher, labels - 1)
    with pytest.raises(ValueError, match="1-D tensor of 160 class indices"):
        viz.class_mean_gaps(students, teacher, labels[:100])
    with pytest.raises(ValueError, match="student 'KD' has 7 classes but the teacher has 8"):
        viz.correlation_gaps({"KD": students["KD"][:, :7]}, teacher)
    with pytest.raises(ValueError, match="student 'KD' has logits of 100 samples but the teacher of 160"):
        viz.correlation_gaps({"KD": students["KD"][:100]}, teacher)
    with pytest.raises(ValueError, match="arguments are swapped"):
        viz.class_mean_gaps(teacher, students, labels)
    with pytest.raises(ValueError, match="gap_scale must be a finite number > 0"):
        viz.correlation_gaps(students, teacher, gap_scale=0.0)


def test_relation_grids_need_a_student():
    teacher, _, labels, _ = relation_data()
    with pytest.raises(ValueError, match="at least one student"):
        viz.class_mean_gaps({}, teacher, labels)


# ------------------------------------------------------------------------------------- t-SNE


@pytest.mark.parametrize("backend", BACKENDS)
def test_tsne_colours_twenty_superclasses_apart(backend):
    classes, groups = 100, 20
    labels = torch.arange(400) % classes
    superclass_of = torch.arange(classes) % groups
    names = [f"class{c}" for c in range(classes)]
    g = torch.Generator().manual_seed(0)
    embeddings = {"teacher": torch.randn(400, 2, generator=g), "student": torch.randn(400, 2, generator=g)}
    drawn, titles, title = panels(
        viz.tsne_scatter(
            embeddings,
            labels,
            class_names=names,
            superclass_of=superclass_of,
            superclass_names=[f"super{s}" for s in range(groups)],
            backend=backend,
        )
    )
    assert "superclass" in title and {"teacher", "student"} <= set(titles)
    colours = [{name: str(c) for name, (c, _, _) in panel["points"].items()} for panel in drawn]
    assert len(colours[0]) == groups and len(set(colours[0].values())) == groups
    assert colours[0] == colours[1]  # a group keeps its colour across panels
    color, xs, hover = drawn[0]["points"]["super3"]
    assert len(xs) == 20 and same(np.sort(xs), np.sort(embeddings["teacher"][superclass_of[labels] == 3, 0]))
    if hover is not None:  # plotly names every point on hover
        assert set(hover) == {names[c] for c in range(classes) if c % groups == 3}


def test_tsne_colours_by_class_when_few_and_checks_shapes():
    labels = torch.arange(30) % 10
    fig = viz.tsne_scatter({"m": torch.zeros(30, 2)}, labels)
    assert len({trace.marker.color for trace in fig.data}) == 10
    with pytest.raises(ValueError, match="needs superclass_of"):
        viz.tsne_scatter({"m": torch.zeros(30, 2)}, labels, color_by="superclass")
    with pytest.raises(ValueError, match=r"expected \(30, 2\)"):
        viz.tsne_scatter({"m": torch.zeros(29, 2)}, labels)


def test_tsne_refuses_labels_and_groups_that_do_not_fit():
    labels = torch.arange(30) % 10
    points = {"m": torch.zeros(30, 2)}
    names = [f"c{i}" for i in range(10)]
    with pytest.raises(ValueError, match=r"lie in \[0, 10\), found values from -1"):
        viz.tsne_scatter(points, labels - 1, class_names=names)  # -1 must not become the last class
    with pytest.raises(ValueError, match=r"lie in \[0, 9\), found values from 0 to 9"):
        viz.tsne_scatter(points, labels, class_names=names[:9])
    with pytest.raises(ValueError, match="superclass_of lists 9 classes but there are 10"):
        viz.tsne_scatter(points, labels, class_names=names, superclass_of=torch.arange(9) % 3)
    with pytest.raises(ValueError, match=r"lie in \[0, 9\)"):
        viz.tsne_scatter(points, labels, superclass_of=torch.arange(9) % 3)  # one class short
    with pytest.raises(ValueError, match="2 superclass names for 3 superclasses"):
        viz.tsne_scatter(
            points, labels, superclass_of=torch.arange(10) % 3, superclass_names=["a", "b"], color_by="superclass"
        )
    with pytest.raises(ValueError, match="integer class indices"):
        viz.tsne_scatter(points, labels.float())
    with pytest.raises(ValueError, match="non-empty mapping"):
        viz.tsne_scatter({}, labels)


def test_palette_is_distinct():
    assert len(set(viz.palette(MAX_DISTINCT_GROUPS))) == MAX_DISTINCT_GROUPS
    assert len(set(viz.palette(100))) == 100


# ------------------------------------------------------------------------------------- fidelity


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("measure", ["pair_agreement", "pair_kl"])
def test_fidelity_heatmaps(backend, measure):
    teacher, students, _, _ = relation_data()
    fids = analysis.compare_fidelity(students, teacher, depth=4)
    drawn, titles, title = panels(viz.fidelity_heatmaps(fids, measure=measure, backend=backend))
    for panel, (name, fid) in zip(drawn, fids.items()):
        assert same(panel["heatmap"], analysis.pair_matrix(getattr(fid, measure), 4, diagonal=math.nan))
        assert any(
            name in t
            and f"{fid.kendall.mean().item():.3f}" in t
            and f"all classes {fid.kendall_all.mean().item():.3f}" in t
            for t in titles
        )
    assert "favours LDRRLD by construction" in title
    if measure == "pair_agreement":
        assert all(tuple(p["scale"]) == (0.0, 1.0) for p in drawn)
    with pytest.raises(ValueError, match="unknown measure"):
        viz.fidelity_heatmaps(fids, measure="accuracy")


def test_fidelity_heatmaps_refuse_students_measured_differently():
    teacher, students, _, _ = relation_data()
    fids = {
        "KD": analysis.relation_fidelity(student_logits=students["KD"], teacher_logits=teacher, depth=4),
        "CE": analysis.relation_fidelity(
            student_logits=students["CE"], teacher_logits=teacher, depth=4, temperature=2.0
        ),
    }
    viz.fidelity_heatmaps(fids)  # order agreement does not depend on T
    with pytest.raises(ValueError, match="different temperatures"):
        viz.fidelity_heatmaps(fids, measure="pair_kl")
    with pytest.raises(ValueError, match="no students to draw"):
        viz.fidelity_heatmaps({})


def test_format_table():
    rows = [{"student": "KD", "top1": 71.25, "n": 3}, {"student": "LDRRLD", "top1": 72.5, "n": 10}]
    text = viz.format_table(rows, digits=2).splitlines()
    assert text[0].split() == ["student", "top1", "n"]
    assert text[2] == "KD       71.25   3" and text[3] == "LDRRLD   72.50  10"
    with pytest.raises(ValueError, match="other columns"):
        viz.format_table([{"a": 1}, {"b": 2}])


# ------------------------------------------------------------------------------------- curves


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_curves(backend):
    histories = {
        "kd": SimpleNamespace(rows=[{"epoch": e, "test_top1": 10.0 * e, "loss": 1 / e} for e in (1, 2, 3)]),
        "ce": SimpleNamespace(
            rows=[{"epoch": 1, "test_top1": 5.0}, {"epoch": 2, "loss": 0.7}, {"epoch": 3, "test_top1": 20.0}]
        ),
    }
    drawn, titles, _ = panels(viz.training_curves(histories, ["test_top1", "loss"], backend=backend))
    assert same(drawn[0]["lines"]["kd"], [10, 20, 30])
    assert same(drawn[0]["lines"]["ce"], [5, math.nan, 20])  # epoch 2 had no test: a gap
    assert same(drawn[1]["lines"]["kd"], [1, 0.5, 1 / 3])
    with pytest.raises(ValueError, match="no history has a column 'top5'; available: epoch, loss, test_top1"):
        viz.training_curves(histories, "top5")
    with pytest.raises(ValueError, match="has no rows"):
        viz.training_curves({"x": object()})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("epochs", [4, 10, 23])
def test_training_curves_label_whole_epochs_and_name_metrics_for_people(backend, epochs):
    """Read back from the figure: the epoch axis is labelled at whole epochs only (no 2.5 or 7.5), at
    most ten of them, and the panels say "test top-1 (%)", not the column name ``test_top1``."""
    rows = [{"epoch": e, "test_top1": 10.0 + e, "train_loss": 1 / e} for e in range(1, epochs + 1)]
    fig = viz.training_curves({"kd": SimpleNamespace(rows=rows)}, ["test_top1", "train_loss"], backend=backend)
    if hasattr(fig, "data"):  # plotly
        axes = [fig.layout.xaxis, fig.layout.xaxis2]
        ticks = [list(axis.tickvals) for axis in axes]
        labels = [a.text for a in fig.layout.annotations] + [fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text]
    else:
        fig.savefig(io.BytesIO(), format="png")  # lays the figure out as its picture
        axes = fig.axes[:2]
        ticks = [[t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]] for ax in axes]
        labels = [ax.get_title() for ax in axes] + [ax.get_ylabel() for ax in axes]
        shown = [[t.get_text() for t in ax.get_xticklabels()] for ax in axes]
        assert all("." not in text for row in shown for text in row), shown
    for row in ticks:
        assert row and all(float(t).is_integer() for t in row), f"fractional epochs labelled: {row}"
        assert 1 <= min(row) and max(row) <= epochs and len(row) <= 10
    assert "test top-1 (%)" in labels and "training loss" in labels
    assert not any("_" in label for label in labels), labels


def test_draw_rejects_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'bokeh'"):
        viz.weight_heatmaps(backend="bokeh")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_figures_take_tensors_on_the_gpu():
    teacher, students, labels, superclass_of = relation_data()
    teacher, labels, superclass_of = teacher.cuda(), labels.cuda(), superclass_of.cuda()
    students = {name: logits.cuda() for name, logits in students.items()}
    drawn, _, _ = panels(viz.class_mean_gaps(students, teacher, labels, superclass_of=superclass_of))
    order = analysis.superclass_order(superclass_of.cpu())
    expected = analysis.class_mean_logits(teacher.cpu(), labels.cpu())[order][:, order]
    assert same(drawn[0]["heatmap"], expected)
    viz.correlation_gaps(students, teacher, superclass_of=superclass_of)
    fids = analysis.compare_fidelity(students, teacher, depth=4)
    assert same(
        panels(viz.fidelity_heatmaps(fids))[0][0]["heatmap"],
        analysis.pair_matrix(fids["KD"].pair_agreement.cpu(), 4, diagonal=math.nan),
    )
    viz.tsne_scatter(
        {"t": torch.randn(160, 2, device="cuda")}, labels, superclass_of=superclass_of, color_by="superclass"
    )
    student, teacher_row = (x.cuda() for x in sample_logits())
    rel = analysis.sample_relations(student_logits=student, teacher_logits=teacher_row, depth=5)
    assert rel.top_classes.device.type == "cuda"
    for fig in (
        viz.local_distributions(rel),
        viz.pair_contributions(rel),
        viz.gradient_bars(
            analysis.logit_gradients(student_logits=student, teacher_logits=teacher_row, target=1, depth=5), student
        ),
    ):
        assert fig.data


# ------------------------------------------------------------------- cost at 10,000 classes
# Every figure draws at most MAX_CLASSES classes, ranks or colour groups, refuses more before any
# work (a one-line ValueError that names the remedy) or draws a chosen subset; each test runs at
# C = 10,000 and takes a fraction of a second.

WIDE = 10_000


def wide_data(samples=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(samples, WIDE, generator=g)
    return teacher, {"KD": teacher + 0.3 * torch.randn(samples, WIDE, generator=g)}, torch.arange(samples) % 20


def test_relation_figures_at_10000_classes_draw_a_subset():
    teacher, students, labels = wide_data()
    with pytest.raises(ValueError, match=r"class_mean_gaps draws 10000 x 10000 .* pass classes="):
        viz.class_mean_gaps(students, teacher, labels)
    chosen = [4, 0, 13]
    superclass_of = torch.arange(WIDE) % 7
    names = [f"c{c}" for c in range(WIDE)]
    drawn, _, _ = panels(
        viz.class_mean_gaps(students, teacher, labels, classes=chosen, superclass_of=superclass_of, class_names=names)
    )
    order = analysis.superclass_order(superclass_of[chosen])
    expected = analysis.class_mean_logits(teacher, labels, classes=chosen)[order][:, order]
    assert same(drawn[0]["heatmap"], expected)
    drawn, _, _ = panels(viz.correlation_gaps(students, teacher, classes=chosen))
    assert same(drawn[0]["heatmap"], analysis.logit_correlation(teacher[:, chosen]))
    with pytest.raises(ValueError, match="pass fewer classes"):
        viz.class_mean_gaps(students, teacher, labels, classes=range(300))


def test_tsne_scatter_at_10000_classes_colours_by_superclass():
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(2000) * 7 % WIDE
    points = torch.randn(2000, 2, generator=g)
    with pytest.raises(ValueError, match=r"colour 10000 classes apart .* at most 256 .* pass superclass_of="):
        viz.tsne_scatter({"teacher": points}, labels, class_names=[str(c) for c in range(WIDE)])
    drawn, _, _ = panels(viz.tsne_scatter({"teacher": points}, labels, superclass_of=torch.arange(WIDE) % 20))
    assert len(drawn[0]["points"]) == 20


def test_one_sample_figures_at_10000_classes():
    student, teacher = sample_logits(WIDE, seed=2)
    rel = analysis.sample_relations(student_logits=student, teacher_logits=teacher)
    viz.local_distributions(rel)
    viz.pair_contributions(rel)
    gradients = analysis.logit_gradients(student_logits=student, teacher_logits=teacher, target=0)
    (bars,), _, _ = panels(viz.gradient_bars(gradients, student, max_classes=15))
    assert all(len(values) == 15 for values in bars["bars"].values())


def test_fidelity_figures_at_10000_classes():
    teacher, students, _ = wide_data(samples=8)
    fids = analysis.compare_fidelity(students, teacher)
    viz.fidelity_heatmaps(fids)
    viz.fidelity_vs_accuracy(fids, {"KD": 70.0})
    deep = {"KD": dataclasses.replace(fids["KD"], depth=WIDE)}  # a depth of 10,000 ranks is refused unread
    with pytest.raises(ValueError, match=r"fidelity_heatmaps draws 10000 x 10000 .* at most 256 ranks"):
        viz.fidelity_heatmaps(deep)
