"""``ldrrld_core.study.stats``: each function against SciPy, a published table, a simulation or a hand-worked case."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from ldrrld_core.study.stats import (
    holm,
    minimum_detectable_difference,
    paired_difference,
    paired_p_value,
    paired_power,
    seeds_needed,
    standard_error,
    summarize,
    t_cdf,
    t_quantile,
)


# ------------------------------------------------------------------------------------- Student t
@pytest.mark.parametrize("df", [1, 2, 4, 9, 29, 1000])
def test_t_against_scipy(df):
    for p in (0.005, 0.025, 0.3, 0.5, 0.9, 0.975, 0.995):
        assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-12)
        assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)
    for x in (-5.0, -0.7, 0.0, 1.1, 3.0):
        assert t_cdf(x, df) == pytest.approx(scipy_stats.t.cdf(x, df), rel=1e-12)
    assert t_cdf(math.inf, df) == 1.0 and t_cdf(-math.inf, df) == 0.0


def test_t_rejects_bad_degrees_of_freedom():
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_cdf(1.0, 0)
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.9, -1)


def test_summary_interval_against_scipy():
    values = [88.1, 86.9, 88.9, 87.5, 88.2]
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert summarize(values)["ci95"] == pytest.approx([low, high], abs=1e-12)


# ------------------------------------------------------------------------------------- paired test
def test_paired_p_value_against_scipy_and_a_hand_computation():
    differences = [2.0, 1.0, 2.0]
    # t = mean / (sd / sqrt(n)) = (5/3) / ((1/sqrt(3)) / sqrt(3)) = 5, df 2: p = 2 P(T > 5) = 1 - 5/sqrt(27)
    # (closed form of the t CDF with 2 degrees of freedom).
    assert paired_p_value(differences) == pytest.approx(1 - 5 / math.sqrt(27), abs=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(5):
        sample = rng.normal(0.4, 1.0, size=6)
        expected = scipy_stats.ttest_rel(sample + 80.0, np.full(6, 80.0)).pvalue
        assert paired_p_value(sample.tolist()) == pytest.approx(expected, rel=1e-9)


def test_paired_p_value_of_constant_differences_is_its_limit():
    assert paired_p_value([0.5, 0.5, 0.5]) == 0.0
    assert paired_p_value([0.0, 0.0]) == 1.0
    with pytest.raises(ValueError, match="at least two differences"):
        paired_p_value([1.0])


def test_paired_difference_is_the_summary_of_the_differences():
    diff = paired_difference([70.0, 72.0, 71.0, 69.5], [68.0, 71.0, 69.0, 70.0])
    assert diff == {"mean": 1.125, "ci95": summarize([2.0, 1.0, 2.0, -0.5])["ci95"]}


# ------------------------------------------------------------------------------------- power
def simulated_power(n, delta, sd, alpha, trials, seed):
    """Monte-Carlo power: draw ``trials`` sets of ``n`` normal differences and count the t-test's rejections."""
    rng = np.random.default_rng(seed)
    draws = rng.normal(delta, sd, size=(trials, n))
    t = draws.mean(1) / (draws.std(1, ddof=1) / math.sqrt(n))
    critical = scipy_stats.t.ppf(1 - alpha / 2, n - 1)
    return float(np.mean(np.abs(t) > critical))


@pytest.mark.parametrize(
    "n, delta, sd, alpha", [(5, 1.0, 1.0, 0.05), (3, 2.0, 0.8, 0.05), (10, -0.5, 1.2, 0.05), (21, 0.5, 0.8, 0.01)]
)
def test_paired_power_against_a_simulation(n, delta, sd, alpha):
    trials = 200_000
    simulated = simulated_power(n, delta, sd, alpha, trials, seed=11)
    exact = paired_power(n, delta, sd, alpha)
    # the simulated share has standard error sqrt(p (1 - p) / trials) <= 0.0012; allow 4 of them
    assert exact == pytest.approx(simulated, abs=4 * math.sqrt(exact * (1 - exact) / trials) + 1e-4)


