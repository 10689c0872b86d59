"""Finished runs read back and compared: ``ldrrld runs diff A B`` and ``ldrrld runs table DIR...``.

* :mod:`.record`: a run folder's recipe, summary and history (:func:`load_run`, :func:`find_runs`);
* :mod:`.diff`: what differs between two runs, and the epoch where their curves part;
* :mod:`.table`: seeds aggregated into mean ± std beside the paper's number.

The ``ldrrld runs`` subcommands live with the other commands, in :mod:`ldrrld_core.cli.runs`.
"""

from .diff import PLACE_FIELDS, RunDiff, diff_runs
from .record import RunRecord, find_runs, load_run
from .table import GROUPING_IGNORES, SeedGroup, group_runs, runs_table, table_markdown

__all__ = [
    "PLACE_FIELDS",
    "RunDiff",
    "diff_runs",
    "RunRecord",
    "find_runs",
    "load_run",
    "GROUPING_IGNORES",
    "SeedGroup",
    "group_runs",
    "runs_table",
    "table_markdown",
]
