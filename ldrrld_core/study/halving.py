"""Would successive halving have chosen what the full grid chose? A replay on stored curves.

The protocol (:mod:`.protocol`) trains every point of a method's grid to the end of the schedule
on every selection seed, then keeps the point with the best score: validation top-1 averaged over
the last ``select_last`` epochs and over the seeds. Successive halving trains the same points but
stops most of them early: at each *rung* (an epoch of the same schedule) it ranks the survivors
by the same score, taken over the ``last`` epochs up to the rung, and lets only the best
``ceil(n / eta)`` of them go on. At the last rung, the end of the schedule, the score is the
protocol's own, so halving chooses what the full grid chooses exactly when the full grid's choice
survives every earlier rung.

Nothing here trains. :func:`successive_halving` replays the rule on curves that were trained in
full (each run's validation top-1 per epoch, as the study's run files store them), and counts the
epochs halving would have trained. :func:`grid_as_run` replays the protocol's widening
(:func:`~.tuning.widenings`) from the stored scores, so that halving is compared on the grid the
study actually ran, widenings included. ``benchmarks/halving_agreement.py`` applies both to the
committed evidence.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .tuning import Axis, Point, initial_points, widenings

__all__ = ["Halving", "rung_score", "rungs_at", "successive_halving", "grid_as_run"]

#: One configuration's curves: per selection seed, its validation top-1 per epoch (index 0: epoch 1);
#: an empty curve is a run that diverged (it scores 0, as in the protocol).
Curves = Sequence[Sequence[float]]


@dataclass(frozen=True)
class Halving:
    """What successive halving chose and what it cost.

    Attributes:
        chosen: index of the chosen configuration.
        rungs: the epochs at which it ranked.
        survivors: per rung, the indices of the configurations trained up to it.
        epochs: epochs trained, summed over configurations and seeds.
        full_epochs: what the full grid trains (every configuration and seed to the last rung).
    """

    chosen: int
    rungs: tuple[int, ...]
    survivors: tuple[tuple[int, ...], ...]
    epochs: int
    full_epochs: int

    @property
    def saved(self) -> float:
        """The share of the full grid's epochs that halving does not train."""
        return 1 - self.epochs / self.full_epochs


def rung_score(curves: Curves, epoch: int, last: int) -> float:
    """Validation top-1 averaged over the ``last`` epochs up to ``epoch`` and over the seeds (0 for a
    diverged seed); at the schedule's end, the protocol's :func:`~.protocol.selection_score`."""
    from .protocol import selection_score

    return statistics.fmean(selection_score([{"val_top1": v} for v in curve[:epoch]], last) for curve in curves)


def rungs_at(epochs: int, fractions: Sequence[float]) -> tuple[int, ...]:
    """The rungs at ``fractions`` of an ``epochs``-long schedule, rounded to whole epochs; the last
    is the schedule's end: ``rungs_at(60, (1/4, 1/2, 1)) == (15, 30, 60)``."""
    rungs = tuple(max(1, round(f * epochs)) for f in fractions)
    if rungs[-1] != epochs or any(b <= a for a, b in zip(rungs, rungs[1:])):
        raise ValueError(
            f"fractions {list(fractions)} of {epochs} epochs give rungs {list(rungs)}: not increasing to the end"
        )
    return rungs


def successive_halving(configs: Sequence[Curves], rungs: Sequence[int], *, eta: float, last: int) -> Halving:
    """Replay successive halving over ``configs`` (each one's :data:`Curves`, in the protocol's order).

    At every rung but the last, the survivors are ranked by :func:`rung_score` and the best
    ``ceil(n / eta)`` go on; at the last rung (the end of every curve) the best survivor is chosen.
    Ties go to the earlier configuration, as in the protocol. A configuration stopped at a rung
    has trained up to it on every seed (a diverged run is counted as if it had too).
    """
    rungs = tuple(rungs)
    length = max((len(curve) for curves in configs for curve in curves), default=0)
    if not configs or not rungs or any(b <= a for a, b in zip(rungs, rungs[1:])) or rungs[0] < 1:
        raise ValueError(f"need configurations and increasing positive rungs, got {len(configs)} and {list(rungs)}")
    if rungs[-1] != length:
        raise ValueError(f"the last rung must be the end of the schedule ({length} epochs), got {rungs[-1]}")
    if eta <= 1:
        raise ValueError(f"eta must exceed 1, got {eta}")
    seeds = [len(curves) for curves in configs]
    alive = list(range(len(configs)))
    survivors, epochs, before = [], 0, 0
    for rung in rungs:
        survivors.append(tuple(alive))
        epochs += sum(seeds[i] for i in alive) * (rung - before)
        before = rung
        ranked = sorted(alive, key=lambda i: (-rung_score(configs[i], rung, last), i))
        alive = sorted(ranked[: math.ceil(len(alive) / eta)]) if rung != rungs[-1] else ranked[:1]
    return Halving(
        chosen=alive[0],
        rungs=rungs,
        survivors=tuple(survivors),
        epochs=epochs,
        full_epochs=sum(seeds) * rungs[-1],
    )


def grid_as_run(
    lrs: Sequence[float], axes: Sequence[Axis], score: Callable[[Point], float], max_widenings: int
) -> list[Point]:
    """Every point the protocol tried, in its order: the first grid, then each widening's new points
    (:func:`~.protocol.select_points`, with ``score`` the stored selection score of a point)."""
    tried = initial_points(lrs, axes)
    for widening in range(max_widenings + 1):
        best = min(range(len(tried)), key=lambda i: (-score(tried[i]), i))
        new = widenings(tried[best], axes, tried)
        if widening == max_widenings or not new:
            return tried
        tried = [*tried, *new]
    raise AssertionError("unreachable")
