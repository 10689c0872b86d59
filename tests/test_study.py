"""``ldrrld study``: its statistics, its validation split, its teacher rule and the protocol end to end."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
import torch

from ldrrld_core.data import load_dataset, split_validation, stratified_holdout
from ldrrld_core.losses import create_loss
from ldrrld_core.study import (
    QUICK,
    paired_difference,
    plateaued,
    results_table,
    run_study,
    stats,
    summarize,
    t_cdf,
    t_quantile,
    verdict,
)
from ldrrld_core.study.protocol import stored_run
from ldrrld_core.study.report import compare_methods, schedule_check
from ldrrld_core.train import fit, get_recipe
from ldrrld_core.train.schedule import learning_rate

ROOT = Path(__file__).resolve().parent.parent

# Two-sided 95% Student-t quantiles t_{0.975, df} from a standard table (NIST/SEMATECH e-Handbook 1.3.6.7.2).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228, 20: 2.086, 30: 2.042, 100: 1.984}


# ------------------------------------------------------------------------------------------- statistics
@pytest.mark.parametrize("df, expected", sorted(T_TABLE.items()))
def test_t_quantile_matches_the_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=6e-4)
    assert t_quantile(0.025, df) == pytest.approx(-expected, abs=6e-4)


@pytest.mark.parametrize("x", [-7.0, -1.3, 0.0, 0.4, 2.5, 40.0])
def test_t_cdf_equals_the_closed_forms_for_one_and_two_degrees_of_freedom(x):
    assert t_cdf(x, 1) == pytest.approx(0.5 + math.atan(x) / math.pi, abs=1e-10)  # Cauchy
    assert t_cdf(x, 2) == pytest.approx(0.5 + x / (2 * math.sqrt(2 + x * x)), abs=1e-10)


def test_t_quantile_approaches_the_normal_quantile():
    assert t_quantile(0.975, 1e6) == pytest.approx(1.959964, abs=1e-4)


def test_summary_of_known_numbers():
    summary = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    # by hand: mean 3, sample std sqrt(10 / 4), half-width t_{0.975,4} * std / sqrt(5)
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert summary["mean"] == 3.0 and summary["std"] == pytest.approx(math.sqrt(2.5))
    assert summary["ci95"] == pytest.approx([3 - half, 3 + half], abs=1e-5)


def test_paired_difference_of_known_numbers_is_narrower_than_the_unpaired_one():
    method, baseline = [70.0, 72.0, 71.0], [68.0, 71.0, 69.0]
    diff = paired_difference(method, baseline)
    # differences 2, 1, 2: mean 5/3, sample std 1/sqrt(3), half-width t_{0.975,2} * std / sqrt(3)
    # = 4.302653 / 3
    assert diff["mean"] == pytest.approx(5 / 3)
    assert diff["ci95"] == pytest.approx([5 / 3 - 4.302653 / 3, 5 / 3 + 4.302653 / 3], abs=1e-5)
    unpaired_half = summarize(method)["ci95"][1] - summarize(method)["mean"]
    assert diff["ci95"][1] - diff["mean"] < unpaired_half


def test_statistics_reject_bad_input():
    with pytest.raises(ValueError, match="one baseline value per value"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least one value"):
        summarize([])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        t_quantile(1.0, 3)
    assert summarize([4.0]) == {"mean": 4.0, "std": None, "ci95": None}


def _methods(**last_by_method):
    return {
        m: {"per_seed": [{"seed": i, "test_top1_last": v, "test_top1_best_val": v} for i, v in enumerate(values)]}
        for m, values in last_by_method.items()
    }


def _verdict(methods):
    return verdict(compare_methods(methods), list(methods))


def test_verdict_resolves_each_step_only_after_holm_and_bounds_the_rest():
    ordered = _methods(ce=[60, 61, 62, 61], kd=[65, 67, 66, 66.5], dkd=[70, 70.5, 72, 71], ldrrld=[75, 76, 76.5, 77])
    assert "holds here" in _verdict(ordered) and "Holm over 6 comparisons" in _verdict(ordered)
    assert _verdict(ordered).count("Holm-adjusted p") == 3 and "not resolved" not in _verdict(ordered)
    reversed_ = _methods(ce=[70, 71, 72, 71], kd=[65, 66, 66, 65], dkd=[70, 70.5, 72, 71], ldrrld=[75, 76, 76.5, 77])
    assert "does not hold" in _verdict(reversed_) and "CE > KD" in _verdict(reversed_)
    noisy = _methods(ce=[60, 61, 62, 61], kd=[65, 67, 66, 66], dkd=[64, 68, 66, 65], ldrrld=[75, 76, 76.5, 77])
    text = _verdict(noisy)
    assert "is not resolved here" in text and "DKD is at most" in text and "points worse" in text
    assert "cannot tell" not in text, "results.json keeps the unframed paragraph"
    comparisons = compare_methods(noisy)
    shown = verdict(comparisons, list(noisy), framed=True)
    assert "With 4 seeds these runs cannot tell DKD and KD apart: DKD is at most" in shown, "framed by its seeds"
    steps = {("LDRRLD", "DKD"), ("DKD", "KD"), ("KD", "CE")}
    assert all(v["sentence"] in shown for v in comparisons["last_epoch"] if (v["first"], v["second"]) in steps)
    # KD - CE has an unadjusted p < 0.05 (0.036), but not after Holm over the 6 comparisons
    marginal = _methods(ce=[60, 60, 60, 60], kd=[60.5, 61.5, 60.6, 61.6], dkd=[58, 63, 59, 64], ldrrld=[57, 64, 58, 65])
    last = {(v["first"], v["second"]): v for v in compare_methods(marginal)["last_epoch"]}
    assert last["KD", "CE"]["p"] < 0.05 < last["KD", "CE"]["p_holm"] and last["KD", "CE"]["direction"] == 0


def test_best_val_disagreement_is_named_in_the_verdict():
    methods = _methods(ce=[60, 61, 62, 61], kd=[65, 67, 66, 66.5], dkd=[70, 70.5, 72, 71], ldrrld=[75, 76, 76.5, 77])
    for s in methods["ldrrld"]["per_seed"]:
        s["test_top1_best_val"] = 70.5 + (s["seed"] % 2) * 1.5  # at best-val, LDRRLD is no longer above DKD
    comparisons = compare_methods(methods)
    assert any(d.startswith("LDRRLD - DKD") for d in comparisons["disagreements"])
    assert "best-val-epoch accuracy disagrees" in verdict(comparisons, list(methods))


def test_schedule_check_flags_a_curve_still_rising():
    flat = [50.0] * 10 + [60.0] * 10
    rising = [float(e) for e in range(20)]
    methods = {
        "ce": {"per_seed": [{"val_top1_by_epoch": rising}]},
        "kd": {"per_seed": [{"val_top1_by_epoch": flat}]},
    }
    checks = schedule_check(methods, decay_epochs=(10,))
    assert checks["ce"]["before_drop"] == {"rise": pytest.approx(5.0), "se": None, "ci95": None, "epochs": [6, 10]}
    assert checks["ce"]["at_end"] == {"rise": pytest.approx(5.0), "se": None, "ci95": None, "epochs": [16, 20]}
    assert not checks["ce"]["level"]
    assert checks["kd"]["before_drop"]["rise"] == checks["kd"]["at_end"]["rise"] == 0.0 and checks["kd"]["level"]


def test_schedule_check_takes_the_trend_of_the_seed_mean_with_its_seed_standard_error():
    """Two seeds rising by 0.1 and 0.3 points per epoch: the mean rises 0.2 per epoch (1.0 per 5 epochs),
    the seeds' own rises are 0.5 and 1.5 per 5 epochs, so the standard error is 0.5; a curve that ends
    before its second half has 3 epochs is not judged."""
    curves = [[0.1 * e for e in range(20)], [0.3 * e for e in range(20)]]
    check = schedule_check({"kd": {"per_seed": [{"val_top1_by_epoch": c} for c in curves]}}, decay_epochs=(10,))["kd"]
    assert check["before_drop"]["rise"] == pytest.approx(1.0) and check["before_drop"]["se"] == pytest.approx(0.5)
    assert not check["level"], "a mean rise of 1 point per 5 epochs is still rising"
    short = schedule_check({"kd": {"per_seed": [{"val_top1_by_epoch": [1.0] * 14}]}}, decay_epochs=(10,))["kd"]
    assert short["at_end"] is None and short["before_drop"] is not None


def _noisy_seeds(rise_per_window: float, spread: float, seeds: int = 5, epochs: int = 20) -> list[list[float]]:
    """``seeds`` curves whose least-squares rise per 5 epochs over epochs 6-10 (and 16-20) is
    ``rise_per_window`` plus a per-seed offset, the offsets spread evenly over +-``spread``."""
    offsets = [spread * (2 * i / (seeds - 1) - 1) for i in range(seeds)]
    return [[70.0 + (rise_per_window + o) / 5 * e for e in range(epochs)] for o in offsets]


@pytest.mark.parametrize(
    ("rise", "spread", "level"),
    [
        (0.0, 0.2, True),  # flat, upper end about +0.2
        (0.3, 0.1, True),  # rising a little, the seeds bound it below 0.5
        (0.3, 0.6, False),  # the same mean rise, but the seeds cannot bound it below 0.5
        (0.45, 0.0, True),  # every seed rises 0.45: interval [0.45, 0.45]
        (0.55, 0.0, False),  # every seed rises 0.55, just over the bar
        (0.9, 0.4, False),  # the digits-same CE: still rising
    ],
)
def test_schedule_check_is_level_when_the_upper_end_of_the_rise_interval_is_at_most_half_a_point(rise, spread, level):
    from ldrrld_core.study.report import LEVEL_BOUND, LEVEL_RULE

    curves = _noisy_seeds(rise, spread)
    check = schedule_check({"kd": {"per_seed": [{"val_top1_by_epoch": c} for c in curves]}}, decay_epochs=(10,))["kd"]
    before = check["before_drop"]
    assert before["rise"] == pytest.approx(rise)
    low, high = before["ci95"]
    half = stats.t_quantile(0.975, 4) * before["se"]
    assert low == pytest.approx(rise - half) and high == pytest.approx(rise + half)
    assert (high <= LEVEL_BOUND) == level and check["level"] == level
    assert LEVEL_BOUND == 0.5 and "upper end of the 95% interval" in LEVEL_RULE


def test_the_rendered_schedule_check_states_the_rule_and_names_who_still_rises():
    from ldrrld_core.study.report import LEVEL_RULE, not_level, schedule_markdown

    methods = {
        "ce": {"per_seed": [{"val_top1_by_epoch": c} for c in _noisy_seeds(0.9, 0.4)]},
        "kd": {"per_seed": [{"val_top1_by_epoch": c} for c in _noisy_seeds(0.0, 0.1)]},
    }
    results = {"methods": methods, "protocol": {"recipe": {"decay_epochs": [10]}}, "schedule_check": {}}
    failing = not_level(results)
    assert len(failing) == 2 and all(f.startswith("CE ") for f in failing)  # before the drop and at the end
    page = schedule_markdown(results)
    assert "Still rising by this rule: CE before the first drop (+0.90" in page and "KD" not in page.split("\n\n")[1]
    assert "upper end of the 95% interval" in LEVEL_RULE


def test_the_window_before_the_drop_ends_with_the_last_epoch_at_the_peak_rate():
    recipe = get_recipe("teaching")
    (drop,) = recipe.decay_epochs
    rates = [learning_rate(e, 1.0, warmup_epochs=recipe.warmup_epochs, decay_epochs=(drop,)) for e in (drop, drop + 1)]
    assert rates == [1.0, pytest.approx(0.1)]  # epoch `drop` is the last at the peak rate
    # A curve level until its last epoch at the peak rate, which jumps by 40 points: that epoch counts.
    curve = [50.0] * (drop - 1) + [90.0] + [80.0] * (recipe.epochs - drop)
    check = schedule_check({"ce": {"per_seed": [{"val_top1_by_epoch": curve}]}}, recipe.decay_epochs)["ce"]
    half = drop - drop // 2  # the second half of the first phase, ending with epoch `drop`
    centre = (half - 1) / 2
    rise = 5 * 40 * (half - 1 - centre) / sum((x - centre) ** 2 for x in range(half))
    assert check["before_drop"]["epochs"] == [drop // 2 + 1, drop]
    assert check["before_drop"]["rise"] == pytest.approx(rise) and rise > 1 and not check["level"]


# ------------------------------------------------------------------------------------- validation split
def test_stratified_holdout_takes_the_same_share_of_every_class():
    labels = torch.arange(5).repeat_interleave(torch.tensor([10, 20, 30, 3, 2]))
    kept, held = stratified_holdout(labels, 0.1, seed=0)
    assert sorted(torch.cat([kept, held]).tolist()) == list(range(len(labels)))
    assert torch.bincount(labels[held], minlength=5).tolist() == [1, 2, 3, 1, 1]  # at least one per class
    assert torch.equal(held, stratified_holdout(labels, 0.1, seed=0)[1])
    assert not torch.equal(held, stratified_holdout(labels, 0.1, seed=1)[1])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        stratified_holdout(labels, 1.0, seed=0)


def test_split_validation_moves_images_out_of_train_only():
    data = load_dataset("synthetic", train_per_class=10, test_per_class=2, image_size=8)
    split = split_validation(data, 0.2, seed=3)
    assert (len(split.train), len(split.val), len(split.test)) == (800, 200, 200)
    assert torch.bincount(split.val.labels).tolist() == [2] * 100
    assert torch.equal(split.test.images, data.test.images)

    def fingerprints(images):  # one number per image, sorted: equal lists mean the same images
        return images.flatten(1).double().sum(1).sort().values

    together = torch.cat([split.train.images, split.val.images])
    assert torch.equal(fingerprints(together), fingerprints(data.train.images))
    with pytest.raises(ValueError, match="already has a validation split"):
        split_validation(split, 0.1)


def test_fit_reports_validation_accuracy_every_epoch():
    recipe = get_recipe("digits", loss="ce", teacher=None, epochs=2, validation_fraction=0.1)
    run = fit(recipe, device="cpu", progress=False)
    assert {"val_loss", "val_top1", "val_top5"} <= set(run.history.columns)
    assert len(run.history.column("val_top1")) == 2
    assert run.summary["val_top1"] == run.history.last["val_top1"]
    with pytest.raises(ValueError, match="validation_fraction must lie in"):
        recipe.replace(validation_fraction=1.0)


def test_rescheduled_moves_the_decays_proportionally():
    recipe = get_recipe("teaching")
    assert (recipe.epochs, recipe.decay_epochs) == (60, (40,))
    assert recipe.rescheduled(15).decay_epochs == (10,) and recipe.rescheduled(15).warmup_epochs == 2
    assert recipe.rescheduled(30).decay_epochs == (20,)
    assert recipe.rescheduled(2).decay_epochs == () and recipe.rescheduled(2).warmup_epochs == 1


def test_plateau_rule():
    assert plateaued([10, 50, 60, 60.2, 60.4, 60.1], window=3, min_gain=0.5)
    assert not plateaued([10, 50, 60, 61, 60.4, 60.1], window=3, min_gain=0.5)
    assert not plateaued([10, 50], window=3, min_gain=0.5)


def test_a_teacher_may_learn_from_more_images_than_its_students():
    recipe = get_recipe("teaching")
    assert recipe.for_teacher().data_options["train_per_class"] == 2 * recipe.data_options["train_per_class"]
    assert recipe.for_teacher().teacher_data_options == {}
    with pytest.raises(ValueError, match="does not take the option"):
        recipe.replace(teacher_data_options={"train_per_klass": 40})


def test_both_kd_settings_have_names():
    assert create_loss("kd").hparams() == {"temperature": 4.0, "ce_weight": 1.0, "kd_weight": 1.0}
    assert create_loss("kd-mdistiller").hparams() == {"temperature": 4.0, "ce_weight": 0.1, "kd_weight": 0.9}
    assert create_loss("kd", ce_weight=0.5).hparams()["ce_weight"] == 0.5


# --------------------------------------------------------------------------------------- the protocol
def _check_results(results: dict, expected_methods=("ce", "kd", "dkd", "ldrrld")) -> None:
    """The shape of results.json and every summary recomputed from the per-seed numbers."""
    protocol = results["protocol"]
    assert protocol["selection"] == "validation"
    assert {"validation_fraction", "lr_grid", "epochs", "seeds", "problem", "teacher"} <= set(protocol)
    assert {"model", "train_top1", "val_top1", "test_top1"} <= set(protocol["teacher"])
    assert set(results) >= {"protocol", "methods", "verdict", "fingerprint"}
    assert {"torch", "device", "commit", "threads"} <= set(results["fingerprint"])
    methods = results["methods"]
    assert list(methods) == list(expected_methods)
    last = {m: [s["test_top1_last"] for s in e["per_seed"]] for m, e in methods.items()}
    assert not set(protocol["selection_seeds"]) & set(protocol["seeds"])
    for method, entry in methods.items():
        tried = protocol["tried"][method]
        assert (tried[0]["lr"], tried[0]["setting"]) == (entry["lr"], entry["setting"]["label"])
        assert tried[0]["score"] == max(t["score"] for t in tried)
        assert entry["selection_runs"] == len(tried) * len(protocol["selection_seeds"])
        for t in tried:
            assert len(t["scores"]) == len(protocol["selection_seeds"])
            assert t["score"] == pytest.approx(statistics.fmean(t["scores"]), abs=1e-3)
        assert [s["seed"] for s in entry["per_seed"]] == protocol["seeds"]
        for seed in entry["per_seed"]:
            curve = seed["val_top1_by_epoch"]
            assert len(curve) == protocol["epochs"] and 1 <= seed["best_val_epoch"] <= protocol["epochs"]
            assert curve[seed["best_val_epoch"] - 1] == max(curve)
            assert 0 <= seed["test_top1_last"] <= 100 and 0 <= seed["test_top1_best_val"] <= 100
        n = len(last[method])
        mean, std = statistics.fmean(last[method]), statistics.stdev(last[method])
        half = t_quantile(0.975, n - 1) * std / math.sqrt(n)
        assert entry["test_top1_last"]["mean"] == pytest.approx(mean, abs=1e-3)
        assert entry["test_top1_last"]["std"] == pytest.approx(std, abs=1e-3)
        assert entry["test_top1_last"]["ci95"] == pytest.approx([mean - half, mean + half], abs=1e-3)
        best = [s["test_top1_best_val"] for s in entry["per_seed"]]
        assert entry["test_top1_best_val"]["mean"] == pytest.approx(statistics.fmean(best), abs=1e-3)
        for key, base in (("delta_vs_ce", "ce"), ("delta_vs_kd", "kd")):
            diffs = [a - b for a, b in zip(last[method], last[base])]
            assert entry[key]["mean"] == pytest.approx(statistics.fmean(diffs), abs=1e-3)
            assert set(entry[key]) == {"mean", "ci95"}
    families = results["comparisons"]
    assert len(families["last_epoch"]) == len(families["best_val"]) == len(methods) * (len(methods) - 1) // 2


@pytest.mark.slow
def test_quick_study_runs_the_whole_protocol_with_every_method_and_resumes(tmp_path, capsys):
    """``ldrrld study --quick --methods`` with every loss the toolkit has, the seed's baselines included."""
    import dataclasses

    from ldrrld_core.cli import main
    from ldrrld_core.study.protocol import QUICK_TUNING

    methods = ("ce", "kd", "dkd", "ldrrld", "dist", "lskd", "wttm", "ctkd", "tekap", "sdd")
    argv = ["study", "--quick", "--methods", *methods, "--out-dir", str(tmp_path), "--no-progress", "--quiet"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads(lines[-1])
    results = json.loads((tmp_path / "results.json").read_text())
    _check_results(results, methods)
    assert summary["verdict"] == results["verdict"] and results["protocol"]["seeds"] == [0, 1]
    assert len(results["protocol"]["lr_grid"]) == 2 and results["protocol"]["epochs"] == QUICK.epochs
    markdown = (tmp_path / "results.md").read_text()
    from ldrrld_core.study.report import shown_verdict

    assert results_table(results) in markdown and shown_verdict(results) in markdown  # the page frames it
    assert (tmp_path / "results.png").stat().st_size > 10_000
    runs = sorted((tmp_path / "runs").rglob("*.json"))
    selection = sum(len(t) for t in results["protocol"]["tried"].values()) * len(QUICK.selection_seeds)
    assert len(runs) == selection + len(methods) * 2  # every point tried on the selection seed, then methods x seeds
    assert list(results["methods"]) == list(methods)
    assert all(len(results["protocol"]["tuning"][m]) == (m not in ("ce", "ctkd")) for m in methods), "T tuned"
    stamps = [path.stat().st_mtime_ns for path in runs]
    config = dataclasses.replace(QUICK, methods=methods, tuning=QUICK_TUNING)
    again = run_study(config, tmp_path, progress=False)  # every run is found, none trained again
    assert [path.stat().st_mtime_ns for path in runs] == stamps
    assert again["methods"] == results["methods"]


def test_the_shipped_teacher_is_the_converged_teacher_of_the_teaching_recipe(tmp_path):
    from ldrrld_core.io import sha256_file
    from ldrrld_core.study import SHIPPED_TEACHERS, TeacherRule, converged_teacher, shipped_teacher, teacher_key
    from ldrrld_core.study.teacher import _load

    teacher, record = shipped_teacher("teaching", device="cpu")
    recipe = get_recipe("teaching")
    assert record["key"] == teacher_key(recipe, TeacherRule()) and record["plateaued"]
    assert record["sha256"] == sha256_file(SHIPPED_TEACHERS / "teaching-wrn_16_2.pth")
    assert record["sha256"] in (SHIPPED_TEACHERS / "README.md").read_text()
    data = load_dataset("synthetic", **recipe.data_options)
    with torch.inference_mode():
        top1 = (teacher(data.test.images).argmax(1) == data.test.labels).double().mean().item() * 100
    assert top1 == pytest.approx(record["test_top1"], abs=1e-9)
    # the study finds it instead of training one
    model, found = converged_teacher(recipe, cache_dir=tmp_path, device="cpu")
    assert found["sha256"] == record["sha256"] and not any(tmp_path.iterdir())
    # a damaged copy is refused
    (tmp_path / "bad.json").write_text((SHIPPED_TEACHERS / "teaching-wrn_16_2.json").read_text())
    damaged = bytearray((SHIPPED_TEACHERS / "teaching-wrn_16_2.pth").read_bytes())
    damaged[-1] ^= 1
    (tmp_path / "bad.pth").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="SHA-256"):
        _load(tmp_path, "bad", recipe, 100, "cpu")
    with pytest.raises(ValueError, match="no teacher ships"):
        shipped_teacher(recipe.replace(lr=0.3))


