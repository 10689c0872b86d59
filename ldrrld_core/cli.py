"""The ``ldrrld`` command: train, distil, compare, and list what the toolkit knows.

Every training command prints its progress on stderr and, as the last line on stdout, a JSON
summary that scripts can read (``... | tail -n 1 | jq .top1``). Runs launched with ``torchrun``
train on every process; rank 0 alone writes files and prints.

A mistake gets one line on stderr, ``ldrrld <command>: error: <what is wrong and how to fix it>``,
and exit status 2 (1 for a failing disk or an internal error, 130 for Ctrl-C, after which the run's
``latest.pth`` still holds its last finished epoch); ``--debug`` adds the Python traceback.

Only argparse and the standard library are imported before the arguments are parsed; each
command imports what it needs when it runs, so ``ldrrld --help`` starts about as fast as torch
imports (``benchmarks/cli_startup.py`` measures it).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import shlex
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

_DESCRIPTION = """\
Local Dense Relational Logit Distillation (LDRRLD, ICCV 2025; the paper writes LDRLD):
train teachers, distil students with LDRRLD or a baseline, and compare them.

Start with the offline demo (a shipped teacher and four students on a synthetic 100-class
problem where distillation helps, about a minute on a CPU), then the comparison protocol:

  ldrrld demo
  ldrrld study --quick

Then the two steps of any distillation, here on the offline digits data:

  ldrrld train   --recipe digits                      # the recipe's teacher, cross-entropy alone
  ldrrld distill --recipe digits --loss ldrrld \\
                 --teacher-checkpoint runs/digits/digits_cnn-ce-seed0/student.pth

List what is available with `ldrrld recipes`, `ldrrld losses` and `ldrrld models`.
"""

_TRAIN_EPILOG = """\
examples:
  ldrrld train --recipe digits                                  # the digits teacher (digits_cnn)
  ldrrld train --recipe digits --model digits_mlp --seed 3      # a student alone, another seed
  ldrrld train --recipe cifar100 --model resnet32x4 --download  # a CIFAR-100 teacher on a GPU
  ldrrld train --recipe digits --epochs 30 --resume             # continue a run to 30 epochs
  torchrun --nproc_per_node 4 -m ldrrld_core train --recipe cifar100 --model resnet32x4

The last stdout line is JSON: {"top1", "top5", "epochs", "seconds", "out_dir", ...}.
"""

_DISTILL_EPILOG = """\
examples:
  ldrrld distill --recipe digits --train-teacher                # teacher first, then LDRRLD
  ldrrld distill --recipe digits --loss dkd --teacher-checkpoint runs/digits/digits_cnn-ce-seed0/student.pth
  ldrrld distill --recipe digits --loss-option depth=5 --loss-option decay=0.1 --train-teacher
  ldrrld distill --recipe cifar100 --teacher resnet32x4 --model ShuffleV2 \\
                 --teacher-checkpoint data/teachers/resnet32x4_vanilla/ckpt_epoch_240.pth
  ldrrld distill --recipe cifar100-authors --set amp=bf16 --set compile=true ...

Losses: ce, kd, dkd, ldrrld and its ablations (ldrrld-no-adw, -irw, -erd, -no-rntk,
-teacher-rank); see `ldrrld losses`. The last stdout line is a JSON summary.
"""

#: Student epochs of `ldrrld demo` on the teaching problem: a shorter schedule than the study's 40,
#: so that the four students train in about a minute on a CPU.
DEMO_EPOCHS = 15

_STUDY_EPILOG = """\
examples:
  ldrrld study --quick                                  # the protocol at toy size, about a minute
  ldrrld study --jobs 2 --out-dir runs/study            # the full study of docs/results.md
  ldrrld study --teacher-only --no-shipped-teacher      # train the converged teacher alone
  ldrrld study --render docs                            # docs/results.md and .png from docs/results.json
  ldrrld study --executor ray --address 10.0.0.1:6379   # the runs on a Ray cluster (docs/cluster.md)

