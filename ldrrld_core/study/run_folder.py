"""The checkpoint folder of a study's or a sweep's run: where it keeps ``latest.pth`` while it trains.

A batch run's result is one JSON file (``<out_dir>/runs/<name>/<run>.json``), written by the driver
when the run ends. While it trains, the run keeps its checkpoints in the folder of the same name
without ``.json`` beside it, and continues from them when it is started again: after Ctrl-C,
a crash, or a cluster node that died (:mod:`.executors`). Resuming is bitwise on a CPU
(``tests/test_resume.py``), so a run continued this way gives the result of an uninterrupted one.
The driver deletes the folder once the result file is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..train import Recipe, fit
from ..train.loop import Run

__all__ = ["checkpoint_folder", "fit_in_folder", "remove_checkpoints"]


def checkpoint_folder(result_file: Path) -> Path:
    """The checkpoint folder of the run whose result is ``result_file``: the same path without ``.json``."""
    return result_file.with_suffix("")


def fit_in_folder(recipe: Recipe, folder: str | Path | None, **options) -> Run:
    """:func:`~ldrrld_core.train.fit` with its checkpoints in ``folder``, continuing the run found there.

    A folder left by a run of another recipe (the study was changed since) is emptied first, so
    it never refuses to start. ``folder`` ``None``: no checkpoints (``recipe.out_dir`` as given).
    ``options`` are :func:`fit`'s.
    """
    if folder is None:
        return fit(recipe, **options)
    folder = Path(folder)
    recipe = recipe.replace(out_dir=str(folder))
    saved = folder / "recipe.json"
    if saved.is_file():
        try:
            same = json.loads(saved.read_text(encoding="utf-8")) == recipe.to_dict()
        except ValueError:
            same = False
        if not same:
            shutil.rmtree(folder)
    return fit(recipe, resume=True, **options)


def remove_checkpoints(folder: Path) -> None:
    """Delete a finished run's checkpoint folder (its result is in its JSON file)."""
    shutil.rmtree(folder, ignore_errors=True)
