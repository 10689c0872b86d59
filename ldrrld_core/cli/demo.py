"""``ldrrld demo``: every method from the shipped teacher of the teaching problem, offline."""

from __future__ import annotations

import argparse
import json

from .options import is_main

__all__ = ["DEMO_EPOCHS", "add_commands", "run_demo"]

#: Student epochs of `ldrrld demo` on the teaching problem: a shorter schedule than the study's 40,
#: so that the four students train in about a minute on a CPU.
DEMO_EPOCHS = 15


def add_commands(commands) -> None:
    """Add ``demo`` to the ``ldrrld`` subcommands ``commands``."""
    demo = commands.add_parser(
        "demo",
        help="CE, KD, DKD and LDRRLD students from one teacher, offline",
        description="Offline demo on the study's teaching problem (the synthetic "
        "100-class hierarchy): the converged teacher that ships with the "
        "package, then one student per method from identical initial "
        f"weights, over a {DEMO_EPOCHS}-epoch schedule, and their test "
        "accuracy. About a minute on a CPU. Other recipes train their "
        "teacher first.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  ldrrld demo\n  ldrrld demo --seed 1 --epochs 40\n"
        "  ldrrld demo --methods ce kd ldrrld ldrrld-no-adw\n"
        "  ldrrld demo --recipe digits          # 8x8 digits, teacher trained\n"
        "The last stdout line is JSON: "
        '{"top1": {"teacher": ..., "ce": ..., ...}, ...}.',
    )
    demo.add_argument(
        "--recipe",
        default="teaching",
        help="preset to run (default: teaching, with its shipped teacher; others train one)",
    )
    demo.add_argument("--methods", nargs="+", help="losses to compare (default: ce kd dkd ldrrld)")
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
    """Train the teacher (or load the shipped one) and one student per method; print the table and JSON."""
    from ..study import shipped_teacher
    from ..train import DEFAULT_METHODS, compare, get_recipe

    recipe = get_recipe(args.recipe, seed=args.seed, out_dir=args.out_dir)
    epochs = args.epochs or (DEMO_EPOCHS if args.recipe == "teaching" else None)
    if epochs is not None:
        recipe = recipe.rescheduled(epochs)
    teacher = shipped_teacher(args.recipe, device=device)[0] if args.recipe == "teaching" else None
    methods = tuple(args.methods or DEFAULT_METHODS)
    result = compare(recipe, methods, teacher=teacher, device=device, progress=not args.no_progress)
    if is_main():
        print(f"{recipe.teacher} -> {recipe.model} on {recipe.data}, {recipe.epochs} epochs, seed {recipe.seed}")
        print(result.table())
        runs = [result.teacher, *result.students.values()]
        print(
            json.dumps(
                {
                    "top1": {"teacher": result.teacher.top1, **result.top1()},
                    "data": recipe.data,
                    "epochs": recipe.epochs,
                    "seed": recipe.seed,
                    "seconds": sum(run.summary["seconds"] for run in runs),
                }
            )
        )
    return 0
