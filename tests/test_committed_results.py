"""The committed evidence (``docs/results.json``): made by the current code, recomputable, and what it claims.

When a test here fails because the code changed, rerun the command the file records; never edit
the numbers or excuse the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_study import _check_results

from ldrrld_core.provenance import SWEEP_SOURCES, numbers_fingerprint
from ldrrld_core.study import results_table
from ldrrld_core.study.evidence import EVIDENCE
from ldrrld_core.study.evidence_report import render_evidence
from ldrrld_core.study.report import LEVEL_BOUND, is_level, schedule_check
from ldrrld_core.study.stats import paired_difference, summarize

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results.json"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"  # the README links there for the tables


def _evidence() -> dict:
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def test_the_committed_results_come_from_the_current_code():
    evidence = _evidence()
    recorded, now = evidence["code"]["fingerprint"], numbers_fingerprint()
    assert recorded == now, (
        f"docs/results.json was made by code with fingerprint {recorded}; the code that decides its numbers is "
        f"now {now}. Rerun `{evidence['command']}`, copy results.json and the report into docs/, and commit them"
    )
    for name, study in evidence["studies"].items():
        assert study["fingerprint"]["code"] == now, name


def test_the_committed_sweep_comes_from_the_current_code():
    sweep = json.loads((ROOT / "docs" / "sweep.json").read_text(encoding="utf-8"))
    recorded, now = (sweep.get("code") or {}).get("fingerprint"), numbers_fingerprint(*SWEEP_SOURCES)
    command = sweep["fingerprint"].get("command") or "ldrrld sweep --jobs 2 --results docs/results.json"
    assert recorded == now, (
        f"docs/sweep.json was made by code with fingerprint {recorded}, but the code that decides its numbers "
        f"now has {now}: rerun `{command}` and commit its sweep.json and sweep.md to docs/ (and rebuild "
        "notebook 02); do not edit the recorded fingerprint"
    )
    study = _evidence()["studies"]["teaching"]
    assert sweep["protocol"]["lr"] == study["methods"]["ldrrld"]["lr"], "the sweep builds on the committed study"


def test_the_evidence_covers_both_problems_and_both_pairs():
    evidence = _evidence()
    assert list(evidence["studies"]) == [part.name for part in EVIDENCE] and evidence["headline"] == "teaching"
    problems = {study["protocol"]["problem"] for study in evidence["studies"].values()}
    assert problems == {"teaching", "digits-shared"}
    pairs = {name: study["protocol"]["pair"] for name, study in evidence["studies"].items()}
    assert pairs == {
        "teaching": "wrn_16_2 -> resnet8",
        "digits-cross": "digits_cnn -> digits_mlp",
        "digits-same": "digits_cnn -> digits_cnn_small",
    }
    shared = evidence["studies"]["digits-cross"]["protocol"]["recipe"]
    assert shared["teacher_data_options"] == {}, "on digits the teacher learns from the students' images only"


@pytest.mark.parametrize("part", [part.name for part in EVIDENCE])
def test_every_part_recomputes_and_tuned_every_method_alike(part):
    study = _evidence()["studies"][part]
    _check_results(study)
    protocol = study["protocol"]
    assert len(protocol["seeds"]) >= 5 and len(protocol["lr_grid"]) >= 3
    assert set(protocol["tuning"]) == set(study["methods"])
    for method, entry in study["methods"].items():
        assert entry["edges"] == {}, f"{part}: {method}'s chosen {entry['edges']} lies at an edge of its grid"
    recomputed = schedule_check(study["methods"], protocol["recipe"]["decay_epochs"])
    _assert_same_checks(recomputed, study["schedule_check"])


def _assert_same_checks(recomputed: dict, committed: dict) -> None:
    """The committed schedule check's numbers equal the recomputed ones (rounded to 4 digits), and so
    does its verdict where it was written under the current rule (its trends carry ``ci95``)."""
    for method, check in recomputed.items():
        current = all(t is None or "ci95" in t for t in (committed[method]["before_drop"], committed[method]["at_end"]))
        if current:
            assert check["level"] == committed[method]["level"], method
        for phase in ("before_drop", "at_end"):
            mine, theirs = check[phase], committed[method][phase]
            assert (mine is None) == (theirs is None), (method, phase)
            if mine is not None:
                assert mine["epochs"] == theirs["epochs"], (method, phase)
                assert mine["rise"] == pytest.approx(theirs["rise"], abs=1e-3), (method, phase)
                assert mine["se"] == pytest.approx(theirs["se"], abs=1e-3), (method, phase)
                if current:
                    assert mine["ci95"] == pytest.approx(theirs["ci95"], abs=1e-3), (method, phase)


#: The committed evidence's phases that are not level by the rule (the upper end of the 95% interval of the
#: rise per 5 epochs above 0.5 point; issue 33): they wait for the rerun with longer schedules. The
#: test below fails when one of them becomes level (drop it here) or another one stops being level.
STILL_RISING = {
    ("teaching", "ce", "before_drop"),  # -0.05 ± 0.40, upper end +1.07: 5 seeds cannot bound it
    ("teaching", "ce", "at_end"),  # +0.49 ± 0.31, upper end +1.35
    ("teaching", "kd", "before_drop"),  # +0.63 ± 0.37, upper end +1.66
    ("teaching", "dkd", "before_drop"),  # +0.44 ± 0.14, upper end +0.83
    ("teaching", "ldrrld", "before_drop"),  # +0.36 ± 0.31, upper end +1.21
    ("digits-same", "ce", "before_drop"),  # +0.90 ± 0.26, upper end +1.48
    ("digits-same", "kd", "before_drop"),  # +0.51 ± 0.26, upper end +1.10
    ("digits-same", "ldrrld", "before_drop"),  # +0.87 ± 0.20, upper end +1.33
}


@pytest.mark.parametrize("part", [part.name for part in EVIDENCE])
@pytest.mark.parametrize("phase", ["before_drop", "at_end"])
def test_every_method_is_level_before_the_rate_drops_and_at_the_end(part, phase):
    """Each method's validation accuracy is level over the second half of the phase: the upper end of the
    95% interval over seeds of its rise per 5 epochs is at most 0.5 point, recomputed from the stored
    curves; the phases in STILL_RISING are the committed evidence's known failures."""
    study = _evidence()["studies"][part]
    checks = schedule_check(study["methods"], study["protocol"]["recipe"]["decay_epochs"])
    for method, check in checks.items():
        trend = check[phase]
        assert trend is not None, f"{part}: {method} has too few epochs to check {phase}"
        known = (part, method, phase) in STILL_RISING
        assert is_level(trend) != known, (
            f"{part}: {method}'s validation accuracy rose by {trend['rise']:+.2f} points per 5 epochs over epochs "
            f"{trend['epochs']} ({phase}), 95% interval up to {trend['ci95'][1]:+.2f} (bar {LEVEL_BOUND}): "
            + ("now level: drop it from STILL_RISING" if known else "lengthen the schedule")
        )