The last stdout line is JSON: {"results", "verdict", "test_top1_last", "delta_vs_ce", ...}.
"""

_SWEEP_EPILOG = """\
examples:
  ldrrld sweep --quick                                  # a toy grid on the quick study, about a minute
  nohup ldrrld sweep --jobs 2 > sweep.log 2>&1 &        # the full grid of docs/sweep.md; rerun to resume
  ldrrld sweep --depths 3 7 15 --decays 0 0.1 --seeds 5 --out-dir runs/my-sweep
  ldrrld sweep --collect --out-dir runs/sweep/teaching  # sweep.json and .md from the runs finished so far
  ldrrld sweep --executor ray --address 10.0.0.1:6379   # the runs on a Ray cluster (docs/cluster.md)

Every grid point trains at the learning rate the study chose for ldrrld (from --results).
The last stdout line is JSON: {"sweep", "markdown", "runs_done", "runs_planned", "findings"}.
"""


# ------------------------------------------------------------------------------------ parser
def _add_run_options(parser: argparse.ArgumentParser) -> None:
    from .train import AMP_MODES, list_recipes

    group = parser.add_argument_group("recipe")
    group.add_argument("--recipe", choices=list_recipes(), help="preset to start from (default: digits)")
    group.add_argument(
        "--recipe-file",
        metavar="FILE",
        help="start from a recipe file instead of a preset: a run's recipe.json repeats "
        "that run, `ldrrld recipes NAME --json FILE` writes one (YAML needs PyYAML)",
    )
    group.add_argument("--model", help="model to train (registry name, see `ldrrld models`)")
    group.add_argument("--data", help="data set: digits, synthetic, cifar100, tiny-imagenet, imagenet")
    group.add_argument("--data-root", help="folder holding downloaded data sets (default: data)")
    group.add_argument("--download", action="store_true", default=None, help="download the data set if missing")
    group.add_argument("--epochs", type=int, help="total number of epochs")
    group.add_argument("--batch-size", type=int, help="samples per step, summed over all processes")
    group.add_argument("--lr", type=float, help="peak learning rate")
    group.add_argument("--seed", type=int, help="seed of the initialisation, data order and augmentation")
    group.add_argument("--amp", choices=AMP_MODES, help="mixed precision (GPU)")
    group.add_argument("--compile", action="store_true", default=None, help="torch.compile the models")
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other recipe field, e.g. --set decay_epochs=150,180,210 --set deterministic=false "
        "(repeatable; `ldrrld recipes NAME` lists the fields)",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--out-dir",
        help="folder for checkpoints and history (default: runs/<recipe>/<model>-<loss>-seed<seed>; "
        "'none' writes nothing)",
    )
    run.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CHECKPOINT",
        help="continue from CHECKPOINT (a latest.pth or its folder), or from the out-dir's latest.pth",
    )
    run.add_argument(
        "--break-lock",
        action="store_true",
        help="remove the out-dir's lock (<out-dir>/.lock) left by a run that is gone, e.g. one "
        "on another host; a stale lock of a dead process on this host is removed anyway",
    )
    run.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    run.add_argument(
        "--threads", type=int, help="CPU threads of torch (default: torch's choice; small models train fastest on 1)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--quiet", action="store_true", help="no per-epoch log lines")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ldrrld`` (exposed for documentation and tests)."""
    from .reproduce.command import add_teacher_command
    from .runs.command import add_runs_command

    parser = argparse.ArgumentParser(
        prog="ldrrld", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_training_commands(commands)
    _add_demo_command(commands)
    _add_study_command(commands)
    _add_sweep_command(commands)
    _add_listing_commands(commands)
    add_teacher_command(commands)
    add_runs_command(commands)

    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    for command in commands.choices.values():  # also accepted after the command; SUPPRESS keeps the first
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show the Python traceback of an error"
        )
    return parser


