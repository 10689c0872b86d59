"""The learning rate of every epoch: linear warm-up, then step decay or a cosine down to a floor.

Three styles share one function:

* ``"clean"`` (the default): ``base * epoch / warmup`` while ``epoch < warmup``, then ``base``,
  multiplied by ``decay_rate`` once for every decay epoch already passed.
* ``"authors"``: what the LDRRLD authors' CIFAR-100 code really runs. Its warm-up writes the rate
  only while ``epoch < warmup`` and its step decay writes it only once a decay epoch has passed,
  so the last warm-up value ``base * (warmup - 1) / warmup`` (``0.95 * base`` for a 20-epoch
  warm-up) stays in force from the end of the warm-up to the first decay.

Epochs are 1-based, as in the literature's training scripts: epoch 1 is the first pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["SCHEDULES", "learning_rate", "check_schedule"]

#: The schedule styles :func:`learning_rate` understands.
SCHEDULES = ("clean", "authors", "cosine")


def check_schedule(style: str, warmup_epochs: int, decay_epochs: Sequence[int], decay_rate: float) -> None:
    """Raise a ``ValueError`` that says what to fix unless the schedule settings make sense."""
    if style not in SCHEDULES:
        raise ValueError(
            f"unknown schedule {style!r}; choose 'clean' (plain warm-up then step decay), "
            f"'authors' (the LDRRLD authors' effective rates, 0.95 x base after warm-up) or 'cosine' "
            f"(warm-up from warmup_lr, then a cosine down to min_lr, OFA-KD's)"
        )
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
        raise ValueError(
            f"warmup_epochs must be a non-negative integer (0 switches warm-up off), got {warmup_epochs!r}"
        )
    if any(isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in decay_epochs):
        raise ValueError(f"decay_epochs must be positive integer epochs, got {tuple(decay_epochs)!r}")
    if list(decay_epochs) != sorted(set(decay_epochs)):
        raise ValueError(f"decay_epochs must be strictly increasing, got {tuple(decay_epochs)!r}")
    if style == "cosine" and decay_epochs:
        raise ValueError(
            f"the cosine schedule has no step decays; drop decay_epochs={tuple(decay_epochs)!r} (min_lr sets its floor)"
        )
    if not 0 < decay_rate <= 1:
        raise ValueError(f"decay_rate must lie in (0, 1] (0.1 divides the rate by ten), got {decay_rate!r}")


def learning_rate(
    epoch: int,
    base: float,
    *,
    warmup_epochs: int = 0,
    decay_epochs: Sequence[int] = (),
    decay_rate: float = 0.1,
    style: str = "clean",
    epochs: int | None = None,
    warmup_lr: float = 0.0,
    min_lr: float = 0.0,
) -> float:
    """The learning rate of the 1-based ``epoch``.

    Args:
        epoch: 1 for the first epoch.
        base: the peak rate, e.g. 0.05 for the CIFAR-100 recipe.
        warmup_epochs: linear warm-up length; the rate is ``base * epoch / warmup_epochs`` while
            ``epoch < warmup_epochs``. 0 or 1 means no warm-up.
        decay_epochs: after each of these epochs the rate is multiplied by ``decay_rate``
            (``(150, 180, 210)``: epoch 151 is the first at ``0.1 * base``).
        decay_rate: the factor of each decay.
        style: ``"clean"``, ``"authors"`` or ``"cosine"`` (see the module docstring).
        epochs: the run's length, over which ``"cosine"`` falls to ``min_lr`` (only ``"cosine"``).
        warmup_lr: where ``"cosine"``'s warm-up starts (epoch 1's rate).
        min_lr: ``"cosine"``'s floor.

    >>> learning_rate(19, 0.05, warmup_epochs=20, decay_epochs=(150,), style="clean")
    0.0475
    >>> learning_rate(100, 0.05, warmup_epochs=20, decay_epochs=(150,), style="authors")
    0.0475
    >>> learning_rate(1, 5e-4, warmup_epochs=20, warmup_lr=5e-7, min_lr=1e-5, epochs=300, style="cosine")
    5e-07
    """
    check_schedule(style, warmup_epochs, decay_epochs, decay_rate)
    if epoch < 1:
        raise ValueError(f"epochs are counted from 1, got epoch={epoch}")
    if style == "cosine":
        if epochs is None:
            raise ValueError("the cosine schedule needs the run's length: pass epochs=")
        t = epoch - 1  # timm counts epochs from 0
        if t < warmup_epochs:
            return warmup_lr + t * (base - warmup_lr) / warmup_epochs
        if t >= epochs:
            return min_lr
        return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * t / epochs))
    if epoch < warmup_epochs:
        return base * epoch / warmup_epochs
    decays = sum(epoch > boundary for boundary in decay_epochs)
    if decays:
        return base * decay_rate**decays
    if style == "authors" and warmup_epochs > 1:
        return base * (warmup_epochs - 1) / warmup_epochs
    return base
