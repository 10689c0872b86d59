"""A finished (or running) run read back from its folder: recipe, summary and history."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import read_json
from ..train.history import History, history_problem

__all__ = ["NUMERIC_KEY", "RunRecord", "load_run", "find_runs"]

#: Where a summary's fingerprint holds the run's numeric environment.
NUMERIC_KEY = "numeric_environment"


@dataclass(frozen=True)
class RunRecord:
    """What a run folder holds: ``recipe.json``, ``summary.json`` and ``history.json``."""

    folder: Path
    recipe: dict[str, Any]
    summary: dict[str, Any]
    history: History

    @property
    def top1_last(self) -> float:
        return self.summary["top1"]

    @property
    def top1_best(self) -> float:
        """The best epoch's top-1 (summaries written before it was recorded: from the history)."""
        if "top1_best" in self.summary:
            return self.summary["top1_best"]
        return max(self.history.column("test_top1"), default=self.summary["top1"])

    @property
    def fingerprint(self) -> dict[str, Any]:
        return self.summary.get("fingerprint", {})

    @property
    def numeric_environment(self) -> dict[str, Any] | None:
        """Threads, CPU capability and numeric environment variables
        (:func:`~ldrrld_core.provenance.numeric_environment`, the fingerprint's ``numeric_environment``);
        ``None`` for a run written before they were recorded."""
        recorded = self.fingerprint.get(NUMERIC_KEY)
        return dict(recorded) if isinstance(recorded, dict) else None


def load_run(folder: str | os.PathLike) -> RunRecord:
    """Read the run in ``folder`` (the ``out_dir`` of ``ldrrld train`` / ``distill``)."""
    folder = Path(folder)
    missing = [name for name in ("recipe.json", "summary.json") if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a finished run folder: {', '.join(missing)} missing (a "
            "run writes recipe.json when it starts and summary.json when it ends)"
        )
    history = History.load(folder) if (folder / History.JSON_NAME).is_file() else History()
    what = "what `ldrrld train` or `distill` writes"
    recipe = read_json(folder / "recipe.json", keys=("model", "loss", "seed"), what=f"the recipe.json of {what}")
    summary = read_json(folder / "summary.json", keys=("top1",), what=f"the summary.json of {what}")
    _check_meaning(folder, summary, history)
    return RunRecord(folder, recipe, summary, history)


#: The accuracies (%) a summary may hold; ``top1`` always.
_SUMMARY_ACCURACIES = ("top1", "top1_best", "top5", "val_top1", "teacher_top1")


def _check_meaning(folder: Path, summary: dict[str, Any], history: History) -> None:
    """Refuse a summary or history whose numbers mean nothing (a one-line ``ValueError`` naming file and field):
    an accuracy that is not a finite number in [0, 100] (``true`` is not 1 %), a history that
    :func:`~ldrrld_core.train.history.history_problem` refuses."""
    for name in _SUMMARY_ACCURACIES:
        if name not in summary:
            continue
        value = summary[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise ValueError(
                f"{folder / 'summary.json'} holds {name} = {json.dumps(value)}, not an accuracy in [0, 100] "
                "(percent): it was edited or damaged; train the run again or restore the file"
            )
    if history.rows:
        problem = history_problem(history.rows, len(history.rows))
        if problem:
            raise ValueError(f"{folder / History.JSON_NAME} {problem}: it was edited or damaged")


def find_runs(paths: list[str | os.PathLike]) -> list[RunRecord]:
    """Every finished run in ``paths``: run folders themselves, or folders searched for them (sorted)."""
    folders: list[Path] = []
    for path in map(Path, paths):
        if (path / "summary.json").is_file():
            folders.append(path)
        elif path.is_dir():
            folders += sorted(summary.parent for summary in path.rglob("summary.json"))
        elif path.exists():
            raise NotADirectoryError(
                f"{path} is a file, not a run folder; give a run's folder (holding summary.json) or a folder to "
                "search for runs (e.g. runs)"
            )
        else:
            raise FileNotFoundError(f"{path} does not exist; give a run's folder or a folder to search for runs")
    if not folders:
        raise FileNotFoundError(f"no finished run (a folder with summary.json) in {', '.join(map(str, paths))}")
    return [load_run(folder) for folder in dict.fromkeys(folders)]