def _add_training_commands(commands) -> None:
    """``train`` (cross-entropy alone) and ``distill`` (a student from a teacher)."""
    from .reproduce.teachers import DEFAULT_TEACHER_ROOT

    raw = argparse.RawDescriptionHelpFormatter
    train = commands.add_parser(
        "train",
        help="train a model alone with cross-entropy (a teacher or a baseline)",
        description="Train one model with cross-entropy alone. Without --model, the "
        "recipe's teacher architecture is trained.",
        epilog=_TRAIN_EPILOG,
        formatter_class=raw,
    )
    _add_run_options(train)

    distill = commands.add_parser(
        "distill",
        help="distil a student from a trained teacher",
        description="Distil the recipe's student from a teacher with a distillation loss.",
        epilog=_DISTILL_EPILOG,
        formatter_class=raw,
    )
    _add_run_options(distill)
    teaching = distill.add_argument_group("teacher and loss")
    teaching.add_argument("--loss", help="loss name (default: the recipe's, ldrrld)")
    teaching.add_argument(
        "--loss-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a loss hyperparameter, e.g. depth=5, decay=0.1, rank_by=teacher (repeatable)",
    )
    teaching.add_argument("--teacher", help="teacher architecture (default: the recipe's)")
    teaching.add_argument("--teacher-checkpoint", help="teacher weights: {'model': state_dict} or a raw state dict")
    teaching.add_argument(
        "--teacher-sha256",
        metavar="HEX",
        help="refuse the teacher file unless its SHA-256 is HEX (as `sha256sum FILE` prints)",
    )
    teaching.add_argument(
        "--train-teacher",
        action="store_true",
        help="train the teacher first (into <out-dir>/teacher) instead of loading one",
    )
    teaching.add_argument(
        "--teacher-root",
        default=str(DEFAULT_TEACHER_ROOT),
        metavar="FOLDER",
        help="CIFAR presets without --teacher-checkpoint load <FOLDER>/<teacher>_vanilla/"
        "ckpt_epoch_240.pth (default %(default)s; mdistiller: "
        "download_ckpts/cifar_teachers)",
    )


