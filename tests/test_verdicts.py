"""``ldrrld_core.study.verdicts``: resolved differences, bounds for the rest, and where two families disagree."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ldrrld_core.study.stats import paired_power
from ldrrld_core.study.verdicts import disagreements, framed_sentence, paired_verdicts

# Three comparisons over five seeds: one clearly positive, one whose interval contains 0, one clearly negative.
FAMILY = {
    ("LDRRLD", "DKD"): [1.0, 2.1, 0.6, 1.5, 1.2],
    ("LDRRLD", "KD"): [-1.0, 0.5, -0.3, 0.1, -0.6],
    ("KD", "CE"): [-3.0, -2.5, -2.0, -3.5, -2.2],
}


def test_each_number_against_scipy_and_a_hand_holm():
    verdicts = paired_verdicts(FAMILY)
    assert [v.name for v in verdicts] == ["LDRRLD - DKD", "LDRRLD - KD", "KD - CE"]
    raw = [scipy_stats.ttest_1samp(values, 0).pvalue for values in FAMILY.values()]
    order = np.argsort(raw)  # Holm by hand: 3, 2, 1 times the sorted p, running maximum, cap 1
    holm = np.empty(3)
    holm[order] = np.minimum(1, np.maximum.accumulate(np.array(raw)[order] * [3, 2, 1]))
    for verdict, values, p, p_holm in zip(verdicts, FAMILY.values(), raw, holm):
        low, high = scipy_stats.t.interval(0.95, 4, loc=np.mean(values), scale=scipy_stats.sem(values))
        assert verdict.n == 5 and verdict.mean == pytest.approx(np.mean(values))
        assert verdict.ci95 == pytest.approx((low, high), abs=1e-12)
        assert verdict.p == pytest.approx(p, rel=1e-9) and verdict.p_holm == pytest.approx(p_holm, rel=1e-9)
        # the detectable difference is the one these seeds detect with 80% power at the observed SD
        assert paired_power(5, verdict.detectable, np.std(values, ddof=1)) == pytest.approx(0.8, abs=1e-9)
        assert f"detect a true gap of {verdict.detectable:.2f} points with 80% power" in verdict.sentence
    assert [v.direction for v in verdicts] == [1, 0, -1]


def test_sentences_say_a_direction_only_when_resolved_and_bounds_otherwise():
    better, unresolved, worse = paired_verdicts(FAMILY)
    assert better.sentence.startswith("LDRRLD > DKD: mean +1.28 [+0.58, +1.98]")
    assert worse.sentence.startswith("CE > KD: mean -2.64")
    low, high = unresolved.ci_holm
    assert low <= unresolved.ci95[0] < 0 < unresolved.ci95[1] <= high
    assert unresolved.sentence.startswith(
        f"LDRRLD is at most {high:.2f} points better than KD and at most {-low:.2f} points worse"
    )
    assert ">" not in unresolved.sentence and "not resolved" in unresolved.sentence
    for verdict in (better, unresolved, worse):
        assert not any(word in verdict.sentence for word in ("noise", "confirmed", "equivalent", "no difference"))


def test_an_interval_that_excludes_zero_is_still_a_bound_when_holm_does_not_resolve_it():
    # raw p about 0.03 each: every 95% interval excludes 0, but Holm over three gives 0.09 and more
    family = {("A", "B"): [0.9, 1.8, 1.1, 0.5], ("C", "D"): [0.9, 1.8, 1.1, 0.5], ("E", "F"): [-0.9, -1.8, -1.1, -0.5]}
    verdicts = paired_verdicts(family)
    for verdict in verdicts:
        assert 0.02 < verdict.p < 0.05 and verdict.p_holm > 0.05
        assert verdict.ci95[0] > 0 or verdict.ci95[1] < 0
        assert verdict.direction == 0 and ">" not in verdict.sentence
    # the bound is the Holm-adjusted interval's, which contains 0 as the adjusted p says
    for verdict in verdicts:
        low, high = verdict.ci_holm
        assert low < 0 < high and low < verdict.ci95[0] and high > verdict.ci95[1]
    low, high = verdicts[0].ci_holm
    assert verdicts[0].sentence.startswith(
        f"A is at most {high:.2f} points better than B and at most {-low:.2f} points worse ("
    )
    assert f"Holm-adjusted interval [{low:+.2f}, {high:+.2f}]" in verdicts[0].sentence
    # alone, the same differences are resolved: Holm depends on the family passed
    alone = paired_verdicts({("A", "B"): family[("A", "B")]})[0]
    assert alone.p_holm == alone.p and alone.direction == 1 and alone.sentence.startswith("A > B")


def test_an_unresolved_verdict_is_framed_by_what_its_seeds_can_tell():
    """As the study prints it: an unresolved comparison opens with its seed count, then the bound, and
    ends with the gap those seeds would detect; a resolved one is not framed; the stored sentence (and
    a stored dictionary of it, as results.json holds it) stays as it was."""
    better, unresolved, worse = paired_verdicts(FAMILY)
    framed = framed_sentence(unresolved)
    assert framed == f"With 5 seeds these runs cannot tell LDRRLD and KD apart: {unresolved.sentence}"
    assert framed.endswith(f"5 seeds detect a true gap of {unresolved.detectable:.2f} points with 80% power")
    assert framed_sentence(unresolved.as_dict()) == framed
    assert framed_sentence(better) == better.sentence and framed_sentence(worse.as_dict()) == worse.sentence
    (wide,) = paired_verdicts({("DKD", "KD"): [2.0, 29.0]})  # two seeds far apart: a wide bound
    assert wide.ci_holm == pytest.approx(wide.ci95)  # a family of one: Holm's level is 0.05
    assert framed_sentence(wide).startswith(
        f"With 2 seeds these runs cannot tell DKD and KD apart: DKD is at most {wide.ci95[1]:.2f} points better"
    )


def test_constant_differences_and_bad_input():
    (constant,) = paired_verdicts({("A", "B"): [0.5, 0.5, 0.5]})
    assert constant.ci95 == (0.5, 0.5) and constant.p == 0.0 and constant.detectable == 0.0
    assert constant.direction == 1
    with pytest.raises(ValueError, match="comparison A - B: needs two or more"):
        paired_verdicts({("A", "B"): [1.0]})
    with pytest.raises(ValueError, match="comparison A - B: needs two or more"):
        paired_verdicts({("A", "B"): [1.0, float("nan")]})
    with pytest.raises(ValueError, match="no comparisons"):
        paired_verdicts({})


def test_disagreements_between_last_epoch_and_best_val():
    last = paired_verdicts(FAMILY)
    best_family = dict(FAMILY)
    best_family[("LDRRLD", "DKD")] = [1.0, -2.1, 0.6, 1.5, 1.2]  # no longer resolved
    best_family[("KD", "CE")] = [3.0, 2.5, 2.0, 3.5, 2.2]  # resolved the other way
    best = paired_verdicts(best_family)
    found = disagreements(last, best)
    assert [(d.first, d.second) for d in found] == [("LDRRLD", "DKD"), ("KD", "CE")]
    assert found[0].sentence == (
        "LDRRLD - DKD: last epoch says LDRRLD > DKD, best-val epoch says not resolved; report both"
    )
    assert found[1].sentence == "KD - CE: last epoch says CE > KD, best-val epoch says KD > CE; report both"
    assert found[0].verdicts["best-val epoch"] is best[0]
    assert disagreements(last, paired_verdicts(FAMILY)) == []
    with pytest.raises(ValueError, match="same comparisons.*KD - CE"):
        disagreements(last, best[:2])


def test_the_holm_adjusted_interval_is_the_t_interval_at_the_level_of_its_holm_step():
    """Sorted by p, Holm tests the k-th (0-based) of m at 0.05 / (m - k) while every earlier one was
    rejected; from the first step that does not reject, that step's level holds for the rest."""
    verdicts = paired_verdicts(FAMILY)
    order = sorted(range(3), key=lambda i: verdicts[i].p)
    levels = {order[0]: 0.05 / 3, order[1]: 0.05 / 2, order[2]: 0.05 / 1}
    assert [verdicts[i].direction != 0 for i in order] == [True, True, False]
    # three p-values of which only the first is rejected: the other two are both tested at 0.05 / 2
    from ldrrld_core.study.stats import holm_levels

    assert holm_levels([0.001, 0.04, 0.03]) == pytest.approx([0.05 / 3, 0.05 / 2, 0.05 / 2])
    for i, (verdict, values) in enumerate(zip(verdicts, FAMILY.values())):
        low, high = scipy_stats.t.interval(1 - levels[i], 4, loc=np.mean(values), scale=scipy_stats.sem(values))
        assert verdict.ci_holm == pytest.approx((low, high), abs=1e-9)
        assert (verdict.ci_holm[0] > 0 or verdict.ci_holm[1] < 0) == (verdict.p_holm < 0.05)
    assert verdicts[0].as_dict()["ci_holm"] == list(verdicts[0].ci_holm)
