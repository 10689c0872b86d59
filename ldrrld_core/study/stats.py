"""Summary statistics over seeds: mean, sample standard deviation and Student-t intervals.

No SciPy: the Student-t distribution function is integrated numerically from its density
(Simpson's rule on a change of variable that maps ``[0, inf)`` to a finite interval) and
inverted by bisection, which is accurate to far more digits than accuracies over five seeds
need (tests compare it with tabulated quantiles and the closed forms for 1 and 2 degrees of
freedom).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["t_cdf", "t_quantile", "summarize", "paired_difference"]

_SIMPSON_INTERVALS = 2000  # even; the integrand is smooth after the change of variable


def _t_density(x: float, df: float) -> float:
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))


def t_cdf(x: float, df: float) -> float:
    """``P(T <= x)`` for Student's t with ``df > 0`` degrees of freedom.

    ``P(0 <= T <= x)`` is the integral of the density over ``[0, |x|]``; with ``x = tan(theta)``
    the integrand ``f(tan theta) / cos^2 theta`` is smooth on ``[0, atan |x|]``.
    """
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df!r}")
    if math.isinf(x):
        return 1.0 if x > 0 else 0.0
    end = math.atan(abs(x))
    step = end / _SIMPSON_INTERVALS

    def integrand(theta: float) -> float:
        return _t_density(math.tan(theta), df) / math.cos(theta) ** 2

    total = integrand(0.0) + integrand(end)
    total += sum((4 if i % 2 else 2) * integrand(i * step) for i in range(1, _SIMPSON_INTERVALS))
    half = total * step / 3
    return 0.5 + half if x >= 0 else 0.5 - half


def t_quantile(p: float, df: float) -> float:
    """The ``x`` with ``t_cdf(x, df) == p``, for ``0 < p < 1`` (e.g. ``t_quantile(0.975, 4) = 2.776``)."""
    if not 0 < p < 1:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p!r}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2 * high
    for _ in range(60):  # bisection: the bracket shrinks below 1e-12 of its start
        middle = (low + high) / 2
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2


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


def paired_difference(values: Sequence[float], baseline: Sequence[float]) -> dict[str, object]:
    """Mean and 95% Student-t interval of ``values[i] - baseline[i]`` (the same seed ``i`` in both).

    Pairing removes what a seed does to every method alike (its initial weights and data
    order), so the interval is narrower than one built from the two means.
    """
    if len(values) != len(baseline):
        raise ValueError(
            f"a paired difference needs one baseline value per value, got {len(values)} and {len(baseline)}"
        )
    summary = summarize([a - b for a, b in zip(values, baseline)])
    return {"mean": summary["mean"], "ci95": summary["ci95"]}