# ------------------------------------------------------------------- stored runs and interrupts
CTRL_C_DURING_A_BATCH = """
import os, signal, threading, time
from ldrrld_core.study.protocol import run_each
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if started with SIGINT ignored
threading.Timer(3.0, lambda: os.killpg(os.getpgid(0), signal.SIGINT)).start()  # what a terminal's Ctrl-C does
started = time.monotonic()
try:
    run_each(time.sleep, [60, 60, 60], lambda seconds: (seconds,), lambda *a: None, jobs=2)
except KeyboardInterrupt:
    print("interrupted after", round(time.monotonic() - started), "s")
"""


def test_ctrl_c_stops_the_workers_at_once_without_their_tracebacks():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_DURING_A_BATCH],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert done.returncode == 0 and "interrupted after" in done.stdout, done.stderr
    assert int(done.stdout.split("after ")[1].split()[0]) < 20  # not after the workers' 60 s runs
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr


def _history(epochs: int, changes: dict | None = None) -> list[dict]:
    rows = [
        {"epoch": e, "lr": 0.1, "train_loss": 1.0, "val_top1": 50.0, "test_top1": 50.0} for e in range(1, epochs + 1)
    ]
    for (epoch, column), value in (changes or {}).items():
        rows[epoch - 1][column] = value
    return rows


