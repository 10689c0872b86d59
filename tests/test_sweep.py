"""``ldrrld sweep``: the grid, the shape of sweep.json, statistics that recompute from the seeds
(paired p and Holm within each family), findings computed from the numbers, reference lines labelled
with their runs, the study's rate and setting, the same runs as the study, and a killed sweep that
resumes."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ldrrld_core.cli import main
from ldrrld_core.provenance import SWEEP_SOURCES, numbers_fingerprint, source_commit
from ldrrld_core.study import StudyConfig, summarize
from ldrrld_core.study import sweep as sweep_module
from ldrrld_core.study.sweep import (
    MEASURES,
    QUICK_SWEEP,
    SweepConfig,
    grid_points,
    load_sweep,
    point_name,
    run_sweep,
    sweep_slice,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """``ldrrld sweep --quick`` run once through the command line: (out_dir, sweep, its stdout)."""
    out_dir = tmp_path_factory.mktemp("sweep-quick")
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["sweep", "--quick", "--out-dir", str(out_dir), "--no-progress", "--quiet"]) == 0
    return out_dir, load_sweep(out_dir), buffer.getvalue()


def test_grid_is_depth_by_decay_plus_temperatures_and_caps_depth_at_the_classes():
    points, dropped = grid_points(SweepConfig(), num_classes=100)
    assert len(points) == 7 * 4 + 2 and dropped == []
    assert (7, 0.05, 2.0) in points and (7, 0.05, 8.0) in points and points.count((7, 0.05, 4.0)) == 1
    assert {p[2] for p in points if p[:2] != (7, 0.05)} == {4.0}
    points, dropped = grid_points(SweepConfig(), num_classes=10)
    assert dropped == [15, 20] and max(p[0] for p in points) == 10 and len(points) == 5 * 4 + 2


def test_bad_sweep_settings_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="depths must be integers >= 2"):
        SweepConfig(depths=(1, 7))
    with pytest.raises(ValueError, match="decays must be >= 0"):
        SweepConfig(decays=(-0.1,))
    with pytest.raises(ValueError, match="must not repeat"):
        SweepConfig(seeds=(0, 0))
    with pytest.raises(ValueError, match="references must be baselines"):
        SweepConfig(references=("ldrrld",))
    with pytest.raises(ValueError, match="references must be baselines"):
        SweepConfig(study=StudyConfig(methods=("ce", "kd", "ldrrld")), references=("dkd",))


def test_quick_sweep_writes_every_point_and_seed_in_the_documented_shape(quick):
    out_dir, sweep, stdout = quick
    points, _ = grid_points(QUICK_SWEEP, num_classes=100)
    assert [(p["depth"], p["decay"], p["temperature"]) for p in sweep["points"]] == points
    for point in sweep["points"]:
        assert point["status"] == "complete" and point["missing_seeds"] == []
        assert [s["seed"] for s in point["per_seed"]] == list(QUICK_SWEEP.seeds)
        for seed in point["per_seed"]:
            assert set(MEASURES) <= set(seed)
            assert 0 <= seed["test_top1_last"] <= 100 and -1 <= seed["kendall_tau"] <= 1
            assert 0 <= seed["topd_pair_agreement"] <= 1 and seed["kl_all"] >= 0 and seed["seconds"] > 0
    assert set(sweep["references"]) == {"ce", "kd", "ldrrld"}
    assert (
        sweep["protocol"]["lr"]
        == json.loads((out_dir / "study" / "results.json").read_text())["methods"]["ldrrld"]["lr"]
    )
    # what decided the numbers: the code's fingerprint and commit, the settings every run used
    assert sweep["code"] == {"fingerprint": numbers_fingerprint(*SWEEP_SOURCES), "commit": source_commit()}
    study = json.loads((out_dir / "study" / "results.json").read_text())["methods"]
    assert sweep["protocol"]["settings"] == {m: study[m]["setting"] for m in ("ldrrld", "kd")}, "the study's settings"
    # every reference number names its runs: the study's five... here two seeds, the sweep's own two
    kd = sweep["references"]["kd"]
    assert kd["study"]["source"] == "study, seeds 0, 1" and kd["runs_source"] == "sweep reference runs, seeds 0, 1"
    assert "runs_source" not in sweep["references"]["ldrrld"]
    assert sweep["progress"] == {"runs_done": 10, "runs_planned": 10, "points_complete": 5, "points": 5}
    assert json.loads(stdout.strip().splitlines()[-1])["runs_done"] == 10
    assert (out_dir / "sweep.md").read_text().count("\n| 7 | 0.05 | 4 |") == 1


def test_summaries_recompute_from_the_per_seed_numbers(quick):
    _, sweep, _ = quick
    entries = sweep["points"] + [sweep["references"]["kd"]]
    for entry in entries:
        for measure in MEASURES:
            expected = summarize([s[measure] for s in entry["per_seed"]])
            assert math.isclose(entry[measure]["mean"], expected["mean"], abs_tol=1e-4)
            assert math.isclose(entry[measure]["std"], expected["std"], abs_tol=1e-4)
            for got, want in zip(entry[measure]["ci95"], expected["ci95"]):
                assert math.isclose(got, want, abs_tol=1e-4)
    default = next(p for p in sweep["points"] if p["name"] == "d7-decay0.05-T4")
    assert default["delta_vs_default"] is None  # not compared with itself, not in the family
    _check_family(sweep, "delta_vs_default", default["per_seed"], "vs_default")
    _check_family(sweep, "delta_vs_kd", sweep["references"]["kd"]["per_seed"], "vs_kd")


def _naive_holm(p_values):
    """Holm's step-down adjustment written out: sort, multiply by (m - rank), keep it monotone, cap at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _check_family(sweep, key, baseline, family):
    """Each point's comparison recomputes from the seeds: its mean, its t-test p (scipy on the differences),
    and its Holm p within every comparison of the family; the family's size counts them."""
    from scipy import stats

    base = {s["seed"]: s["test_top1_last"] for s in baseline}
    found = [(p, p[key]) for p in sweep["points"] if p[key] is not None]
    assert sweep["families"][family]["size"] == len(found) > 0
    raw = []
    for point, verdict in found:
        differences = [s["test_top1_last"] - base[s["seed"]] for s in point["per_seed"]]
        assert verdict["n"] == len(differences) and verdict["family"] == family
        assert math.isclose(verdict["mean"], sum(differences) / len(differences), abs_tol=1e-4)
        if len(set(differences)) > 1:
            assert math.isclose(verdict["p"], stats.ttest_1samp(differences, 0).pvalue, rel_tol=1e-4)
        raw.append(verdict["p"])
    for (_, verdict), expected in zip(found, _naive_holm(raw)):
        assert math.isclose(verdict["p_holm"], expected, rel_tol=1e-4, abs_tol=1e-9)
        low, high = verdict["ci95"]
        assert verdict["direction"] == (
            0 if not (verdict["p_holm"] < 0.05 and (low > 0 or high < 0)) else (1 if verdict["mean"] > 0 else -1)
        )


