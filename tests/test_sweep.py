"""``ldrrld sweep``: the grid, the shape of sweep.json, statistics that recompute from the seeds,
the same runs as the study, and a killed sweep that resumes."""

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

from ldrrld_core.cli import main
from ldrrld_core.study import StudyConfig, summarize
from ldrrld_core.study import sweep as sweep_module
from ldrrld_core.study.sweep import (MEASURES, QUICK_SWEEP, SweepConfig, grid_points, load_sweep, point_name,
                                     run_sweep, sweep_slice)

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
    assert sweep["protocol"]["lr"] == json.loads((out_dir / "study" / "results.json").read_text())["methods"][
        "ldrrld"]["lr"]
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
    for entry in sweep["points"]:
        differences = [a["test_top1_last"] - b["test_top1_last"] for a, b in zip(entry["per_seed"], default["per_seed"])]
        assert math.isclose(entry["delta_vs_default"]["mean"], sum(differences) / len(differences), abs_tol=1e-4)


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
    process = subprocess.Popen([sys.executable, "-m", "ldrrld_core", "sweep", "--quick", "--out-dir", str(out_dir),
                                "--no-progress", "--quiet"], env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    monkeypatch.setattr(sweep_module, "_measure_one",
                        lambda recipe, *args: trained.append(recipe) or measure(recipe, *args))
    resumed = run_sweep(QUICK_SWEEP, out_dir, progress=False)
    retrained = sorted((r["loss"] if r["loss"] != "ldrrld" else point_name(
        (r["loss_options"]["ldrrld"]["depth"], r["loss_options"]["ldrrld"]["decay"],
         r["loss_options"]["ldrrld"]["temperature"])), r["seed"]) for r in trained)
    expected = sorted(("kd" if n == "reference-kd" else n, s) for n, s in removed if (n, s) not in finished)
    assert retrained == expected

    def numbers(sweep):
        entries = {p["name"]: p["per_seed"] for p in sweep["points"]} | {"kd": sweep["references"]["kd"]["per_seed"]}
        return {name: [{k: v for k, v in s.items() if k != "seconds"} for s in seeds] for name, seeds in entries.items()}

    assert numbers(resumed) == numbers(complete)


def test_slices_show_points_not_run_as_gaps(quick, tmp_path):
    out_dir, sweep, _ = quick
    line = sweep_slice(sweep, "test_top1_last", along="depth", decay=0.0)
    assert line["x"] == [2, 7] and None not in line["mean"]
    expected = next(p for p in sweep["points"] if p["name"] == "d7-decay0-T4")["test_top1_last"]
    assert line["mean"][1] == expected["mean"] and [line["low"][1], line["high"][1]] == expected["ci95"]
    assert sweep_slice(sweep, "kendall_tau", along="temperature")["x"] == [4.0, 8.0]
    assert sweep_slice(sweep, "kendall_tau", along="depth", temperature=8.0)["mean"][0] is None  # not in the grid
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


@pytest.mark.skipif(not (ROOT / "docs" / "sweep.json").is_file(), reason="docs/sweep.json not committed yet")
def test_committed_sweep_recomputes_from_its_seeds():
    sweep = load_sweep(ROOT / "docs" / "sweep.json")
    assert sweep["protocol"]["seeds"] == [0, 1, 2]
    for entry in sweep["points"]:
        if len(entry["per_seed"]) >= 2:
            for measure in MEASURES:
                expected = summarize([s[measure] for s in entry["per_seed"]])
                assert math.isclose(entry[measure]["mean"], expected["mean"], abs_tol=1e-4)
        assert entry["missing_seeds"] == [s for s in sweep["protocol"]["seeds"]
                                          if s not in {r["seed"] for r in entry["per_seed"]}]
