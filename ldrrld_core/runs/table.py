"""``ldrrld runs table DIR...``: seeds aggregated into mean ± std, next to the paper's number.

Runs are grouped by their recipe less the seed and the fields that only say where files are
(:data:`GROUPING_IGNORES`). Each group shows top-1 at the last epoch and at the best epoch (best
chosen on the test split, the literature's protocol) as mean ± standard deviation over its seeds,
the paper's number for the cell when the runs are on CIFAR-100, and whether the gap to it lies
**within the seed spread**: ``|mean - paper| <= std`` (one sample standard deviation; it needs
at least two seeds).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

from ..reproduce.paper import paper_number
from ..tables import markdown_table, mean_std
from .record import RunRecord

__all__ = ["GROUPING_IGNORES", "SeedGroup", "group_runs", "runs_table", "table_markdown"]

#: Recipe fields that do not make two runs different experiments.
GROUPING_IGNORES = (
    "seed",
    "out_dir",
    "data_root",
    "download",
    "teacher_checkpoint",
    "num_workers",
    "save_every",
    "tensorboard",
)


@dataclass(frozen=True)
class SeedGroup:
    """Runs of one experiment over several seeds (top-1 in %)."""

    label: str
    recipe: dict[str, Any]
    seeds: tuple[int, ...]
    last: tuple[float, ...]
    best: tuple[float, ...]

    @staticmethod
    def _mean_std(values: tuple[float, ...]) -> tuple[float, float | None]:
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None

    def row(self) -> dict[str, Any]:
        """The group's line of the table, with one comparison per paper number of its cell."""
        last_mean, last_std = self._mean_std(self.last)
        best_mean, best_std = self._mean_std(self.best)
        paper = (
            paper_number(self.recipe.get("teacher"), self.recipe["model"], self.recipe["loss"])
            if self.recipe.get("data") == "cifar100"
            else []
        )

        def within(mean: float, std: float | None, number: float) -> bool | None:
            return None if std is None else abs(mean - number) <= std

        return {
            "label": self.label,
            "runs": len(self.seeds),
            "seeds": list(self.seeds),
            "last_mean": last_mean,
            "last_std": last_std,
            "best_mean": best_mean,
            "best_std": best_std,
            "paper": [
                {
                    "table": table,
                    "top1": number,
                    "gap_last": last_mean - number,
                    "gap_best": best_mean - number,
                    "within_last": within(last_mean, last_std, number),
                    "within_best": within(best_mean, best_std, number),
                }
                for table, number in paper
            ],
        }


def _label(recipe: dict[str, Any]) -> str:
    what = (
        f"{recipe['teacher']} -> {recipe['model']} · {recipe['loss']}"
        if recipe.get("loss") != "ce"
        else f"{recipe['model']} alone"
    )
    epochs = recipe.get("epochs")
    return f"{what} ({recipe.get('data')}, {recipe.get('name')}, {epochs} epoch{'' if epochs == 1 else 's'})"


def group_runs(runs: list[RunRecord]) -> list[SeedGroup]:
    """The runs grouped into experiments (first seen first): runs differing in more than the seed split."""
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        key = json.dumps({k: v for k, v in run.recipe.items() if k not in GROUPING_IGNORES}, sort_keys=True)
        groups.setdefault(key, []).append(run)
    result = []
    for members in groups.values():
        members = sorted(members, key=lambda run: run.recipe["seed"])
        recipe = {k: v for k, v in members[0].recipe.items() if k not in GROUPING_IGNORES}
        result.append(
            SeedGroup(
                label=_label(members[0].recipe),
                recipe=recipe,
                seeds=tuple(run.recipe["seed"] for run in members),
                last=tuple(run.top1_last for run in members),
                best=tuple(run.top1_best for run in members),
            )
        )
    return result


def runs_table(runs: list[RunRecord]) -> list[dict[str, Any]]:
    """One row per experiment (see :meth:`SeedGroup.row`)."""
    return [group.row() for group in group_runs(runs)]


def _flag(value: bool | None) -> str:
    return "n/a (1 seed)" if value is None else "yes" if value else "**no**"


def _compared(paper: dict[str, Any] | None) -> list[str]:
    """The paper columns of one line: its number, both gaps and whether they are within the spread."""
    if paper is None:
        return ["", "", "", ""]
    return [
        f"{paper['top1']:.2f} ({paper['table']})",
        f"{paper['gap_last']:+.2f}",
        f"{paper['gap_best']:+.2f}",
        f"{_flag(paper['within_last'])} / {_flag(paper['within_best'])}",
    ]


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as markdown: one line per experiment and paper number."""
    head = ["run", "seeds", "top-1 last", "top-1 best", "paper", "gap last", "gap best", "within spread (last / best)"]
    lines = [
        [
            row["label"],
            ", ".join(map(str, row["seeds"])),
            mean_std(row["last_mean"], row["last_std"]),
            mean_std(row["best_mean"], row["best_std"]),
            *_compared(paper),
        ]
        for row in rows
        for paper in row["paper"] or [None]
    ]
    return markdown_table(head, lines)