def test_default_point_and_references_repeat_the_studys_runs_exactly(quick):
    """Same teacher, split, schedule, lr and seeds as the study: the default point is the study's LDRRLD."""
    out_dir, sweep, _ = quick
    study = json.loads((out_dir / "study" / "results.json").read_text())
    default = next(p for p in sweep["points"] if p["name"] == "d7-decay0.05-T4")
    for name, entry in (("ldrrld", default), ("kd", sweep["references"]["kd"])):
        ours = {s["seed"]: (s["test_top1_last"], s["test_top1_best_val"]) for s in entry["per_seed"]}
        theirs = {s["seed"]: (s["test_top1_last"], s["test_top1_best_val"]) for s in study["methods"][name]["per_seed"]}
        assert ours == {seed: theirs[seed] for seed in ours}


def test_results_of_another_problem_are_refused(quick):
    out_dir, _, _ = quick
    with pytest.raises(ValueError, match="a study of another problem"):
        run_sweep(SweepConfig(), out_dir / "other", results=out_dir / "study" / "results.json", progress=False)


def test_a_killed_sweep_resumes_where_it_stopped(quick, tmp_path, monkeypatch):
    """Kill a sweep process after its first new run; the rerun trains only the runs it had not finished,
    and they give the same numbers as an uninterrupted sweep."""
    source, complete, _ = quick
    out_dir = tmp_path / "sweep"
    shutil.copytree(source / "study", out_dir / "study")
    shutil.copytree(source / "runs", out_dir / "runs")
    removed = [("d2-decay0-T4", 1), ("d7-decay0-T4", 0), ("reference-kd", 1)]
    for name, seed in removed:
        (out_dir / "runs" / name / f"seed{seed}.json").unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "ldrrld_core",
        "sweep",
        "--quick",
        "--out-dir",
        str(out_dir),
        "--no-progress",
        "--quiet",
    ]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while sum((out_dir / "runs" / n / f"seed{s}.json").is_file() for n, s in removed) < 1:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the sweep process trained nothing in 4 minutes"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = [spec for spec in removed if (out_dir / "runs" / spec[0] / f"seed{spec[1]}.json").is_file()]
    assert 1 <= len(finished) < len(removed)

    partial = load_sweep(out_dir)  # written after every run: valid, and says what is missing
    assert partial["progress"]["runs_done"] < 10 and partial["progress"]["points_complete"] < 5
    gaps = [p for p in partial["points"] if p["missing_seeds"]]
    assert gaps and all(p["status"] == "partial" for p in gaps)

    trained = []
    measure = sweep_module._measure_one
    monkeypatch.setattr(
        sweep_module, "_measure_one", lambda recipe, *args: trained.append(recipe) or measure(recipe, *args)
    )
    resumed = run_sweep(QUICK_SWEEP, out_dir, run_study_first=True, progress=False)
    retrained = sorted(
        (
            r["loss"]
            if r["loss"] != "ldrrld"
            else point_name(
                (
                    r["loss_options"]["ldrrld"]["depth"],
                    r["loss_options"]["ldrrld"]["decay"],
                    r["loss_options"]["ldrrld"]["temperature"],
                )
            ),
            r["seed"],
        )
        for r in trained
    )
    expected = sorted(("kd" if n == "reference-kd" else n, s) for n, s in removed if (n, s) not in finished)
    assert retrained == expected

    def numbers(sweep):
        entries = {p["name"]: p["per_seed"] for p in sweep["points"]}
        entries["kd"] = sweep["references"]["kd"]["per_seed"]
        return {
            name: [{k: v for k, v in s.items() if k != "seconds"} for s in seeds] for name, seeds in entries.items()
        }

    assert numbers(resumed) == numbers(complete)


def test_slices_show_points_not_run_as_gaps(quick, tmp_path):
    out_dir, sweep, _ = quick
    line = sweep_slice(sweep, "test_top1_last", along="depth", decay=0.0)
    assert line["x"] == [2, 7] and None not in line["mean"]
    expected = next(p for p in sweep["points"] if p["name"] == "d7-decay0-T4")["test_top1_last"]
    assert line["mean"][1] == expected["mean"] and [line["low"][1], line["high"][1]] == expected["ci95"]
    assert sweep_slice(sweep, "kendall_tau", along="temperature")["x"] == [4.0, 8.0]
    off_grid = sweep_slice(sweep, "kendall_tau", along="depth", temperature=8.0)  # d 2, T 8: not in grid
    assert off_grid["mean"][0] is None
    thinned = json.loads(json.dumps(sweep))
    for point in thinned["points"]:
        if point["name"] == "d2-decay0-T4":
            point["per_seed"] = point["per_seed"][:1]
            point.update({m: summarize([s[m] for s in point["per_seed"]]) for m in MEASURES})
        if point["name"] == "d7-decay0-T4":
            point.update({"per_seed": [], **{m: None for m in MEASURES}})
    line = sweep_slice(thinned, "test_top1_last", along="depth", decay=0.0)
    assert line["mean"][0] is not None and line["low"][0] is None and line["mean"][1] is None
    assert line["seeds"] == [1, 0]
    with pytest.raises(ValueError, match="unknown measure"):
        sweep_slice(sweep, "accuracy", along="depth")
    with pytest.raises(ValueError, match="along must be one of"):
        sweep_slice(sweep, "kl_all", along="alpha")


