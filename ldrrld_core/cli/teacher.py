"""``ldrrld teacher check``: a teacher file's hash, parameters and measured vs published test top-1."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_commands", "run_teacher"]


def add_commands(commands) -> None:
    """Add ``teacher check`` to the ``ldrrld`` subcommands ``commands``."""
    from ..reproduce.teachers import DEFAULT_MARGIN, DEFAULT_TEACHER_ROOT

    teacher = commands.add_parser("teacher", help="check a teacher file against its published accuracy")
    teacher.set_defaults(run=run_teacher, trains=False)
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


def run_teacher(args: argparse.Namespace) -> int:
    """``ldrrld teacher check``: print the check's line, then its JSON (and write it with ``--json``)."""
    from ..data import load_dataset
    from ..reproduce.teachers import check_teacher, resolve_teacher
    from .options import check_output_file

    resolve_teacher(args.teacher, args.teacher_root, args.model)  # a missing file fails before the data load
    if args.json:
        check_output_file(args.json, "--json", "teacher_check.json")
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
