"""``ldrrld demo``: every method from the shipped teacher of the teaching problem, offline, read beside
the committed study (:mod:`ldrrld_core.study.demo`)."""

from __future__ import annotations

import argparse
import json

from ..study import DEMO_EPOCHS
from .options import is_main

__all__ = ["DEMO_EPOCHS", "add_commands", "run_demo"]


def add_commands(commands) -> None:
    """Add ``demo`` to the ``ldrrld`` subcommands ``commands``."""
    demo = commands.add_parser(
        "demo",
        help="CE, KD, DKD and LDRRLD students from one teacher, offline, beside the study's verdict",
        description="Offline demo on the study's teaching problem (the synthetic 100-class hierarchy): the "
        "converged teacher that ships with the package, then one student per method from identical initial "
        f"weights, each at the learning rate the committed five-seed study chose for it on validation, over "
        f"a {DEMO_EPOCHS}-epoch schedule. About a minute on a CPU. One seed and a short schedule are an "
        "illustration, not a ranking: the demo prints the study's table and verdict, with their intervals, "
        "beside its own run, and says so when the two order the methods differently. Other recipes have no "
        "study: they train their teacher first and give every method the recipe's learning rate.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  ldrrld demo\n  ldrrld demo --seed 1 --epochs 30\n"
        "  ldrrld demo --methods ce ldrrld\n"
        "  ldrrld demo --methods ce kd dist sdd --results runs/study/teaching/results.json"
        "   # a study of yours that tuned them\n"
        "  ldrrld demo --recipe digits          # 8x8 digits, teacher trained, one rate for all\n"
        "The last stdout line is JSON: "
        '{"top1": {"teacher": ..., "ce": ..., ...}, "lr": {...}, "study": {...}, ...}.',
    )
    demo.add_argument(
        "--recipe",
        default="teaching",
        help="preset to run (default: teaching, with its shipped teacher; others train one)",
    )
    demo.add_argument(
        "--methods",
        nargs="+",
        help="losses to compare (default: ce kd dkd ldrrld); on teaching, each must be in the study (see --results)",
    )
    demo.add_argument(
        "--results",
        help="the teaching study to read the chosen points from (default: the committed one, which tunes ce, kd, "
        "dkd and ldrrld; `ldrrld study --methods ...` writes one with any method, e.g. dist lskd wttm ctkd tekap sdd)",
    )
    demo.add_argument(
        "--epochs",
        type=int,
        help=f"epochs of every student (default: {DEMO_EPOCHS} on teaching, else the recipe's);"
        " "
        "the learning-rate decays move proportionally",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    demo.add_argument("--out-dir", help="also write every run's files under this folder")
    demo.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    demo.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads of torch (default 1: fastest for these small models, and the numbers "
        "do not depend on the number of cores)",
    )
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.add_argument("--quiet", action="store_true", help="no per-epoch log lines")
    demo.set_defaults(run=run_demo, trains=True)


def run_demo(args: argparse.Namespace, device) -> int:
    """The teaching demo beside its study, or, for another recipe, a plain comparison with its caveat."""
    if args.recipe == "teaching":
        from ..study.demo import run_demo as teaching_demo

        demo = teaching_demo(
            methods=tuple(args.methods or ("ce", "kd", "dkd", "ldrrld")),
            epochs=args.epochs or DEMO_EPOCHS,
            seed=args.seed,
            device=device,
            progress=not args.no_progress,
            out_dir=args.out_dir,
            results=args.results,
        )
        if is_main():
            print(demo.report())
            print(json.dumps(demo.summary()))
        return 0
    return _plain_demo(args, device)


def _plain_demo(args: argparse.Namespace, device) -> int:
    """A recipe without a study: its teacher, then one student per method at the recipe's one rate."""
    from ..train import DEFAULT_METHODS, compare, get_recipe

    recipe = get_recipe(args.recipe, seed=args.seed, out_dir=args.out_dir)
    if args.epochs is not None:
        recipe = recipe.rescheduled(args.epochs)
    methods = tuple(args.methods or DEFAULT_METHODS)
    result = compare(recipe, methods, device=device, progress=not args.no_progress)
    if is_main():
        print(f"{recipe.teacher} -> {recipe.model} on {recipe.data}, {recipe.epochs} epochs, seed {recipe.seed}")
        print(
            f"One seed and one learning rate ({recipe.lr:g}) for every method: an illustration, not a fair "
            f"comparison.\n`ldrrld study --recipe {recipe.name}` chooses each method's rate on validation "
            "over five seeds."
        )
        print(result.table())
        runs = [result.teacher, *result.students.values()]
        summary = {
            "top1": {"teacher": round(result.teacher.top1, 2), **{m: round(v, 2) for m, v in result.top1().items()}},
            "data": recipe.data,
            "epochs": recipe.epochs,
            "seed": recipe.seed,
            "seconds": round(sum(run.summary["seconds"] for run in runs), 1),
        }
        print(json.dumps(summary))
    return 0
