"""The runs a reproduction needs: settings, one :class:`Cell` per run, its exact command, running them.

Every cell is one plain ``ldrrld`` command with the ``cifar100-authors`` preset (``--recipe
cifar100`` for the clean schedule), the literature's teacher file and, for KD and DKD, the
baseline's own per-pair settings (:mod:`.baselines`) passed explicitly. :func:`run` checks every
teacher first (:mod:`.teachers`: present, hashed, accurate) and writes the check into each run's
folder, then runs the cells, each resuming where it stopped: one after the other in this process, or
as Ray tasks on a cluster (``executor``, :mod:`ldrrld_core.study.executors`; ``docs/cluster.md``).

A cell runs through the Python API (:func:`~ldrrld_core.train.fit` and
:func:`~ldrrld_core.train.distill` on :meth:`Cell.recipe`), not through the command line, so the
kit does not depend on :mod:`ldrrld_core.cli`; ``tests/test_reproduce.py`` checks that every
printed command builds the very recipe the kit runs.

``Settings.for_fast`` runs the same machinery in seconds on a CPU: tiny synthetic CIFAR-shaped
data, one epoch, stand-in teachers saved in the standard layout. Its numbers check the code
path, not the paper.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import TEACHER_CHECKPOINT, create_model, standard_teacher_path
from .baselines import baseline_setting
from .paper import TABLES, Pair
from .teachers import DEFAULT_MARGIN, DEFAULT_TEACHER_ROOT, TeacherCheck, check_teacher

__all__ = [
    "FAST_PAIRS",
    "FAST_DATA",
    "FAST_ARGUMENTS",
    "FAST_FIELDS",
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
#: The recipe fields that :data:`FAST_ARGUMENTS` sets (its ``--threads 1`` applies to the process);
#: a test checks that the two say the same.
FAST_FIELDS = {
    "data": "synthetic",
    "data_options": FAST_DATA,
    "epochs": 1,
    "batch_size": 16,
    "warmup_epochs": 0,
    "decay_epochs": (),
    "deterministic": True,
}

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
        seeds: one run per seed (default three: 0, 1, 2, so that LDRRLD's paired gaps to DKD and KD
            have an interval); measured cells show the mean and the spread over seeds.
        extra: more recipe fields for every run as ``ldrrld`` arguments ``--set FIELD=VALUE``, e.g.
            ``("--set", "amp=bf16")``; fields the kit sets itself are refused.
        fast: tiny synthetic data and one epoch (CI); teachers trained for ``teacher_epochs``.
        teacher_epochs: fast mode only: epochs of the stand-in teachers (0: random weights).
        margin: points a teacher may measure below its published accuracy (see :mod:`.teachers`).
        strict: refuse, rather than warn about, a teacher below its published accuracy.
    """

    runs: Path = Path("runs/reproduce_cifar100")
    teachers: Path = DEFAULT_TEACHER_ROOT
    data_root: Path = Path("data")
    recipe: str = "cifar100-authors"
    seeds: tuple[int, ...] = (0, 1, 2)
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
    def threads(self) -> int | None:
        """Torch threads during a run: fast mode's ``--threads 1``; otherwise torch's choice."""
        return 1 if self.fast else None

    def fields(self, **own: Any) -> dict[str, Any]:
        """The recipe fields of a run: those :attr:`common` sets, then the run's ``own`` ones.

        An ``extra`` field that the kit sets itself (``own``, the fast mode's, the data's) is
        refused rather than silently ordered, so the printed command and the run cannot disagree.
        """
        kit = {"data_root": str(self.data_root), **(FAST_FIELDS if self.fast else {"download": True}), **own}
        extra = _set_fields(self.extra)
        clash = sorted(set(extra) & set(kit))
        if clash:
            raise ValueError(
                f"--extra sets {', '.join(clash)}, which the kit sets for its runs; leave "
                f"{'it' if len(clash) == 1 else 'them'} out of --extra"
            )
        return {**extra, **kit}

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

    def recipe(self, settings: Settings):
        """The recipe this run trains: what :meth:`arguments` say, as the ``ldrrld`` command builds it."""
        own = {"model": self.pair.student, "seed": self.seed, "out_dir": str(self.out_dir(settings))}
        if self.alone:
            return _recipe(settings, **own, **_ALONE)
        recipe = _recipe(
            settings,
            **own,
            teacher=self.pair.teacher,
            loss=self.loss,
            teacher_checkpoint=str(settings.teachers / TEACHER_CHECKPOINT.format(name=self.pair.teacher)),
        )
        baseline = baseline_setting(self.pair, self.loss)
        if baseline is None:
            return recipe
        options = {**recipe.loss_options, recipe.loss: {**recipe.loss_hparams, **baseline.options}}
        return recipe.replace(loss_options=options)

    def __str__(self) -> str:
        return f"{self.pair.student} alone" if self.alone else f"{self.pair.label} · {self.loss}"