def _add_demo_command(commands) -> None:
    """``demo``: every method from the shipped teacher of the teaching problem."""
    raw = argparse.RawDescriptionHelpFormatter
    demo = commands.add_parser(
        "demo",
        help="CE, KD, DKD and LDRRLD students from one teacher, offline",
        description="Offline demo on the study's teaching problem (the synthetic "
        "100-class hierarchy): the converged teacher that ships with the "
        "package, then one student per method from identical initial "
        f"weights, over a {DEMO_EPOCHS}-epoch schedule, and their test "
        "accuracy. About a minute on a CPU. Other recipes train their "
        "teacher first.",
        formatter_class=raw,
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


def _add_study_command(commands) -> None:
    """``study``: the comparison protocol."""
    raw = argparse.RawDescriptionHelpFormatter
    study = commands.add_parser(
        "study",
        help="compare CE, KD, DKD and LDRRLD with one protocol over seeds (results.json + report)",
        description="The comparison protocol: a converged teacher, a validation split that alone chooses "
        "each method's learning rate, every seed with identical initial weights and data order "
        "across methods, Student-t intervals and paired differences. Writes OUT_DIR/results.json, "
        "results.md and results.png; finished runs are reused, so an interrupted study resumes.",
        formatter_class=raw,
        epilog=_STUDY_EPILOG,
    )
    study.add_argument("--recipe", default="teaching", help="the problem, a recipe preset (default: teaching)")
    study.add_argument(
        "--quick",
        action="store_true",
        help="the whole protocol at toy size (2 seeds, 2 learning rates, 3 epochs): a test, not a claim",
    )
    study.add_argument(
        "--out-dir",
        help="folder for the teacher cache, every run and the results "
        "(default: runs/study/<recipe>, or runs/study-quick/<recipe>)",
    )
    study.add_argument("--seeds", type=int, help="seeds 0 .. N-1 (default 5; --quick 2)")
    study.add_argument("--epochs", type=int, help="every student's epochs (default: the recipe's)")
    study.add_argument("--methods", nargs="+", help="losses to compare, ce and kd included (default: ce kd dkd ldrrld)")
    study.add_argument(
        "--lr-factors",
        nargs="+",
        type=float,
        help="the learning-rate grid as multiples of the recipe's lr (default 0.5 1 2; --quick 0.5 1)",
    )
    study.add_argument("--teacher-only", action="store_true", help="train (or find) the converged teacher and stop")
    study.add_argument(
        "--no-shipped-teacher",
        action="store_true",
        help="train the teacher even when one ships with the package for this recipe",
    )
    study.add_argument(
        "--render", metavar="DIR", help="only write DIR/results.md and DIR/results.png from DIR/results.json"
    )
    _add_batch_options(study)


def _add_sweep_command(commands) -> None:
    """``sweep``: LDRRLD over depth, decay and temperature."""
    raw = argparse.RawDescriptionHelpFormatter
    sweep = commands.add_parser(
        "sweep",
        help="LDRRLD students over depth, decay and temperature on the study's problem (sweep.json)",
        description="Train LDRRLD students over a grid of depth d x decay (and temperatures at the default d "
        "and decay) on the study's problem: its teacher, validation split, schedule and seeds, and "
        "the learning rate the study chose for ldrrld. Reports test top-1 (last and best-val "
        "epoch), Kendall tau and KL over all classes, top-7 pair agreement and seconds per run, "
        "over seeds. Writes OUT_DIR/sweep.json and sweep.md after every run; finished runs are "
        "reused, so a killed sweep resumes.",
        formatter_class=raw,
        epilog=_SWEEP_EPILOG,
    )
    sweep.add_argument("--recipe", default="teaching", help="the problem, a recipe preset (default: teaching)")
    sweep.add_argument(
        "--quick",
        action="store_true",
        help="a 2 x 2 grid plus one temperature on the quick study, 2 seeds: a test, not a claim",
    )
    sweep.add_argument(
        "--out-dir",
        help="folder for every run and the output (default: runs/sweep/<recipe>, or runs/sweep-quick/<recipe>)",
    )
    sweep.add_argument(
        "--results", help="the study's results.json (default: docs/results.json when it studies the same problem)"
    )
    sweep.add_argument(
        "--run-study",
        action="store_true",
        help="without study results, run the whole study first (default: choose ldrrld's rate "
        "with the study's rule, no reference lines; --quick runs the quick study)",
    )
    sweep.add_argument(
        "--lr",
        type=float,
        help="train the grid at this rate without reading a study (no "
        "reference lines); rerun with --results later to add them",
    )
    sweep.add_argument("--depths", nargs="+", type=int, help="values of d (default 2 3 5 7 10 15 20)")
    sweep.add_argument("--decays", nargs="+", type=float, help="values of the decay (default 0 0.05 0.1 0.2)")
    sweep.add_argument(
        "--temperatures", nargs="+", type=float, help="values of T at the default d and decay (default 2 4 8)"
    )
    sweep.add_argument("--seeds", type=int, help="seeds 0 .. N-1 of every point (default 3; --quick 2)")
    sweep.add_argument(
        "--references",
        nargs="*",
        help="baselines also measured on the same seeds (default ce kd dkd; none: give the flag alone)",
    )
    sweep.add_argument(
        "--collect",
        action="store_true",
        help="train nothing: write sweep.json and sweep.md from the runs finished so far",
    )
    _add_batch_options(sweep)


def _add_batch_options(parser: argparse.ArgumentParser) -> None:
    """What ``study`` and ``sweep`` share: how many runs at once, where, on how many threads, how loud."""
    from .study.executors import add_executor_options

    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process each (default 1)")
    parser.add_argument("--device", default="cpu", help="where to train (default cpu: bitwise repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--quiet", action="store_true", help="no log lines")
    add_executor_options(parser)


def _add_listing_commands(commands) -> None:
    """``recipes``, ``losses`` and ``models``: what is available."""
    from .models.catalog import FAMILIES

    recipes = commands.add_parser("recipes", help="list the recipe presets, or show one recipe's fields")
    recipes.add_argument("name", nargs="?", help="a preset to show in full")
    recipes.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the preset as a recipe file (--recipe-file reads it); no FILE: stdout",
    )
    commands.add_parser("losses", help="list the losses")
    models = commands.add_parser("models", help="list the model names")
    models.add_argument("--family", choices=tuple(FAMILIES), help="only this family")


