"""Rerun the paper's CIFAR-100 tables with the standard teachers and fill a paper-vs-measured table.

The spec gives two tables (``shared/spec/ldrrld-method.md``):

* **main**: KD, DKD and LDRRLD top-1 for six teacher -> student pairs (as summarised second-hand);
* **ablation**: the student alone, LDRRLD without ADW and with ADW for four pairs (the poster).

Every cell is one run of the ``ldrrld`` command with the ``cifar100-authors`` preset (the
authors' effective schedule; ``--recipe cifar100`` for the clean one) and the literature's
teacher file ``<teachers>/<name>_vanilla/ckpt_epoch_240.pth``. ``commands`` prints those command
lines, ``run`` executes them one after the other in this process (each with ``--resume``, so an
interrupted or finished cell just continues or is skipped), and ``table`` reads the finished
runs and writes ``results.md`` and ``results.json`` with the paper's number beside every
measured one. Usage on a GPU machine::

    python benchmarks/reproduce_cifar100.py pairs
    python benchmarks/reproduce_cifar100.py commands --teachers data/teachers --seeds 0 1 2
    python benchmarks/reproduce_cifar100.py run --teachers data/teachers --only resnet32x4-resnet8x4
    python benchmarks/reproduce_cifar100.py table

``--fast`` does all of it in seconds on a CPU: tiny synthetic CIFAR-shaped data (20 classes of
8x8 images), one epoch, teachers trained for one epoch and saved in the standard layout, and by
default only the pair vgg13 -> vgg8, which appears in both tables and so needs every method. Its
numbers check the code path, not the paper.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ldrrld_core.models import TEACHER_ACCURACY, TEACHER_CHECKPOINT, create_model, standard_teacher_path

__all__ = ["Pair", "Column", "PaperTable", "MAIN", "ABLATION", "TABLES", "Settings", "Cell", "cells", "commands",
           "teacher_commands", "prepare_fast_teachers", "run", "collect", "markdown", "write_results", "main"]


# ------------------------------------------------------------------------------------ the paper
@dataclass(frozen=True)
class Pair:
    """A teacher and a student of the model zoo."""

    teacher: str
    student: str

    @property
    def key(self) -> str:
        """``teacher-student``, as ``--only`` takes it and the run folders are named."""
        return f"{self.teacher}-{self.student}"

    @property
    def label(self) -> str:
        return f"{self.teacher} -> {self.student}"


@dataclass(frozen=True)
class Column:
    """One method column: its title in the paper and the loss that runs it (``ce``: the student alone)."""

    title: str
    loss: str


@dataclass(frozen=True)
class PaperTable:
    """A table of the paper: one row of top-1 accuracies (%) per pair, one column per method."""

    name: str
    title: str
    source: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Pair, tuple[float, ...]], ...]

    def __post_init__(self) -> None:
        if any(len(numbers) != len(self.columns) for _, numbers in self.rows):
            raise ValueError(f"table {self.name}: every row needs one number per column")

    @property
    def pairs(self) -> tuple[Pair, ...]:
        return tuple(pair for pair, _ in self.rows)


MAIN = PaperTable(
    name="main", title="CIFAR-100 top-1 (%): KD, DKD and LDRRLD",
    source="the paper's main table as summarised second-hand (a paper-notes site; approximate)",
    # The paper's KD numbers are CRD's (Tian et al., 2020), run as 0.1 CE + 0.9 KD: `kd-mdistiller`.
    columns=(Column("KD", "kd-mdistiller"), Column("DKD", "dkd"), Column("LDRRLD", "ldrrld")),
    rows=((Pair("resnet56", "resnet20"), (70.66, 71.97, 72.20)),
          (Pair("resnet110", "resnet20"), (70.67, 70.91, 71.98)),
          (Pair("resnet32x4", "resnet8x4"), (73.33, 76.32, 77.20)),
          (Pair("wrn_40_2", "wrn_16_2"), (74.92, 76.24, 76.35)),
          (Pair("vgg13", "vgg8"), (72.98, 74.68, 75.06)),
          (Pair("resnet32x4", "ShuffleV1"), (74.07, 76.45, 76.46))))

ABLATION = PaperTable(
    name="ablation", title="CIFAR-100 top-1 (%): the adaptive decay weight (ADW) ablation",
    source="the ablation table of the ICCV 2025 poster",
    columns=(Column("student alone", "ce"), Column("without ADW", "ldrrld-no-adw"), Column("with ADW", "ldrrld")),
    rows=((Pair("vgg13", "vgg8"), (70.50, 74.25, 74.46)),
          (Pair("ResNet50", "MobileNetV2"), (64.60, 68.95, 69.27)),
          (Pair("resnet32x4", "MobileNetV2"), (64.60, 69.23, 69.52)),
          (Pair("resnet32x4", "ShuffleV2"), (71.82, 76.92, 77.07))))

TABLES = (MAIN, ABLATION)

#: The pair the fast mode runs by default: it is in both tables, so it needs every method.
FAST_PAIRS = ("vgg13-vgg8",)

#: What the fast mode changes in every command: tiny synthetic data, one short epoch, one CPU
#: thread (several threads are slower for such small tensors, and much slower on a busy machine).
FAST_DATA = {"train_per_class": 4, "test_per_class": 2, "num_superclasses": 4, "classes_per_superclass": 5,
             "image_size": 8}
FAST_ARGUMENTS = ("--data", "synthetic", "--set", "data_options=" + json.dumps(FAST_DATA, separators=(",", ":")),
                  "--epochs", "1", "--batch-size", "16", "--set", "warmup_epochs=0", "--set", "decay_epochs=",
                  "--set", "deterministic=true", "--threads", "1")


# ------------------------------------------------------------------------------------- the runs
@dataclass(frozen=True)
class Settings:
    """Where things are and how every run is made.

    Attributes:
        runs: folder of the run folders and of ``results.md`` / ``results.json``.
        teachers: folder holding ``<name>_vanilla/ckpt_epoch_240.pth`` (fast mode: made under ``runs``).
        data_root: folder of (or for) ``cifar-100-python``.
        recipe: ``cifar100-authors`` (the paper's schedule) or ``cifar100`` (the clean one).
        seeds: one run per seed; measured cells show the mean (and the spread over seeds).
        extra: more ``ldrrld`` arguments for every run, e.g. ``("--set", "amp=bf16")``.
        fast: tiny synthetic data and one epoch (CI); teachers trained for ``teacher_epochs``.
        teacher_epochs: fast mode only: epochs of the stand-in teachers (0: random weights).
    """

    runs: Path = Path("runs/reproduce_cifar100")
    teachers: Path = Path("data/teachers")
    data_root: Path = Path("data")
    recipe: str = "cifar100-authors"
    seeds: tuple[int, ...] = (0,)
    extra: tuple[str, ...] = ()
    fast: bool = False
    teacher_epochs: int = 1

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

    def description(self) -> str:
        if self.fast:
            return (f"fast mode: synthetic data ({FAST_DATA['num_superclasses'] * FAST_DATA['classes_per_superclass']} "
                    f"classes of {FAST_DATA['image_size']}x{FAST_DATA['image_size']} images), one epoch, stand-in "
                    f"teachers; these numbers check the code path, not the paper")
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
        """The ``ldrrld`` arguments of this run."""
        what = ["--model", self.pair.student]
        if not self.alone:
            teacher_file = settings.teachers / TEACHER_CHECKPOINT.format(name=self.pair.teacher)
            what = ["--teacher", self.pair.teacher, *what, "--loss", self.loss,
                    "--teacher-checkpoint", str(teacher_file)]
        return ["train" if self.alone else "distill", *what, *settings.common, "--seed", str(self.seed),
                "--out-dir", str(self.out_dir(settings)), "--resume"]

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
        arguments = ["train", "--model", name, *settings.common, "--epochs", str(settings.teacher_epochs),
                     "--seed", "0", "--out-dir", str(out_dir), "--resume"]
        runs.append((arguments, name))
    return runs


def prepare_fast_teachers(settings: Settings, pairs: Sequence[Pair], log: Callable[[str], None] = print) -> None:
    """Fast mode: make a stand-in teacher for every pair in the standard layout under ``settings.teachers``."""
    from ldrrld_core.io import atomic_save, load_file

    classes = FAST_DATA["num_superclasses"] * FAST_DATA["classes_per_superclass"]
    for arguments, name in _fast_teacher_runs(settings, pairs):
        target = settings.teachers / TEACHER_CHECKPOINT.format(name=name)
        if target.exists():
            continue
        if settings.teacher_epochs > 0:
            summary = _run_command(arguments)
            weights = load_file(Path(summary["out_dir"]) / "student.pth")["model"]
            log(f"stand-in teacher {name}: {settings.teacher_epochs} epoch(s), top-1 {summary['top1']:.2f}%")
        else:
            weights = create_model(name, num_classes=classes).state_dict()
            log(f"stand-in teacher {name}: random weights")
        atomic_save({"model": weights}, target)


def run(settings: Settings, pairs: Sequence[Pair], log: Callable[[str], None] = print) -> list[dict]:
    """Run every cell of ``pairs`` (resuming any that were interrupted); return their summaries.

    The teacher files are checked first, so a missing one fails before hours of other runs.
    """
    if settings.fast:
        prepare_fast_teachers(settings, pairs, log)
    for name in _teachers_of(pairs):
        standard_teacher_path(name, settings.teachers)  # raises, saying where it looked and how to get it
    summaries = []
    for cell in cells(settings, pairs):
        summary = _run_command(cell.arguments(settings))
        log(f"{cell} · seed {cell.seed}: top-1 {summary['top1']:.2f}%")
        summaries.append(summary)
    return summaries


def _run_command(arguments: list[str]) -> dict:
    """Run ``ldrrld ARGUMENTS`` in this process (quietly) and return the JSON summary it prints last.

    The command's ``--threads`` applies to the run only: torch's thread count is put back after it.
    """
    import torch

    from ldrrld_core.cli import main as ldrrld

    output, errors, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(errors):
            status = ldrrld([*arguments, "--quiet", "--no-progress"])
    finally:
        torch.set_num_threads(threads)
    if status != 0:
        raise RuntimeError(f"{_shell(arguments)} failed (exit {status}):\n{errors.getvalue()[-3000:]}")
    return json.loads(output.getvalue().strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- the results
@dataclass
class Measured:
    """What the finished runs of one cell of a table say."""

    column: str
    loss: str
    paper: float
    seeds: list[int] = field(default_factory=list)
    top1: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.top1) if self.top1 else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.top1) if len(self.top1) > 1 else None


def _finished_summary(out_dir: Path) -> dict | None:
    """The run's summary if it reached the epochs it was last started for, else ``None``."""
    summary_file, recipe_file = out_dir / "summary.json", out_dir / "recipe.json"
    if not (summary_file.exists() and recipe_file.exists()):
        return None
    summary = json.loads(summary_file.read_text())
    return summary if summary["epochs"] == json.loads(recipe_file.read_text())["epochs"] else None


def collect(settings: Settings) -> dict:
    """Every table with its paper numbers and what the finished runs under ``settings.runs`` measured."""
    tables = []
    for table in TABLES:
        rows = []
        for pair, paper in table.rows:
            measured, teacher_top1 = [], []
            for column, number in zip(table.columns, paper):
                entry = Measured(column.title, column.loss, number)
                for seed in settings.seeds:
                    summary = _finished_summary(Cell(pair, column.loss, seed).out_dir(settings))
                    if summary is not None:
                        entry.seeds.append(seed)
                        entry.top1.append(summary["top1"])
                        if "teacher_top1" in summary:
                            teacher_top1.append(summary["teacher_top1"])
                measured.append(entry)
            rows.append({"teacher": pair.teacher, "student": pair.student,
                         "teacher_paper": TEACHER_ACCURACY.get(pair.teacher),
                         "teacher_measured": teacher_top1[0] if teacher_top1 else None,
                         "cells": [{**asdict(entry), "measured": entry.mean, "std": entry.std} for entry in measured]})
        tables.append({"name": table.name, "title": table.title, "source": table.source,
                       "columns": [column.title for column in table.columns], "rows": rows})
    return {"settings": {**asdict(settings), "description": settings.description()}, "tables": tables}


def _number(value: float | None, std: float | None = None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" + (f" ± {std:.2f}" if std is not None else "")


def markdown(results: dict) -> str:
    """The results as markdown: per table, the paper's number and the measured one side by side."""
    settings = results["settings"]
    seeds = ", ".join(map(str, settings["seeds"]))
    lines = [f"Measured: {settings['description']}; seeds {seeds}; empty cells have no finished run yet.", ""]
    for table in results["tables"]:
        head = ["teacher -> student", "teacher paper", "teacher measured"]
        for column in table["columns"]:
            head += [f"{column} paper", f"{column} measured"]
        lines += [f"### {table['title']}", "", f"Paper numbers: {table['source']}.", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in table["rows"]:
            cells_ = [f"{row['teacher']} -> {row['student']}", _number(row["teacher_paper"]),
                      _number(row["teacher_measured"])]
            for cell in row["cells"]:
                cells_ += [_number(cell["paper"]), _number(cell["measured"], cell["std"])]
            lines.append("| " + " | ".join(cells_) + " |")
        lines.append("")
    return "\n".join(lines)


def write_results(settings: Settings) -> dict:
    """Collect the finished runs and write ``results.md`` and ``results.json`` in ``settings.runs``."""
    from ldrrld_core.io import atomic_write_text

    results = collect(settings)
    atomic_write_text(markdown(results), settings.runs / "results.md")
    atomic_write_text(json.dumps(results, indent=1, default=str), settings.runs / "results.json")
    return results


def paper_markdown() -> str:
    """The paper's tables alone, as the kit will fill them (no measured column)."""
    lines = []
    for table in TABLES:
        head = ["teacher -> student", *(column.title for column in table.columns)]
        lines += [f"### {table.title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += [f"| {pair.label} | " + " | ".join(f"{n:.2f}" for n in numbers) + " |" for pair, numbers in table.rows]
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("pairs", "print the paper's tables and the runs they need"),
                       ("commands", "print the exact command of every run"),
                       ("run", "run every cell (resuming interrupted ones), then write the results table"),
                       ("table", "write results.md and results.json from the finished runs")):
        sub = commands_.add_parser(name, help=text, description=text)
        sub.add_argument("--runs", type=Path, help="run folder (default runs/reproduce_cifar100, "
                                                  "fast mode runs/reproduce_cifar100_fast)")
        sub.add_argument("--teachers", type=Path, default=Settings.teachers,
                         help="folder of <name>_vanilla/ckpt_epoch_240.pth (default data/teachers)")
        sub.add_argument("--data-root", type=Path, default=Settings.data_root, help="CIFAR-100 folder (default data)")
        sub.add_argument("--recipe", default=Settings.recipe, choices=("cifar100-authors", "cifar100"),
                         help="schedule preset (default cifar100-authors, the paper's effective schedule)")
        sub.add_argument("--seeds", type=int, nargs="+", default=list(Settings.seeds))
        sub.add_argument("--only", nargs="+", metavar="TEACHER-STUDENT",
                         help="pairs to run (default all; fast mode: vgg13-vgg8)")
        sub.add_argument("--extra", default="", help="more ldrrld arguments for every run, e.g. \"--set amp=bf16\"")
        sub.add_argument("--fast", action="store_true", help="tiny synthetic data, one epoch, stand-in teachers (CI)")
        sub.add_argument("--teacher-epochs", type=int, default=1, help="fast mode: epochs of the stand-in teachers")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    values = dict(data_root=args.data_root, recipe=args.recipe, seeds=tuple(args.seeds),
                  extra=tuple(shlex.split(args.extra)), teacher_epochs=args.teacher_epochs)
    if args.fast:
        return Settings.for_fast(args.runs or Path("runs/reproduce_cifar100_fast"), **values)
    return Settings(runs=args.runs or Settings.runs, teachers=args.teachers, **values)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_from(args)
    try:
        pairs = select_pairs(args.only, fast=settings.fast)
        if args.command == "pairs":
            print(paper_markdown())
            print(f"{len(cells(settings, pairs))} runs for {len(pairs)} pair(s) and seeds {list(settings.seeds)}")
        elif args.command == "commands":
            if settings.fast:
                print("# stand-in teachers (copied to <teachers>/<name>_vanilla/ckpt_epoch_240.pth)")
                print("\n".join(teacher_commands(settings, pairs)))
            print("\n".join(commands(settings, pairs)))
        elif args.command == "run":
            run(settings, pairs)
            print(markdown(write_results(settings)))
        else:
            print(markdown(write_results(settings)))
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"reproduce_cifar100: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
