"""The kit's command line, ``python benchmarks/reproduce_cifar100.py``.

(``ldrrld teacher check`` lives with the other ``ldrrld`` commands, in :mod:`ldrrld_core.cli.teacher`.)
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ..study.executors import add_executor_options, executor_from
from .baselines import settings_markdown
from .figure3 import FIGURE3_DEPTHS, FIGURE3_PAIR, figure3_commands, figure3_markdown, figure3_points
from .kit import Settings, cells, commands, run, select_pairs, teacher_commands
from .paper import paper_markdown
from .report import markdown, write_results

__all__ = ["build_parser", "settings_from", "main"]

_DESCRIPTION = """\
Rerun the paper's CIFAR-100 tables with the standard teachers and fill a paper-vs-measured table.

  pairs     the paper's tables, the baselines' per-pair settings and the number of runs
  commands  the exact ldrrld command of every run
  run       check the teachers, run every cell (resuming interrupted ones), write the table;
            with --executor ray, every cell as a task on a Ray cluster (docs/cluster.md)
  table     write results.md and results.json from the finished runs: paper vs measured, and
            LDRRLD - DKD and LDRRLD - KD paired by seed, with 95% intervals
  figure3   the seed's Figure 3, LDRRLD's top-1 against d on a real pair (default resnet32x4 ->
            resnet8x4, d in 2 3 5 7 10 15 20): every run's command; --collect tabulates them
  seed      the seed's ImageNet (Table 3) and heterogeneous CIFAR-100 (Table 4) tables, as it
            prints them, and the command of every cell (quoted-only methods say so) with its
            estimated GPU-hours (from the models' FLOPs at an assumed A100 rate, not measured)

Seeds 0, 1 and 2 by default. --fast does it all in seconds on a CPU (synthetic data, one epoch,
stand-in teachers); its numbers check the code path, not the paper. See docs/reproduce.md.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reproduce_cifar100", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in ("pairs", "commands", "run", "table", "figure3"):
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
        sub.add_argument(
            "--seeds",
            type=int,
            nargs="+",
            default=list(Settings.seeds),
            help="one run per seed (default %(default)s, so LDRRLD's paired gaps to DKD and KD have an interval)",
        )
        sub.add_argument(
            "--only", nargs="+", metavar="TEACHER-STUDENT", help="pairs to run (default all; fast mode: vgg13-vgg8)"
        )
        sub.add_argument(
            "--extra", default="", help='more recipe fields for every run, as --set FIELD=VALUE, e.g. "--set amp=bf16"'
        )
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
    figure3 = subcommands.choices["figure3"]
    figure3.add_argument(
        "--depths", type=int, nargs="+", default=list(FIGURE3_DEPTHS), help="values of d (default %(default)s)"
    )
    figure3.add_argument(
        "--pair", default="-".join(FIGURE3_PAIR), metavar="TEACHER-STUDENT", help="the pair (default %(default)s)"
    )
    figure3.add_argument("--collect", action="store_true", help="tabulate the finished runs instead of the commands")
    seed = subcommands.add_parser("seed")
    seed.add_argument(
        "--teachers",
        type=Path,
        default=Settings.teachers,
        help="folder of the teachers' files: <teachers>/<table>/<model>.pth (default data/teachers)",
    )
    seed.add_argument(
        "--imagenet-val",
        type=Path,
        default=Path("data/imagenet/val"),
        help="ImageNet's validation folder, where Table 3's teachers are checked (default data/imagenet/val)",
    )
    seed.add_argument("--runs", type=Path, default=Path("runs/seed_tables"), help="run folder")
    seed.add_argument("--seed", type=int, default=0, help="the runs' seed (default 0)")
    seed.add_argument("--tables-only", action="store_true", help="the tables without the commands")
    return parser


def _seed_listing(args: argparse.Namespace) -> None:
    from .costs import ESTIMATE_NOTE, cost_markdown, hours, seed_costs
    from .imagenet_teachers import IMAGENET_MARGIN
    from .seed_tables import SEED_TABLES, seed_commands, seed_markdown, teacher_check_commands

    print(seed_markdown())
    if args.tables_only:
        return
    for table in SEED_TABLES:
        print(f"### Cost of each cell: {table.title}\n\n{cost_markdown(table)}\n")
    print(f"# GPU-h: {ESTIMATE_NOTE}")
    for table in SEED_TABLES:
        print(f"# {table.title}")
        checks = teacher_check_commands(table, teachers=args.teachers, imagenet_val=args.imagenet_val)
        for teacher, command in checks:
            print(f"# the teacher {teacher}, checked first (exit status 1 outside +-{IMAGENET_MARGIN} points)")
            print(command)
        listing = seed_commands(table, teachers=args.teachers, runs=args.runs, seed=args.seed)
        for (pair, column, command), cost in zip(listing, seed_costs(table), strict=True):
            estimate = f" · est. {hours(cost.gpu_hours)} GPU-h" if cost is not None else ""
            print(f"# {pair} · {column}{estimate}\n{command}")


def _figure3(args: argparse.Namespace, settings: Settings) -> None:
    """``figure3``: the seed's Figure 3 (top-1 against d) as commands, or with ``--collect`` as a table."""
    pair = tuple(args.pair.split("-", 1))
    if len(pair) != 2 or not all(pair):
        raise ValueError(f"--pair takes TEACHER-STUDENT, e.g. resnet32x4-resnet8x4, got {args.pair!r}")
    if args.collect:
        print(figure3_markdown(figure3_points(settings, pair=pair, depths=args.depths), pair))
        return
    for depth, seed, command in figure3_commands(settings, pair=pair, depths=args.depths):
        print(f"# d = {depth} · seed {seed}\n{command}")


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
    if args.command == "seed":
        _seed_listing(args)
        return 0
    settings = settings_from(args)
    try:
        if args.command == "figure3":
            _figure3(args, settings)
            return 0
        pairs = select_pairs(args.only, fast=settings.fast)
        if args.command == "pairs":
            print(paper_markdown())
            print("### The baselines' settings per pair\n")
            print(settings_markdown())
            runs = len(cells(settings, pairs))
            print(f"\n{runs} runs for {len(pairs)} pair(s) and seeds {list(settings.seeds)}")
        elif args.command == "commands":
            for cell in cells(settings, pairs):
                cell.recipe(settings)  # a setting the runs would refuse fails here too
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
