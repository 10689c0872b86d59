"""The kit's command lines: ``python benchmarks/reproduce_cifar100.py`` and ``ldrrld teacher check``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..study.executors import add_executor_options, executor_from
from .baselines import settings_markdown
from .kit import Settings, cells, commands, run, select_pairs, teacher_commands
from .paper import paper_markdown
from .report import markdown, write_results
from .teachers import DEFAULT_MARGIN, DEFAULT_TEACHER_ROOT

__all__ = ["build_parser", "settings_from", "main", "add_teacher_command", "run_teacher_command"]

_DESCRIPTION = """\
Rerun the paper's CIFAR-100 tables with the standard teachers and fill a paper-vs-measured table.

  pairs     the paper's tables, the baselines' per-pair settings and the number of runs
  commands  the exact ldrrld command of every run
  run       check the teachers, run every cell (resuming interrupted ones), write the table;
            with --executor ray, every cell as a task on a Ray cluster (docs/cluster.md)
  table     write results.md and results.json from the finished runs

--fast does it all in seconds on a CPU (synthetic data, one epoch, stand-in teachers); its numbers
check the code path, not the paper. See docs/reproduce.md.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reproduce_cifar100", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in ("pairs", "commands", "run", "table"):
        sub = subcommands.add_parser(name)
        sub.add_argument(
            "--runs",
            type=Path,
            help="run folder (default runs/reproduce_cifar100, fast mode runs/reproduce_cifar100_fast)",
        )
        sub.add_argument(
            "--teachers",
            type=Path,
            default=Settings.teachers,
            help="folder of <name>_vanilla/ckpt_epoch_240.pth (default data/teachers; "
            "an mdistiller checkout has download_ckpts/cifar_teachers)",
        )
        sub.add_argument("--data-root", type=Path, default=Settings.data_root, help="CIFAR-100 folder (default data)")
        sub.add_argument(
            "--recipe",
            default=Settings.recipe,
            choices=("cifar100-authors", "cifar100"),
            help="schedule preset (default cifar100-authors, the LDRRLD authors' effective schedule)",
        )
        sub.add_argument("--seeds", type=int, nargs="+", default=list(Settings.seeds))
        sub.add_argument(
            "--only", nargs="+", metavar="TEACHER-STUDENT", help="pairs to run (default all; fast mode: vgg13-vgg8)"
        )
        sub.add_argument("--extra", default="", help='more ldrrld arguments for every run, e.g. "--set amp=bf16"')
        sub.add_argument("--fast", action="store_true", help="tiny synthetic data, one epoch, stand-in teachers (CI)")
        sub.add_argument("--teacher-epochs", type=int, default=1, help="fast mode: epochs of the stand-in teachers")
        sub.add_argument(
            "--margin",
            type=float,
            default=Settings.margin,
            help="points a teacher may measure below its published top-1 (default %(default)s)",
        )
        sub.add_argument("--strict", action="store_true", help="refuse a teacher below its published top-1")
    add_executor_options(subcommands.choices["run"])
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    values = dict(
        data_root=args.data_root,
        recipe=args.recipe,
        seeds=tuple(args.seeds),
        extra=tuple(shlex.split(args.extra)),
        teacher_epochs=args.teacher_epochs,
        margin=args.margin,
        strict=args.strict,
    )
    if args.fast:
        return Settings.for_fast(args.runs or Path("runs/reproduce_cifar100_fast"), **values)
    return Settings(runs=args.runs or Settings.runs, teachers=args.teachers, **values)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    try:
        pairs = select_pairs(args.only, fast=settings.fast)
        if args.command == "pairs":
            print(paper_markdown())
            print("### The baselines' settings per pair\n")
            print(settings_markdown())
            runs = len(cells(settings, pairs))
            print(f"\n{runs} runs for {len(pairs)} pair(s) and seeds {list(settings.seeds)}")
        elif args.command == "commands":
            if settings.fast:
                print("# stand-in teachers (copied to <teachers>/<name>_vanilla/ckpt_epoch_240.pth)")
                print("\n".join(teacher_commands(settings, pairs)))
            print("\n".join(commands(settings, pairs)))
        elif args.command == "run":
            run(settings, pairs, executor=executor_from(args))
            print(markdown(write_results(settings)))
        else:
            print(markdown(write_results(settings)))
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"reproduce_cifar100: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reproduce_cifar100: interrupted; the same command continues every unfinished run", file=sys.stderr)
        return 130
    return 0


# ------------------------------------------------------------------------ ldrrld teacher check
def add_teacher_command(commands) -> None:
    """Add ``teacher check`` to the ``ldrrld`` subcommands ``commands``."""
    teacher = commands.add_parser("teacher", help="check a teacher file against its published accuracy")
    actions = teacher.add_subparsers(dest="teacher_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="SHA-256, parameters and measured vs published test top-1 of a teacher",
        description="Hash a teacher file, load it, measure its test top-1 and compare it with the published "
        "accuracy; warn (or with --strict refuse) when it is more than --margin points below.",
    )
    check.add_argument(
        "teacher", metavar="NAME|FILE", help="a CIFAR model name (looked up under --teacher-root) or a checkpoint file"
    )
    check.add_argument(
        "--teacher-root",
        default=str(DEFAULT_TEACHER_ROOT),
        metavar="FOLDER",
        help="folder of <name>_vanilla/ckpt_epoch_240.pth (default %(default)s)",
    )
    check.add_argument("--model", help="architecture of FILE when its folder is not <name>_vanilla")
    check.add_argument("--data", default="cifar100", help="data set whose test split is measured (default cifar100)")
    check.add_argument("--data-root", default="data", help="folder holding the data set (default data)")
    check.add_argument("--download", action="store_true", help="download the data set if missing")
    check.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help="points below the published top-1 that are tolerated (default %(default)s)",
    )
    check.add_argument("--strict", action="store_true", help="exit with an error when the teacher is below")
    check.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    check.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")


def run_teacher_command(args: argparse.Namespace) -> int:
    """``ldrrld teacher check``: print the check's line, then its JSON (and write it with ``--json``)."""
    from ..data import load_dataset
    from .teachers import check_teacher, resolve_teacher

    resolve_teacher(args.teacher, args.teacher_root, args.model)  # a missing file fails before the data load
    data = load_dataset(args.data, args.data_root, download=args.download)
    check = check_teacher(
        args.teacher,
        root=args.teacher_root,
        arch=args.model,
        data=data,
        margin=args.margin,
        strict=args.strict,
        device=args.device,
    )
    if args.json:
        check.save(args.json)
    print(check.message())
    print(json.dumps(check.to_dict()))
    return 0
