"""Successive halving replayed on curves whose answer is known (ldrrld_core/study/halving.py)."""

import json
import sys
from pathlib import Path

import pytest

from ldrrld_core.study.halving import grid_as_run, rung_score, rungs_at, successive_halving
from ldrrld_core.study.protocol import selection_score
from ldrrld_core.study.tuning import Axis, Point


def flat(level: float, epochs: int = 12, seeds: int = 2) -> list[list[float]]:
    return [[level] * epochs for _ in range(seeds)]


def late(early: float, final: float, switch: int, epochs: int = 12, seeds: int = 2) -> list[list[float]]:
    """Behind at ``early`` until epoch ``switch``, then at ``final``."""
    return [[early if epoch <= switch else final for epoch in range(1, epochs + 1)] for _ in range(seeds)]


def test_a_configuration_best_from_the_start_is_kept():
    configs = [flat(50), flat(70), flat(60), flat(40)]
    result = successive_halving(configs, (3, 6, 12), eta=2, last=2)
    assert result.chosen == 1
    assert result.survivors == ((0, 1, 2, 3), (1, 2), (1,))


def test_a_configuration_that_overtakes_late_is_lost_at_an_early_rung():
    configs = [flat(60), late(30, 90, switch=9), flat(55), flat(50)]
    assert successive_halving(configs, (12,), eta=2, last=2).chosen == 1  # the full grid
    halving = successive_halving(configs, (3, 6, 12), eta=2, last=2)
    assert halving.chosen == 0 and 1 not in halving.survivors[1]
    # a cut after it has overtaken keeps it
    assert successive_halving(configs, (10, 12), eta=2, last=1).chosen == 1


def test_compute_is_counted_exactly():
    configs = [flat(v, seeds=3) for v in (10, 20, 30, 40, 50)]
    result = successive_halving(configs, (3, 6, 12), eta=2, last=1)
    # 5 configurations x 3 seeds to epoch 3; ceil(5/2) = 3 to epoch 6; ceil(3/2) = 2 to epoch 12
    assert result.epochs == 5 * 3 * 3 + 3 * 3 * 3 + 2 * 3 * 6 == 108
    assert result.full_epochs == 5 * 3 * 12
    assert result.saved == pytest.approx(1 - 108 / 180)
    assert result.chosen == 4
    assert successive_halving(configs, (12,), eta=3, last=1).epochs == 180  # one rung: the full grid


def test_ties_go_to_the_earlier_configuration_and_the_last_rung_scores_as_the_protocol():
    curves = [[float(v) for v in range(1, 13)], [5.0] * 12]
    assert rung_score(curves, 12, 5) == pytest.approx((selection_score(_rows(curves[0]), 5) + 5.0) / 2)
    assert rung_score([[], [4.0] * 12], 12, 5) == pytest.approx(2.0)  # a diverged seed scores 0
    assert successive_halving([flat(80), flat(80), flat(80)], (4, 12), eta=2, last=3).chosen == 0


def test_rungs_and_bad_arguments():
    assert rungs_at(60, (1 / 4, 1 / 2, 1)) == (15, 30, 60)
    assert rungs_at(60, (5 / 6, 1)) == (50, 60)
    with pytest.raises(ValueError, match="not increasing"):
        rungs_at(60, (1 / 2, 1 / 2, 1))
    with pytest.raises(ValueError, match="end of the schedule"):
        successive_halving([flat(1)], (3, 6), eta=2, last=1)
    with pytest.raises(ValueError, match="eta"):
        successive_halving([flat(1)], (12,), eta=1, last=1)


def test_grid_as_run_replays_the_widening_rule():
    axes = (Axis("beta", (1.0, 2.0)),)

    def score(point: Point) -> float:  # best at the largest rate and the largest beta: widen both
        return point.lr + point.values[0]

    tried = grid_as_run([0.1, 0.2], axes, score, max_widenings=1)
    assert tried[:4] == [Point(0.1, (1.0,)), Point(0.1, (2.0,)), Point(0.2, (1.0,)), Point(0.2, (2.0,))]
    assert set(tried[4:]) == {Point(0.4, (2.0,)), Point(0.2, (4.0,))}
    assert grid_as_run([0.1, 0.2], axes, score, max_widenings=0) == tried[:4]


def test_the_agreement_script_reads_the_committed_evidence(capsys):
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "benchmarks"))
    import halving_agreement

    assert halving_agreement.main([]) == 0
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.startswith("| eta ")]
    assert len(summary) == len(halving_agreement.RULES)
    results = json.loads((root / "docs" / "results.json").read_text(encoding="utf-8"))
    cases = sum(len(study["protocol"]["tried"]) for study in results["studies"].values())
    assert all(f" of {cases} |" in line for line in summary)


def _rows(curve):
    return [{"val_top1": v} for v in curve]
