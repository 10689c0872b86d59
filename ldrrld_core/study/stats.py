"""Statistics over seeds: Student-t intervals, paired tests, their power, and Holm's adjustment.

The distributions come from SciPy (``scipy.stats.t`` and, for power, the noncentral
``scipy.stats.nct``); this module only says which question each one answers:

* :func:`summarize`, :func:`paired_difference`: mean, sample SD and the 95% Student-t interval;
* :func:`paired_p_value`: the two-sided paired t-test on per-seed differences;
* :func:`paired_power`, :func:`minimum_detectable_difference`, :func:`seeds_needed`: what a
  paired t-test with ``n`` seeds can resolve, so a null result can be read as a bound rather
  than as "no difference";
* :func:`holm`: Holm-Bonferroni adjusted p-values for a family of comparisons;
  :func:`holm_levels` and :func:`holm_intervals`: the level Holm's step-down tests each comparison
  at, and the Student-t interval at that level, which excludes 0 exactly when Holm resolves it;
* :func:`ratio_interval`: a ratio of two paired means (a share of a gain) with Fieller's interval;
* :func:`block_anova`: the omnibus F test of a grid of treatments measured on the same seeds
  (a randomised-block, or two-way repeated-measures, analysis of variance).

All take plain sequences of floats (accuracies in points) and return plain floats.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from scipy import optimize
from scipy import stats as _dist

__all__ = [
    "t_cdf",
    "t_quantile",
    "summarize",
    "standard_error",
    "paired_difference",
    "paired_p_value",
    "paired_power",
    "minimum_detectable_difference",
    "seeds_needed",
    "holm",
    "holm_levels",
    "holm_intervals",
    "ratio_interval",
    "block_anova",
]

#: The most seeds :func:`seeds_needed` will propose before it says the gap cannot be resolved.
MAX_SEEDS = 1_000_000


def t_cdf(x: float, df: float) -> float:
    """``P(T <= x)`` for Student's t with ``df > 0`` degrees of freedom (``scipy.stats.t.cdf``)."""
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df!r}")
    return float(_dist.t.cdf(x, df))


def t_quantile(p: float, df: float) -> float:
    """The ``x`` with ``t_cdf(x, df) == p``, for ``0 < p < 1`` (e.g. ``t_quantile(0.975, 4) = 2.776``)."""
    if not 0 < p < 1:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p!r}")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df!r}")
    return float(_dist.t.ppf(p, df))


def summarize(values: Sequence[float], confidence: float = 0.95) -> dict[str, object]:
    """``{"mean", "std", "ci95"}`` of ``values``: the sample standard deviation (``n - 1``) and
    the Student-t interval ``mean -/+ t_{(1 + confidence) / 2, n - 1} * std / sqrt(n)``.

    With one value the spread is unknown: ``std`` and ``ci95`` are ``None``.
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summarize needs at least one value")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "std": None, "ci95": None}
    std = statistics.stdev(values)
    half = t_quantile((1 + confidence) / 2, len(values) - 1) * std / math.sqrt(len(values))
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def standard_error(values: Sequence[float]) -> float | None:
    """The standard error of the mean of ``values``: their sample standard deviation over ``sqrt(n)``;
    ``None`` with one value, whose spread is unknown."""
    if len(values) < 2:
        return None
    return statistics.stdev(float(v) for v in values) / math.sqrt(len(values))


def _differences(values: Sequence[float], baseline: Sequence[float]) -> list[float]:
    if len(values) != len(baseline):
        raise ValueError(
            f"a paired difference needs one baseline value per value, got {len(values)} and {len(baseline)}"
        )
    return [float(a) - float(b) for a, b in zip(values, baseline)]


def paired_difference(values: Sequence[float], baseline: Sequence[float]) -> dict[str, object]:
    """Mean and 95% Student-t interval of ``values[i] - baseline[i]`` (the same seed ``i`` in both).

    Pairing removes what a seed does to every method alike (its initial weights and data
    order), so the interval is narrower than one built from the two means.
    """
    summary = summarize(_differences(values, baseline))
    return {"mean": summary["mean"], "ci95": summary["ci95"]}


def paired_p_value(differences: Sequence[float]) -> float:
    """Two-sided p of the paired t-test that the mean of per-seed ``differences`` is 0.

    ``scipy.stats.ttest_1samp(differences, 0)``. Needs two or more differences. When they are
    all equal the statistic is undefined (SciPy gives NaN); this returns its limit instead: 0
    when they differ from 0 (a constant, non-zero gap), 1 when they are all 0.
    """
    values = [float(v) for v in differences]
    if len(values) < 2:
        raise ValueError(f"a paired t-test needs at least two differences (seeds), got {len(values)}")
    if max(values) == min(values):
        return 0.0 if values[0] != 0 else 1.0
    return float(_dist.ttest_1samp(values, 0.0).pvalue)


def _check_test(n: int | None, sd: float, alpha: float, power: float | None = None) -> None:
    if n is not None and (int(n) != n or n < 2):
        raise ValueError(f"n (pairs, i.e. seeds) must be an integer >= 2, got {n!r}")
    if not (math.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd (standard deviation of the differences) must be finite and >= 0, got {sd!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if power is not None and not alpha < power < 1:
        raise ValueError(f"power must lie strictly between alpha ({alpha}) and 1, got {power!r}")


def paired_power(n: int, delta: float, sd: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` with ``n`` pairs.

    The chance that the test rejects "mean difference 0" when the true mean difference is
    ``delta`` and the differences have standard deviation ``sd``: the statistic follows a
    noncentral t with ``n - 1`` degrees of freedom and noncentrality ``delta sqrt(n) / sd``, so
    ``power = P(T > t_crit) + P(T < -t_crit)`` with ``t_crit = t_{1 - alpha/2, n - 1}``; it
    depends on ``|delta|`` only.
    ``delta = 0`` gives ``alpha``; ``sd = 0`` gives the limit (1 for any ``delta != 0``).
    """
    _check_test(n, sd, alpha)
    if delta == 0:
        return float(alpha)
    if sd == 0:
        return 1.0
    df, noncentrality = n - 1, abs(delta) * math.sqrt(n) / sd
    critical = _dist.t.ppf(1 - alpha / 2, df)
    # P(T < -c) for noncentrality nc is P(T > c) for -nc: SciPy's upper tail stays finite where its
    # far lower tail (nct.cdf) can return NaN (e.g. df 1, nc 8)
    return float(_dist.nct.sf(critical, df, noncentrality) + _dist.nct.sf(critical, df, -noncentrality))


