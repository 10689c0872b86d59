"""``ldrrld teacher check``: a teacher file's hash, parameters and measured vs published test top-1.

A CIFAR teacher is measured on CIFAR-100's test split; with ``--imagenet-val DIR`` an ImageNet
teacher of the seed's Table 3 (torchvision's ResNet34 / ResNet50 file) is measured on ImageNet's
validation folder with torchvision's pinned evaluation transform, and the command exits with status
1 when its top-1 lies outside the tolerance (:mod:`ldrrld_core.reproduce.imagenet_teachers`).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_commands", "run_teacher"]


def add_commands(commands) -> None:
    """Add ``teacher check`` to the ``ldrrld`` subcommands ``commands``."""
    from ..reproduce.imagenet_teachers import IMAGENET_MARGIN
    from ..reproduce.teachers import DEFAULT_MARGIN, DEFAULT_TEACHER_ROOT

    teacher = commands.add_parser("teacher", help="check a teacher file against its published accuracy")
    teacher.set_defaults(run=run_teacher, trains=False)
    actions = teacher.add_subparsers(dest="teacher_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="SHA-256, parameters and measured vs published test top-1 of a teacher",
        description="Hash a teacher file, load it, measure its test top-1 and compare it with the published "
        "accuracy; warn (or with --strict refuse) when it is more than --margin points below. With "
        "--imagenet-val DIR, an ImageNet teacher file (torchvision's ResNet34 or ResNet50, the seed's "
        "Table 3) is measured on that validation folder with torchvision's evaluation transform (resize "
        "256 bilinear, centre crop 224) and compared with torchvision's published top-1 (73.31, 76.13) "
        f"within +-{IMAGENET_MARGIN} points; exit status 1 outside.",
    )
    check.add_argument(
        "teacher",
        metavar="NAME|FILE",
        help="a CIFAR model name (looked up under --teacher-root) or a checkpoint file (with --imagenet-val: a file)",
    )
    check.add_argument(
        "--imagenet-val",
        metavar="DIR",
        help="ImageNet's validation folder (one sub-folder per class): check an ImageNet teacher file on it",
    )
    check.add_argument(
        "--teacher-root",
        default=str(DEFAULT_TEACHER_ROOT),
        metavar="FOLDER",
        help="folder of <name>_vanilla/ckpt_epoch_240.pth (default %(default)s)",
    )
    check.add_argument(
        "--model",
        help="architecture of FILE when its folder is not <name>_vanilla (ImageNet: when its name is not "
        "torchvision's, e.g. resnet34-b627a593.pth)",
    )
    check.add_argument("--data", default="cifar100", help="data set whose test split is measured (default cifar100)")
    check.add_argument("--data-root", default="data", help="folder holding the data set (default data)")
    check.add_argument("--download", action="store_true", help="download the data set if missing")
    check.add_argument(
        "--margin",
        type=float,
        help=f"points below the published top-1 that are tolerated (default {DEFAULT_MARGIN}; ImageNet: "
        f"either way, default {IMAGENET_MARGIN})",
    )
    check.add_argument("--strict", action="store_true", help="exit with an error when the teacher is below")
    check.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    check.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    check.add_argument("--batch-size", type=int, default=64, help="ImageNet: images per batch (default 64)")
    check.add_argument("--workers", type=int, default=0, help="ImageNet: loader processes (default 0)")


def run_teacher(args: argparse.Namespace) -> int:
    """``ldrrld teacher check``: print the check's line, then its JSON (and write it with ``--json``)."""
    if args.imagenet_val:
        return _run_imagenet(args)
    from ..data import load_dataset
    from ..reproduce.teachers import DEFAULT_MARGIN, check_teacher, resolve_teacher
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
        margin=DEFAULT_MARGIN if args.margin is None else args.margin,
        strict=args.strict,
        device=args.device,
    )
    _report(check, args.json)
    return 0


def _run_imagenet(args: argparse.Namespace) -> int:
    """``teacher check FILE --imagenet-val DIR``: 0 within the tolerance (or nothing published), else 1."""
    from ..reproduce.imagenet_teachers import IMAGENET_MARGIN, check_imagenet_teacher
    from .options import check_output_file

    if args.json:
        check_output_file(args.json, "--json", "teacher_check.json")
    check = check_imagenet_teacher(
        args.teacher,
        val_dir=args.imagenet_val,
        arch=args.model,
        margin=IMAGENET_MARGIN if args.margin is None else args.margin,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
    )
    _report(check, args.json)
    return 0 if check.within else 1


def _report(check, json_path: str | None) -> None:
    """A check's line, then its JSON; also written to ``--json``'s file when given."""
    if json_path:
        check.save(json_path)
    print(check.message())
    print(json.dumps(check.to_dict()))
