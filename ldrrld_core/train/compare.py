"""Several losses, one teacher, identical students: the controlled comparison behind the demo.

:func:`compare` trains (or takes) one teacher, then one student per loss, each from the same
initial weights and the same data order (the recipe's seed fixes both), so the only difference
between the students is the loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..data import make_loader
from ..tables import text_table
from .history import History
from .loop import Run, check_loss_fits, fit, load_data, train_teacher
from .metrics import evaluate
from .recipes import Recipe

__all__ = ["Comparison", "compare", "compare_recipes", "DEFAULT_METHODS"]

#: The losses the demo compares: the student alone, the two baselines and LDRRLD.
DEFAULT_METHODS = ("ce", "kd", "dkd", "ldrrld")


@dataclass
class Comparison:
    """A teacher and one student per loss, all trained on the same data.

    Attributes:
        teacher: the teacher's :class:`Run` (its ``summary["top1"]`` is the teacher's accuracy).
        students: loss name -> the student's :class:`Run`, in the order they were trained.
    """

    teacher: Run
    students: dict[str, Run]

    def top1(self) -> dict[str, float]:
        """Last-epoch test top-1 (%) of every student, by loss name."""
        return {name: run.top1 for name, run in self.students.items()}

    @property
    def histories(self) -> dict[str, History]:
        """``{"teacher": ..., "<loss>": ...}``: every run's history, for training-curve figures."""
        return {"teacher": self.teacher.history, **{name: run.history for name, run in self.students.items()}}

    def table(self) -> str:
        """A text table: each model's test top-1 and top-5 and the gain over the student alone."""
        baseline = self.students["ce"].top1 if "ce" in self.students else None
        rows = [("teacher", self.teacher.recipe.model, self.teacher.summary, None)]
        rows += [
            (name, run.recipe.model, run.summary, None if baseline is None else run.top1 - baseline)
            for name, run in self.students.items()
        ]
        return text_table(
            ["method", "model", "top-1", "top-5", "vs ce"],
            [
                [
                    name,
                    model,
                    f"{summary['top1']:.2f}",
                    f"{summary['top5']:.2f}",
                    "" if gain is None or name == "ce" else f"{gain:+.2f}",
                ]
                for name, model, summary, gain in rows
            ],
            right=[False, False, True, True, True],
        )


def _as_run(teacher: nn.Module, recipe: Recipe, data) -> Run:
    """A trained teacher module as a :class:`Run` with its test accuracy (and no training history)."""
    device = next(teacher.parameters()).device
    metrics = evaluate(teacher.eval(), make_loader(data.test, 256, train=False, device=device))
    teacher_recipe = recipe.for_teacher()
    summary = {
        "top1": metrics["test_top1"],
        "top5": metrics["test_top5"],
        "epochs": 0,
        "seconds": 0.0,
        "out_dir": None,
        "model": teacher_recipe.model,
        "teacher": None,
        "loss": "ce",
        "data": recipe.data,
        "recipe": recipe.name,
        "schedule": recipe.schedule,
        "seed": recipe.seed,
    }
    return Run(model=teacher, history=History(), recipe=teacher_recipe, summary=summary)


def compare(
    recipe: Recipe, methods: Sequence[str] = DEFAULT_METHODS, *, teacher: Run | nn.Module | None = None, **options: Any
) -> Comparison:
    """Train one student per loss in ``methods`` from ``teacher`` (trained first when not given).

    Args:
        recipe: the settings; its ``loss`` is replaced by each method in turn and ``loss_options``
            supplies each method's hyperparameters. With an ``out_dir`` every run writes to
            ``<out_dir>/<method>`` (the teacher to ``<out_dir>/teacher``).
        methods: loss registry names.
        teacher: an already trained teacher to reuse: a :class:`Run`, or a model (e.g. from
            :func:`ldrrld_core.study.shipped_teacher`), whose test accuracy is then measured.
        options: passed to :func:`~ldrrld_core.train.loop.fit` (``device``, ``progress``).

    Returns:
        A :class:`Comparison`.
    """
    if not methods:
        raise ValueError("methods is empty: name at least one loss, e.g. ('ce', 'ldrrld')")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods names a loss twice: {list(methods)}")
    runs = [recipe.replace(loss=name) for name in methods]  # every method's settings checked before any training
    data = options.pop("data", None) or load_data(recipe)
    for run_recipe in runs:
        check_loss_fits(run_recipe, data)
    if teacher is None:
        teacher = train_teacher(recipe, data=data, **options)
    elif isinstance(teacher, nn.Module):
        teacher = _as_run(teacher, recipe, data)
    students = {}
    for name, run_recipe in zip(methods, runs):
        if recipe.out_dir is not None:
            run_recipe = run_recipe.replace(out_dir=str(Path(recipe.out_dir) / name))
        students[name] = fit(run_recipe, teacher=teacher, data=data, **options)
    return Comparison(teacher=teacher, students=students)


def compare_recipes(
    recipes: Mapping[str, Recipe],
    *,
    teacher: Run | nn.Module,
    progress: bool = True,
    run_progress: bool = False,
    **options: Any,
) -> Comparison:
    """One student per method, each at its own recipe, all from one teacher: :func:`compare` for
    methods trained at different points (such as :func:`~ldrrld_core.study.report.method_recipes`).

    Args:
        recipes: ``{method: recipe}``; each recipe trains its method's loss, and the recipes differ
            in nothing but the loss, its options and the learning rate (same data, models,
            schedule and seed), so the students stay comparable.
        teacher: a trained teacher (a :class:`Run`, or a model whose test accuracy is then measured).
        progress: one bar over the students, naming the one in training.
        run_progress: also each run's own bar (per step), as :func:`compare` shows. It redraws many
            times a second: a notebook of many students then sends the kernel's reader thousands of
            messages, more than a reader that waits for the cell's end (nbval) buffers.
        options: passed to :func:`compare` (``data``, ``device``).
    """
    from tqdm.auto import tqdm

    if not recipes:
        raise ValueError("recipes is empty: give {method: recipe}, e.g. method_recipes(recipe, results)")
    misnamed = {method: recipe.loss for method, recipe in recipes.items() if recipe.loss != method}
    if misnamed:
        raise ValueError(f"each recipe must train its own method's loss; these train another: {misnamed}")
    name, first = next(iter(recipes.items()))
    differ = [
        method
        for method, recipe in recipes.items()
        if recipe.replace(loss=first.loss, loss_options=first.loss_options, lr=first.lr) != first
    ]
    if differ:
        raise ValueError(
            f"the recipes of {differ} differ from {name}'s in more than the loss, its options and the learning "
            "rate: compared students need the same data, models, schedule and seed"
        )
    data = options.pop("data", None) or load_data(first)
    if isinstance(teacher, nn.Module):
        teacher = _as_run(teacher, first, data)
    students = {}
    bar = tqdm(total=len(recipes), desc="students", unit="run", disable=not progress, leave=False, dynamic_ncols=True)
    for method, recipe in recipes.items():
        bar.set_postfix(training=method)
        run = compare(recipe, [method], teacher=teacher, data=data, progress=run_progress, **options)
        students[method] = run.students[method]
        bar.update(1)
    bar.close()
    return Comparison(teacher=teacher, students=students)
