"""``ldrrld train`` (cross-entropy alone) and ``ldrrld distill`` (a student from a teacher)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_run_options, break_locks, is_main, print_run, recipe_from, set_fields

__all__ = ["add_commands", "run_train", "run_distill"]

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


def add_commands(commands) -> None:
    """Add ``train`` and ``distill`` to the ``ldrrld`` subcommands ``commands``."""
    raw = argparse.RawDescriptionHelpFormatter
    train = commands.add_parser(
        "train",
        help="train a model alone with cross-entropy (a teacher or a baseline)",
        description="Train one model with cross-entropy alone. Without --model, the "
        "recipe's teacher architecture is trained.",
        epilog=_TRAIN_EPILOG,
        formatter_class=raw,
    )
    add_run_options(train)
    train.set_defaults(run=run_train, trains=True)

    distill = commands.add_parser(
        "distill",
        help="distil a student from a trained teacher",
        description="Distil the recipe's student from a teacher with a distillation loss.",
        epilog=_DISTILL_EPILOG,
        formatter_class=raw,
    )
    add_run_options(distill)
    _add_teaching_options(distill)
    distill.set_defaults(run=run_distill, trains=True)


def _add_teaching_options(distill: argparse.ArgumentParser) -> None:
    """``distill``'s ``teacher and loss`` group."""
    from ..reproduce.teachers import DEFAULT_TEACHER_ROOT

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


def _trained_alone(args: argparse.Namespace) -> str | None:
    """What ``ldrrld train`` trains without --model: the preset's teacher, or the model of a recipe file's
    teacher run (its teacher if the file is a distillation's)."""
    from ..train import get_recipe
    from .options import read_recipe_option

    if not args.recipe_file:
        return get_recipe(args.recipe or "digits").teacher
    recipe = read_recipe_option(args.recipe_file)
    return recipe.model if recipe.loss == "ce" else recipe.teacher


def run_train(args: argparse.Namespace, device) -> int:
    """Train ``--model`` (or the recipe's teacher) with cross-entropy alone; print its history and summary."""
    from ..train import fit

    model = args.model or set_fields(args).get("model") or _trained_alone(args)
    if model is None:
        raise ValueError(f"recipe {args.recipe_file or args.recipe!r} names no teacher; pass --model")
    recipe = recipe_from(args, model=model, loss="ce", teacher=None, teacher_checkpoint=None)
    _check_resume(args.resume)
    break_locks(args, recipe.out_dir)
    progress = not args.no_progress
    run = fit(recipe, device=device, resume=args.resume, progress=progress, overwrite=args.overwrite)
    if is_main():
        print_run(run)
    return 0


def run_distill(args: argparse.Namespace, device) -> int:
    """Distil the recipe's student from a loaded (or first trained) teacher; print its history and summary."""
    from ..train import distill, train_teacher

    recipe = recipe_from(args)
    if not recipe.needs_teacher:
        raise ValueError(f"loss {recipe.loss!r} trains without a teacher; use `ldrrld train --model {recipe.model}`")
    if args.train_teacher and recipe.teacher_checkpoint:
        raise ValueError("give either --train-teacher or --teacher-checkpoint, not both")
    if not (args.train_teacher or recipe.teacher_checkpoint) and recipe.name.startswith("cifar100"):
        from ..models import standard_teacher_path

        found = standard_teacher_path(recipe.teacher, args.teacher_root)
        recipe = recipe.replace(teacher_checkpoint=str(found))
    if not (args.train_teacher or recipe.teacher_checkpoint):
        raise ValueError(
            f"loss {recipe.loss!r} distils from a teacher: pass --teacher-checkpoint FILE (weights "
            f"of {recipe.teacher}) or --train-teacher to train one first"
        )
    if args.teacher_checkpoint and Path(args.teacher_checkpoint).expanduser().is_dir():
        raise IsADirectoryError(
            f"--teacher-checkpoint {args.teacher_checkpoint} is a folder, not a checkpoint file; give the file "
            "inside it (a run's student.pth or latest.pth; a standard teacher's <name>_vanilla/ckpt_epoch_240.pth)"
        )
    _check_resume(args.resume)
    if args.teacher_sha256:
        _check_teacher_hash(recipe.teacher_checkpoint, args.teacher_sha256)
    teacher_dir = f"{recipe.out_dir}/teacher" if args.train_teacher and recipe.out_dir else None
    break_locks(args, recipe.out_dir, teacher_dir)
    teacher = None
    if args.train_teacher:
        # On --resume the teacher's own run is resumed too (or found finished), so the student
        # continues with the very teacher it started with instead of a retrained one.
        teacher = train_teacher(
            recipe,
            device=device,
            progress=not args.no_progress,
            resume=True if args.resume else None,
            overwrite=args.overwrite,
        )
    progress = not args.no_progress
    run = distill(recipe, teacher, device=device, resume=args.resume, progress=progress, overwrite=args.overwrite)
    if is_main():
        print_run(run)
    return 0


def _check_teacher_hash(path: str | None, expected: str) -> None:
    """Refuse the teacher file unless its SHA-256 is ``expected`` (a missing file is left to the loader)."""
    from pathlib import Path

    from ..io import check_sha256

    if not path:
        raise ValueError("--teacher-sha256 checks the file of --teacher-checkpoint; give that file too")
    if Path(path).is_file():
        check_sha256(path, expected, origin="--teacher-sha256")


def _check_resume(resume: object) -> None:
    """``--resume CHECKPOINT``: a file, or a folder holding a ``latest.pth``; else one line naming the option."""
    if not isinstance(resume, str):
        return
    path = Path(resume).expanduser()
    if path.is_dir() and not (path / "latest.pth").is_file():
        raise FileNotFoundError(
            f"--resume {resume} is a folder without a latest.pth; give a run's latest.pth or its folder (the "
            "run's --out-dir), or leave --resume out to start afresh"
        )
    if not path.exists():
        raise FileNotFoundError(
            f"--resume {resume}: no such checkpoint; give a run's latest.pth or its folder, or leave --resume out "
            "to start afresh"
        )
