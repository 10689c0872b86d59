"""``ldrrld demo`` is honest: each method at the study's chosen rate, the study's verdict beside the run,
the teacher's data advantage named, and a disagreeing order called what it is."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ldrrld_core.study import load_results
from ldrrld_core.study.demo import SHIPPED_RESULTS, Demo, run_demo, shipped_ablation, shipped_results
from ldrrld_core.train import get_recipe

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_ships_the_committed_study():
    assert SHIPPED_RESULTS.read_bytes() == (ROOT / "docs" / "results.json").read_bytes(), (
        f"the shipped study differs from docs/results.json: copy docs/results.json to {SHIPPED_RESULTS}"
    )
    assert shipped_results()["protocol"]["problem"] == "teaching"
    assert shipped_ablation()["kd_shared_teacher"]["per_seed"], "the measured teacher-data ablation ships too"


def fake_demo(top1: dict[str, float]) -> Demo:
    """A demo whose students scored ``top1``, read beside the committed study (nothing trains)."""
    recipe = get_recipe("teaching")
    student = lambda m: SimpleNamespace(recipe=recipe.replace(loss=m), top1=top1[m])  # noqa: E731
    comparison = SimpleNamespace(
        teacher=SimpleNamespace(top1=94.4, summary={"seconds": 1.0}),
        students={m: student(m) for m in top1},
        top1=lambda: dict(top1),
    )
    study = shipped_results()
    rates = {m: study["methods"][m]["lr"] for m in top1}
    settings = {m: study["methods"][m]["setting"]["label"] for m in top1}
    return Demo(comparison, rates, study, epochs=15, seed=0, settings=settings, ablation=shipped_ablation())


def test_report_says_what_a_demo_is_and_shows_the_study_with_intervals():
    study = shipped_results()
    report = fake_demo({"ce": 75.0, "kd": 84.0, "dkd": 85.0, "ldrrld": 86.0}).report()
    assert "not a ranking" in report and "one seed (0)" in report
    assert "40 images per class" in report and "see 20" in report, "the teacher's data advantage"
    shared = shipped_ablation()["verdicts"][1]  # KD taught by a teacher of the students' images, minus CE
    flat = " ".join(report.split())
    assert f"{shared['mean']:+.2f} [{shared['ci95'][0]:+.2f}, {shared['ci95'][1]:+.2f}]" in flat, (
        "measured, not guessed"
    )
    assert "share of 0.58 of KD's gain, 95% interval [0.41, 0.79]" in flat, "the share with its interval"
    assert "exceeds the rest is not resolved (p = 0.26)" in flat
    for method, entry in study["methods"].items():  # each method's chosen setting is shown
        assert entry["setting"]["label"] in report
    for method, entry in study["methods"].items():  # the study's table, digits from the file
        last = entry["test_top1_last"]
        assert f"{method}  " in report and f"{last['mean']:.2f} ± {last['std']:.2f}" in report
    low, high = study["methods"]["ldrrld"]["delta_vs_kd"]["ci95"]
    assert f"[{low:+.2f}, {high:+.2f}]" in report
    assert "Study verdict:" in report and "docs/results.md" in report
    assert all(len(line) <= 100 for line in report.splitlines()), "lines a terminal shows whole"


def test_an_order_that_differs_from_the_study_is_called_so():
    study = shipped_results()
    by_study = sorted(study["methods"], key=lambda m: study["methods"][m]["test_top1_last"]["mean"], reverse=True)
    reversed_run = {m: 80.0 - k for k, m in enumerate(reversed(by_study))}  # the study's order, upside down
    report = " ".join(fake_demo(reversed_run).report().split())  # one line: the message wraps
    assert f"This run orders the methods {' > '.join(reversed(by_study))}" in report
    assert f"the study's means order them {' > '.join(by_study)}" in report and "Trust the study" in report
    same = {m: 80.0 - k for k, m in enumerate(by_study)}
    assert "Trust the study" not in fake_demo(same).report()


@pytest.mark.slow
def test_demo_trains_each_method_at_the_studys_point():
    study = load_results(ROOT / "docs" / "results.json")
    demo = run_demo(methods=("ce", "kd"), epochs=1, progress=False)
    assert {m: run.recipe.lr for m, run in demo.comparison.students.items()} == {
        m: study["methods"][m]["lr"] for m in ("ce", "kd")
    }
    kd = demo.comparison.students["kd"].recipe
    assert kd.loss_hparams.items() >= study["methods"]["kd"]["setting"]["hparams"].items(), "the chosen setting too"
    assert all(run.recipe.epochs == 1 and run.recipe.name == "teaching" for run in demo.comparison.students.values())
    summary = demo.summary()
    assert summary["lr"] == demo.rates and summary["study"]["kd"] == study["methods"]["kd"]["test_top1_last"]["mean"]
    assert isinstance(summary["seconds"], float) and summary["seconds"] == round(summary["seconds"], 1)


def test_demo_refuses_a_method_the_study_did_not_tune():
    with pytest.raises(ValueError, match="the study has no tuned point for ldrrld-no-adw"):
        run_demo(methods=("ce", "ldrrld-no-adw"), epochs=1, progress=False)
