"""``ldrrld runs diff A B``: why two runs differ.

Four answers, in the order they usually explain a difference: the recipe fields that differ,
the environment (:func:`~ldrrld_core.train.fingerprint.fingerprint`) that differs, the numeric
environment that differs (threads, the CPU kernels' instruction set, the environment variables
that change numerics: :func:`~ldrrld_core.provenance.numeric_environment`; a difference there
explains bitwise differences between runs of one recipe and one code), and the first epoch whose
metrics differ by more than a tolerance, where the two training curves part. Runs written before
the numeric environment was recorded diff as before, with it "not recorded".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .record import NUMERIC_KEY, RunRecord

__all__ = ["PLACE_FIELDS", "NUMERIC_NOTE", "RunDiff", "diff_runs"]

#: Recipe fields that say where files go, not what is trained: left out of the comparison.
PLACE_FIELDS = ("out_dir", "data_root", "download")

#: What a difference in the numeric environment means, printed beside it.
NUMERIC_NOTE = (
    "a difference here explains bitwise differences between runs of the same recipe and code "
    "(threads change the order of sums, an instruction set the kernels that compute them)"
)

#: History columns that measure time, not training: never compared.
_TIMING = ("seconds",)


@dataclass(frozen=True)
class RunDiff:
    """The differences between runs ``a`` and ``b`` (each a field -> ``(value in a, value in b)``)."""

    a: str
    b: str
    recipe: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    fingerprint: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    numeric: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    numeric_not_recorded: tuple[str, ...] = ()
    parting_epoch: int | None = None
    parting_metrics: dict[str, tuple[float, float]] = field(default_factory=dict)
    common_epochs: int = 0
    tolerance: float = 0.0

    @property
    def identical(self) -> bool:
        return not (self.recipe or self.fingerprint or self.numeric or self.parting_epoch is not None)

    def text(self) -> str:
        """A plain-text report."""
        lines = [f"A: {self.a}", f"B: {self.b}"]
        for title, values in (("recipe", self.recipe), ("fingerprint", self.fingerprint)):
            if values:
                lines.append(f"{title} differs in {len(values)} field(s):")
                lines += [f"  {name}: {a!r} -> {b!r}" for name, (a, b) in values.items()]
            else:
                lines.append(f"{title}: the same")
        if self.numeric_not_recorded:
            which = " or ".join(self.numeric_not_recorded)
            lines.append(f"numeric environment: not recorded in {which} (written before runs recorded it)")
        elif self.numeric:
            lines.append(f"numeric environment differs in {len(self.numeric)} field(s); {NUMERIC_NOTE}:")
            lines += [f"  {name}: {_shown(a)} -> {_shown(b)}" for name, (a, b) in self.numeric.items()]
        else:
            lines.append("numeric environment: the same")
        if self.parting_epoch is None:
            lines.append(f"curves: the same over {self.common_epochs} common epoch(s) (tolerance {self.tolerance:g})")
        else:
            lines.append(f"curves part at epoch {self.parting_epoch} (tolerance {self.tolerance:g}):")
            lines += [f"  {name}: {a:.6g} -> {b:.6g}" for name, (a, b) in self.parting_metrics.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "recipe": self.recipe,
            "fingerprint": self.fingerprint,
            "numeric_environment": self.numeric,
            "numeric_environment_not_recorded": list(self.numeric_not_recorded),
            "parting_epoch": self.parting_epoch,
            "parting_metrics": self.parting_metrics,
            "common_epochs": self.common_epochs,
            "tolerance": self.tolerance,
            "identical": self.identical,
        }


def _differences(a: dict[str, Any], b: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    keys = [key for key in dict.fromkeys([*a, *b]) if key not in skip]
    return {key: (a.get(key), b.get(key)) for key in keys if a.get(key) != b.get(key)}


def _shown(value: Any) -> str:
    """An environment variable's value as the diff prints it: ``unset`` for one that was not set."""
    return "unset" if value is None else repr(value)


def _apart(x: float, y: float, tolerance: float) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) != math.isnan(y)
    return abs(x - y) > tolerance


def diff_runs(a: RunRecord, b: RunRecord, *, tolerance: float = 1e-6) -> RunDiff:
    """Compare two runs: recipes (less :data:`PLACE_FIELDS`), fingerprints, numeric environments
    (compared only when both runs recorded one), and their per-epoch metrics.

    ``tolerance`` is absolute, in each metric's unit (accuracy in %, losses in nats). The curves
    part at the first common epoch where any common metric other than time differs by more.
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    rows_b = {row["epoch"]: row for row in b.history.rows}
    common = [(row, rows_b[row["epoch"]]) for row in a.history.rows if row["epoch"] in rows_b]
    parting, metrics = None, {}
    for row_a, row_b in common:
        names = [name for name in row_a if name in row_b and name not in ("epoch", *_TIMING)]
        metrics = {
            name: (row_a[name], row_b[name])
            for name in names
            if _apart(float(row_a[name]), float(row_b[name]), tolerance)
        }
        if metrics:
            parting = row_a["epoch"]
            break
    missing = tuple(name for name, run in (("A", a), ("B", b)) if run.numeric_environment is None)
    return RunDiff(
        a=str(a.folder),
        b=str(b.folder),
        recipe=_differences(a.recipe, b.recipe, PLACE_FIELDS),
        fingerprint=_differences(a.fingerprint, b.fingerprint, (NUMERIC_KEY,)),
        numeric=_differences(a.numeric_environment, b.numeric_environment) if not missing else {},
        numeric_not_recorded=missing,
        parting_epoch=parting,
        parting_metrics=metrics if parting is not None else {},
        common_epochs=len(common),
        tolerance=tolerance,
    )
