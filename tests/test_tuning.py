"""Equal tuning: every method's grid, its widening rule, and the selection the study makes with them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ldrrld_core.losses import create_loss
from ldrrld_core.study import protocol
from ldrrld_core.study.protocol import StudyConfig, select_points, study_recipe
from ldrrld_core.study.tuning import DEFAULT_TUNING, Axis, Point, edges, initial_points, widenings


def test_the_first_grid_is_the_full_product_of_rates_and_settings():
    kd = DEFAULT_TUNING["kd"]
    points = initial_points([0.1, 0.2, 0.4], kd)
    assert len(points) == 3 * 3 * 2 and len(set(points)) == len(points)
    assert {p.lr for p in points} == {0.1, 0.2, 0.4}
    assert {p.values for p in points} == {(t, w) for t in (2.0, 4.0, 8.0) for w in ("hinton", "0.1/0.9")}
    assert initial_points([0.1], ()) == [Point(0.1)]


def test_every_setting_names_real_loss_hyperparameters():
    assert Point(0.1, (4.0, "hinton")).loss_hparams(DEFAULT_TUNING["kd"]) == {
        "temperature": 4.0,
        "ce_weight": 1.0,
        "kd_weight": 1.0,
    }
    assert Point(0.1, (0.5,)).loss_hparams(DEFAULT_TUNING["ldrrld"]) == {"alpha": 5.25, "beta": 3.5}
    assert Point(0.1, (2.0,)).loss_hparams(DEFAULT_TUNING["dkd"]) == {"beta": 2.0}
    for method, axes in DEFAULT_TUNING.items():  # every point builds its loss
        for point in initial_points([0.1], axes):
            loss = create_loss(method, **point.loss_hparams(axes))
            assert all(loss.hparams()[k] == v for k, v in point.loss_hparams(axes).items())
    assert Point(0.1, (8.0, "0.1/0.9")).folder(DEFAULT_TUNING["kd"]) == "T8-weights_0.1-0.9"
    assert Point(0.1, (8.0, "0.1/0.9")).setting_label(DEFAULT_TUNING["kd"]) == "T 8, weights 0.1/0.9"
    assert Point(0.1).folder(()) == "default"


def test_axes_refuse_what_cannot_be_tuned():
    with pytest.raises(ValueError, match="distinct values"):
        Axis("T", (2.0, 2.0))
    with pytest.raises(ValueError, match="positive numbers"):
        Axis("T", (0.0, 2.0))
    with pytest.raises(ValueError, match="hyperparameters of each"):
        Axis("weights", ("a", "b"), {"a": {}})


def test_edges_and_widenings_of_a_point():
    axes = (Axis("beta", (1.0, 2.0, 4.0)),)
    tried = initial_points([0.1, 0.2, 0.4], axes)
    assert edges(Point(0.2, (2.0,)), axes, tried) == {}
    assert edges(Point(0.4, (1.0,)), axes, tried) == {"lr": "largest", "beta": "smallest"}
    assert widenings(Point(0.4, (1.0,)), axes, tried) == [Point(0.8, (1.0,)), Point(0.4, (0.5,))]
    alone = [*tried, Point(0.8, (1.0,))]  # beta was tried only at 1 on the line lr = 0.8
    assert edges(Point(0.8, (1.0,)), axes, alone) == {"lr": "largest", "beta": "alone"}
    assert set(widenings(Point(0.8, (1.0,)), axes, alone)) == {
        Point(1.6, (1.0,)),
        Point(0.8, (0.5,)),
        Point(0.8, (2.0,)),
    }
    labelled = DEFAULT_TUNING["kd"]  # a labelled axis never widens and is never an edge
    kd = initial_points([0.1, 0.2, 0.4], labelled)
    assert "weights" not in edges(Point(0.2, (4.0, "hinton")), labelled, kd)


def _score(lr: float, beta: float) -> float:
    """A smooth hill on the log2 lattice, peaked at lr = 1.6 (outside the first grid), beta = 0.5."""
    return 90 - (math.log2(lr / 1.6)) ** 2 - 0.7 * (math.log2(beta / 0.5)) ** 2


def test_widening_walks_to_a_peak_outside_the_first_grid_and_stops_inside():
    axes = (Axis("beta", (1.0, 2.0, 4.0)),)
    tried = initial_points([0.1, 0.2, 0.4], axes)
    for _ in range(20):
        best = max(tried, key=lambda p: _score(p.lr, *p.values))
        new = widenings(best, axes, tried)
        if not new:
            break
        tried += new
    assert best == Point(1.6, (0.5,)) and edges(best, axes, tried) == {}
    lattice = [Point(0.1 * 2**i, (0.125 * 2**j,)) for i in range(8) for j in range(8)]  # brute force
    assert max(lattice, key=lambda p: _score(p.lr, *p.values)) == best


def test_the_study_selects_by_the_widened_grid_on_its_own_seeds(monkeypatch, tmp_path):
    """select_points with the training replaced by the hill above: the same choice, the seeds it used,
    the score averaged over the last epochs, and every method tuned by the same rule."""
    config = StudyConfig(
        methods=("ce", "kd", "dkd"),
        seeds=(0, 1),
        selection_seeds=(7, 8),
        select_last=2,
        tuning={"dkd": (Axis("beta", (1.0, 2.0, 4.0)),), "kd": (Axis("T", (2.0, 4.0), {"temperature": 1.0}),)},
    )
    recipe = study_recipe(config)
    trained = []

    def fake_train_all(plan, out_dir, **options):
        histories = {}
        for spec, run in plan.items():
            assert run.seed in (7, 8) and run.loss == spec[0] and run.lr == spec[2]
            trained.append(spec)
            setting = run.loss_options.get(run.loss, {})
            peak = _score(run.lr, setting.get("beta", setting.get("temperature", 0.5)))
            noise = 0.5 if run.seed == 7 else -0.5  # averages out over the two seeds
            histories[spec] = [{"epoch": 1, "val_top1": 0.0}, {"epoch": 2, "val_top1": peak + 2 * noise}]
        return histories

    monkeypatch.setattr(protocol, "_train_all", fake_train_all)
    selection, _ = select_points(config, recipe, [0.1, 0.2, 0.4], Path(tmp_path), {})
    dkd = selection["dkd"][0]
    assert dkd["point"] == Point(1.6, (0.5,)) and dkd["scores"] == pytest.approx(
        [_score(1.6, 0.5) / 2 + 0.5, _score(1.6, 0.5) / 2 - 0.5]
    )
    assert dkd["score"] == pytest.approx(_score(1.6, 0.5) / 2) and dkd["se"] == pytest.approx(0.5)
    assert selection["ce"][0]["point"].lr == 1.6  # the rate alone widens the same way
    assert max(e["round"] for e in selection["dkd"]) >= 2
    assert all(e["score"] <= dkd["score"] for e in selection["dkd"])
