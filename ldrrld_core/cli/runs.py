"""``ldrrld runs diff`` and ``ldrrld runs table``: compare finished run folders."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_commands", "run_runs"]


def add_commands(commands) -> None:
    """Add ``runs diff`` and ``runs table`` to the ``ldrrld`` subcommands ``commands``."""
    runs = commands.add_parser("runs", help="compare finished runs: diff two, or tabulate seeds")
    runs.set_defaults(run=run_runs, trains=False)
    actions = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    diff = actions.add_parser(
        "diff",
        help="recipe fields, fingerprint, numeric environment and the epoch where two runs part",
        description="Show what differs between two run folders: recipe fields, the environment "
        "(fingerprint), the numeric environment (threads, CPU capability, variables such as "
        "ATEN_CPU_CAPABILITY: a difference there explains bitwise differences), and the first epoch "
        "whose metrics differ by more than --tolerance.",
    )
    diff.add_argument("a", metavar="A", help="a run folder")
    diff.add_argument("b", metavar="B", help="another run folder")
    diff.add_argument("--tolerance", type=float, default=1e-6, help="absolute tolerance per metric (default 1e-6)")
    diff.add_argument("--json", action="store_true", help="print JSON instead of text")
    table = actions.add_parser(
        "table",
        help="seeds aggregated into mean ± std beside the paper's number",
        description="Group run folders by recipe (less the seed), show top-1 at the last and the best "
        "epoch as mean ± std, the paper's number for CIFAR-100 cells and whether the gap lies "
        "within one std.",
    )
    table.add_argument("folders", nargs="+", metavar="DIR", help="run folders, or folders searched for them")
    table.add_argument("--json", action="store_true", help="print JSON instead of markdown")


def run_runs(args: argparse.Namespace) -> int:
    """Print the diff (text or JSON) or the table (markdown or JSON)."""
    from ..runs import diff_runs, find_runs, load_run, runs_table, table_markdown

    if args.runs_command == "diff":
        difference = diff_runs(load_run(args.a), load_run(args.b), tolerance=args.tolerance)
        print(json.dumps(difference.to_dict(), indent=1, default=str) if args.json else difference.text())
        return 0
    rows = runs_table(find_runs(args.folders))
    print(json.dumps(rows, indent=1) if args.json else table_markdown(rows))
    return 0
