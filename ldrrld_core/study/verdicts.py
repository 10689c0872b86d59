"""Verdicts that say what the seeds can: resolved differences, bounds for the rest, and what was detectable.

For each paired comparison "A - B" (per-seed differences of one measure, the same seed in both)
:func:`paired_verdicts` reports the mean, the 95% Student-t interval, the paired t-test's p, the
Holm-adjusted p within the family passed together, the Student-t interval at the level Holm's
step-down tests that comparison at (:func:`~.stats.holm_intervals`: it excludes 0 exactly when
the Holm-adjusted p is below 0.05), and the smallest difference those seeds detect at 80% power.
Its sentence says "A > B" only when the Holm-adjusted p is below 0.05 *and* the interval excludes
0; otherwise it states the bound the Holm-adjusted interval gives ("A is at most X points better
than B and at most Y points worse"), so the bound carries the family's multiplicity as the
verdict does, never "no difference" or "within noise", which
are not what an interval that contains 0 shows. :func:`framed_sentence` opens an unresolved one with
what its seeds can tell ("With 2 seeds these runs cannot tell A and B apart: ..."), as the study's
printed and rendered verdicts show it.

:func:`disagreements` compares two families of the same comparisons, e.g. the last-epoch and
the best-validation-epoch accuracies, and flags those where the two conclusions differ.

Pure functions on plain numbers (points of accuracy); :mod:`.stats` does the statistics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from .stats import holm, holm_intervals, minimum_detectable_difference, paired_p_value, summarize

__all__ = ["PairedVerdict", "Disagreement", "paired_verdicts", "disagreements", "framed_sentence"]

#: The family-wise level of the verdicts and the power at which the detectable difference is given.
ALPHA, POWER = 0.05, 0.8


@dataclass(frozen=True)
class PairedVerdict:
    """What the per-seed differences ``first - second`` of one comparison say.

    Attributes:
        first, second: the two methods' names (the difference is ``first - second``).
        n: number of seeds (pairs).
        mean: mean difference, in points.
        ci95: ``(low, high)``, the 95% Student-t interval of the mean difference.
        p: two-sided paired t-test p (:func:`~.stats.paired_p_value`).
        p_holm: ``p`` adjusted with Holm's step-down method within the family it was passed in.
        detectable: the smallest true difference these ``n`` seeds detect with 80% power at the
            observed SD of the differences (:func:`~.stats.minimum_detectable_difference`).
        direction: ``1`` when ``first > second`` is resolved, ``-1`` when ``second > first`` is,
            ``0`` when neither is (Holm-adjusted p >= 0.05, or the interval contains 0).
        sentence: the verdict in words.
        ci_holm: ``(low, high)``, the Student-t interval at the level Holm's step-down tests this
            comparison at within its family (:func:`~.stats.holm_intervals`); the bound an
            unresolved sentence states. ``None`` in a verdict stored before it was added.
    """

    first: str
    second: str
    n: int
    mean: float
    ci95: tuple[float, float]
    p: float
    p_holm: float
    detectable: float
    direction: int
    sentence: str
    ci_holm: tuple[float, float] | None = None

    @property
    def name(self) -> str:
        return f"{self.first} - {self.second}"

    def as_dict(self) -> dict[str, object]:
        """The fields as JSON-ready values (``ci95`` as a list)."""
        return {
            **asdict(self),
            "ci95": list(self.ci95),
            "ci_holm": None if self.ci_holm is None else list(self.ci_holm),
        }


def _points(value: float) -> str:
    return f"{value:.2f} point" + ("" if value == 1 else "s")


def _sentence(
    first: str,
    second: str,
    mean: float,
    ci95: tuple[float, float],
    p_holm: float,
    direction: int,
    ci_holm: tuple[float, float] | None = None,
) -> str:
    low, high = ci95
    interval = f"mean {mean:+.2f} [{low:+.2f}, {high:+.2f}]"
    if ci_holm is not None:
        interval += f", Holm-adjusted interval [{ci_holm[0]:+.2f}, {ci_holm[1]:+.2f}]"
    if direction > 0:
        return f"{first} > {second}: {interval}, Holm-adjusted p = {p_holm:.3g}"
    if direction < 0:
        return f"{second} > {first}: {interval}, Holm-adjusted p = {p_holm:.3g}"
    low, high = ci_holm if ci_holm is not None else ci95  # the bound carries the family's adjustment
    if low < 0 < high:
        bound = f"{first} is at most {_points(high)} better than {second} and at most {_points(-low)} worse"
    elif high <= 0:  # the interval lies below 0, but the adjusted p does not resolve it
        bound = f"{first} is at most {_points(-low)} worse than {second}"
    else:
        bound = f"{first} is at most {_points(high)} better than {second}"
    return f"{bound} ({interval}, Holm-adjusted p = {p_holm:.3g}: not resolved)"


def framed_sentence(verdict: PairedVerdict | Mapping) -> str:
    """A verdict's sentence as a reader should meet it: an unresolved comparison opens with what its
    seeds can tell, before the bound its interval gives, e.g. ``"With 2 seeds these runs cannot tell
    DKD and KD apart: DKD is at most 34.23 points better than KD and ... (mean ..., Holm-adjusted
    p = 0.4: not resolved); 2 seeds detect a true gap of 40.1 points with 80% power"``. A resolved
    one is returned as it is. Takes a :class:`PairedVerdict` or its stored dictionary (``as_dict``,
    as ``results.json`` holds it), whose ``sentence`` stays unframed.
    """
    entry = verdict.as_dict() if isinstance(verdict, PairedVerdict) else verdict
    if entry["direction"]:
        return entry["sentence"]
    frame = f"With {entry['n']} seeds these runs cannot tell {entry['first']} and {entry['second']} apart"
    return f"{frame}: {entry['sentence']}"


def paired_verdicts(
    differences: Mapping[tuple[str, str], Sequence[float]], *, power: float = POWER
) -> list[PairedVerdict]:
    """One :class:`PairedVerdict` per comparison, in the mapping's order; Holm within this family.

    Args:
        differences: ``{(first, second): [first - second for each seed]}``, e.g.
            ``{("LDRRLD", "DKD"): [0.4, 1.1, -0.2, 0.9, 0.3]}``; at least two seeds each.
        power: the power at which :attr:`PairedVerdict.detectable` is given (default 0.8).

    A comparison is resolved when its Holm-adjusted p is below :data:`ALPHA` (0.05) and its 95%
    interval excludes 0 (the two can disagree: that interval is not adjusted; ``ci_holm`` is, and
    excludes 0 exactly when the adjusted p is below 0.05).

    Pass every comparison one claim rests on together (e.g. all of a study's, or all of a
    sweep's), since Holm's adjustment depends on the family.
    """
    if not differences:
        raise ValueError("no comparisons: pass {(first, second): [per-seed differences first - second]}")
    rows = []
    for (first, second), values in differences.items():
        values = [float(v) for v in values]
        if len(values) < 2 or not all(math.isfinite(v) for v in values):
            raise ValueError(
                f"comparison {first} - {second}: needs two or more finite per-seed differences, got {values}"
            )
        summary = summarize(values)
        std = float(summary["std"])
        rows.append((first, second, values, summary, std, paired_p_value(values)))
    adjusted = holm([row[-1] for row in rows])
    holm_cis = holm_intervals([row[2] for row in rows])
    verdicts = []
    for (first, second, values, summary, std, p), p_holm, ci_holm in zip(rows, adjusted, holm_cis):
        low, high = summary["ci95"]
        resolved = p_holm < ALPHA and (low > 0 or high < 0)
        direction = (1 if summary["mean"] > 0 else -1) if resolved else 0
        detectable = minimum_detectable_difference(len(values), std, power=power, alpha=ALPHA)
        ci_holm = (float(ci_holm[0]), float(ci_holm[1]))
        sentence = _sentence(first, second, float(summary["mean"]), (low, high), p_holm, direction, ci_holm)
        sentence += f"; {len(values)} seeds detect a true gap of {_points(detectable)} with {power:.0%} power"
        verdicts.append(
            PairedVerdict(
                first=first,
                second=second,
                n=len(values),
                mean=float(summary["mean"]),
                ci95=(float(low), float(high)),
                p=p,
                p_holm=p_holm,
                detectable=detectable,
                direction=direction,
                sentence=sentence,
                ci_holm=ci_holm,
            )
        )
    return verdicts


@dataclass(frozen=True)
class Disagreement:
    """A comparison whose conclusion differs between two families (e.g. last epoch and best-val)."""

    first: str
    second: str
    verdicts: dict[str, PairedVerdict]
    sentence: str


def _conclusion(verdict: PairedVerdict) -> str:
    if verdict.direction > 0:
        return f"{verdict.first} > {verdict.second}"
    if verdict.direction < 0:
        return f"{verdict.second} > {verdict.first}"
    return "not resolved"


def disagreements(
    last_epoch: Sequence[PairedVerdict],
    best_val: Sequence[PairedVerdict],
    *,
    labels: tuple[str, str] = ("last epoch", "best-val epoch"),
) -> list[Disagreement]:
    """The comparisons whose resolved direction differs between the two families, in ``last_epoch``'s order.

    Both families must hold the same comparisons (matched by ``(first, second)``), each from its
    own :func:`paired_verdicts` call. A comparison disagrees when one family resolves it and the
    other does not, or when they resolve it in opposite directions.
    """
    by_name = {(v.first, v.second): v for v in best_val}
    names = [(v.first, v.second) for v in last_epoch]
    if sorted(names) != sorted(by_name) or len(names) != len(best_val):
        missing = sorted(set(names) ^ set(by_name))
        raise ValueError(
            "the two families must hold the same comparisons, each once; "
            f"differing: {', '.join(f'{a} - {b}' for a, b in missing) or 'a comparison repeated'}"
        )
    found = []
    for last in last_epoch:
        best = by_name[(last.first, last.second)]
        if last.direction != best.direction:
            sentence = (
                f"{last.name}: {labels[0]} says {_conclusion(last)}, {labels[1]} says {_conclusion(best)}; report both"
            )
            found.append(Disagreement(last.first, last.second, {labels[0]: last, labels[1]: best}, sentence))
    return found
