"""Training curves from the trainer's history: one panel per metric, one line per run."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from .panels import Lines
from .render import Figure, draw

__all__ = ["training_curves", "metric_label", "epoch_ticks", "METRIC_LABELS"]

#: What a learner reads for the trainer's history columns; other columns get :func:`metric_label`'s
#: spelled-out form.
METRIC_LABELS = {
    "test_top1": "test top-1 (%)",
    "test_top5": "test top-5 (%)",
    "val_top1": "validation top-1 (%)",
    "train_top1": "training top-1 (%)",
    "train_loss": "training loss",
    "train_ce": "training cross-entropy",
    "train_kd": "training KD term",
    "train_local": "training local term",
    "train_rntk": "training remaining-class term",
    "lr": "learning rate",
    "seconds": "seconds per epoch",
}
#: The most epoch labels an axis shows; longer runs label every 2nd, 5th, 10th... epoch.
MAX_EPOCH_TICKS = 10


def _column(rows: Sequence[Mapping[str, object]], name: str) -> list[float]:
    return [float(row[name]) if row.get(name) is not None else math.nan for row in rows]


def metric_label(name: str) -> str:
    """A history column as people read it: ``"test_top1"`` -> ``"test top-1 (%)"``; an unknown
    column is spelled out (``"val_kl"`` -> ``"val kl"``)."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    words = name.replace("_", " ")
    for k in ("1", "5"):
        if f"top{k}" in words:
            return words.replace(f"top{k}", f"top-{k}") + " (%)"
    return words


def epoch_ticks(epochs: Sequence[float]) -> list[int]:
    """Whole epochs to label on an axis over ``epochs``: every one, or every 2nd, 5th, 10th, ... so
    that at most :data:`MAX_EPOCH_TICKS` show (never a fractional epoch such as 2.5)."""
    finite = [e for e in epochs if math.isfinite(e)]
    if not finite:
        return []
    first, last = math.ceil(min(finite)), math.floor(max(finite))
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if (last - first) // step + 1 <= MAX_EPOCH_TICKS:
            break
    ticks = [e for e in range(first, last + 1) if e % step == 0]
    return ticks or sorted({round(e) for e in finite})


def training_curves(
    histories: Mapping[str, object], metric: str | Sequence[str] = "test_top1", *, backend: str = "plotly"
) -> Figure:
    """Curves of one or more metrics over epochs, one line per run.

    Args:
        histories: run name -> anything with ``.rows``, a list of per-epoch dictionaries (the
            trainer's ``History``); the x axis is each row's ``"epoch"`` (else 1, 2, ...).
        metric: a column name (``"test_top1"``, ``"loss"``, ``"lr"``, ...) or several, one panel each.
        backend: ``"plotly"`` (interactive) or ``"matplotlib"`` (static).

    An epoch without a value for a metric leaves a gap in its line. Panels are titled for people
    (:func:`metric_label`), and the epoch axis is labelled at whole epochs only (:func:`epoch_ticks`).
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
        label = metric_label(m)
        panels.append(Lines(axis, series, title=label, x_title="epoch", y_title=label, x_ticks=epoch_ticks(axis)))
    return draw(panels, title="Training curves", backend=backend, panel_size=(4.6, 3.2))
