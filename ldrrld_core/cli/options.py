"""What several commands share: the options of a training run, the recipe they describe, the batch options.

``train`` and ``distill`` take the run options (:func:`add_run_options`) and build their recipe
with :func:`recipe_from`; ``study`` and ``sweep`` take the batch options (:func:`add_batch_options`).
Only argparse and the standard library are imported at the top, so building the parser stays light.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = [
    "add_run_options",
    "add_batch_options",
    "check_jobs",
    "check_output_file",
    "check_output_folder",
    "recipe_from",
    "break_locks",
    "is_main",
    "print_run",
]


def check_output_file(path: str, option: str, example: str) -> None:
    """``option PATH`` names a file the command writes: refuse a folder, or a path through a file,
    before any work, in one line that names the option and a file it could be (``PATH/example``)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise IsADirectoryError(
            f"{option} {path} is a folder, not a file; give {option} the path of a file, such as {target / example}"
        )
    blocking = next((parent for parent in reversed(target.parents) if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(
            f"{option} {path}: {blocking} is a file, not a folder; give {option} a path inside a folder"
        )


def check_output_folder(path: str | None, option: str = "--out-dir") -> None:
    """``option PATH`` names a folder the command writes into (created if missing): refuse a file, or a
    path through a file, before any work, in one line that names the option."""
    if path is None or str(path).lower() == "none":
        return
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(
            f"{option} {path} is a file, not a folder; give {option} a folder (it is created if missing)"
        )
    blocking = next((parent for parent in reversed(target.parents) if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(
            f"{option} {path}: {blocking} is a file, not a folder; give {option} a path of folders"
        )


def read_recipe_option(path: str):
    """The recipe of ``--recipe-file PATH``; a missing file or a folder is one line naming the option."""
    from ..train.recipe_files import read_recipe_file

    try:
        return read_recipe_file(path)
    except (IsADirectoryError, FileNotFoundError) as error:
        raise type(error)(f"--recipe-file {error}") from None


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The ``recipe`` and ``run`` option groups of ``train`` and ``distill``."""
    from ..train import AMP_MODES, list_recipes

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
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run of other settings stored in the out-dir (without it, that is refused)",
    )
    run.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    run.add_argument(
        "--threads", type=int, help="CPU threads of torch (default: torch's choice; small models train fastest on 1)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--quiet", action="store_true", help="no per-epoch log lines")


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """What ``study`` and ``sweep`` share: how many runs at once, where, on how many threads, how loud."""
    from ..study.executors import add_executor_options

    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process each (default 1)")
    parser.add_argument("--device", default="cpu", help="where to train (default cpu: bitwise repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--quiet", action="store_true", help="no log lines")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the runs and results of other settings stored in the out-dir (without it, refused)",
    )
    add_executor_options(parser)


#: The most runs ``--jobs`` trains at once, one process each: more is a typo.
MAX_JOBS = 1024


def check_jobs(args: argparse.Namespace) -> None:
    """Refuse a ``--jobs`` below one (``study`` and ``sweep``)."""
    if not 1 <= args.jobs <= MAX_JOBS:
        raise ValueError(f"--jobs must lie in [1, {MAX_JOBS}] (one process each), got {args.jobs}")


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


def recipe_from(args: argparse.Namespace, **fixed: Any):
    """The recipe the options describe: the preset, then --set, then the named options, then ``fixed``."""
    from ..train import get_recipe

    overrides = set_fields(args)
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
        "out_dir": None if args.out_dir is None or args.out_dir.lower() == "none" else args.out_dir,
    }
    for option in ("loss", "teacher", "teacher_checkpoint"):
        named[option] = getattr(args, option, None)
    for key, value in named.items():  # both --set KEY=... and --KEY: one would be ignored
        if value is not None and key in overrides and overrides[key] != value:
            raise ValueError(f"--set {key}={overrides[key]!r} and --{key.replace('_', '-')} {value!r} disagree")
    for key, value in fixed.items():  # what the command decides itself: a --set of it would be ignored
        if key in overrides and overrides[key] != value:
            raise ValueError(f"`ldrrld {args.command}` sets {key}={value!r} itself; drop --set {key}=...")
    overrides.update({key: value for key, value in named.items() if value is not None})
    overrides.update(fixed)
    if args.recipe_file and args.recipe:
        raise ValueError("give either --recipe or --recipe-file, not both")
    if args.recipe_file:
        recipe = read_recipe_option(args.recipe_file).replace(**overrides)
    else:
        recipe = get_recipe(args.recipe or "digits", **overrides)
    if getattr(args, "loss_option", None):
        options = dict(recipe.loss_options)
        options[recipe.loss] = {
            **recipe.loss_hparams,
            **{k: _loss_value(v) for k, v in (_key_value(t, "--loss-option") for t in args.loss_option)},
        }
        recipe = recipe.replace(loss_options=options)
    if args.out_dir is not None:
        out_dir = args.out_dir
    elif "out_dir" in overrides:  # --set out_dir=... (none: write nothing)
        out_dir = overrides["out_dir"] or "none"
    else:
        out_dir = f"runs/{recipe.name}/{recipe.model}-{recipe.loss}-seed{recipe.seed}"
    source = Path(args.recipe_file).resolve().parent if args.recipe_file else None
    if source is not None and not args.resume and Path(out_dir).resolve() == source:
        raise ValueError(
            f"{out_dir} holds the run {args.recipe_file} came from, and a new run would "
            "overwrite it; pass --out-dir FOLDER to repeat the run elsewhere, or --resume to "
            "continue it"
        )
    return recipe.replace(out_dir=None if out_dir.lower() == "none" else out_dir)


def set_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields given with ``--set FIELD=VALUE``, read as their types."""
    from ..train import parse_field

    return {key: parse_field(key, value) for key, value in (_key_value(text, "--set") for text in args.set)}


# ------------------------------------------------------------------------------ running
def break_locks(args: argparse.Namespace, *out_dirs: str | None) -> None:
    """With ``--break-lock``, remove the lock of every run folder in ``out_dirs``."""
    if not args.break_lock:
        return
    from ..train.runlock import break_run_lock

    for out_dir in out_dirs:
        if out_dir is not None:
            break_run_lock(out_dir)


def is_main() -> bool:
    """Whether this process prints (rank 0 of a ``torchrun`` job, or the only process)."""
    from ..train import current_context

    return current_context().is_main


def print_run(run) -> None:
    """A finished run's history table, then its JSON summary as the last stdout line."""
    print(run.history.table([c for c in run.history.columns if c != "seconds"], digits=4))
    print(json.dumps(run.summary))


def ended(table: str, summary: str, written: list) -> str:
    """How a batch command ends in a terminal: its short table, what it found (wrapped at spaces), and
    the paths of what it wrote; the full Markdown report stays in its file."""
    from ..tables import wrap

    lines = [table, "", *wrap(summary, 100), "", "wrote:"]
    return "\n".join(lines + [f"  {path}" for path in written])
