"""``main``: the parser of every command, the process set-up of the training ones, the one-line errors.

Each command lives in the module named for it (:data:`COMMANDS`); its ``add_commands(commands)``
adds its parser(s) and marks each with ``run`` (the function that runs it) and ``trains``
(whether it needs the training set-up: threads, device check, logging, ``torchrun``). A new
command is a new module and one entry of :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import demo, listings, runs, study, sweep, teacher, train
from .supervise import needs_supervisor, report_own_exit, supervise
from .verbosity import apply_verbosity

__all__ = ["COMMANDS", "build_parser", "main"]

#: The modules of the commands, in the order ``ldrrld --help`` lists them.
COMMANDS = (train, demo, study, sweep, listings, teacher, runs)

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


class _Version(argparse.Action):
    """``--version``: print :func:`~ldrrld_core.provenance.version_line` and exit (git runs only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ..provenance import version_line

        print(version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``ldrrld`` (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="ldrrld", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--version", action=_Version, help="print the version (and the git commit of a checkout) and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module in COMMANDS:
        module.add_commands(commands)

    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    for command in commands.choices.values():  # also accepted after the command; SUPPRESS keeps the first
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show the Python traceback of an error"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ldrrld`` command line; returns the exit status (2 for a usage or settings error)."""
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # Answered before the parser is built: its choices (recipes, AMP modes) import torch, seconds.
        from ..provenance import version_line

        print(version_line())
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by `ldrrld study` and `ldrrld sweep`
    if sys.stdout is None:  # started with stdout closed (`>&-`): print() would write nothing, silently
        print(f"ldrrld {args.command}: error: standard output is closed; nothing can be written", file=sys.stderr)
        return 2
    try:
        status = _run(parser, args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return status
    except BrokenPipeError:  # the reader went away (`| head -1`): as Unix tools do, quietly, 128 + SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the flush at exit cannot fail
        return 141
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - every failure becomes one line
        return _report(args, error)


def run_and_exit() -> None:
    """The ``ldrrld`` program: :func:`main`, then the process ends with its status.

    With ``--executor ray`` the command runs in a supervised child (:mod:`.supervise`): Ray ends a
    driver whose node stops without a word, and the parent then says so in one line. After Ctrl-C
    with a Ray cluster connected, the process ends at once (``os._exit``) once the one
    line is written: a cancelled task's late reply can make Ray's core threads abort during the
    interpreter's teardown, which would replace exit status 130 with Ray's own crash report.
    """
    if needs_supervisor(sys.argv[1:]):  # a Ray driver: a child whose death still ends in one line
        sys.exit(supervise(sys.argv[1:]))
    try:
        status = main()
    finally:  # --help and argparse's errors end in SystemExit: by this process's own means too
        report_own_exit()
    if status == 130 and "ray" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the parsed command: listings directly, training commands after the process set-up."""
    if not args.trains:
        return args.run(args)

    import torch

    from ..train import close_distributed, init_distributed

    if args.threads is not None:
        if not 1 <= args.threads <= MAX_THREADS:
            raise ValueError(
                f"--threads must lie in [1, {MAX_THREADS}], got {args.threads} (more threads than CPUs only slow a run)"
            )
        torch.set_num_threads(args.threads)
    if getattr(args, "executor", "local") != "ray":  # on Ray the runs' nodes have the GPUs, not this one
        _check_device(args.device)
    if args.command in ("study", "sweep", "demo"):  # train and distill check theirs as the run starts
        from .options import check_output_folder

        check_output_folder(getattr(args, "out_dir", None))
    for option, holds in (("data_root", "the downloaded data sets"), ("teacher_root", "the <name>_vanilla teachers")):
        folder = getattr(args, option, None)  # a folder read from: a file there is a typo, said at once
        if folder and Path(folder).expanduser().is_file():
            flag = "--" + option.replace("_", "-")
            raise NotADirectoryError(f"{flag} {folder} is a file, not a folder; give {flag} the folder holding {holds}")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        context = init_distributed(args.device)
        if not context.is_main:
            logging.getLogger("ldrrld").setLevel(logging.WARNING)
        device = context.device(args.device) if context.enabled else args.device
        with apply_verbosity(args) if hasattr(args, "verbose") else contextlib.nullcontext():
            return args.run(args, device)
    finally:
        close_distributed()


#: The most torch threads a command starts: more is a typo (each thread takes memory and a CPU's time).
MAX_THREADS = 1024


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


# ------------------------------------------------------------------------------------ errors
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


#: What to do about a failing disk when the file is the command's --out-dir (a run's folder) ...
_OS_HINTS = {
    errno.ENOSPC: "; free some space (the last complete checkpoint is kept) or choose another --out-dir",
    errno.EROFS: "; choose a writable --out-dir",
    errno.EACCES: "; choose a folder you may write (--out-dir) or fix the permissions",
}
#: ... and when it is any other file (a --json FILE, a teacher, a data set): the file is named before the hint.
_FILE_HINTS = {
    errno.ENOSPC: "; free some space, or give a path on another disk",
    errno.EROFS: "; that file system is read-only: give a path on a writable one",
    errno.EACCES: "; fix the file's permissions, or give a path you may use",
}


def _in_out_dir(error: OSError, args: argparse.Namespace | None) -> bool:
    """Whether ``error`` is about the command's --out-dir (a file in it, or no file named while it has one)."""
    if not hasattr(args, "out_dir") or str(args.out_dir).lower() == "none":
        return False
    if not error.filename:
        return True
    if args.out_dir is None:  # the command's default folder: not told apart from other files
        return False
    out_dir = args.out_dir
    try:
        Path(os.fsdecode(error.filename)).absolute().relative_to(Path(out_dir).expanduser().absolute())
    except (ValueError, TypeError):
        return False
    return True


def _one_line(error: BaseException, args: argparse.Namespace | None = None) -> str:
    """The error's message on one line; for OS errors, the reason, the file and what to do about it."""
    if isinstance(error, OSError) and error.strerror and not isinstance(error, ValueError):
        where = f": {error.filename}" if error.filename else ""
        hints = _OS_HINTS if _in_out_dir(error, args) else _FILE_HINTS
        return f"{error.strerror}{where}{hints.get(error.errno, '')}"
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
        print(f"ldrrld {command}: error: {_one_line(error, args)}", file=sys.stderr)
        return 2 if isinstance(error, _USER_ERRORS) else 1
    hint = "" if debug else " (rerun with --debug for the traceback, and please report it)"
    print(f"ldrrld {command}: internal error: {type(error).__name__}: {_one_line(error)}{hint}", file=sys.stderr)
    return 1