def _stored(tmp_path, recipe, rows, teacher="a" * 64, **content):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"recipe": recipe.to_dict(), "teacher": teacher, "history": rows, **content}))
    return path


def test_a_stored_run_is_reused_only_when_complete_finite_and_of_the_same_settings(tmp_path):
    recipe = get_recipe("digits", loss="kd", epochs=3)
    assert stored_run(_stored(tmp_path, recipe, _history(3)), recipe, "a" * 64, key="history") == _history(3)
    assert stored_run(_stored(tmp_path, recipe, []), recipe, "a" * 64, key="history") == []  # diverged: a result
    with pytest.raises(ValueError, match=r"run.json holds 2 history rows where the recipe trains epochs 1 .. 3"):
        stored_run(_stored(tmp_path, recipe, _history(2)), recipe, "a" * 64, key="history")
    with pytest.raises(ValueError, match=r"holds val_top1 = nan in epoch 2, not a finite number"):
        stored_run(_stored(tmp_path, recipe, _history(3, {(2, "val_top1"): math.nan})), recipe, "a" * 64, key="history")
    other = recipe.replace(epochs=4)
    with pytest.raises(ValueError, match=r"holds a run of other settings \(epochs: 3 there, 4 now\).*--overwrite"):
        stored_run(_stored(tmp_path, recipe, _history(3)), other, "a" * 64, key="history")
    assert stored_run(_stored(tmp_path, recipe, _history(3)), other, "a" * 64, key="history", overwrite=True) is None
    with pytest.raises(ValueError, match=r"teacher SHA-256: a+ there, b+ now"):
        stored_run(_stored(tmp_path, recipe, _history(3)), recipe, "b" * 64, key="history")
    ce = recipe.replace(loss="ce")  # trains without the teacher: any teacher's run is the same run
    assert stored_run(_stored(tmp_path, ce, _history(3)), ce, "b" * 64, key="history") == _history(3)
    (tmp_path / "run.json").write_text('{"recipe": {"model": "digits_mlp"}, "hist')
    with pytest.raises(ValueError, match=r"run.json is damaged \(JSONDecodeError: .*delete it to train that run again"):
        stored_run(tmp_path / "run.json", recipe, "a" * 64, key="history")