def minimum_detectable_difference(n: int, sd: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest true mean difference (> 0) that ``n`` pairs detect with probability ``power``.

    Solves ``paired_power(n, delta, sd, alpha) == power`` for ``delta`` with
    ``scipy.optimize.brentq``; the same magnitude holds for a negative difference. In the units
    of ``sd`` (points, for accuracies); 0 when ``sd`` is 0.
    """
    _check_test(n, sd, alpha, power)
    if sd == 0:
        return 0.0
    high = sd
    while paired_power(n, high, sd, alpha) < power:
        high *= 2
    return float(optimize.brentq(lambda delta: paired_power(n, delta, sd, alpha) - power, 0.0, high, xtol=1e-12))


def seeds_needed(delta: float, sd: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """The fewest pairs (seeds, at least 2) whose paired t-test detects ``delta`` with ``power``.

    ``delta`` is the true mean difference (its sign does not matter) and ``sd`` the standard
    deviation of the per-seed differences, e.g. the one observed so far. Power grows with ``n``,
    so the answer is found by doubling and then bisection on :func:`paired_power`.
    """
    _check_test(None, sd, alpha, power)
    if not (math.isfinite(delta) and delta != 0):
        raise ValueError(f"delta (the gap to detect) must be finite and non-zero, got {delta!r}")

    def enough(n: int) -> bool:
        return paired_power(n, abs(delta), sd, alpha) >= power

    low, high = 1, 2  # invariant once found: not enough(low) (or low == 1), enough(high)
    while not enough(high):
        if high >= MAX_SEEDS:
            raise ValueError(f"a gap of {delta} with sd {sd} needs more than {MAX_SEEDS} seeds")
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order of ``p_values``.

    Step-down: with the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the ``k``-th
    (1-based) is adjusted to ``max_{j <= k} min(1, (m - j + 1) p_(j))``, so the adjusted values
    are monotone in the raw ones and never exceed 1. Rejecting every hypothesis whose adjusted p
    is below ``alpha`` keeps the chance of any false rejection in the family at most ``alpha``.
    """
    values = [float(p) for p in p_values]
    bad = [p for p in values if not 0 <= p <= 1]
    if bad:
        raise ValueError(f"p-values must lie in [0, 1], got {bad[0]!r}")
    m = len(values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=values.__getitem__)):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def holm_levels(p_values: Sequence[float], alpha: float = 0.05) -> list[float]:
    """The level at which Holm's step-down procedure tests each comparison, in the order of ``p_values``.

    With the ``m`` p-values sorted ascending, step ``k`` (0-based) tests at ``alpha / (m - k)`` while
    every earlier step rejected; at the first step that does not reject, the procedure stops, and
    that step's level holds for it and for every later one (none of them is rejected). So a
    comparison is rejected by Holm exactly when its p is below its level here, and its p-value
    adjusted by :func:`holm` is below ``alpha``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    adjusted = holm(p_values)  # also checks the p-values
    m = len(adjusted)
    levels = [0.0] * m
    stopped = None
    for rank, index in enumerate(sorted(range(m), key=lambda i: (float(p_values[i]), i))):
        if stopped is None and not adjusted[index] < alpha:
            stopped = alpha / (m - rank)
        levels[index] = stopped if stopped is not None else alpha / (m - rank)
    return levels


def holm_intervals(samples: Sequence[Sequence[float]], alpha: float = 0.05) -> list[list[float]]:
    """For each sample of per-seed differences, the Student-t interval at the level Holm tests it at.

    The family is every sample passed; p-values are :func:`paired_p_value`'s and levels
    :func:`holm_levels`'. Each interval has confidence ``1 - level``: wider than the unadjusted 95%
    one, and excluding 0 exactly when Holm's adjusted p is below ``alpha``, so a bound read from it
    ("A is at most X points worse than B") carries the family's multiplicity as the verdict does.
    A sample of constant differences has a zero-width interval.
    """
    if not samples:
        return []
    levels = holm_levels([paired_p_value(values) for values in samples], alpha)
    return [summarize(values, confidence=1 - level)["ci95"] for values, level in zip(samples, levels)]


def ratio_interval(
    numerator: Sequence[float], denominator: Sequence[float], confidence: float = 0.95
) -> dict[str, object]:
    """``mean(numerator) / mean(denominator)`` with Fieller's interval, for paired per-seed values.

    E.g. the share of KD's gain over CE that a teacher's extra data gives: per seed, ``numerator``
    the gain the extra data makes and ``denominator`` the whole gain. Fieller's interval is the set
    of ratios ``r`` for which the paired t-test of ``numerator - r * denominator`` does not reject at
    ``1 - confidence``: ``(a - r b)^2 <= t^2 (s_aa - 2 r s_ab + r^2 s_bb) / n`` with ``a``, ``b`` the
    means, ``s`` the sample (co)variances and ``t`` the Student-t quantile with ``n - 1`` degrees of
    freedom. It is bounded only when the denominator's mean is itself resolved from 0 at that
    level; otherwise ``ci95`` is ``None``. Returns ``{"ratio", "ci95", "n"}``.
    """
    a_values = [float(v) for v in numerator]
    b_values = [float(v) for v in denominator]
    if len(a_values) != len(b_values) or len(a_values) < 2:
        raise ValueError(
            f"a ratio of paired means needs two or more pairs, got {len(a_values)} and {len(b_values)} values"
        )
    n = len(a_values)
    a, b = statistics.fmean(a_values), statistics.fmean(b_values)
    if b == 0:
        raise ValueError("the denominator's mean is 0: the ratio is undefined")
    s_aa, s_bb = statistics.variance(a_values), statistics.variance(b_values)
    s_ab = statistics.covariance(a_values, b_values)
    t2 = t_quantile((1 + confidence) / 2, n - 1) ** 2 / n
    qa, qb, qc = b * b - t2 * s_bb, -2 * (a * b - t2 * s_ab), a * a - t2 * s_aa
    disc = qb * qb - 4 * qa * qc
    ci = None
    if qa > 0 and disc >= 0:
        root = math.sqrt(disc)
        ci = [(-qb - root) / (2 * qa), (-qb + root) / (2 * qa)]
    return {"ratio": a / b, "ci95": ci, "n": n}


def block_anova(table: Sequence[Sequence[float]]) -> dict[str, float]:
    """The omnibus F test that ``k`` treatments measured on the same ``n`` blocks (seeds) share one mean.

    ``table[i][j]`` is treatment ``i`` on block ``j`` (every treatment on every block). The
    randomised-block analysis removes each block's common effect: with grand mean ``g``,
    ``SS_treat = n sum_i (mean_i - g)^2``, ``SS_block = k sum_j (mean_j - g)^2`` and
    ``SS_error = SS_total - SS_treat - SS_block``; ``F = (SS_treat / (k - 1)) / (SS_error / ((k - 1)(n - 1)))``
    against the F distribution (``scipy.stats.f``). Returns ``{"f", "df_treatment", "df_error", "p",
    "error_sd"}``, ``error_sd`` the square root of the error mean square: the spread of one
    measurement around its treatment and block means, so ``sqrt(2) * error_sd`` is the pooled SD of
    a paired difference between two treatments.
    """
    rows = [[float(v) for v in row] for row in table]
    k = len(rows)
    n = len(rows[0]) if rows else 0
    if k < 2 or n < 2 or any(len(row) != n for row in rows):
        raise ValueError("block_anova needs at least 2 treatments x 2 blocks, every treatment on every block")
    grand = statistics.fmean(v for row in rows for v in row)
    treat = [statistics.fmean(row) for row in rows]
    block = [statistics.fmean(row[j] for row in rows) for j in range(n)]
    ss_total = sum((v - grand) ** 2 for row in rows for v in row)
    ss_treat = n * sum((m - grand) ** 2 for m in treat)
    ss_block = k * sum((m - grand) ** 2 for m in block)
    df_t, df_e = k - 1, (k - 1) * (n - 1)
    ss_error = max(ss_total - ss_treat - ss_block, 0.0)
    ms_error = ss_error / df_e
    if ms_error == 0:
        f, p = (math.inf, 0.0) if ss_treat > 0 else (0.0, 1.0)
    else:
        f = (ss_treat / df_t) / ms_error
        p = float(_dist.f.sf(f, df_t, df_e))
    return {"f": f, "df_treatment": df_t, "df_error": df_e, "p": p, "error_sd": math.sqrt(ms_error)}