def test_paired_power_limits():
    assert paired_power(5, 0.0, 1.0) == 0.05  # no difference: the level
    assert paired_power(5, 1.0, 0.0) == 1.0  # no spread: any gap is seen
    assert paired_power(4, 1.0, 1.0) < paired_power(5, 1.0, 1.0) < paired_power(5, 2.0, 1.0)
    assert paired_power(5, 1.0, 1.0) == paired_power(5, -1.0, 1.0)
    assert paired_power(50, 10.0, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n \\(pairs"):
        paired_power(1, 1.0, 1.0)
    with pytest.raises(ValueError, match="sd"):
        paired_power(5, 1.0, -1.0)
    with pytest.raises(ValueError, match="alpha"):
        paired_power(5, 1.0, 1.0, alpha=1.5)


@pytest.mark.parametrize("n, sd, power", [(2, 1.0, 0.8), (5, 0.6, 0.8), (5, 1.0, 0.9), (30, 2.5, 0.5)])
def test_minimum_detectable_difference_round_trips_through_the_power(n, sd, power):
    smallest = minimum_detectable_difference(n, sd, power=power)
    assert smallest > 0
    assert paired_power(n, smallest, sd) == pytest.approx(power, abs=1e-9)
    assert paired_power(n, 0.99 * smallest, sd) < power
    # it scales with the SD: the noncentrality is delta sqrt(n) / sd
    assert minimum_detectable_difference(n, 3 * sd, power=power) == pytest.approx(3 * smallest, rel=1e-9)


def test_minimum_detectable_difference_near_the_normal_approximation_for_many_seeds():
    # for large n the t-test is nearly the z-test: delta = (z_{0.975} + z_{0.8}) sd / sqrt(n)
    n, sd = 400, 1.0
    normal = (scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)) * sd / math.sqrt(n)
    assert minimum_detectable_difference(n, sd) == pytest.approx(normal, rel=5e-3)
    assert minimum_detectable_difference(5, 0.0) == 0.0
    with pytest.raises(ValueError, match="power"):
        minimum_detectable_difference(5, 1.0, power=0.01)


@pytest.mark.parametrize("delta, sd", [(0.5, 0.8), (0.3, 0.8), (1.0, 0.5), (-2.0, 1.0), (0.05, 1.0)])
def test_seeds_needed_is_the_first_n_with_enough_power(delta, sd):
    n = seeds_needed(delta, sd)
    assert paired_power(n, delta, sd) >= 0.8
    assert n == 2 or paired_power(n - 1, delta, sd) < 0.8
    # a linear scan agrees with the doubling-and-bisection search
    scan = next(k for k in range(2, 10_000) if paired_power(k, delta, sd) >= 0.8)
    assert n == scan


def test_seeds_needed_edge_cases():
    assert seeds_needed(1.0, 0.0) == 2
    assert seeds_needed(100.0, 1.0) == 2
    with pytest.raises(ValueError, match="non-zero"):
        seeds_needed(0.0, 1.0)


# ------------------------------------------------------------------------------------- Holm
def statsmodels_holm(p_values):
    """statsmodels' ``multipletests(method="holm")`` formula, written out: sort, scale by m - rank,
    take the running maximum, cap at 1, unsort."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    scaled = p[order] * np.arange(len(p), 0, -1)
    adjusted = np.minimum(1, np.maximum.accumulate(scaled))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out.tolist()


def test_holm_hand_worked_example():
    # m = 4; sorted 0.01, 0.02, 0.03, 0.5 -> 4*0.01 = 0.04, 3*0.02 = 0.06, 2*0.03 = 0.06, 1*0.5 = 0.5
    assert holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    # the running maximum: 3*0.01 = 0.03, 2*0.04 = 0.08, then 1*0.045 = 0.045 is raised to 0.08
    assert holm([0.045, 0.01, 0.04]) == pytest.approx([0.08, 0.03, 0.08])
    # the cap: 2*0.7 = 1.4 -> 1
    assert holm([0.7, 0.9]) == [1.0, 1.0]
    assert holm([]) == [] and holm([0.2]) == [0.2]


def test_holm_against_the_statsmodels_formula_and_the_sweep_example():
    rng = np.random.default_rng(5)
    for size in (2, 5, 29):
        p = rng.uniform(0, 0.2, size=size).tolist()
        assert holm(p) == pytest.approx(statsmodels_holm(p), abs=1e-15)
    # the sweep's two smallest p among 29 comparisons (issue 22): neither survives
    family = [0.012, 0.017] + [0.5] * 27
    assert min(holm(family)) == pytest.approx(29 * 0.012) and all(p > 0.05 for p in holm(family))


def test_holm_rejects_values_that_are_not_p_values():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([float("nan")])


def test_standard_error_is_the_sample_deviation_over_root_n():
    # 1, 2, 3, 6: mean 3, squared deviations 4 + 1 + 0 + 9 = 14, sample variance 14 / 3
    assert standard_error([1, 2, 3, 6]) == pytest.approx(math.sqrt(14 / 3) / 2)
    assert standard_error([5.0]) is None and standard_error([2, 2]) == 0


def test_fieller_ratio_interval_is_the_set_of_ratios_a_paired_t_test_does_not_reject():
    from ldrrld_core.study.stats import paired_p_value, ratio_interval

    numerator, denominator = [5.2, 3.3, 4.8, 2.8, 3.7], [6.4, 5.6, 7.6, 6.0, 8.3]
    found = ratio_interval(numerator, denominator)
    assert found["ratio"] == pytest.approx(sum(numerator) / sum(denominator)) and found["n"] == 5
    low, high = found["ci95"]
    assert low < found["ratio"] < high
    for r, inside in ((low + 1e-6, True), (high - 1e-6, True), (low - 1e-3, False), (high + 1e-3, False)):
        p = paired_p_value([a - r * b for a, b in zip(numerator, denominator)])
        assert (p > 0.05) == inside, (r, p)
    # a denominator not resolved from 0 leaves the ratio unbounded
    assert ratio_interval([1.0, 2.0, 1.5], [1.0, -1.0, 0.5])["ci95"] is None
    with pytest.raises(ValueError, match="two or more pairs"):
        ratio_interval([1.0], [1.0])


def test_block_anova_against_a_hand_two_way_decomposition_and_scipy_f():
    from ldrrld_core.study.stats import block_anova

    rng = np.random.default_rng(3)
    table = rng.normal(size=(5, 3)) + np.arange(3)  # 5 treatments on 3 blocks with block effects
    found = block_anova(table.tolist())
    residual = table - table.mean(1, keepdims=True) - table.mean(0, keepdims=True) + table.mean()
    ms_error = (residual**2).sum() / (4 * 2)
    ms_treat = 3 * ((table.mean(1) - table.mean()) ** 2).sum() / 4
    assert found["f"] == pytest.approx(ms_treat / ms_error) and (found["df_treatment"], found["df_error"]) == (4, 8)
    assert found["p"] == pytest.approx(scipy_stats.f.sf(ms_treat / ms_error, 4, 8))
    assert found["error_sd"] == pytest.approx(np.sqrt(ms_error))
    # a block effect alone is removed: every treatment alike on each block gives F = 0, p = 1
    flat = block_anova([[1.0, 5.0, 9.0]] * 4)
    assert flat["f"] == 0.0 and flat["p"] == 1.0
    shifted = block_anova(table.tolist() + [list(table[0] + 10)])
    assert shifted["p"] < found["p"]
    with pytest.raises(ValueError, match="at least 2 treatments"):
        block_anova([[1.0, 2.0]])
