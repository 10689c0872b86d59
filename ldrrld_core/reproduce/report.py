"""The filled tables: what the finished runs measured, beside the paper's numbers, and LDRRLD's paired gaps.

A measured cell holds every finished seed's top-1 at the **last** epoch and at the **best**
epoch. The best epoch is chosen on the test split: that is the literature's protocol
(mdistiller reports it; RepDistiller's logs report both), optimistic by construction. Cells show
the mean and, with several seeds, the standard deviation.

:func:`paired_gaps` compares LDRRLD with DKD and with KD per pair on the seeds both finished:
the per-seed differences of last-epoch top-1, their mean and 95% Student-t interval, and how
many seeds a 0.3-point gap would need at the observed spread of those differences.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..io import read_json
from ..models import TEACHER_ACCURACY
from ..study.stats import seeds_needed, summarize
from ..tables import interval, markdown_table, mean_std
from .kit import Cell, Settings
from .paper import TABLES

__all__ = [
    "GAP_BASELINES",
    "TARGET_GAP",
    "Measured",
    "finished_summary",
    "collect",
    "paired_gaps",
    "gaps_markdown",
    "markdown",
    "write_results",
]

#: The baselines LDRRLD is compared with, pair by pair, seed by seed (paper order).
GAP_BASELINES = ("dkd", "kd")
#: The gap (points of top-1) whose cost in seeds the report gives: about the median LDRRLD - DKD
#: gap of the paper's main table (0.01 to 1.07 points over its six pairs).
TARGET_GAP = 0.3


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
    return {
        "settings": {**asdict(settings), "description": settings.description()},
        "tables": tables,
        "paired": paired_gaps(tables),
    }


def paired_gaps(tables: list[dict], target: float = TARGET_GAP) -> list[dict]:
    """LDRRLD minus each of :data:`GAP_BASELINES`, per pair, on the seeds both finished (last-epoch top-1).

    ``tables`` is :func:`collect`'s ``"tables"``; a pair appears once even when two tables hold it
    (vgg13 -> vgg8). Each entry: ``teacher``, ``student``, ``baseline``, ``seeds`` (matched),
    ``differences`` (LDRRLD - baseline per matched seed, points), ``mean``, ``ci95`` (95%
    Student-t interval, ``None`` below two seeds), ``sd`` (of the differences) and
    ``seeds_for_gap``: the fewest seeds whose paired t-test detects a true gap of ``target``
    points with 80% power at that SD (:func:`~ldrrld_core.study.stats.seeds_needed`; ``None``
    below two seeds). Pairs without a matched seed are left out.
    """
    gaps, seen = [], set()
    for table in tables:
        for row in table["rows"]:
            cells = {cell["loss"]: cell for cell in row["cells"]}
            if "ldrrld" not in cells:
                continue
            for baseline in (name for name in GAP_BASELINES if name in cells):
                key = (row["teacher"], row["student"], baseline)
                if key in seen:
                    continue
                seen.add(key)
                ours, theirs = (dict(zip(cells[n]["seeds"], cells[n]["top1"])) for n in ("ldrrld", baseline))
                seeds = [seed for seed in ours if seed in theirs]
                if not seeds:
                    continue
                differences = [ours[seed] - theirs[seed] for seed in seeds]
                summary = summarize(differences)
                sd = summary["std"]
                gaps.append(
                    {
                        "teacher": row["teacher"],
                        "student": row["student"],
                        "baseline": baseline,
                        "seeds": seeds,
                        "differences": differences,
                        "mean": summary["mean"],
                        "ci95": summary["ci95"],
                        "sd": sd,
                        "target_gap": target,
                        "seeds_for_gap": None if sd is None else seeds_needed(target, sd),
                    }
                )
    return gaps


def _gap_row(gap: dict) -> list[str]:
    return [
        f"{gap['teacher']} -> {gap['student']}",
        f"LDRRLD - {gap['baseline'].upper()}",
        ", ".join(map(str, gap["seeds"])),
        ", ".join(f"{d:+.2f}" for d in gap["differences"]),
        f"{gap['mean']:+.2f}",
        interval(gap["ci95"], signed=True) if gap["ci95"] else "",
        mean_std(gap["sd"]),
        "" if gap["seeds_for_gap"] is None else str(gap["seeds_for_gap"]),
    ]


def gaps_markdown(gaps: list[dict], target: float = TARGET_GAP) -> str:
    """The paired gaps as a markdown section (a sentence instead of a table when there are none)."""
    lines = [
        "### LDRRLD against DKD and KD, paired by seed",
        "",
        "Per pair, the last-epoch top-1 of LDRRLD minus the baseline's on every seed both finished, "
        "their mean and 95% Student-t interval (an interval that contains 0 does not resolve the order; "
        f"its ends bound the gap), and how many seeds a true gap of {target:g} points would need to be "
        "detected with 80% power by a paired t-test (alpha 0.05) at the observed SD of the differences.",
        "",
    ]
    if not gaps:
        return "\n".join([*lines, "No pair has finished LDRRLD and baseline runs on a common seed yet.", ""])
    head = ["teacher -> student", "difference", "seeds", "per seed", "mean", "95% CI", "SD", f"seeds for {target:g}"]
    return "\n".join([*lines, markdown_table(head, map(_gap_row, gaps)), ""])


def _row(row: dict) -> list[str]:
    """One teacher -> student line: teacher paper/measured, then paper/last/best per column."""
    cells = [f"{row['teacher']} -> {row['student']}", mean_std(row["teacher_paper"]), mean_std(row["teacher_measured"])]
    for cell in row["cells"]:
        cells += [mean_std(cell["paper"]), mean_std(cell["measured"], cell["std"]), mean_std(cell["measured_best"])]
    return cells


def markdown(results: dict) -> str:
    """The results as markdown: per table, the paper's number and the measured one (last and best epoch),
    then LDRRLD's paired gaps to DKD and KD (:func:`gaps_markdown`)."""
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
    if "paired" in results:
        lines.append(gaps_markdown(results["paired"]))
    return "\n".join(lines)


def write_results(settings: Settings) -> dict:
    """Collect the finished runs and write ``results.md`` and ``results.json`` in ``settings.runs``."""
    from ..io import atomic_write_text

    results = collect(settings)
    atomic_write_text(markdown(results), settings.runs / "results.md")
    atomic_write_text(json.dumps(results, indent=1, default=str), settings.runs / "results.json")
    return results
