"""The runs a reproduction needs: settings, one :class:`Cell` per run, its exact command, running them.

Every cell is one plain ``ldrrld`` command with the ``cifar100-authors`` preset (``--recipe
cifar100`` for the clean schedule), the literature's teacher file and, for KD and DKD, the
baseline's own per-pair settings (:mod:`.baselines`) passed explicitly. :func:`run` checks every
teacher first (:mod:`.teachers`: present, hashed, accurate) and writes the check into each run's
folder, then runs the cells, each with ``--resume``: one after the other in this process, or as
Ray tasks on a cluster (``executor``, :mod:`ldrrld_core.study.executors`; ``docs/cluster.md``).

``Settings.for_fast`` runs the same machinery in seconds on a CPU: tiny synthetic CIFAR-shaped
data, one epoch, stand-in teachers saved in the standard layout. Its numbers check the code
path, not the paper.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..models import TEACHER_CHECKPOINT, create_model, standard_teacher_path
from .baselines import baseline_setting
from .paper import TABLES, Pair
from .teachers import DEFAULT_MARGIN, DEFAULT_TEACHER_ROOT, TeacherCheck, check_teacher

__all__ = [
    "FAST_PAIRS",
    "FAST_DATA",
    "FAST_ARGUMENTS",
    "TEACHER_CHECK_FILE",
    "Settings",
    "Cell",
    "select_pairs",
    "cells",
    "commands",
    "teacher_commands",
    "prepare_fast_teachers",
    "check_teachers",
    "run",
]

#: The pair the fast mode runs by default: it is in both tables, so it needs every method.
FAST_PAIRS = ("vgg13-vgg8",)

#: What the fast mode changes in every command: tiny synthetic data, one short epoch, one CPU
#: thread (several threads are slower for such small tensors, and much slower on a busy machine).
FAST_DATA = {
    "train_per_class": 4,
    "test_per_class": 2,
    "num_superclasses": 4,
    "classes_per_superclass": 5,
    "image_size": 8,
}
FAST_ARGUMENTS = (
    "--data",
    "synthetic",
    "--set",
    "data_options=" + json.dumps(FAST_DATA, separators=(",", ":")),
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--set",
    "warmup_epochs=0",
    "--set",
    "decay_epochs=",
    "--set",
    "deterministic=true",
    "--threads",
    "1",
)

#: The teacher check's record in every distillation's run folder.
TEACHER_CHECK_FILE = "teacher_check.json"


@dataclass(frozen=True)
class Settings:
    """Where things are and how every run is made.

    Attributes:
        runs: folder of the run folders and of ``results.md`` / ``results.json``.
        teachers: folder holding ``<name>_vanilla/ckpt_epoch_240.pth`` (fast mode: made under ``runs``).
        data_root: folder of (or for) ``cifar-100-python``.
        recipe: ``cifar100-authors`` (the LDRRLD authors' schedule) or ``cifar100`` (the clean one).
        seeds: one run per seed; measured cells show the mean (and the spread over seeds).
        extra: more ``ldrrld`` arguments for every run, e.g. ``("--set", "amp=bf16")``.
        fast: tiny synthetic data and one epoch (CI); teachers trained for ``teacher_epochs``.
        teacher_epochs: fast mode only: epochs of the stand-in teachers (0: random weights).
        margin: points a teacher may measure below its published accuracy (see :mod:`.teachers`).
        strict: refuse, rather than warn about, a teacher below its published accuracy.
    """

    runs: Path = Path("runs/reproduce_cifar100")
    teachers: Path = DEFAULT_TEACHER_ROOT
    data_root: Path = Path("data")
    recipe: str = "cifar100-authors"
    seeds: tuple[int, ...] = (0,)
    extra: tuple[str, ...] = ()
    fast: bool = False
    teacher_epochs: int = 1
    margin: float = DEFAULT_MARGIN
    strict: bool = False

    @classmethod
    def for_fast(cls, runs: str | Path, **overrides) -> Settings:
        """Fast-mode settings with the stand-in teachers under ``runs/teachers``."""
        runs = Path(runs)
        return cls(runs=runs, teachers=runs / "teachers", fast=True, **overrides)

    @property
    def common(self) -> list[str]:
        """The arguments every run shares."""
        base = ["--recipe", self.recipe, "--data-root", str(self.data_root)]
        return base + (list(FAST_ARGUMENTS) if self.fast else ["--download"]) + list(self.extra)

    @property
    def num_classes(self) -> int:
        return FAST_DATA["num_superclasses"] * FAST_DATA["classes_per_superclass"] if self.fast else 100

    def description(self) -> str:
        if self.fast:
            size = FAST_DATA["image_size"]
            return (
                f"fast mode: synthetic data ({self.num_classes} classes of {size}x{size} images), one "
                "epoch, stand-in teachers; these numbers check the code path, not the paper"
            )
        return f"CIFAR-100, preset {self.recipe}, standard teachers from {self.teachers}"


@dataclass(frozen=True)
class Cell:
    """One run: a loss for a pair and a seed (``ce`` runs the student alone and ignores the teacher)."""

    pair: Pair
    loss: str
    seed: int

    @property
    def alone(self) -> bool:
        return self.loss == "ce"

    def out_dir(self, settings: Settings) -> Path:
        if self.alone:
            return settings.runs / "alone" / f"{self.pair.student}-seed{self.seed}"
        return settings.runs / self.pair.key / f"{self.loss}-seed{self.seed}"

    def arguments(self, settings: Settings) -> list[str]:
        """The ``ldrrld`` arguments of this run (a baseline's per-pair settings as ``--loss-option``)."""
        what = ["--model", self.pair.student]
        if not self.alone:
            teacher_file = settings.teachers / TEACHER_CHECKPOINT.format(name=self.pair.teacher)
            baseline = baseline_setting(self.pair, self.loss)
            what = [
                "--teacher",
                self.pair.teacher,
                *what,
                "--loss",
                self.loss,
                *(baseline.arguments() if baseline else []),
                "--teacher-checkpoint",
                str(teacher_file),
            ]
        return [
            "train" if self.alone else "distill",
            *what,
            *settings.common,
            "--seed",
            str(self.seed),
            "--out-dir",
            str(self.out_dir(settings)),
            "--resume",
        ]

    def __str__(self) -> str:
        return f"{self.pair.student} alone" if self.alone else f"{self.pair.label} · {self.loss}"


def select_pairs(only: Iterable[str] | None, fast: bool = False) -> tuple[Pair, ...]:
    """The pairs named by ``only`` (``teacher-student`` keys, or ``all``); default all, or the fast pair."""
    known = {pair.key: pair for table in TABLES for pair in table.pairs}
    names = list(only) if only else (list(FAST_PAIRS) if fast else ["all"])
    if "all" in names:
        return tuple(known.values())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown pair(s) {', '.join(unknown)}; the tables have: {', '.join(known)}, or 'all'")
    return tuple(known[name] for name in names)


def cells(settings: Settings, pairs: Sequence[Pair]) -> list[Cell]:
    """Every run the tables need for ``pairs``, each once (a student alone serves every teacher)."""
    found: dict[Path, Cell] = {}
    for table in TABLES:
        for pair in (pair for pair in table.pairs if pair in pairs):
            for column in table.columns:
                for seed in settings.seeds:
                    cell = Cell(pair, column.loss, seed)
                    found.setdefault(cell.out_dir(settings), cell)
    return list(found.values())


def _shell(arguments: Sequence[str]) -> str:
    return shlex.join(["ldrrld", *arguments])


def commands(settings: Settings, pairs: Sequence[Pair]) -> list[str]:
    """The exact command line of every run, in the order :func:`run` runs them."""
    return [_shell(cell.arguments(settings)) for cell in cells(settings, pairs)]


def teacher_commands(settings: Settings, pairs: Sequence[Pair]) -> list[str]:
    """Fast mode: the commands that train the stand-in teachers (full runs use the published files)."""
    return [_shell(arguments) for arguments, _ in _fast_teacher_runs(settings, pairs)]


def _teachers_of(pairs: Sequence[Pair]) -> list[str]:
    return list(dict.fromkeys(pair.teacher for pair in pairs))


def _fast_teacher_runs(settings: Settings, pairs: Sequence[Pair]) -> list[tuple[list[str], str]]:
    runs = []
    for name in _teachers_of(pairs):
        out_dir = settings.runs / "teacher-runs" / name
        arguments = [
            "train",
            "--model",
            name,
            *settings.common,
            "--epochs",
            str(settings.teacher_epochs),
            "--seed",
            "0",
            "--out-dir",
            str(out_dir),
            "--resume",
        ]
        runs.append((arguments, name))
    return runs


def prepare_fast_teachers(settings: Settings, pairs: Sequence[Pair], log: Callable[[str], None] = print) -> None:
    """Fast mode: a stand-in teacher for every pair, in the standard layout under ``settings.teachers``."""
    from ..io import atomic_save, load_file

    for arguments, name in _fast_teacher_runs(settings, pairs):
        target = settings.teachers / TEACHER_CHECKPOINT.format(name=name)
        if target.exists():
            continue
        if settings.teacher_epochs > 0:
            summary = _run_command(arguments)
            weights = load_file(Path(summary["out_dir"]) / "student.pth")["model"]
            log(f"stand-in teacher {name}: {settings.teacher_epochs} epoch(s), top-1 {summary['top1']:.2f}%")
        else:
            weights = create_model(name, num_classes=settings.num_classes).state_dict()
            log(f"stand-in teacher {name}: random weights")
        atomic_save({"model": weights}, target)


def check_teachers(
    settings: Settings, pairs: Sequence[Pair], log: Callable[[str], None] = print
) -> dict[str, TeacherCheck]:
    """Check every teacher of ``pairs`` (:func:`~.teachers.check_teacher`); write ``<runs>/teacher-checks/``.

    Fast mode measures on its synthetic data and compares with nothing (the teachers are stand-ins).
    """
    from ..data import load_dataset

    if settings.fast:
        data = load_dataset("synthetic", settings.data_root, **FAST_DATA)
    else:
        data = load_dataset("cifar100", settings.data_root, download=True)
    checks = {}
    for name in _teachers_of(pairs):
        check = check_teacher(
            name,
            root=settings.teachers,
            data=data,
            margin=settings.margin,
            strict=settings.strict,
            published=None if settings.fast else "table",
        )
        check.save(settings.runs / "teacher-checks" / f"{name}.json")
        log(check.message())
        checks[name] = check
    return checks


def run(settings: Settings, pairs: Sequence[Pair], log: Callable[[str], None] = print, executor=None) -> list[dict]:
    """Run every cell of ``pairs`` (resuming any that were interrupted); return their summaries.

    The teacher files are looked for first, so a missing one fails before hours of other runs;
    then every teacher is checked and its check is written into each of its runs' folders
    (``teacher_check.json``). ``executor`` runs the cells (:mod:`ldrrld_core.study.executors`):
    ``None``, one after the other in this process; a Ray executor, one task per cell, with one
    GPU each (one CPU in fast mode), all folders of ``settings`` seen by every node at the same path.
    """
    from ..study.executors import ready_executor

    executor = ready_executor(executor)  # an unreachable cluster fails before any teacher work
    if settings.fast:
        prepare_fast_teachers(settings, pairs, log)
    for name in _teachers_of(pairs):
        standard_teacher_path(name, settings.teachers)  # raises, saying where it looked and how to get it
    checks = check_teachers(settings, pairs, log)
    todo = cells(settings, pairs)
    for cell in todo:
        if not cell.alone:
            checks[cell.pair.teacher].save(cell.out_dir(settings) / TEACHER_CHECK_FILE)
    summaries = {}

    def finished(cell: Cell, summary: dict) -> None:
        log(f"{cell} · seed {cell.seed}: top-1 {summary['top1']:.2f}%")
        summaries[cell] = summary

    device = "cpu" if settings.fast else "cuda"
    executor.run_each(_run_command, todo, lambda cell: (cell.arguments(settings),), finished, threads=1, device=device)
    return [summaries[cell] for cell in todo]


def _run_command(arguments: list[str]) -> dict:
    """Run ``ldrrld ARGUMENTS`` in this process (quietly) and return the JSON summary it prints last.

    The command's ``--threads`` applies to the run only: torch's thread count is put back after it.
    """
    import torch

    from ..cli import main as ldrrld

    output, errors, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(errors):
            status = ldrrld([*arguments, "--quiet", "--no-progress"])
    finally:
        torch.set_num_threads(threads)
    if status != 0:
        raise RuntimeError(f"{_shell(arguments)} failed (exit {status}):\n{errors.getvalue()[-3000:]}")
    return json.loads(output.getvalue().strip().splitlines()[-1])