# ------------------------------------------------------------------------------ recipe building
def _key_value(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{what} expects KEY=VALUE, got {text!r}")
    return key.strip().replace("-", "_"), value


def _loss_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare word such as rank_by=teacher


def _recipe_from(args: argparse.Namespace, **fixed: Any):
    """The recipe the options describe: the preset, then --set, then the named options, then ``fixed``."""
    from .train import get_recipe, parse_field
    from .train.recipe_files import read_recipe_file

    overrides: dict[str, Any] = {}
    for text in args.set:
        key, value = _key_value(text, "--set")
        overrides[key] = parse_field(key, value)
    named = {
        "model": args.model,
        "data": args.data,
        "data_root": args.data_root,
        "download": args.download,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "amp": args.amp,
        "compile": args.compile,
    }
    for option in ("loss", "teacher", "teacher_checkpoint"):
        named[option] = getattr(args, option, None)
    overrides.update({key: value for key, value in named.items() if value is not None})
    overrides.update(fixed)
    if args.recipe_file and args.recipe:
        raise ValueError("give either --recipe or --recipe-file, not both")
    if args.recipe_file:
        recipe = read_recipe_file(args.recipe_file).replace(**overrides)
    else:
        recipe = get_recipe(args.recipe or "digits", **overrides)
    if getattr(args, "loss_option", None):
        options = dict(recipe.loss_options)
        options[recipe.loss] = {
            **recipe.loss_hparams,
            **{k: _loss_value(v) for k, v in (_key_value(t, "--loss-option") for t in args.loss_option)},
        }
        recipe = recipe.replace(loss_options=options)
    out_dir = (
        args.out_dir
        if args.out_dir is not None
        else f"runs/{recipe.name}/{recipe.model}-{recipe.loss}-seed{recipe.seed}"
    )
    source = Path(args.recipe_file).resolve().parent if args.recipe_file else None
    if source is not None and not args.resume and Path(out_dir).resolve() == source:
        raise ValueError(
            f"{out_dir} holds the run {args.recipe_file} came from, and a new run would "
            "overwrite it; pass --out-dir FOLDER to repeat the run elsewhere, or --resume to "
            "continue it"
        )
    return recipe.replace(out_dir=None if out_dir.lower() == "none" else out_dir)


# ------------------------------------------------------------------------------------ commands
def _print_run(run) -> None:
    print(run.history.table([c for c in run.history.columns if c != "seconds"], digits=4))
    print(json.dumps(run.summary))


def _trained_alone(args: argparse.Namespace) -> str | None:
    """What ``ldrrld train`` trains without --model: the preset's teacher, or the model of a recipe file's
    teacher run (its teacher if the file is a distillation's)."""
    from .train import get_recipe
    from .train.recipe_files import read_recipe_file

    if not args.recipe_file:
        return get_recipe(args.recipe or "digits").teacher
    recipe = read_recipe_file(args.recipe_file)
    return recipe.model if recipe.loss == "ce" else recipe.teacher


def _train(args: argparse.Namespace, device) -> int:
    from .train import fit

    model = args.model or _trained_alone(args)
    if model is None:
        raise ValueError(f"recipe {args.recipe_file or args.recipe!r} names no teacher; pass --model")
    recipe = _recipe_from(args, model=model, loss="ce", teacher=None, teacher_checkpoint=None)
    _break_locks(args, recipe.out_dir)
    run = fit(recipe, device=device, resume=args.resume, progress=not args.no_progress)
    if _is_main():
        _print_run(run)
    return 0


def _distill(args: argparse.Namespace, device) -> int:
    from .train import distill, train_teacher

    recipe = _recipe_from(args)
    if not recipe.needs_teacher:
        raise ValueError(f"loss {recipe.loss!r} trains without a teacher; use `ldrrld train --model {recipe.model}`")
    if args.train_teacher and recipe.teacher_checkpoint:
        raise ValueError("give either --train-teacher or --teacher-checkpoint, not both")
    if not (args.train_teacher or recipe.teacher_checkpoint) and recipe.name.startswith("cifar100"):
        from .models import standard_teacher_path

        found = standard_teacher_path(recipe.teacher, args.teacher_root)
        recipe = recipe.replace(teacher_checkpoint=str(found))
    if not (args.train_teacher or recipe.teacher_checkpoint):
        raise ValueError(
            f"loss {recipe.loss!r} distils from a teacher: pass --teacher-checkpoint FILE (weights "
            f"of {recipe.teacher}) or --train-teacher to train one first"
        )
    if args.teacher_sha256:
        _check_teacher_hash(recipe.teacher_checkpoint, args.teacher_sha256)
    teacher_dir = f"{recipe.out_dir}/teacher" if args.train_teacher and recipe.out_dir else None
    _break_locks(args, recipe.out_dir, teacher_dir)
    teacher = None
    if args.train_teacher:
        # On --resume the teacher's own run is resumed too (or found finished), so the student
        # continues with the very teacher it started with instead of a retrained one.
        teacher = train_teacher(
            recipe, device=device, progress=not args.no_progress, resume=True if args.resume else None
        )
    run = distill(recipe, teacher, device=device, resume=args.resume, progress=not args.no_progress)
    if _is_main():
        _print_run(run)
    return 0


def _check_teacher_hash(path: str | None, expected: str) -> None:
    """Refuse the teacher file unless its SHA-256 is ``expected`` (a missing file is left to the loader)."""
    from pathlib import Path

    from .io import check_sha256

    if not path:
        raise ValueError("--teacher-sha256 checks the file of --teacher-checkpoint; give that file too")
    if Path(path).is_file():
        check_sha256(path, expected, origin="--teacher-sha256")


def _break_locks(args: argparse.Namespace, *out_dirs: str | None) -> None:
    if not args.break_lock:
        return
    from .train.runlock import break_run_lock

    for out_dir in out_dirs:
        if out_dir is not None:
            break_run_lock(out_dir)


def _demo(args: argparse.Namespace, device) -> int:
    from .study import shipped_teacher
    from .train import DEFAULT_METHODS, compare, get_recipe

    recipe = get_recipe(args.recipe, seed=args.seed, out_dir=args.out_dir)
    epochs = args.epochs or (DEMO_EPOCHS if args.recipe == "teaching" else None)
    if epochs is not None:
        recipe = recipe.rescheduled(epochs)
    teacher = shipped_teacher(args.recipe, device=device)[0] if args.recipe == "teaching" else None
    methods = tuple(args.methods or DEFAULT_METHODS)
    result = compare(recipe, methods, teacher=teacher, device=device, progress=not args.no_progress)
    if _is_main():
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


def _study(args: argparse.Namespace, device) -> int:
    import dataclasses

    from .study import QUICK, StudyConfig, converged_teacher, render, run_study, study_recipe
    from .study.executors import executor_from

    if args.render:
        markdown, picture = render(args.render)
        print(json.dumps({"markdown": str(markdown), "plot": str(picture)}))
        return 0
    config = dataclasses.replace(QUICK if args.quick else StudyConfig(), recipe=args.recipe)
    changes: dict[str, Any] = {}
    if args.seeds is not None:
        changes["seeds"] = tuple(range(args.seeds))
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.methods:
        changes["methods"] = tuple(args.methods)
    if args.lr_factors:
        changes["lr_factors"] = tuple(args.lr_factors)
    config = dataclasses.replace(config, **changes)
    out_dir = Path(args.out_dir or f"runs/{'study-quick' if args.quick else 'study'}/{args.recipe}")
    if args.teacher_only:
        _, record = converged_teacher(
            study_recipe(config, students=False),
            config.teacher,
            cache_dir=out_dir / "teachers",
            device=device or "cpu",
            progress=not args.no_progress,
            use_shipped=not args.no_shipped_teacher,
        )
        print(json.dumps({k: v for k, v in record.items() if k != "val_top1_by_epoch"}))
        return 0
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    command = "ldrrld " + shlex.join(args.argv)
    results = run_study(
        config,
        out_dir,
        device=device or "cpu",
        jobs=args.jobs,
        threads=args.threads or 1,
        progress=not args.no_progress,
        use_shipped_teacher=not args.no_shipped_teacher,
        command=command,
        executor=executor_from(args),
    )
    markdown, _ = render(out_dir)
    print((out_dir / "results.md").read_text(encoding="utf-8"))
    methods = results["methods"]
    print(
        json.dumps(
            {
                "results": str(out_dir / "results.json"),
                "markdown": str(markdown),
                "verdict": results["verdict"],
                "test_top1_last": {m: e["test_top1_last"]["mean"] for m, e in methods.items()},
                "delta_vs_ce": {m: e["delta_vs_ce"]["mean"] for m, e in methods.items()},
                "lr": {m: e["lr"] for m, e in methods.items()},
                "seconds": results["fingerprint"]["seconds"],
            }
        )
    )
    return 0


def _sweep(args: argparse.Namespace, device) -> int:
    import dataclasses

    from .study.executors import executor_from
    from .study.sweep import QUICK_SWEEP, SweepConfig, findings, run_sweep

    config = QUICK_SWEEP if args.quick else SweepConfig()
    changes: dict[str, Any] = {"study": dataclasses.replace(config.study, recipe=args.recipe)}
    for name in ("depths", "decays", "temperatures", "references"):
        if getattr(args, name) is not None:
            changes[name] = tuple(getattr(args, name))
    if args.seeds is not None:
        changes["seeds"] = tuple(range(args.seeds))
    config = dataclasses.replace(config, **changes)
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    out_dir = Path(args.out_dir or f"runs/{'sweep-quick' if args.quick else 'sweep'}/{args.recipe}")
    sweep = run_sweep(
        config,
        out_dir,
        results=args.results,
        lr=args.lr,
        run_study_first=args.run_study or args.quick,
        device=device or "cpu",
        jobs=args.jobs,
        threads=args.threads or 1,
        progress=not args.no_progress,
        train=not args.collect,
        command="ldrrld " + shlex.join(args.argv),
        executor=executor_from(args),
    )
    print((out_dir / "sweep.md").read_text(encoding="utf-8"))
    progress = sweep["progress"]
    print(
        json.dumps(
            {
                "sweep": str(out_dir / "sweep.json"),
                "markdown": str(out_dir / "sweep.md"),
                "runs_done": progress["runs_done"],
                "runs_planned": progress["runs_planned"],
                "findings": findings(sweep),
            }
        )
    )
    return 0


def _list_recipes(args: argparse.Namespace) -> int:
    from .train import describe_recipe, get_recipe, list_recipes

    if args.json and not args.name:
        raise ValueError("--json writes one preset: `ldrrld recipes NAME --json FILE`")
    if args.name:
        recipe = get_recipe(args.name)
        if args.json and args.json != "-":
            from .train.recipe_files import write_recipe_file

            written = write_recipe_file(recipe, args.json)
            print(f"wrote {written}; run it with `ldrrld train|distill --recipe-file {args.json}`", file=sys.stderr)
        else:
            print(json.dumps(recipe.to_dict(), indent=1))
        return 0
    for name in list_recipes():
        print(f"{name:<18} {describe_recipe(name)}")
    return 0


def _list_losses(args: argparse.Namespace) -> int:
    from .losses import LOSSES, list_losses

    for name in list_losses():
        print(f"{name:<22} {LOSSES.describe(name)}")
    return 0


def _list_models(args: argparse.Namespace) -> int:
    from .models import list_models

    families = [args.family] if args.family else ["digits", "cifar", "imagenet"]
    for family in families:
        print(f"{family}: {' '.join(list_models(family))}")
    return 0


def _is_main() -> bool:
    from .train import current_context

    return current_context().is_main


def _check_device(text: str | None) -> None:
    """Refuse a ``--device`` that is not a device or names a GPU this machine does not have."""
    if text is None:
        return
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise ValueError(f"--device {text!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"--device {text} asks for a GPU, but torch sees none (torch.cuda.is_available()"
                " is False); use --device cpu, or check the driver and CUDA_VISIBLE_DEVICES"
            )
        if device.index is not None and device.index >= count:
            raise ValueError(f"--device {text}: only {count} GPU(s) are visible (cuda:0 .. cuda:{count - 1})")


#: Errors a user fixes by changing the command or its inputs: exit status 2.
_USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    FloatingPointError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)


_OS_HINTS = {
    errno.ENOSPC: "; free some space (the last complete checkpoint is kept) or choose another --out-dir",
    errno.EROFS: "; choose a writable --out-dir",
    errno.EACCES: "; choose a folder you may write (--out-dir) or fix the permissions",
}


def _one_line(error: BaseException) -> str:
    """The error's message on one line; for OS errors, the reason and the file."""
    if isinstance(error, OSError) and error.strerror and not isinstance(error, ValueError):
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}{_OS_HINTS.get(error.errno, '')}"
    return " ".join(str(error).split()) or type(error).__name__