def _set_fields(words: Sequence[str]) -> dict[str, Any]:
    """The recipe fields of ``--set FIELD=VALUE`` words (``Settings.extra``), read as ``ldrrld`` reads them."""
    from ..train import parse_field

    fields, words = {}, list(words)
    while words:
        word = words.pop(0)
        if word == "--set" and words:
            text = words.pop(0)
        elif word.startswith("--set="):
            text = word.removeprefix("--set=")
        else:
            raise ValueError(
                f"--extra takes recipe fields as --set FIELD=VALUE (e.g. --set amp=bf16), got {word!r}; "
                "`ldrrld recipes NAME` lists the fields"
            )
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--extra: --set expects FIELD=VALUE, got {text!r}")
        key = key.strip().replace("-", "_")
        fields[key] = parse_field(key, value)
    return fields


#: What ``ldrrld train`` fixes: a model trained alone, with cross-entropy.
_ALONE = {"loss": "ce", "teacher": None, "teacher_checkpoint": None}


def _recipe(settings: Settings, **own: Any):
    """The recipe of one run of ``settings`` with the run's ``own`` fields (``model``, ``seed``, ...)."""
    from ..train import get_recipe

    return get_recipe(settings.recipe, **settings.fields(**own))


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
    return [_shell(run.arguments(settings)) for run in _fast_teacher_runs(pairs)]


def _teachers_of(pairs: Sequence[Pair]) -> list[str]:
    return list(dict.fromkeys(pair.teacher for pair in pairs))


@dataclass(frozen=True)
class _StandIn:
    """Fast mode: the run that trains the stand-in teacher ``name`` alone, seed 0, for ``teacher_epochs``."""

    name: str

    def out_dir(self, settings: Settings) -> Path:
        return settings.runs / "teacher-runs" / self.name

    def arguments(self, settings: Settings) -> list[str]:
        return [
            "train",
            "--model",
            self.name,
            *settings.common,
            "--epochs",
            str(settings.teacher_epochs),
            "--seed",
            "0",
            "--out-dir",
            str(self.out_dir(settings)),
            "--resume",
        ]

    def recipe(self, settings: Settings):
        own = {"model": self.name, "epochs": settings.teacher_epochs, "seed": 0, "out_dir": str(self.out_dir(settings))}
        return _recipe(settings, **own, **_ALONE)


def _fast_teacher_runs(pairs: Sequence[Pair]) -> list[_StandIn]:
    return [_StandIn(name) for name in _teachers_of(pairs)]


def prepare_fast_teachers(settings: Settings, pairs: Sequence[Pair], log: Callable[[str], None] = print) -> None:
    """Fast mode: a stand-in teacher for every pair, in the standard layout under ``settings.teachers``."""
    from ..io import atomic_save, load_file

    for stand_in in _fast_teacher_runs(pairs):
        name = stand_in.name
        target = settings.teachers / TEACHER_CHECKPOINT.format(name=name)
        if target.exists():
            continue
        if settings.teacher_epochs > 0:
            summary = _train(stand_in.recipe(settings), settings.threads)
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

    Every run's recipe is built first, so a bad setting fails before anything trains; then the
    teacher files are looked for, so a missing one fails before hours of other runs; then every
    teacher is checked and its check is written into each of its runs' folders
    (``teacher_check.json``). ``executor`` runs the cells (:mod:`ldrrld_core.study.executors`):
    ``None``, one after the other in this process; a Ray executor, one task per cell, with one
    GPU each (one CPU in fast mode), all folders of ``settings`` seen by every node at the same path.
    """
    from ..study.executors import ready_executor

    planned = {cell: cell.recipe(settings) for cell in cells(settings, pairs)}
    executor = ready_executor(executor)  # an unreachable cluster fails before any teacher work
    if settings.fast:
        prepare_fast_teachers(settings, pairs, log)
    for name in _teachers_of(pairs):
        standard_teacher_path(name, settings.teachers)  # raises, saying where it looked and how to get it
    checks = check_teachers(settings, pairs, log)
    todo = list(planned)
    for cell in todo:
        if not cell.alone:
            checks[cell.pair.teacher].save(cell.out_dir(settings) / TEACHER_CHECK_FILE)
    summaries = {}

    def finished(cell: Cell, summary: dict) -> None:
        log(f"{cell} · seed {cell.seed}: top-1 {summary['top1']:.2f}%")
        summaries[cell] = summary

    device = "cpu" if settings.fast else "cuda"
    arguments = lambda cell: (planned[cell], settings.threads)  # noqa: E731
    executor.run_each(_train, todo, arguments, finished, threads=1, device=device)
    return [summaries[cell] for cell in todo]


def _train(recipe, threads: int | None) -> dict:
    """Train ``recipe`` in this process, quietly, resuming its run; return its summary.

    This is what ``ldrrld train|distill ... --resume --quiet --no-progress`` does with the same
    recipe (the teacher comes from ``recipe.teacher_checkpoint``). The trainer's log is held to
    errors, as the kit always kept it: the kit logs each run's result, and its teacher check has
    already said how good each teacher is. ``threads`` applies to the run only: torch's thread
    count, like the log level, is put back after it.
    """
    import torch

    from ..train import distill, fit

    logger = logging.getLogger("ldrrld")
    level, before = logger.level, torch.get_num_threads()
    try:
        logger.setLevel(logging.ERROR)
        if threads is not None:
            torch.set_num_threads(threads)
        if recipe.needs_teacher:
            return distill(recipe, None, resume=True, progress=False).summary
        return fit(recipe, resume=True, progress=False).summary
    finally:
        logger.setLevel(level)
        torch.set_num_threads(before)
