"""The per-epoch record of a run: a plain table, saved as CSV and JSON next to the checkpoints.

A :class:`History` is a list of rows, one per epoch, each a ``dict`` from column name to a number.
The trainer writes these columns:

===============  =============================================================================
``epoch``        1-based epoch number
``lr``           learning rate used during the epoch
``train_<term>`` mean over the epoch's training samples of every term the loss reports
                 (``train_loss`` is the total; ``train_ce``, ``train_kd``, ``train_local``, ...
                 depend on the loss)
``train_top1``   top-1 accuracy (%) of the student on the augmented training batches
``test_loss``    cross-entropy of the student on the test split
``test_top1``    top-1 accuracy (%) on the test split
``test_top5``    top-5 accuracy (%) on the test split (top-``C`` when there are fewer classes)
``val_loss``     the same three on the validation split, when the recipe holds one out
``val_top1``     (``validation_fraction > 0``); choices (learning rate, epoch) are made on
``val_top5``     these, never on ``test_*``
``seconds``      wall-clock time of the epoch, evaluation included
===============  =============================================================================

Plotting code reads it through :attr:`History.rows` or :meth:`History.column`; nothing here
draws (``ldrrld_core`` never imports a plotting library).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ..io import atomic_write_text, read_json
from ..tables import text_table

__all__ = ["History", "history_problem"]

Number = int | float


class History:
    """Per-epoch metrics of a training run, as a list of rows.

    Args:
        rows: optional initial rows (each a mapping from column name to number).

    Attributes:
        rows: ``list[dict[str, int | float]]``, one dict per epoch in order. Treat it as read-only
            and add rows with :meth:`append`.

    >>> h = History([{"epoch": 1, "test_top1": 50.0}, {"epoch": 2, "test_top1": 60.0}])
    >>> h.column("test_top1")
    [50.0, 60.0]
    """

    CSV_NAME = "history.csv"
    JSON_NAME = "history.json"

    def __init__(self, rows: Iterable[Mapping[str, Number]] = ()) -> None:
        self.rows: list[dict[str, Number]] = []
        for row in rows:
            self.append(row)

    def append(self, row: Mapping[str, Number]) -> None:
        """Add one epoch's row. Values must be plain ``int`` or ``float`` (read them off the device first)."""
        for name, value in row.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"history column {name!r} must hold a plain int or float, got "
                    f"{type(value).__name__}; convert tensors with .item() or .tolist() once per epoch"
                )
        self.rows.append(dict(row))

    @property
    def columns(self) -> list[str]:
        """Every column name, in the order columns first appear."""
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row))
        return list(names)

    def column(self, name: str) -> list[Number | None]:
        """The values of one column, one per epoch (``None`` where an epoch lacks it)."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r} in this history; it has: {', '.join(self.columns) or 'no rows yet'}")
        return [row.get(name) for row in self.rows]

    @property
    def last(self) -> dict[str, Number]:
        """The most recent row (a copy)."""
        if not self.rows:
            raise IndexError("the history is empty: no epoch has finished yet")
        return dict(self.rows[-1])

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Number]]:
        return iter(self.rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.rows == other.rows

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, columns: {', '.join(self.columns)})"

    def without(self, *names: str) -> History:
        """A copy without some columns, e.g. ``history.without("seconds")`` to compare two runs."""
        return History({k: v for k, v in row.items() if k not in names} for row in self.rows)

    # ----------------------------------------------------------------------------- text forms
    def to_csv(self) -> str:
        """The table as CSV text with a header line."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()

    def to_json(self) -> str:
        """The rows as a JSON list of objects."""
        return json.dumps(self.rows, indent=1)

    def table(self, columns: Iterable[str] | None = None, digits: int = 4) -> str:
        """A fixed-width text table of some (default: all) columns, for terminals and notebooks."""
        names = list(columns) if columns is not None else self.columns
        for name in names:
            self.column(name)  # a clear KeyError for a misspelt column
        return text_table(names, [[_format(row.get(name), digits) for name in names] for row in self.rows])

    # ---------------------------------------------------------------------------- files
    def save(self, folder: str | os.PathLike) -> tuple[Path, Path]:
        """Write ``history.csv`` and ``history.json`` into ``folder`` atomically; return both paths."""
        folder = Path(folder)
        return (
            atomic_write_text(self.to_csv(), folder / self.CSV_NAME),
            atomic_write_text(self.to_json(), folder / self.JSON_NAME),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by :meth:`save` (``history.json``, or the run folder holding it)."""
        path = Path(path)
        if path.is_dir():
            path = path / cls.JSON_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no history file at {path}; a run writes history.json into its out_dir")
        rows = read_json(path, what="the history.json of a run (a JSON list of objects, one per epoch)")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ValueError(f"{path} must hold a JSON list of objects (one per epoch)")
        return cls(rows)


#: The columns every epoch of a run that :func:`~ldrrld_core.train.fit` finished holds.
FIT_COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "test_loss", "test_top1", "test_top5", "seconds")


def history_problem(rows: object, epochs: int, *, required: Iterable[str] = ("epoch",)) -> str | None:
    """What makes ``rows`` other than the complete, meaningful history of a finished run of ``epochs`` epochs.

    ``None`` when it is one: one row per epoch ``1 .. epochs``, every row with the same columns,
    the ``required`` ones among them (:data:`FIT_COLUMNS` for a history of ``fit``; a study
    requires those it reads), every value a finite number, accuracies (``*_top1``, ``*_top5``) in
    [0, 100], losses (``*_loss``), ``lr`` and ``seconds`` >= 0. Otherwise one phrase naming the
    column and the epoch, e.g. ``"holds val_top1 = 1000 in epoch 3, outside [0, 100] ..."``, to
    which a caller prefixes the file's name. An empty history is a problem too: a run that diverged
    must say so apart from its (empty) history.
    """
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return "holds a history that is not a list of rows"
    if not rows:
        return "holds an empty history"
    if [row.get("epoch") for row in rows] != list(range(1, epochs + 1)):
        return f"holds {len(rows)} history rows where the recipe trains epochs 1 .. {epochs}"
    columns = list(rows[0])
    if missing := [name for name in required if name not in columns]:
        return f"lacks the column(s) {', '.join(missing)} in its history"
    for row in rows:
        if set(row) != set(columns):
            odd = sorted(set(columns) ^ set(row))
            return f"holds epoch {row['epoch']} with other columns than epoch 1 ({', '.join(odd)})"
        for column, value in row.items():
            where = f"holds {column} = {value!r} in epoch {row['epoch']}"
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                return f"{where}, not a finite number"
            if column.endswith(("_top1", "_top5")) and not 0 <= value <= 100:
                return f"{where}, outside [0, 100] (an accuracy in percent)"
            if (column.endswith("_loss") or column in ("lr", "seconds")) and value < 0:
                return f"{where}, below 0"
    return None


def _format(value: Number | None, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value != 0 and abs(value) < 10 ** -(digits - 1):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)
