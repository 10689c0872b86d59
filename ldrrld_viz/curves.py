"""Training curves from the trainer's history: one panel per metric, one line per run."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from .panels import Lines
from .render import Figure, draw

__all__ = ["training_curves"]


def _column(rows: Sequence[Mapping[str, object]], name: str) -> list[float]:
    return [float(row[name]) if row.get(name) is not None else math.nan for row in rows]


def training_curves(
    histories: Mapping[str, object], metric: str | Sequence[str] = "test_top1", *, backend: str = "plotly"
) -> Figure:
    """Curves of one or more metrics over epochs, one line per run.

    Args:
        histories: run name -> anything with ``.rows``, a list of per-epoch dictionaries (the
            trainer's ``History``); the x axis is each row's ``"epoch"`` (else 1, 2, ...).
        metric: a column name (``"test_top1"``, ``"loss"``, ``"lr"``, ...) or several, one panel each.
        backend: ``"plotly"`` (interactive) or ``"matplotlib"`` (static).

    An epoch without a value for a metric leaves a gap in its line.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not histories:
        raise ValueError("no histories to draw: pass {run name: history}")
    rows = {}
    for name, history in histories.items():
        found = getattr(history, "rows", None)
        if not isinstance(found, list) or not found:
            raise ValueError(
                f"history {name!r} has no rows: expected an object with .rows, a non-empty "
                "list of per-epoch dicts (train a few epochs first)"
            )
        rows[name] = found
    for m in metrics:
        if not any(m in row for runs in rows.values() for row in runs):
            columns = sorted({key for runs in rows.values() for row in runs for key in row})
            raise ValueError(f"no history has a column {m!r}; available: {', '.join(columns)}")
    # Runs may log different epochs: draw every run over the union, NaN where it has no value.
    epochs = {name: _column(r, "epoch") if "epoch" in r[0] else list(range(1, len(r) + 1)) for name, r in rows.items()}
    axis = sorted({e for values in epochs.values() for e in values})
    panels = []
    for m in metrics:
        series = {}
        for name, r in rows.items():
            by_epoch = dict(zip(epochs[name], _column(r, m)))
            series[name] = [by_epoch.get(e, math.nan) for e in axis]
        panels.append(Lines(axis, series, title=m, x_title="epoch", y_title=m))
    return draw(panels, title="Training curves", backend=backend, panel_size=(4.6, 3.2))