def _report(args: argparse.Namespace, error: BaseException) -> int:
    """Print the error as one line (after its traceback with ``--debug``) and return the exit status."""
    command, debug = args.command, args.debug
    if debug:
        traceback.print_exception(error)
    if isinstance(error, KeyboardInterrupt):
        saves = command in ("train", "distill") and str(args.out_dir).lower() != "none"
        kept = "; the run's latest.pth keeps its last finished epoch (continue with --resume)"
        print(f"ldrrld {command}: interrupted{kept if saves else ''}", file=sys.stderr)
        return 130
    if isinstance(error, (*_USER_ERRORS, OSError)):  # OS errors beyond the user's: a failing disk
        print(f"ldrrld {command}: error: {_one_line(error)}", file=sys.stderr)
        return 2 if isinstance(error, _USER_ERRORS) else 1
    hint = "" if debug else " (rerun with --debug for the traceback, and please report it)"
    print(f"ldrrld {command}: internal error: {type(error).__name__}: {_one_line(error)}{hint}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ldrrld`` command line; returns the exit status (2 for a usage or settings error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by `ldrrld study` and `ldrrld sweep`
    try:
        return _run(parser, args)
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - every failure becomes one line
        return _report(args, error)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the parsed command: listings directly, training commands after the process set-up."""
    from .reproduce.command import run_teacher_command
    from .runs.command import run_runs_command

    listings = {
        "recipes": _list_recipes,
        "losses": _list_losses,
        "models": _list_models,
        "teacher": run_teacher_command,
        "runs": run_runs_command,
    }
    if args.command in listings:
        return listings[args.command](args)

    import torch

    from .train import close_distributed, init_distributed

    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if getattr(args, "executor", "local") != "ray":  # on Ray the runs' nodes have the GPUs, not this one
        _check_device(args.device)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        context = init_distributed(args.device)
        if not context.is_main:
            logging.getLogger("ldrrld").setLevel(logging.WARNING)
        device = context.device(args.device) if context.enabled else args.device
        commands = {"train": _train, "distill": _distill, "demo": _demo, "study": _study, "sweep": _sweep}
        return commands[args.command](args, device)
    finally:
        close_distributed()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