def test_committed_sweep_recomputes_from_its_seeds():
    sweep = load_sweep(ROOT / "docs" / "sweep.json")
    assert sweep["protocol"]["seeds"] == [0, 1, 2]
    for entry in sweep["points"]:
        if len(entry["per_seed"]) >= 2:
            for measure in MEASURES:
                expected = summarize([s[measure] for s in entry["per_seed"]])
                assert math.isclose(entry[measure]["mean"], expected["mean"], abs_tol=1e-4)
        seen = {r["seed"] for r in entry["per_seed"]} | set(entry["diverged_seeds"])
        assert entry["missing_seeds"] == [s for s in sweep["protocol"]["seeds"] if s not in seen]
    assert (ROOT / "docs" / "sweep.md").read_text(encoding="utf-8") == sweep_module.render_sweep(sweep)
    assert sweep_module.with_comparisons(sweep) == sweep, "docs/sweep.json's comparisons recompute from its seeds"


def test_committed_sweep_is_complete_and_the_benchmarks_page_quotes_it():
    """Every grid point of docs/sweep.json has its three seeds, and docs/benchmarks.md's grid table is the file's."""
    sweep = load_sweep(ROOT / "docs" / "sweep.json")
    assert sweep["progress"]["runs_done"] == sweep["progress"]["runs_planned"] == 90
    assert all(len(point["per_seed"]) == 3 and point["status"] == "complete" for point in sweep["points"])
    assert {(p["depth"], p["decay"]) for p in sweep["points"] if p["temperature"] == 4} == {
        (d, g) for d in (2, 3, 5, 7, 10, 15, 20) for g in (0.0, 0.05, 0.1, 0.2)
    }
    assert all(len(reference["per_seed"]) == 3 for name, reference in sweep["references"].items() if name != "ldrrld")
    assert "/work/" not in json.dumps(sweep), "sweep.json records no machine-specific absolute path"
    assert sweep_module.grid_markdown(sweep) in (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")


def test_the_prose_quotes_the_committed_sweeps_numbers():
    """docs/benchmarks.md and the README quote docs/sweep.json: the family's size, the one point resolved
    from the default and the raw p-values Holm does not keep, that d = 2 does not collapse, the bound
    along d, the detectable gaps and that no Kendall tau step is resolved (a rerun that changes them
    fails here until the sentences are rewritten from the new file)."""
    sweep = load_sweep(ROOT / "docs" / "sweep.json")
    page = " ".join((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8").split())
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    versus = {p["name"]: p["delta_vs_default"] for p in sweep["points"] if p["delta_vs_default"]}
    assert len(versus) == sweep["families"]["vs_default"]["size"] == 29 and "over its 29 comparisons" in readme
    resolved = {name: v for name, v in versus.items() if v["direction"]}
    assert list(resolved) == ["d10-decay0-T4"] and resolved["d10-decay0-T4"]["p_holm"] < 0.05
    lead = resolved["d10-decay0-T4"]
    quoted = f"+{lead['mean']:.2f} [+{lead['ci95'][0]:.2f}, +{lead['ci95'][1]:.2f}]"
    assert f"`d = 10` without decay, {quoted} (Holm-adjusted p {lead['p_holm']:.3f})" in page
    assert f"`d = 10` without decay, by {quoted}" in readme
    neighbours = [versus["d10-decay0.05-T4"], versus["d7-decay0-T4"]]
    assert not any(v["direction"] for v in neighbours) and "its neighbours are not resolved" in readme
    raw = [name for name, v in versus.items() if v["p"] < 0.05 and not v["direction"]]
    assert len(raw) == 2 and "two other raw p-values below 0.05 do not survive Holm" in page
    means = [p["test_top1_last"]["mean"] for p in sweep["points"]]
    assert f"between {min(means):.1f}% and {max(means):.1f}%" in page
    assert not any(p["collapsed_seeds"] for p in sweep["points"]) and "none of them does" in page
    assert f"below CE's study interval, {sweep['collapse']['threshold']:.2f}" in page
    along = [versus[f"d{d}-decay0.05-T4"] for d in (3, 5, 10, 15, 20)]
    high, low = max(v["ci95"][1] for v in along), min(v["ci95"][0] for v in along)
    assert f"at most {high:.2f} points better and at most {-low:.2f} points worse" in page
    assert round(max(high, -low)) == 6 and "bound the differences to about 6 points" in readme
    detect = [v["detectable"] for v in along]
    assert f"true gaps of {min(detect):.2f} to {max(detect):.2f} points" in page
    scales = [p["local_scale"] for p in sweep["points"] if p["temperature"] == 4]
    assert f"varies {max(scales) / min(scales):.0f}x over the grid" in page
    assert not any(s["direction"] for s in sweep["depth_steps"])
    assert "no step between adjacent depths is resolved at any decay" in page
    assert "no step of Kendall tau between adjacent depths is resolved" in readme
    after = max(s["ci95"][1] for s in sweep["depth_steps"] if s["decay"] == 0.05 and s["from_depth"] >= 7)
    assert f"still reach up to +{after:.3f}" in page


# ----------------------------------------------------------------------- the measured view
def _fake_sweep(top1=None, study_top1=(58.0, 60.0, 62.0), settings=None):
    """A sweep built by build_sweep from made-up runs: test top-1 = 50 + d + 10 decay + seed (or
    ``top1(depth, decay, seed)``), KD's reference runs 60 + seed, the study's accuracies ``study_top1``.

    d 5 at decay 0.1 was never run and d 3 at decay 0 has one seed only.
    """
    top1 = top1 or (lambda depth, decay, seed: 50 + depth + 10 * decay + seed)
    config = SweepConfig(depths=(2, 3, 5, 7), decays=(0.0, 0.05, 0.1), temperatures=(4.0,), references=("kd",))
    points, dropped = grid_points(config, num_classes=100)

    def result(top1, tau):
        rows = [{"epoch": 1, "val_top1": 10.0, "test_top1": 9.0}, {"epoch": 2, "val_top1": 20.0, "test_top1": top1}]
        return {
            "history": rows,
            "seconds": 1.5,
            "measures": {"kendall_tau": tau, "kl_all": 0.1, "topd_pair_agreement": 0.7},
        }

    done = {
        (point_name(p), seed): result(top1(p[0], p[1], seed), 0.01 * p[0] + 0.001 * seed)
        for p in points
        for seed in config.seeds
        if p[:2] != (5, 0.1) and not (p[:2] == (3, 0.0) and seed)
    }
    done.update({("reference-kd", seed): result(60.0 + seed, 0.5) for seed in config.seeds})
    summary = summarize(list(study_top1))
    study = {
        "protocol": {"problem": "teaching", "epochs": 2, "validation_fraction": 0.1},
        "methods": {
            m: {
                "lr": 0.05,
                "per_seed": [{"seed": s} for s in range(3)],
                "test_top1_last": summary,
                "test_top1_best_val": summary,
            }
            for m in ("ce", "kd", "ldrrld")
        },
    }
    teacher = {"model": "wrn_16_2", "key": "k", "sha256": "s", "train_top1": 90.0, "val_top1": 80.0, "test_top1": 80.0}
    return sweep_module.build_sweep(
        config,
        points,
        dropped,
        done,
        study,
        study_path="results.json",
        lr=0.05,
        lr_rule="given",
        lr_selection=None,
        teacher=teacher,
        device="cpu",
        threads=1,
        command=None,
        commit=None,
        seconds=1.0,
        settings=settings,
    )


def test_fake_sweep_marks_missing_and_partial_points():
    sweep = _fake_sweep()
    by_name = {p["name"]: p for p in sweep["points"]}
    missing, partial = by_name["d5-decay0.1-T4"], by_name["d3-decay0-T4"]
    assert missing["status"] == "missing" and missing["test_top1_last"] is None
    assert partial["status"] == "partial" and partial["missing_seeds"] == [1, 2]
    assert by_name["d3-decay0-T4"]["test_top1_last"] == {"mean": 53.0, "std": None, "ci95": None}
    assert by_name["d7-decay0.05-T4"]["test_top1_last"]["mean"] == pytest.approx(58.5)
    assert by_name["d2-decay0-T4"]["delta_vs_kd"]["mean"] == pytest.approx(-8.0)
    assert sweep["progress"] == {"runs_done": 12 * 3 - 3 - 2, "runs_planned": 36, "points_complete": 10, "points": 12}
    assert "missing [0, 1, 2]" in sweep_module.render_sweep(sweep)


def _trace(figure, name, row_col_axis):
    """The plotly trace of one legend name on one subplot (axis suffix '' for the first)."""
    (found,) = [t for t in figure.data if t.name == name and t.xaxis == f"x{row_col_axis}"]
    return found


def test_panel_sliders_move_the_highlighted_point_and_both_views(tmp_path):
    from ldrrld_viz import weight_panel

    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(_fake_sweep()))
    panel = weight_panel(depth=7, decay=0.05, sweep=path)
    view = panel.sweep_view
    assert view.widget in panel.widget.children
    assert view.state.highlighted("test_top1_last", "depth") == (7, pytest.approx(58.5))
    assert view.state.highlighted("kendall_tau", "decay") == (0.05, pytest.approx(0.071))
    figure = view.state.figure
    ring = _trace(figure, "sliders' point", "")
    assert list(ring.x) == [7] and list(ring.y) == [pytest.approx(58.5)]

    panel.controls.depth.value = 3  # both views follow the one slider
    assert panel.state.depth == 3 and view.state.depth == 3 and view.state.redraws == 2
    assert view.state.highlighted("test_top1_last", "depth") == (3, pytest.approx(54.5))
    over_decay = _trace(view.state.figure, "d 3", "2")  # the decay panel now shows d 3
    assert list(over_decay.y) == [pytest.approx(53.0), pytest.approx(54.5), pytest.approx(55.0)]
    assert over_decay.error_y.array[0] is None and over_decay.error_y.array[1] > 0  # one seed: no bar

    panel.controls.decay.value = 0.1
    assert view.state.highlighted("test_top1_last", "decay") == (pytest.approx(0.1), pytest.approx(55.0))
    panel.controls.depth.value = 5  # d 5 at decay 0.1 was not run: a gap, not an interpolation
    assert view.state.point["status"] == "missing"
    assert view.state.highlighted("test_top1_last", "depth")[1] is None
    line = _trace(view.state.figure, "decay 0.1", "")
    assert list(line.x) == [2, 3, 5, 7] and line.y[2] is None and line.connectgaps is False
    assert "not run yet" in view.state.summary and view.state.summary in view.widget.children[0].value

    # Over measured data the sliders stop only at measured values: no position shows "nothing here".
    grid = _fake_sweep()["protocol"]
    assert [value for _, value in panel.controls.depth.options] == grid["depths"]
    assert [value for _, value in panel.controls.decay.options] == grid["decays"]
    assert [value for _, value in panel.controls.temperature.options] == grid["temperatures"]
    with pytest.raises(Exception, match="Invalid selection"):
        panel.controls.depth.value = 4
    view.update(4, 0.1)  # the view itself, moved to a depth that is not on the grid
    assert view.state.point is None and view.state.highlighted("kendall_tau", "depth") == (4, None)
    assert all(y is None for y in _trace(view.state.figure, "d 4", "2").y)
    assert "not a grid point" in view.state.summary
    kd = _trace(view.state.figure, "KD (study, seeds 0-2)", "")
    assert list(kd.y) == [60.0, 60.0]  # the study's KD accuracy as a reference line, named for its runs
    tau = _trace(view.state.figure, "KD (sweep reference runs, seeds 0-2)", "3")  # tau: the sweep's own runs
    assert list(tau.y) == [pytest.approx(0.5), pytest.approx(0.5)]
    assert not [t for t in view.state.figure.data if t.name == "KD"]


def test_the_depth_slider_reaches_every_grid_depth_the_sample_allows():
    from ldrrld_viz import weight_panel

    def depths(panel):
        return [value for _, value in panel.controls.depth.options]

    assert depths(weight_panel(sweep=True)) == [2, 3, 5, 7, 10, 15, 20]  # the committed grid's depths
    assert weight_panel().controls.depth.max == 12  # no sweep: a 12 x 12 grid at most
    ten = torch.linspace(3, -3, 10)
    assert depths(weight_panel(student_logits=ten, teacher_logits=ten.flip(0), sweep=True)) == [2, 3, 5, 7, 10]


def test_a_noisy_point_does_not_flatten_the_others():
    """A point whose seeds scatter (one collapsed: 95% intervals over 100 points wide) must not flatten the
    rest: the y-axis follows the means (and reference lines), so the bar of the noisy point runs off the edge."""
    from ldrrld_viz.sweep import sweep_view, value_range

    def top1(depth, decay, seed):  # d = 2 at decay 0: 30, 70 and 85; everything else within two points
        return (30.0, 70.0, 85.0)[seed] if (depth, decay) == (2, 0.0) else 80 + 0.1 * depth + decay + 0.3 * seed

    sweep = _fake_sweep(top1=top1)
    view = sweep_view(sweep, depth=7, decay=0.05, measures=("test_top1_last",))
    low, high = view.state.figure.layout.yaxis.range
    measured = [p["test_top1_last"] for p in sweep["points"] if p["test_top1_last"]]  # d 5 decay 0.1: not run
    means = [m["mean"] for m in measured]
    widest = max(m["ci95"][1] - m["ci95"][0] for m in measured if m["ci95"] is not None)
    assert widest > 100 and low < min(means) and high > max(means) and high - low < widest / 2
    assert (low, high) == pytest.approx(value_range(view.state.series, "test_top1_last"))
    assert view.state.figure.layout.yaxis2.range == view.state.figure.layout.yaxis.range  # one scale per row
    static = sweep_view(sweep, measures=("test_top1_last",), backend="matplotlib").state.figure.axes[0]
    assert static.get_ylim() == pytest.approx((low, high))


def test_view_with_matplotlib_and_bad_sweeps(tmp_path):
    from ldrrld_viz.sweep import sweep_view

    view = sweep_view(_fake_sweep(), depth=2, decay=0.0, measures=("test_top1_last",), backend="matplotlib")
    lines = view.state.figure.axes[0].lines
    assert any(list(line.get_xdata()) == [2] and list(line.get_ydata()) == [pytest.approx(53.0)] for line in lines)
    assert "image/png" in view.widget.children[1].outputs[0]["data"]
    with pytest.raises(ValueError, match="measures must be some of"):
        sweep_view(_fake_sweep(), measures=("accuracy",))
    with pytest.raises(ValueError, match="content of a sweep.json"):
        sweep_view({"points": []})
    with pytest.raises(FileNotFoundError, match="no sweep.json"):
        sweep_view(tmp_path / "absent.json")


def test_the_committed_sweep_picture_reads_at_its_display_size_and_its_legend_covers_no_data():
    """What a reader sees in notebook 02's picture, from what is drawn: every text at least 10 px as the
    page shows it (a page shows at most 760 px of it, one to one), one legend entry per reference
    method in a style of its own, and every legend box outside every panel, clear of every line's data
    points (means, error-bar ends and the reference lines) in the rendered figure's pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    from ldrrld_viz.matplotlib_backend import DPI, MAX_WIDTH_IN
    from ldrrld_viz.sweep import sweep_view

    sweep = load_sweep(ROOT / "docs" / "sweep.json")
    figure = sweep_view(
        sweep, depth=7, decay=0.05, measures=("test_top1_last", "kendall_tau"), backend="matplotlib"
    ).state.figure
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    width_px = figure.get_figwidth() * figure.dpi
    shown = min(1.0, MAX_WIDTH_IN * DPI / width_px)  # a wider picture is shrunk to the page, text with it
    texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]
    small = {t.get_text()[:30]: round(t.get_fontsize() * figure.dpi / 72 * shown, 1) for t in texts}
    assert not {text: px for text, px in small.items() if px < 10}, "text under 10 px as displayed"

    boxes = [legend.get_window_extent(renderer) for legend in figure.legends]
    boxes += [ax.get_legend().get_window_extent(renderer) for ax in figure.axes if ax.get_legend()]
    assert len(boxes) == 1, "one legend, outside the panels"
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert {"CE", "KD", "DKD"} <= set(labels) and len(labels) == len(set(labels))
    styles = {line.get_linestyle() for ax in figure.axes for line in ax.lines if line.get_marker() in ("None", "")}
    assert len(styles) == 3, f"one style per reference method, got {styles}"
    covered = []
    for ax in figure.axes:
        panel = ax.get_window_extent(renderer)
        covered += [(ax.get_title(), "panel") for box in boxes if box.overlaps(panel)]
        for line in ax.lines:
            for x, y in line.get_xydata():
                if math.isfinite(x) and math.isfinite(y):
                    px, py = ax.transData.transform((x, y))
                    covered += [(ax.get_title(), x, y) for box in boxes if box.contains(px, py)]
    assert not covered, f"legends cover these: {covered}"


def test_without_study_results_the_sweep_chooses_its_rate_on_the_selection_seeds(quick, tmp_path, monkeypatch):
    """Without a study, the sweep chooses LDRRLD's rate itself, at the default point, on the study's
    selection seeds (never the seeds it reports), and keeps the validation numbers it chose by."""
    import dataclasses

    source, _, _ = quick
    out_dir = tmp_path / "sweep"
    shutil.copytree(source / "study" / "teachers", out_dir / "study" / "teachers")
    config = dataclasses.replace(QUICK_SWEEP, depths=(7,), decays=(0.05,), temperatures=(4.0,), references=())
    trained = []
    measure = sweep_module._measure_one
    monkeypatch.setattr(sweep_module, "_measure_one", lambda recipe, *a: trained.append(recipe) or measure(recipe, *a))
    sweep = run_sweep(config, out_dir, progress=False)
    selection_seeds = set(config.study.selection_seeds)
    chose = [r for r in trained if r["seed"] in selection_seeds]  # the run recipes, as the workers get them
    assert len(chose) == 2 and len(trained) == 2 + len(config.seeds)  # 2 rates x 1 selection seed, then the point
    selection = sweep["protocol"]["lr_selection"]
    assert float(max(selection, key=selection.get)) == sweep["protocol"]["lr"]
    assert sweep["references"] == {} and sweep["points"][0]["delta_vs_kd"] is None
    assert [s["seed"] for s in sweep["points"][0]["per_seed"]] == list(config.seeds)


def test_a_diverged_run_is_recorded_left_out_of_the_statistics_and_never_retrained(quick, tmp_path, monkeypatch):
    source, complete, _ = quick
    out_dir = tmp_path / "sweep"
    shutil.copytree(source / "study", out_dir / "study")
    shutil.copytree(source / "runs", out_dir / "runs")
    (out_dir / "runs" / "d2-decay0-T4" / "seed1.json").unlink()

    def diverge(*args, **kwargs):
        raise FloatingPointError("the loss became nan at epoch 2")

    monkeypatch.setattr(sweep_module, "fit_in_folder", diverge)
    sweep = run_sweep(QUICK_SWEEP, out_dir, run_study_first=True, progress=False)
    point = next(p for p in sweep["points"] if p["name"] == "d2-decay0-T4")
    assert point["status"] == "complete" and point["diverged_seeds"] == [1] and point["missing_seeds"] == []
    assert [s["seed"] for s in point["per_seed"]] == [0] and point["test_top1_last"]["std"] is None
    assert "(diverged [1])" in (out_dir / "sweep.md").read_text()
    again = run_sweep(QUICK_SWEEP, out_dir, run_study_first=True, progress=False)  # fit would raise again
    assert again["points"] == sweep["points"]


@pytest.mark.parametrize("depth, decay", [(2, 0.0), (3, 0.1), (7, 0.05)])
def test_local_term_scale_equals_the_method_pages_coefficients(depth, decay):
    """alpha T^2 w(i, j) / (P + 1) with w = 2 / (1.5 + |i - j|) * exp(-decay (i + j)), ranks from 1."""
    alpha, temperature = 10.5, 4.0
    pairs = [(i, j) for i in range(1, depth + 1) for j in range(i + 1, depth + 1)]
    weights = [2 / (1.5 + (j - i)) * math.exp(-decay * (i + j)) for i, j in pairs]
    factor = alpha * temperature**2 / (len(pairs) + 1)
    scale = sweep_module.local_term_scale(depth, decay, temperature=temperature, alpha=alpha)
    assert scale["pairs"] == len(pairs)
    assert scale["top_pair"] == pytest.approx(factor * weights[0], rel=1e-12)
    assert scale["total"] == pytest.approx(factor * (sum(weights) + 1), rel=1e-12)


# ----------------------------------------------------------------------- comparisons and findings
_SEED_EFFECT = (0.0, 0.7, -0.4)


def _gaps(depth, decay, seed):
    """Test top-1 of a made-up sweep: the default point 80 + a seed effect; every d = 2 point 5 points
    lower on every seed (resolved after Holm), except that seed 1 of d 2 at decay 0.05 collapsed to 30; d 3 at
    decay 0.05 1 to 2 points higher (raw p 0.035, which Holm does not keep); the rest a little noise."""
    base = 80 + _SEED_EFFECT[seed]
    if (depth, decay) == (7, 0.05):
        return base
    if depth == 2:
        return 30.0 if (decay, seed) == (0.05, 1) else base - 5 + (0.0, 0.1, -0.1)[seed]
    if (depth, decay) == (3, 0.05):
        return base + (1.0, 2.0, 1.5)[seed]
    return base + (0.3, -0.2, -0.1)[seed]


def test_only_what_survives_holm_is_called_resolved_and_the_rest_is_a_bound():
    sweep = _fake_sweep(top1=_gaps)
    by_name = {p["name"]: p for p in sweep["points"]}
    _check_family(sweep, "delta_vs_default", by_name["d7-decay0.05-T4"]["per_seed"], "vs_default")
    assert sweep["families"]["vs_default"]["size"] == 9  # 12 points less the default, one not run, one 1-seed
    for name in ("d2-decay0-T4", "d2-decay0.1-T4"):
        assert by_name[name]["delta_vs_default"]["direction"] == -1
        assert by_name[name]["delta_vs_default"]["sentence"].startswith(f"the default point > {name}")
    lost = by_name["d3-decay0.05-T4"]["delta_vs_default"]
    low, high = lost["ci95"]
    assert lost["p"] < 0.05 <= lost["p_holm"] and 0 < low < high and lost["direction"] == 0  # CI excludes 0
    low, high = lost["ci_holm"]  # the bound is the Holm-adjusted interval's, which contains 0
    assert low < 0 < high
    assert lost["sentence"].startswith(f"d3-decay0.05-T4 is at most {high:.2f} points better than the default")

    lines = sweep_module.findings(sweep)
    assert lines[0].startswith("9 points compared with the default point (d7-decay0.05-T4)")
    resolved_part, lost_part = lines[0].split("raw p below 0.05 that Holm does not keep")
    assert "d2-decay0-T4" in resolved_part and "d3-decay0.05-T4" not in resolved_part
    assert f"d3-decay0.05-T4 p = {lost['p']:.3g}, Holm-adjusted {lost['p_holm']:.3g}" in lost_part
    markdown = sweep_module.render_sweep(sweep)
    row = next(line for line in markdown.splitlines() if line.startswith("| d3-decay0.05-T4 | 3 |"))
    bound = f"not resolved: at most {high:.2f} points better, at most {-low:.2f} points worse"
    assert f"| {lost['detectable']:.2f} | {bound} |" in row
    assert "resolved: worse" in next(line for line in markdown.splitlines() if line.startswith("| d2-decay0-T4 |"))


def test_collapsed_seeds_are_named_kept_in_the_statistics_and_never_made_a_bound():
    sweep = _fake_sweep(top1=_gaps)
    point = next(p for p in sweep["points"] if p["name"] == "d2-decay0.05-T4")
    threshold = summarize([58.0, 60.0, 62.0])["ci95"][0]  # the low end of CE's study interval
    assert sweep["collapse"]["threshold"] == pytest.approx(threshold, abs=1e-4)
    assert point["collapsed_seeds"] == [1] and [s["seed"] for s in point["per_seed"]] == [0, 1, 2]
    assert point["test_top1_last"]["mean"] == pytest.approx(summarize([75.0, 30.0, 74.5])["mean"], abs=1e-4)
    assert all(not p["collapsed_seeds"] for p in sweep["points"] if p is not point)
    lines = sweep_module.findings(sweep)
    assert any(
        line.startswith("Collapsed seeds, 1 of ") and "d2-decay0.05-T4: seed 1 (30.00)" in line for line in lines
    )
    depth_line = next(line for line in lines if line.startswith("Along d "))
    assert "d2-decay0.05-T4 (collapsed seeds, below)" in depth_line  # its interval, not folded into the bound
    bounded = depth_line.split(" not resolved: ")[0]
    assert "d2-decay0.05-T4" not in bounded
    assert "(collapsed [1])" in sweep_module.render_sweep(sweep)


def test_findings_are_computed_and_make_no_plateau_claim():
    """The depth steps of Kendall tau are tested (Holm within them), and the findings quote them with their
    intervals; no sentence says a measure levels off, plateaus or is flat."""
    sweep = _fake_sweep(top1=_gaps)
    steps = sweep["depth_steps"]
    assert sweep["families"]["depth_steps"] == {
        "measure": "kendall_tau",
        "size": len(steps),
        "adjustment": "Holm",
        "power": 0.8,
        "what": "kendall_tau at each depth - at the next smaller depth of the grid, per decay, T 4",
    }
    # tau = 0.01 d + 0.001 seed: every step a constant gap (p 0), where both depths ran 2+ seeds
    assert [(s["decay"], s["from_depth"], s["to_depth"]) for s in steps] == [
        (0.0, 5, 7),
        (0.05, 2, 3),
        (0.05, 3, 5),
        (0.05, 5, 7),
        (0.1, 2, 3),
    ]
    assert all(
        s["direction"] == 1 and s["mean"] == pytest.approx(0.01 * (s["to_depth"] - s["from_depth"])) for s in steps
    )
    text = " ".join(sweep_module.findings(sweep))
    assert "5 resolved (5 up, 0 down)" in text and "d 3->5 +0.0200 [+0.0200, +0.0200]" in text
    for word in ("levels off", "level off", "plateau", "flat", "no difference", "within noise"):
        assert word not in text.lower()
    scales = [p["local_scale"] for p in sweep["points"]]
    assert f"{max(scales) / min(scales):.0f}x" in text and "one learning rate (0.05)" in text


def test_points_and_references_train_at_the_studys_rate_and_setting(quick, tmp_path, monkeypatch):
    """A study that chose a loss setting: every point trains with LDRRLD's under its own d, decay and T,
    every reference with its method's, at the study's rates; sweep.json records what was used."""
    import dataclasses

    from ldrrld_core.study.protocol import study_recipe
    from ldrrld_core.study.sweep import local_term_scale

    source, _, _ = quick
    results = json.loads((source / "study" / "results.json").read_text())
    ldrrld = {"label": "weight 0.5", "hparams": {"alpha": 5.25, "beta": 3.5, "depth": 3}}
    kd = {"label": "T 2", "hparams": {"temperature": 2.0}}
    results["methods"]["ldrrld"]["setting"], results["methods"]["kd"]["setting"] = ldrrld, kd
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    out_dir = tmp_path / "sweep"
    shutil.copytree(source / "study" / "teachers", out_dir / "study" / "teachers")
    config = dataclasses.replace(QUICK_SWEEP, depths=(2, 7), decays=(0.05,), temperatures=(4.0,), references=("kd",))
    trained = []

    def fake(recipe, *args):  # no training: the recipes are what is tested
        trained.append(recipe)
        rows = [{"epoch": e, "val_top1": 50.0, "test_top1": 50.0 + e} for e in range(1, recipe["epochs"] + 1)]
        measures = {"kendall_tau": 0.5, "kl_all": 0.1, "topd_pair_agreement": 0.7}
        return {"history": rows, "seconds": 1.0, "measures": measures}

    monkeypatch.setattr(sweep_module, "_measure_one", fake)
    sweep = run_sweep(config, out_dir, results=path, progress=False)
    base = study_recipe(config.study).loss_options
    points = sorted((r["loss_options"]["ldrrld"]["depth"], r["seed"]) for r in trained if r["loss"] == "ldrrld")
    assert points == [(2, 0), (2, 1), (7, 0), (7, 1)]
    for recipe in trained:
        if recipe["loss"] == "ldrrld":
            depth = recipe["loss_options"]["ldrrld"]["depth"]
            expected = {**base.get("ldrrld", {}), "alpha": 5.25, "beta": 3.5, "depth": depth, "decay": 0.05}
            assert recipe["loss_options"]["ldrrld"] == {**expected, "temperature": 4.0}  # the point's d wins
            assert recipe["lr"] == results["methods"]["ldrrld"]["lr"]
        else:
            assert recipe["loss"] == "kd" and recipe["lr"] == results["methods"]["kd"]["lr"]
            assert recipe["loss_options"]["kd"] == {**base.get("kd", {}), "temperature": 2.0}
    assert sweep["protocol"]["settings"] == {"ldrrld": ldrrld, "kd": kd}
    assert sweep["references"]["kd"]["setting"] == kd and sweep["references"]["ldrrld"]["setting"] == ldrrld
    default = next(p for p in sweep["points"] if p["name"] == "d7-decay0.05-T4")
    assert default["local_scale"] == pytest.approx(local_term_scale(7, 0.05, alpha=5.25)["total"], abs=1e-4)
    assert "ldrrld 'weight 0.5' (alpha 5.25, beta 3.5, depth 3)" in (out_dir / "sweep.md").read_text()

    results["methods"]["kd"]["setting"] = {"label": "T 2", "hparams": [2.0]}
    path.write_text(json.dumps(results))
    with pytest.raises(ValueError, match=r"results.json: methods.kd.setting must be \{'label': str, 'hparams'"):
        run_sweep(config, tmp_path / "other", results=path, progress=False)


def test_the_committed_sweep_states_its_omnibus_test_holm_over_all_and_what_its_seeds_detect():
    """The grid as a whole: the randomised-block F test of last-epoch top-1 over the complete points
    (seeds as blocks), Holm over every test of all three families together, and the detectable gap at
    the pooled spread, each recomputed here from the per-seed records and quoted in sweep.md."""
    import numpy as np
    from scipy import stats as scipy_stats

    from ldrrld_core.study.stats import holm

    sweep = load_sweep(ROOT / "docs" / "sweep.json")
    tests = sweep["grid_tests"]
    seeds = sweep["protocol"]["seeds"]
    table = np.array(
        [[{r["seed"]: r["test_top1_last"] for r in p["per_seed"]}[s] for s in seeds] for p in sweep["points"]]
    )
    k, n = table.shape
    residual = table - table.mean(1, keepdims=True) - table.mean(0, keepdims=True) + table.mean()
    f = (n * ((table.mean(1) - table.mean()) ** 2).sum() / (k - 1)) / ((residual**2).sum() / ((k - 1) * (n - 1)))
    top1 = tests["omnibus"]["test_top1_last"]
    assert top1["f"] == pytest.approx(f, rel=1e-4) and top1["p"] == pytest.approx(
        scipy_stats.f.sf(f, k - 1, (k - 1) * (n - 1)), rel=1e-4
    )
    assert top1["p"] > 0.05, "the committed grid shows no effect on top-1"
    p_values = [p[key]["p"] for p in sweep["points"] for key in ("delta_vs_default", "delta_vs_kd") if p.get(key)]
    p_values += [s["p"] for s in sweep["depth_steps"]]
    assert tests["holm_all"]["size"] == len(p_values) == 83
    assert min(holm(p_values)) == pytest.approx(tests["holm_all"]["rows"][0]["p_holm_all"], rel=1e-4)
    assert tests["holm_all"]["resolved"] == []
    page = (ROOT / "docs" / "sweep.md").read_text(encoding="utf-8")
    assert f"p = {top1['p']:.2g}" in page and "Holm over all 83 of the sweep's tests together resolves none" in page
    assert f"{tests['detectable']['at_0.05']:.1f} points with 80% power at level 0.05" in page
    lead = tests["holm_all"]["rows"][0]["p_holm_all"]
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    benchmarks = " ".join((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8").split())
    assert f"finds no effect of the grid on accuracy (p = {top1['p']:.2f})" in readme
    assert f"not after Holm over all 83 of the sweep's tests (p = {lead:.2f})" in readme
    assert (
        f"p = {top1['p']:.2f})" in benchmarks
        and f"83 of the sweep's tests (the three families together: p {lead:.2f})" in benchmarks
    )


def test_the_viz_page_states_the_widest_interval_of_the_committed_sweep():
    sweep = load_sweep(ROOT / "docs" / "sweep.json")
    widths = [
        (p["test_top1_last"]["ci95"][1] - p["test_top1_last"]["ci95"][0], p)
        for p in sweep["points"]
        if p["test_top1_last"].get("ci95")
    ]
    width, widest = max(widths, key=lambda item: item[0])
    means = [p["test_top1_last"]["mean"] for p in sweep["points"]]
    page = " ".join((ROOT / "docs" / "viz.md").read_text(encoding="utf-8").split())
    assert f"up to {width:.2f} points of test top-1" in page and "hundred points" not in page
    assert f"`d = {widest['depth']}` at decay {widest['decay']:g}" in page
    assert f"{max(means) - min(means):.1f} points between the lowest and highest mean" in page