def test_the_teacher_data_ablation_recomputes_from_its_seeds():
    evidence = _evidence()
    ablation, study = evidence["ablations"]["teacher-data"], evidence["studies"]["teaching"]
    shared = ablation["kd_shared_teacher"]["per_seed"]
    assert ablation["seeds"] == study["protocol"]["seeds"] and len(shared) == len(ablation["seeds"])
    assert summarize(shared)["mean"] == pytest.approx(ablation["kd_shared_teacher"]["mean"], abs=1e-6)
    kd = [s["test_top1_last"] for s in study["methods"]["kd"]["per_seed"]]
    ce = [s["test_top1_last"] for s in study["methods"]["ce"]["per_seed"]]
    first, second = ablation["verdicts"]
    assert first["mean"] == pytest.approx(paired_difference(kd, shared)["mean"], abs=1e-6)
    assert second["mean"] == pytest.approx(paired_difference(shared, ce)["mean"], abs=1e-6)
    assert ablation["point"]["lr"] == study["methods"]["kd"]["lr"]
    assert ablation["point"]["setting"] == study["methods"]["kd"]["setting"]


def _benchmarks_table() -> list[list[str]]:
    text = BENCHMARKS.read_text(encoding="utf-8")
    section = re.split(r"\n#{2,3} ", text.split("## Distillation results", 1)[1], maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| method | lr | setting |"), "docs/benchmarks.md's results table has the study's header"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+\.\d+|[-+]?\d+", cell)]


