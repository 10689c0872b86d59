"""What each method tunes on validation, and the rule that widens a grid until its choice is inside.

Every method of a study gets the same kind of search: its learning rate, plus the one setting its
authors tune (:data:`DEFAULT_TUNING`):

- CE: the learning rate alone.
- KD: the temperature ``T`` in {2, 4, 8}, in both named weightings: Hinton's ``CE + T^2 KL``
  (weights 1 and 1) and the ``0.1 CE + 0.9 T^2 KL`` form of the paper's KD column.
- DKD: ``beta`` in {1, 2, 4, 8} (its authors use 8 for wide students, 2 for small ResNets).
- LDRRLD: the weight of both distillation terms, ``alpha`` and ``beta`` of ``docs/method.md``
  scaled together by {0.25, 0.5, 1, 2}.
- DIST, WTTM, TeKAP and SDD: the temperature ``T`` in {2, 4, 8}; LSKD in {1, 2, 4} (its authors
  use 2). WTTM's ``T`` transforms the teacher alone.
- CTKD: the learning rate alone; it learns its own temperature.

A *setting* is one value on every axis of a method; a *point* is a setting and a learning rate.
The search starts from the full product of the learning rates and the settings. Then
:func:`widenings` extends every numeric axis (the learning rate included) by one factor of 2
past the chosen point whenever the chosen value is the smallest or the largest tried on the line
through it, until every chosen value has a tried neighbour on both sides of every numeric axis
(or ``max_widenings`` steps were taken; the report then says the value is at an edge).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Axis",
    "Point",
    "DEFAULT_TUNING",
    "temperature_axis",
    "initial_points",
    "widenings",
    "edges",
    "tuning_to_dict",
]


@dataclass(frozen=True)
class Axis:
    """One tuned setting of a method.

    Attributes:
        name: what the setting is called in reports (``"T"``, ``"beta"``, ``"weights"``).
        values: numbers (widened by factors of 2) or labels (never widened).
        hparams: for a numeric axis, loss hyperparameter -> its value at 1 (a value ``v`` sets
            each to ``base * v``; empty: the hyperparameter named ``name`` is set to ``v``); for a
            labelled axis, label -> the loss hyperparameters it sets.
    """

    name: str
    values: tuple[Any, ...]
    hparams: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        if not self.values or len(set(self.values)) != len(self.values):
            raise ValueError(f"axis {self.name!r} needs distinct values, got {list(self.values)}")
        if self.numeric:
            if not all(math.isfinite(v) and v > 0 for v in self.values):
                raise ValueError(f"axis {self.name!r} takes positive numbers, got {list(self.values)}")
        elif set(self.values) != set(self.hparams):
            raise ValueError(f"labelled axis {self.name!r} needs the hyperparameters of each of {list(self.values)}")

    @property
    def numeric(self) -> bool:
        """Whether the values are numbers (then the axis can widen)."""
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values)

    def loss_hparams(self, value: Any) -> dict[str, Any]:
        """The loss hyperparameters that ``value`` of this axis sets."""
        if not self.numeric:
            return dict(self.hparams[value])
        if not self.hparams:
            return {self.name: float(value)}
        return {name: float(f"{base * value:.6g}") for name, base in self.hparams.items()}


def temperature_axis(*values: float) -> Axis:
    """The temperature ``T`` of a loss as a tuned axis, starting from ``values``."""
    return Axis("T", values, {"temperature": 1.0})


#: The search of every method a study knows: ``method -> its axes`` (the learning rate is implied).
DEFAULT_TUNING: dict[str, tuple[Axis, ...]] = {
    "ce": (),
    "kd": (
        temperature_axis(2.0, 4.0, 8.0),
        Axis(
            "weights",
            ("hinton", "0.1/0.9"),
            {"hinton": {"ce_weight": 1.0, "kd_weight": 1.0}, "0.1/0.9": {"ce_weight": 0.1, "kd_weight": 0.9}},
        ),
    ),
    "dkd": (Axis("beta", (1.0, 2.0, 4.0, 8.0)),),
    "ldrrld": (Axis("weight", (0.25, 0.5, 1.0, 2.0), {"alpha": 10.5, "beta": 7.0}),),
    "dist": (temperature_axis(2.0, 4.0, 8.0),),
    "lskd": (temperature_axis(1.0, 2.0, 4.0),),
    "wttm": (temperature_axis(2.0, 4.0, 8.0),),
    "ctkd": (),
    "tekap": (temperature_axis(2.0, 4.0, 8.0),),
    "sdd": (temperature_axis(2.0, 4.0, 8.0),),
}


@dataclass(frozen=True, order=True)
class Point:
    """One learning rate and one value per axis of a method: ``values[i]`` is on ``axes[i]``."""

    lr: float
    values: tuple[Any, ...] = ()

    def loss_hparams(self, axes: Sequence[Axis]) -> dict[str, Any]:
        """The loss hyperparameters this point sets."""
        merged: dict[str, Any] = {}
        for axis, value in zip(axes, self.values, strict=True):
            merged.update(axis.loss_hparams(value))
        return merged

    def setting_label(self, axes: Sequence[Axis]) -> str:
        """``"T 4, weights hinton"``; ``"default"`` for a method without axes."""
        return (
            ", ".join(
                f"{axis.name} {value:g}" if axis.numeric else f"{axis.name} {value}"
                for axis, value in zip(axes, self.values, strict=True)
            )
            or "default"
        )

    def folder(self, axes: Sequence[Axis]) -> str:
        """A file-name-safe form of the setting (``"T4-weights_hinton"``, ``"default"``)."""
        parts = [
            f"{axis.name}{value:g}" if axis.numeric else f"{axis.name}_{str(value).replace('/', '-')}"
            for axis, value in zip(axes, self.values, strict=True)
        ]
        return "-".join(parts) or "default"


def initial_points(lrs: Sequence[float], axes: Sequence[Axis]) -> list[Point]:
    """The full product of the learning rates and every axis's values."""
    points = [Point(float(lr)) for lr in lrs]
    for axis in axes:
        points = [Point(p.lr, (*p.values, value)) for p in points for value in axis.values]
    return points


