"""The seed's Figure 3 as runnable cells: CIFAR-100 top-1 of LDRRLD against its depth ``d``, on a real pair.

The figure plots the student's top-1 against ``d`` (how many top-ranked classes LDRRLD decouples;
default 7). The kit makes it a sweep of ordinary ``ldrrld distill`` runs with the standard teacher
file and the kit's schedule preset, one per depth and seed, each ``--loss-option depth=D``, in
``<runs>/figure3/<teacher>-<student>/ldrrld-d<D>-seed<S>``; :func:`figure3_points` collects the
finished ones (mean and spread of last-epoch top-1 over the seeds) and :func:`figure3_markdown`
tabulates them. ``python benchmarks/reproduce_cifar100.py figure3`` prints the commands, ``--collect``
the table.

Which pair and which depths the seed's figure used is not in this repository's notes of the seed
(``docs/reproduce.md`` says so): the default is the paper's headline pair, resnet32x4 -> resnet8x4,
and the depths of ``ldrrld sweep`` (2, 3, 5, 7, 10, 15, 20), which span the figure's axis from the
smallest ``d`` the loss takes to a fifth of CIFAR-100's classes. Both are arguments.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from ..models import TEACHER_CHECKPOINT
from ..tables import markdown_table
from .kit import Settings

__all__ = ["FIGURE3_PAIR", "FIGURE3_DEPTHS", "figure3_runs", "figure3_commands", "figure3_points", "figure3_markdown"]

FIGURE3_PAIR = ("resnet32x4", "resnet8x4")
FIGURE3_DEPTHS = (2, 3, 5, 7, 10, 15, 20)


def _check(depths: Sequence[int], num_classes: int) -> None:
    bad = [d for d in depths if not (isinstance(d, int) and 2 <= d <= num_classes)]
    if bad or not depths:
        raise ValueError(f"depths must be whole numbers from 2 to the {num_classes} classes, got {list(depths)}")


def figure3_runs(
    settings: Settings, *, pair: tuple[str, str] = FIGURE3_PAIR, depths: Sequence[int] = FIGURE3_DEPTHS
) -> list[tuple[int, int, Path]]:
    """``(depth, seed, run folder)`` of every run of the figure, depth by depth."""
    _check(depths, settings.num_classes)
    folder = settings.runs / "figure3" / f"{pair[0]}-{pair[1]}"
    return [(d, seed, folder / f"ldrrld-d{d}-seed{seed}") for d in depths for seed in settings.seeds]


def figure3_commands(
    settings: Settings, *, pair: tuple[str, str] = FIGURE3_PAIR, depths: Sequence[int] = FIGURE3_DEPTHS
) -> list[tuple[int, int, str]]:
    """``(depth, seed, command)``: the ``ldrrld distill`` command of every run (resumable: ``--resume``)."""
    import shlex

    teacher, student = pair
    teacher_file = settings.teachers / TEACHER_CHECKPOINT.format(name=teacher)
    found = []
    for depth, seed, out in figure3_runs(settings, pair=pair, depths=depths):
        words = ["distill", "--teacher", teacher, "--model", student, "--loss", "ldrrld"]
        words += ["--loss-option", f"depth={depth}", "--teacher-checkpoint", str(teacher_file), *settings.common]
        words += ["--seed", str(seed), "--out-dir", str(out), "--resume"]
        found.append((depth, seed, shlex.join(["ldrrld", *words])))
    return found


def figure3_points(
    settings: Settings, *, pair: tuple[str, str] = FIGURE3_PAIR, depths: Sequence[int] = FIGURE3_DEPTHS
) -> list[dict[str, object]]:
    """Per depth: the seeds finished, mean and standard deviation of their last-epoch top-1 (``None`` if none)."""
    found: dict[int, list[tuple[int, float]]] = {d: [] for d in depths}
    for depth, seed, out in figure3_runs(settings, pair=pair, depths=depths):
        summary = out / "summary.json"
        if summary.is_file():
            found[depth].append((seed, float(json.loads(summary.read_text())["top1_last"])))
    points = []
    for depth, runs in found.items():
        values = [top1 for _, top1 in runs]
        points.append(
            {
                "depth": depth,
                "seeds": [seed for seed, _ in runs],
                "mean": statistics.fmean(values) if values else None,
                "std": statistics.stdev(values) if len(values) > 1 else None,
            }
        )
    return points


def figure3_markdown(points: list[dict[str, object]], pair: tuple[str, str] = FIGURE3_PAIR) -> str:
    """The collected points as a table: ``d``, seeds, last-epoch top-1 mean and std (``-``: not run yet)."""
    rows = [
        [
            point["depth"],
            ", ".join(map(str, point["seeds"])) or "-",
            "-" if point["mean"] is None else f"{point['mean']:.2f}",
            "-" if point["std"] is None else f"{point['std']:.2f}",
        ]
        for point in points
    ]
    title = f"LDRRLD top-1 (%) against d, {pair[0]} -> {pair[1]} (the seed's Figure 3)"
    return f"{title}\n\n" + markdown_table(["d", "seeds", "top-1 last, mean", "std"], rows)