def test_the_terminal_table_marks_what_holm_resolves_as_the_verdict_does():
    """The table's unadjusted interval may exclude 0 where the Holm-adjusted verdict resolves nothing: the
    table says which gaps the verdict's adjustment resolves, and that its intervals are unadjusted."""
    from ldrrld_core.study.report import load_results, results_text

    study = load_results(ROOT / "docs" / "results.json", "teaching")
    text = results_text(study)
    rows = {line.split()[0]: line for line in text.splitlines()[1:5]}
    assert "[-2.21, -0.19]" in rows["ldrrld"] and not rows["ldrrld"].rstrip().endswith("*"), "LDRRLD - KD: not resolved"
    assert rows["kd"].count("*") == 1 and rows["ce"].count("*") == 1, "KD - CE is resolved after Holm"
    assert "unadjusted" in text and "Holm" in text
    assert all(len(line) <= 96 for line in text.splitlines())


@pytest.mark.parametrize("name", ["teaching", "digits-same", "digits-cross"])
def test_the_results_picture_keeps_its_legend_off_every_curve(name):
    """``results.png`` read from what is drawn: the legend lies outside both panels and covers no data
    point of any line (means, the teacher's line, the paired differences) in the rendered pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ldrrld_core.study.report import load_results, results_figure

    figure = results_figure(load_results(ROOT / "docs" / "results.json", name))
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [legend.get_window_extent(renderer) for legend in figure.legends]
    boxes += [ax.get_legend().get_window_extent(renderer) for ax in figure.axes if ax.get_legend()]
    assert len(boxes) == 1, "one legend"
    covered = []
    for ax in figure.axes:
        covered += [(ax.get_title(), "panel") for box in boxes if box.overlaps(ax.get_window_extent(renderer))]
        drawn = [line.get_xydata() for line in ax.lines]
        drawn += [collection.get_offsets() for collection in ax.collections if len(collection.get_offsets())]
        for points in drawn:
            for x, y in points:
                px, py = ax.transData.transform((x, y))
                covered += [(ax.get_title(), x, y) for box in boxes if box.contains(px, py)]
    assert not covered, f"the legend covers: {covered[:5]}"
    assert len(figure.legends[0].get_texts()) == len(figure.axes[0].get_legend_handles_labels()[1])
    low, high = figure.axes[0].get_xlim()
    epochs = [tick for tick in figure.axes[0].get_xticks() if low <= tick <= high]
    assert epochs and all(float(tick).is_integer() for tick in epochs), f"fractional epochs labelled: {epochs}"


def test_the_rendered_and_printed_verdict_frames_each_unresolved_step_by_its_seeds():
    """What a reader meets (results.md, the terminal, the demo): each unresolved step opens with what
    its seeds can tell; the committed results.json keeps the unframed paragraph it was built with."""
    from ldrrld_core.study.report import load_results, render_markdown, shown_verdict

    study = load_results(ROOT / "docs" / "results.json", "teaching")
    shown = shown_verdict(study)
    assert "With 5 seeds these runs cannot tell LDRRLD and DKD apart: LDRRLD is at most" in shown
    assert "With 5 seeds these runs cannot tell DKD and KD apart: DKD is at most" in shown
    assert "KD > CE: mean" in shown and "tell KD and CE apart" not in shown, "a resolved step is not framed"
    steps = {("LDRRLD", "DKD"), ("DKD", "KD"), ("KD", "CE")}
    stored = [v for v in study["comparisons"]["last_epoch"] if (v["first"], v["second"]) in steps]
    assert len(stored) == 3
    for v in stored:  # the stored numbers, unchanged; the bound is read from the Holm-adjusted interval
        low, high = v["ci95"]
        assert f"mean {v['mean']:+.2f} [{low:+.2f}, {high:+.2f}], Holm-adjusted interval [" in shown
    assert shown.startswith(study["verdict"].split(". ")[0])
    assert f"**Verdict.** {shown}" in render_markdown(study, "results.png")


def test_a_study_fingerprint_records_the_numeric_environment_and_the_page_states_it():
    from ldrrld_core.provenance import NUMERIC_VARIABLES, numeric_environment
    from ldrrld_core.study.report import _environment_sentence, study_fingerprint

    finger = study_fingerprint(
        device="cpu", threads=1, command="ldrrld study", commit="abc", code="f00", seconds=1.0, train_seconds=2.0
    )
    assert finger["numeric_environment"] == numeric_environment()
    assert {"threads", "interop_threads", "cpu_capability", *NUMERIC_VARIABLES} <= set(finger["numeric_environment"])
    assert finger["threads"] == 1 and finger["code"] == "f00"
    sentence = _environment_sentence(finger)
    assert f"ATen CPU capability {finger['numeric_environment']['cpu_capability']}" in sentence
    assert "was not recorded" in _environment_sentence({"threads": 1})