def test_benchmarks_table_equals_the_headline_study():
    results = _evidence()["studies"]["teaching"]
    rows = _benchmarks_table()
    assert [row[0] for row in rows] == list(results["methods"])
    for row in rows:
        entry = results["methods"][row[0]]
        expected = [
            entry["lr"],
            entry["test_top1_last"]["mean"],
            entry["test_top1_last"]["std"],
            *entry["test_top1_last"]["ci95"],
            entry["test_top1_best_val"]["mean"],
            entry["test_top1_best_val"]["std"],
        ]
        for key, base in (("delta_vs_ce", "ce"), ("delta_vs_kd", "kd")):
            if row[0] != base:
                expected += [entry[key]["mean"], *entry[key]["ci95"]]
        assert row[2] == entry["setting"]["label"]
        shown = [x for cell in [row[1], *row[3:]] for x in _numbers(cell)]
        assert shown == pytest.approx(expected, abs=0.006), row[0]
    assert results_table(results) in BENCHMARKS.read_text(encoding="utf-8")


def test_docs_results_are_rendered_from_the_json(tmp_path):
    (tmp_path / "results.json").write_text(RESULTS.read_text(encoding="utf-8"))
    markdown = render_evidence(tmp_path)[0]
    assert markdown.read_text(encoding="utf-8") == (ROOT / "docs" / "results.md").read_text(encoding="utf-8")


class _NothingTrains:
    """An executor that refuses to train: every run must come from the unpacked archive."""

    def run_each(self, function, todo, arguments, finished, *, threads=1, device="cpu"):
        assert not todo, f"{len(todo)} run(s) missing from docs/evidence.tar.xz, e.g. {todo[0]}"


def test_the_committed_runs_rebuild_the_committed_evidence(tmp_path):
    """Unpacked, docs/evidence.tar.xz lets `ldrrld study --evidence` continue on another machine: here it
    trains nothing and rebuilds every number of docs/results.json."""
    import tarfile

    from ldrrld_core.study.evidence import run_evidence

    with tarfile.open(ROOT / "docs" / "evidence.tar.xz") as archive:
        archive.extractall(tmp_path, filter="data")
    rebuilt = json.loads(json.dumps(run_evidence(tmp_path, EVIDENCE, progress=False, executor=_NothingTrains())))
    committed = _evidence()
    assert rebuilt["ablations"] == committed["ablations"]
    assert rebuilt["seeds_for_0.3_points"] == committed["seeds_for_0.3_points"]
    for name, study in committed["studies"].items():
        for key in ("protocol", "methods", "comparisons", "schedule_check", "verdict"):
            assert rebuilt["studies"][name][key] == study[key], (name, key)


def test_the_summaries_quote_the_share_interval_and_the_holm_adjusted_bounds():
    """README and docs/benchmarks.md say of the committed evidence only what its intervals carry: the data
    share with its interval (not "more than half"), the data-vs-rest test unresolved, LDRRLD - KD's bound
    from the Holm-adjusted interval, and the study's verdict as the report frames it."""
    from ldrrld_core.study.evidence_report import across_studies, teacher_data_share
    from ldrrld_core.study.report import shown_comparisons, shown_verdict

    evidence = _evidence()
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    page = " ".join(BENCHMARKS.read_text(encoding="utf-8").split())
    share = teacher_data_share(evidence)
    low, high = share["share"]["ci95"]
    quoted = f"share of {share['share']['ratio']:.2f} of KD's gain, 95% interval [{low:.2f}, {high:.2f}]"
    assert quoted in readme and quoted in page
    assert share["data_minus_rest"]["p"] > 0.05 and f"p = {share['data_minus_rest']['p']:.2f}" in readme
    assert "more than half of KD's gain is data" not in readme and "little or nothing" not in page
    teaching = evidence["studies"]["teaching"]
    (ldrrld_kd,) = [
        v for v in shown_comparisons(teaching)["last_epoch"] if (v["first"], v["second"]) == ("LDRRLD", "KD")
    ]
    low, high = ldrrld_kd["ci_holm"]
    assert ldrrld_kd["direction"] == 0 and low < 0 < high
    assert f"LDRRLD is at most {-low:.2f} points worse than KD and at most {high:.2f} better" in page
    assert f"LDRRLD is at most {-low:.2f} points worse than KD and at most {high:.2f} better" in readme
    assert " ".join(shown_verdict(teaching).split()) in page, "docs/benchmarks.md quotes the framed verdict"
    rows = {(r["part"], r["first"], r["second"]): r for r in across_studies(evidence)}
    assert len(rows) == 20 and "over all 20 comparisons" in readme
    shared = rows["ablation: teacher-data", "KD, teacher on the students' images", "CE"]
    assert not shared["direction"] and f"Holm p {shared['p_holm_all']:.2f}" in page
