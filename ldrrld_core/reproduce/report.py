"""The filled tables: what the finished runs measured, beside the paper's numbers.

A measured cell holds every finished seed's top-1 at the **last** epoch and at the **best**
epoch. The best epoch is chosen on the test split: that is the literature's protocol
(mdistiller reports it; RepDistiller's logs report both), optimistic by construction. Cells show
the mean and, with several seeds, the standard deviation.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..io import read_json
from ..models import TEACHER_ACCURACY
from ..tables import markdown_table, mean_std
from .kit import Cell, Settings
from .paper import TABLES

__all__ = ["Measured", "finished_summary", "collect", "markdown", "write_results"]


@dataclass
class Measured:
    """What the finished runs of one cell of a table say (top-1 in %, one entry per finished seed)."""

    column: str
    loss: str
    paper: float
    seeds: list[int] = field(default_factory=list)
    top1: list[float] = field(default_factory=list)
    best: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.top1) if self.top1 else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.top1) if len(self.top1) > 1 else None

    @property
    def best_mean(self) -> float | None:
        return statistics.fmean(self.best) if self.best else None


def finished_summary(out_dir: Path) -> dict | None:
    """The run's summary if it reached the epochs it was last started for, else ``None``."""
    summary_file, recipe_file = out_dir / "summary.json", out_dir / "recipe.json"
    if not (summary_file.exists() and recipe_file.exists()):
        return None
    summary = read_json(summary_file, keys=("epochs",), what="the summary.json of a finished run")
    recipe = read_json(recipe_file, keys=("epochs",), what="the recipe.json of a run")
    return summary if summary["epochs"] == recipe["epochs"] else None


def collect(settings: Settings) -> dict:
    """Every table with its paper numbers and what the finished runs under ``settings.runs`` measured."""
    tables = []
    for table in TABLES:
        rows = []
        for pair, paper in table.rows:
            measured, teacher_top1 = [], []
            for column, number in zip(table.columns, paper):
                entry = Measured(column.title, column.loss, number)
                for seed in settings.seeds:
                    summary = finished_summary(Cell(pair, column.loss, seed).out_dir(settings))
                    if summary is not None:
                        entry.seeds.append(seed)
                        entry.top1.append(summary["top1"])
                        entry.best.append(summary.get("top1_best", summary["top1"]))
                        if "teacher_top1" in summary:
                            teacher_top1.append(summary["teacher_top1"])
                measured.append(entry)
            rows.append(
                {
                    "teacher": pair.teacher,
                    "student": pair.student,
                    "teacher_paper": TEACHER_ACCURACY.get(pair.teacher),
                    "teacher_measured": teacher_top1[0] if teacher_top1 else None,
                    "cells": [
                        {**asdict(entry), "measured": entry.mean, "std": entry.std, "measured_best": entry.best_mean}
                        for entry in measured
                    ],
                }
            )
        tables.append(
            {
                "name": table.name,
                "title": table.title,
                "source": table.source,
                "columns": [column.title for column in table.columns],
                "rows": rows,
            }
        )
    return {"settings": {**asdict(settings), "description": settings.description()}, "tables": tables}


def _row(row: dict) -> list[str]:
    """One teacher -> student line: teacher paper/measured, then paper/last/best per column."""
    cells = [f"{row['teacher']} -> {row['student']}", mean_std(row["teacher_paper"]), mean_std(row["teacher_measured"])]
    for cell in row["cells"]:
        cells += [mean_std(cell["paper"]), mean_std(cell["measured"], cell["std"]), mean_std(cell["measured_best"])]
    return cells


def markdown(results: dict) -> str:
    """The results as markdown: per table, the paper's number and the measured one (last and best epoch)."""
    settings = results["settings"]
    seeds = ", ".join(map(str, settings["seeds"]))
    lines = [
        f"Measured: {settings['description']}; seeds {seeds}; empty cells have no finished run yet. "
        "*last*: top-1 after the last epoch; *best*: the best epoch's, chosen on the test split (the "
        "literature's protocol).",
        "",
    ]
    for table in results["tables"]:
        head = ["teacher -> student", "teacher paper", "teacher measured"]
        for column in table["columns"]:
            head += [f"{column} paper", f"{column} last", f"{column} best"]
        lines += [
            f"### {table['title']}",
            "",
            f"Paper numbers: {table['source']}.",
            "",
            markdown_table(head, map(_row, table["rows"])),
            "",
        ]
    return "\n".join(lines)


def write_results(settings: Settings) -> dict:
    """Collect the finished runs and write ``results.md`` and ``results.json`` in ``settings.runs``."""
    from ..io import atomic_write_text

    results = collect(settings)
    atomic_write_text(markdown(results), settings.runs / "results.md")
    atomic_write_text(json.dumps(results, indent=1, default=str), settings.runs / "results.json")
    return results