def _line(point: Point, coordinate: int, tried: Sequence[Point]) -> list[float]:
    """The values tried along ``coordinate`` (0: the rate, i: axis i-1) with the other coordinates of ``point``."""

    def coords(p: Point) -> tuple:
        return (p.lr, *p.values)

    fixed = [c for i, c in enumerate(coords(point)) if i != coordinate]
    return sorted(
        coords(p)[coordinate] for p in tried if [c for i, c in enumerate(coords(p)) if i != coordinate] == fixed
    )


def _step(point: Point, coordinate: int, factor: float) -> Point:
    if coordinate == 0:
        return Point(float(f"{point.lr * factor:.6g}"), point.values)
    values = list(point.values)
    values[coordinate - 1] = float(f"{values[coordinate - 1] * factor:.6g}")
    return Point(point.lr, tuple(values))


def edges(point: Point, axes: Sequence[Axis], tried: Sequence[Point]) -> dict[str, str]:
    """The numeric coordinates at which ``point`` is an end of what was tried on the line through it:
    ``{"lr": "smallest", "T": "largest", "beta": "alone", ...}`` (``"alone"``: the only value tried
    on that line; empty: inside on every numeric axis)."""
    found = {}
    for coordinate, (name, numeric) in enumerate([("lr", True), *((a.name, a.numeric) for a in axes)]):
        if not numeric:
            continue
        line = _line(point, coordinate, tried)
        value = (point.lr, *point.values)[coordinate]
        if len(line) == 1:
            found[name] = "alone"
        elif value == line[0]:
            found[name] = "smallest"
        elif value == line[-1]:
            found[name] = "largest"
    return found


def widenings(point: Point, axes: Sequence[Axis], tried: Sequence[Point]) -> list[Point]:
    """The next points to try so that ``point`` (the best so far) gets a neighbour beyond each end
    it sits on: half the value past the smallest, twice the value past the largest."""
    names = ["lr", *(a.name for a in axes)]
    new = []
    for name, side in edges(point, axes, tried).items():
        factors = {"smallest": (0.5,), "largest": (2.0,), "alone": (0.5, 2.0)}[side]
        for factor in factors:
            candidate = _step(point, names.index(name), factor)
            if candidate not in tried and candidate not in new:
                new.append(candidate)
    return new


def tuning_to_dict(tuning: Mapping[str, Sequence[Axis]]) -> dict[str, list[dict[str, Any]]]:
    """The search as plain JSON values (for ``results.json``)."""
    return {
        method: [{"name": a.name, "values": list(a.values), "hparams": dict(a.hparams)} for a in axes]
        for method, axes in tuning.items()
    }
