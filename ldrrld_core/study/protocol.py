"""The comparison protocol: one rule for every method, from the teacher to the reported number.

1. A converged teacher (:func:`~ldrrld_core.study.teacher.converged_teacher`), trained on the
   training images less a stratified validation split (``validation_fraction`` of every class,
   fixed by the data seed).
2. Every method is tuned alike on validation (:mod:`.tuning`): its learning rate (the recipe's
   ``lr`` times ``lr_factors``) and the one setting its authors tune, as a full grid; then every
   numeric axis widens by factors of 2 until the chosen value is inside it. A point's score is
   the validation top-1 averaged over its last ``select_last`` epochs and over the
   ``selection_seeds``, which are disjoint from the evaluation ``seeds``. The test split never
   chooses anything.
3. Every method then trains at its chosen point with every evaluation seed. Within a seed, all
   students start from the same weights and see the same data order (both come from the seed).
4. :func:`~ldrrld_core.study.report.build_results` turns the per-epoch histories into the
   reported numbers.

Every run is written to ``<out_dir>/runs/<method>/<setting>/lr<lr>-seed<seed>.json`` as it
finishes; a run whose file exists with the same recipe and teacher and a complete, finite history
is not trained again, so an interrupted study resumes (also on another machine, from a copy of
the folder). A run in progress keeps its checkpoints in the folder of the same name
(:mod:`.run_folder`) and continues from them. A folder holding a study of other settings (run
files or ``results.json``) is refused before anything trains, unless ``overwrite``
(``--overwrite``). The runs execute on this machine or on a Ray cluster (:mod:`.executors`).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_text
from ..models import create_model
from ..train import Recipe, get_recipe, load_data
from ..train.history import history_problem
from .executors import Executor, ready_executor, run_each
from .report import build_results, source_commit
from .run_folder import checkpoint_folder, fit_in_folder, remove_checkpoints
from .stats import standard_error
from .teacher import TeacherRule, converged_teacher
from .tuning import DEFAULT_TUNING, Axis, Point, initial_points, temperature_axis, widenings

__all__ = [
    "StudyConfig",
    "QUICK",
    "run_study",
    "run_each",
    "study_recipe",
    "learning_rates",
    "stored_run",
    "read_run_file",
]

log = logging.getLogger("ldrrld.study")


@dataclass(frozen=True)
class StudyConfig:
    """What a study compares and how.

    Attributes:
        recipe: the problem, a preset of :func:`~ldrrld_core.train.get_recipe`.
        methods: loss names; ``ce`` and ``kd`` are required (every method is compared to both).
        seeds: the evaluation seeds of the final runs (at least 2 for an interval).
        selection_seeds: the seeds that choose each method's point, disjoint from ``seeds``.
        lr_factors: the first learning rates tried, as multiples of the recipe's ``lr``.
        tuning: method -> the axes it tunes besides the rate (default: :data:`~.tuning.DEFAULT_TUNING`;
            a method not named tunes its rate alone).
        select_last: a point's score averages validation top-1 over this many last epochs.
        max_widenings: rounds of widening the grid past a chosen value at its edge.
        epochs: every student's schedule (``None``: the recipe's); decays move proportionally.
        validation_fraction: share of every class held out of the training images.
        teacher: the rule that decides when the teacher has converged.
        overrides: other recipe fields, e.g. smaller ``data_options`` for a quick run.
    """

    recipe: str = "teaching"
    methods: tuple[str, ...] = ("ce", "kd", "dkd", "ldrrld")
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    selection_seeds: tuple[int, ...] = (100, 101)
    lr_factors: tuple[float, ...] = (0.5, 1.0, 2.0)
    tuning: Mapping[str, tuple[Axis, ...]] = field(default_factory=lambda: dict(DEFAULT_TUNING))
    select_last: int = 5
    max_widenings: int = 3
    epochs: int | None = None
    validation_fraction: float = 0.1
    teacher: TeacherRule = TeacherRule()
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tuning", {m: tuple(self.tuning.get(m, ())) for m in self.methods})
        for name in ("methods", "seeds", "selection_seeds", "lr_factors"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        missing = [name for name in ("ce", "kd") if name not in self.methods]
        if missing:
            raise ValueError(f"a study compares every method to ce and kd; add {' and '.join(missing)} to methods")
        if len(set(self.methods)) != len(self.methods) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"methods and seeds must not repeat, got {self.methods} and {self.seeds}")
        if len(self.seeds) < 2:
            raise ValueError(f"a confidence interval needs at least 2 seeds, got {list(self.seeds)}")
        if not self.selection_seeds or len(set(self.selection_seeds)) != len(self.selection_seeds):
            raise ValueError(f"selection_seeds must be distinct seeds, at least one, got {list(self.selection_seeds)}")
        shared = sorted(set(self.selection_seeds) & set(self.seeds))
        if shared:
            raise ValueError(
                f"seed(s) {shared} both choose the settings and are evaluated: selection seeds must be disjoint "
                "from the evaluation seeds, or the chosen point is judged on the runs that chose it"
            )
        if not isinstance(self.select_last, int) or self.select_last < 1:
            raise ValueError(f"select_last must be a positive number of epochs, got {self.select_last!r}")
        if not isinstance(self.max_widenings, int) or self.max_widenings < 0:
            raise ValueError(f"max_widenings must be a whole number >= 0, got {self.max_widenings!r}")
        if not self.lr_factors or any(not f > 0 for f in self.lr_factors):
            raise ValueError(f"lr_factors must be positive multiples of the recipe's lr, got {self.lr_factors}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction}")


#: What ``--quick`` tunes for every method it knows: two values of each setting.
QUICK_TUNING: dict[str, tuple[Axis, ...]] = {
    "kd": (temperature_axis(2.0, 4.0),),
    "dkd": (Axis("beta", (2.0, 8.0)),),
    "ldrrld": (Axis("weight", (0.5, 1.0), {"alpha": 10.5, "beta": 7.0}),),
    **{method: (temperature_axis(2.0, 4.0),) for method in ("dist", "lskd", "wttm", "tekap", "sdd")},
}

#: ``--quick``: the whole protocol at toy size (6 training images per class, 12 for the teacher,
#: 2 seeds and 1 selection seed, 2 rates and 2 values of each setting, one widening, 3-epoch
#: students, a 4-epoch teacher). It exercises the code; its numbers mean nothing.
QUICK = StudyConfig(
    seeds=(0, 1),
    selection_seeds=(100,),
    lr_factors=(0.5, 1.0),
    tuning=QUICK_TUNING,
    select_last=2,
    max_widenings=1,
    epochs=3,
    teacher=TeacherRule(epochs=4, max_epochs=4, window=2),
    overrides={
        "data_options": {"train_per_class": 6, "test_per_class": 4, "image_size": 16},
        "teacher_data_options": {"train_per_class": 12},
    },
)


def study_recipe(config: StudyConfig, *, students: bool = True) -> Recipe:
    """The preset with the validation split and the overrides; for the students, also their schedule.

    The teacher's schedule comes from the teacher rule and the preset, not from ``epochs``, so
    a study with longer students reuses the same teacher.
    """
    recipe = get_recipe(config.recipe, validation_fraction=config.validation_fraction, **dict(config.overrides))
    return recipe.rescheduled(config.epochs) if config.epochs and students else recipe


def learning_rates(recipe: Recipe, config: StudyConfig) -> list[float]:
    """The grid: ``recipe.lr * factor`` for each factor, rounded to 6 significant digits."""
    return [float(f"{recipe.lr * factor:.6g}") for factor in config.lr_factors]


# ----------------------------------------------------------------------------------- one run
_LOADED: dict[str, Any] = {}  # per process: data and teacher, loaded once


def _train_one(recipe_dict: dict, teacher_weights: str, device: str, threads: int, folder: str | None = None) -> list:
    """Train one student (a batch task), with its checkpoints in ``folder``; returns its history rows,
    or ``[]`` if the loss diverged."""
    torch.set_num_threads(threads)
    recipe = Recipe.from_dict(recipe_dict)
    data_fields = ("data", "data_options", "data_seed", "validation_fraction")
    data_key = json.dumps({k: recipe_dict[k] for k in data_fields}, sort_keys=True)
    if _LOADED.get("data_key") != data_key:
        _LOADED.update(data_key=data_key, data=load_data(recipe), teacher_key=None)
    data = _LOADED["data"]
    teacher = None
    if recipe.needs_teacher:
        if _LOADED.get("teacher_key") != teacher_weights:
            teacher = create_model(recipe.teacher, num_classes=data.num_classes, checkpoint=teacher_weights)
            _LOADED.update(teacher_key=teacher_weights, teacher=teacher)
        teacher = _LOADED["teacher"]
    try:
        return fit_in_folder(recipe, folder, teacher=teacher, data=data, device=device, progress=False).history.rows
    except FloatingPointError as error:  # this learning rate is too large for this loss: never chosen
        log.warning("%s at lr %g, seed %d diverged: %s", recipe.loss, recipe.lr, recipe.seed, error)
        return []


def _run_path(out_dir: Path, method: str, setting: str, lr: float, seed: int) -> Path:
    return out_dir / "runs" / method / setting / f"lr{lr:g}-seed{seed}.json"


def stored_run(
    path: Path,
    recipe: Recipe,
    teacher: str | None,
    *,
    key: str,
    overwrite: bool = False,
    measures: Sequence[str] = (),
) -> Any | None:
    """What the run file ``path`` stores under ``key`` when it is a finished run of ``recipe`` from ``teacher``.

    ``None`` when there is no file (or, with ``overwrite``, when it holds other settings: the run is
    trained again over it). Reuse needs the same recipe, the same teacher (``teacher``: the SHA-256
    of its weights, compared for losses that read one; files written before teachers were recorded
    are judged by the recipe alone) and a complete, finite history: one row per epoch, ``1 ..
    epochs``, every number finite (a diverged run stores none). Anything else raises a one-line
    ``ValueError`` naming the file, before any run trains: a folder of another study is never
    overwritten silently, and a damaged file never becomes a result.
    """
    if not path.is_file():
        return None
    saved = read_run_file(path, key)
    saved_recipe, stored = saved["recipe"], saved[key]
    rows = stored["history"] if key == "result" else stored
    wanted = recipe.to_dict()
    changed = [
        f"{name}: {saved_recipe.get(name)!r} there, {value!r} now"
        for name, value in wanted.items()
        if saved_recipe.get(name) != value
    ]
    if "teacher" in saved and saved["teacher"] != teacher and recipe.needs_teacher:
        changed.append(f"teacher SHA-256: {saved['teacher']} there, {teacher} now")
    if changed:
        if overwrite:
            return None
        raise ValueError(
            f"{path} holds a run of other settings ({'; '.join(changed)}): this folder holds another study; "
            "choose another --out-dir (out_dir), or pass --overwrite (overwrite=True) to replace its runs"
        )
    holder = stored if key == "result" else saved
    problem = _incomplete(rows, recipe, bool(holder.get("diverged")), "diverged" in holder)
    if not problem and key == "result" and not holder.get("diverged"):
        problem = _measures_problem(stored, measures)
    if problem:
        raise ValueError(f"{path} {problem}: not a finished run; delete it to train that run again")
    return stored


def _measures_problem(result: Mapping, required: Sequence[str]) -> str | None:
    """What makes a sweep result's ``measures`` and ``seconds`` other than finite numbers (``required``: names held)."""
    measures = result.get("measures")
    if not isinstance(measures, Mapping):
        return "holds no mapping of measures"
    if missing := [name for name in required if name not in measures]:
        return f"lacks the measure(s) {', '.join(missing)}"
    for name, value in {**measures, "seconds": result.get("seconds")}.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"holds {name} = {value!r}, not a finite number"
        if name == "kendall_tau" and not -1 <= value <= 1:
            return f"holds kendall_tau = {value!r}, outside [-1, 1]"
        if name in ("kl_all", "topd_pair_agreement", "seconds") and value < 0:
            return f"holds {name} = {value!r}, below 0"
    return None


def read_run_file(path: Path, key: str) -> dict:
    """The content of a run file (``recipe``, ``key`` and maybe ``teacher``); a one-line ``ValueError``
    naming the file when it is not one (unreadable, not JSON, fields missing or of the wrong type)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        rows = saved[key]["history"] if key == "result" else saved[key]
        if not isinstance(saved["recipe"], dict) or not isinstance(rows, list):
            raise TypeError("the recipe or the history has the wrong type")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path} is damaged ({type(error).__name__}: {error}); delete it to train that run again"
        ) from None
    return saved


def _incomplete(rows: list, recipe: Recipe, diverged: bool, recorded: bool) -> str | None:
    """What makes ``rows`` other than the complete, meaningful history of a finished run of ``recipe``
    (:func:`~ldrrld_core.train.history.history_problem`); ``[]`` only for a run recorded as diverged
    (``recorded``: the file says whether the run diverged; older study files do not, and their ``[]``
    is taken as a divergence)."""
    if diverged:
        return None if rows == [] else "records a divergence but holds history rows"
    if rows == [] and not recorded:  # files written before divergences were recorded apart
        return None
    read = ("epoch", "test_top1", "val_top1") if recipe.validation_fraction > 0 else ("epoch", "test_top1")
    problem = history_problem(rows, recipe.epochs, required=read)
    if problem == "holds an empty history":
        return f"{problem} but records no divergence"
    return problem


Spec = tuple[str, str, float, int]  # (method, setting folder, learning rate, seed)


def _train_all(
    plan: dict[Spec, Recipe],
    out_dir: Path,
    *,
    weights: str,
    teacher: str | None,
    device: str,
    executor: Executor,
    threads: int,
    progress: bool,
    overwrite: bool = False,
    stage: str = "study runs",
) -> dict[Spec, list[dict]]:
    """Histories of every planned run: read from ``out_dir`` when finished before, else trained
    (``stage`` labels the progress bar).

    Every stored file is checked (:func:`stored_run`) before anything trains.
    """
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    done = {
        spec: rows
        for spec, recipe in plan.items()
        if (rows := stored_run(_run_path(out_dir, *spec), recipe, teacher, key="history", overwrite=overwrite))
        is not None
    }
    todo = [spec for spec in plan if spec not in done]
    bar = tqdm(total=len(todo), desc=stage, unit="run", disable=not (progress and todo), dynamic_ncols=True)

    def record(spec, rows):
        content = {"recipe": plan[spec].to_dict(), "teacher": teacher, "history": rows, "diverged": not rows}
        atomic_write_text(json.dumps(content), _run_path(out_dir, *spec))
        remove_checkpoints(checkpoint_folder(_run_path(out_dir, *spec)))
        done[spec] = rows
        bar.update(1)
        outcome = f"test {rows[-1]['test_top1']:.1f}" if rows else "diverged"
        bar.set_postfix(last=f"{spec[0]} {spec[1]} lr {spec[2]:g} seed {spec[3]}: {outcome}")

    def arguments(spec):
        return plan[spec].to_dict(), weights, device, threads, str(checkpoint_folder(_run_path(out_dir, *spec)))

    with logging_redirect_tqdm(tqdm_class=type(bar)):  # every line through the bar's writer, none glued to it
        executor.run_each(_train_one, todo, arguments, record, threads=threads, device=device)
    bar.close()
    return done


def selection_score(rows: list[dict], last: int) -> float:
    """A run's selection score: validation top-1 averaged over its last ``last`` epochs (0 if it diverged)."""
    return sum(row["val_top1"] for row in rows[-last:]) / len(rows[-last:]) if rows else 0.0


# ------------------------------------------------------------------------------- the study
def run_study(
    config: StudyConfig = StudyConfig(),
    out_dir: str | Path = "runs/study",
    *,
    device: str = "cpu",
    jobs: int = 1,
    threads: int = 1,
    progress: bool = True,
    use_shipped_teacher: bool = True,
    command: str | None = None,
    overwrite: bool = False,
    executor: Executor | str | None = None,
) -> dict:
    """Run the whole protocol and write ``<out_dir>/results.json``; returns the results.

    Args:
        config: what to compare (:data:`QUICK` for a toy-sized run).
        out_dir: the teacher cache (``teachers/``), every run (``runs/``) and ``results.json``.
        device: where to train (``cpu`` gives bitwise repeatable runs).
        jobs: runs trained at once, each in its own process (1: in this process); the local executor's.
        threads: torch threads per run.
        use_shipped_teacher: use the teacher shipped with the package when it fits the recipe.
        command: the command line to record (``ldrrld study`` fills it in).
        overwrite: replace the runs and ``results.json`` of a study of other settings in ``out_dir``;
            without it that is a ``ValueError`` before anything trains.
        executor: where the runs train (:mod:`.executors`): ``None`` or ``"local"``, ``jobs``
            processes here; ``"ray"`` or a :class:`~.executors.RayExecutor`, a Ray cluster (then
            ``out_dir`` must be a folder every node sees at the same path).

    Returns:
        The content of ``results.json`` (see ``docs/results.md`` for its fields).
    """
    started, commit = time.perf_counter(), source_commit()
    executor = ready_executor(executor, jobs)  # an unreachable cluster fails now, not after the teacher
    out_dir = Path(out_dir)
    recipe = study_recipe(config)
    lrs = learning_rates(recipe, config)
    _check_results_replaceable(out_dir / "results.json", recipe, config, lrs, overwrite=overwrite)
    data = load_data(recipe)
    _, teacher = converged_teacher(
        study_recipe(config, students=False),
        config.teacher,
        data=data,
        device=device,
        cache_dir=out_dir / "teachers",
        progress=progress,
        use_shipped=use_shipped_teacher,
    )
    options = dict(device=device, executor=executor, threads=threads, progress=progress, overwrite=overwrite)
    options.update(weights=teacher["weights"], teacher=teacher["sha256"])
    selection, histories = select_points(config, recipe, lrs, out_dir, options)
    chosen = {method: entries[0]["point"] for method, entries in selection.items()}
    runs = _evaluate(config, recipe, chosen, histories, out_dir, options)
    train_seconds = teacher["seconds"] + sum(row["seconds"] for rows in histories.values() for row in rows)
    results = build_results(
        config=config,
        recipe=recipe,
        teacher=teacher,
        lr_grid=lrs,
        selection=selection,
        runs=runs,
        device=device,
        threads=threads,
        command=command,
        commit=commit,
        seconds=time.perf_counter() - started,
        train_seconds=train_seconds,
    )
    atomic_write_text(json.dumps(results, indent=1), out_dir / "results.json")
    return results


def _evaluate(
    config: StudyConfig, recipe: Recipe, chosen: Mapping[str, Point], histories: dict, out_dir: Path, options: dict
) -> dict[str, dict[int, list[dict]]]:
    """Train every method at its chosen point on the evaluation seeds (adding them to ``histories``):
    ``{method: {seed: history rows}}``; a diverged run here is a ``FloatingPointError``."""
    final = {method: {point: list(config.seeds)} for method, point in chosen.items()}
    histories.update(_train_all(_plan(recipe, config, final), out_dir, stage="evaluation seeds", **options))
    folder = {method: point.folder(config.tuning[method]) for method, point in chosen.items()}
    diverged = [
        (method, seed)
        for method, point in chosen.items()
        for seed in config.seeds
        if not histories[method, folder[method], point.lr, seed]
    ]
    if diverged:
        raise FloatingPointError(
            f"runs at a chosen point diverged (method, seed): {diverged}; the selection seeds did not. "
            "Narrow the grid (--lr-factors) and run again"
        )
    return {
        method: {seed: histories[method, folder[method], point.lr, seed] for seed in config.seeds}
        for method, point in chosen.items()
    }


def _check_results_replaceable(
    path: Path, recipe: Recipe, config: StudyConfig, lrs: Sequence[float], *, overwrite: bool
) -> None:
    """Refuse to start a study whose ``results.json`` would replace that of a study of other settings."""
    if not path.is_file() or overwrite:
        return
    try:
        protocol = json.loads(path.read_text(encoding="utf-8"))
        saved = {
            "recipe": protocol["protocol"]["recipe"],
            "seeds": protocol["protocol"]["seeds"],
            "lr_grid": protocol["protocol"]["lr_grid"],
            "methods": sorted(protocol["methods"]),
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path} is damaged ({type(error).__name__}: {error}); move it away, or pass --overwrite "
            "(overwrite=True) to replace it"
        ) from None
    now = {
        "recipe": recipe.to_dict(),
        "seeds": list(config.seeds),
        "lr_grid": list(lrs),
        "methods": sorted(config.methods),
    }
    changed = [name for name in now if saved[name] != now[name]]
    if changed:
        detail = "; ".join(f"{name}: {saved[name]!r} there, {now[name]!r} now" for name in changed if name != "recipe")
        fields = [k for k in now["recipe"] if saved["recipe"].get(k) != now["recipe"][k]]
        detail = "; ".join(filter(None, [detail, f"recipe fields {', '.join(fields)}" if fields else ""]))
        raise ValueError(
            f"{path} is the result of a study of other settings ({detail}); choose another --out-dir "
            "(out_dir), or pass --overwrite (overwrite=True) to replace it and its runs"
        )


def _plan(
    recipe: Recipe, config: StudyConfig, points: Mapping[str, Mapping[Point, Sequence[int]]]
) -> dict[Spec, Recipe]:
    """One run per method, point and seed: ``{(method, setting folder, lr, seed): recipe}``."""
    plan = {}
    for method, by_point in points.items():
        axes = config.tuning[method]
        for point, seeds in by_point.items():
            for seed in seeds:
                spec = (method, point.folder(axes), point.lr, seed)
                plan[spec] = recipe.with_loss(method, point.loss_hparams(axes), lr=point.lr, seed=seed)
    return plan


def select_points(
    config: StudyConfig, recipe: Recipe, lrs: Sequence[float], out_dir: Path, options: dict
) -> tuple[dict[str, list[dict]], dict[Spec, list[dict]]]:
    """Tune every method on the selection seeds (:mod:`.tuning`): the full grid, then widenings.

    Returns ``(selection, histories)``: ``selection[method]`` lists every point tried, best first,
    as ``{"point", "score", "se", "scores", "round"}`` (``score``: mean over the selection seeds of
    :func:`selection_score`; ``se``: its standard error, ``None`` with one seed; ``scores``: per
    seed; ``round``: 0 for the first grid, k for the k-th widening). On a tie the earlier point
    wins (the smaller rate of the first grid).
    """
    seeds = list(config.selection_seeds)
    tried = {method: initial_points(lrs, config.tuning[method]) for method in config.methods}
    rounds = {method: dict.fromkeys(points, 0) for method, points in tried.items()}
    histories: dict[Spec, list[dict]] = {}
    for widening in range(config.max_widenings + 1):
        todo = {m: {p: seeds for p in points} for m, points in tried.items()}
        stage = "selection: the grid" if widening == 0 else f"selection: widening {widening}"
        histories.update(_train_all(_plan(recipe, config, todo), out_dir, stage=stage, **options))
        ranked = {m: _ranked(m, tried[m], config, histories, rounds[m]) for m in config.methods}
        new = {m: widenings(ranked[m][0]["point"], config.tuning[m], tried[m]) for m in config.methods}
        if widening == config.max_widenings or not any(new.values()):
            return ranked, histories
        for method, points in new.items():
            tried[method] = [*tried[method], *points]
            rounds[method].update(dict.fromkeys(points, widening + 1))
    raise AssertionError("unreachable")


def _ranked(method: str, points: Sequence[Point], config: StudyConfig, histories, rounds) -> list[dict]:
    """Every tried point of ``method`` with its scores, best first (ties: the earlier point)."""
    axes, seeds = config.tuning[method], config.selection_seeds
    entries = []
    for point in points:
        scores = [
            selection_score(histories[method, point.folder(axes), point.lr, seed], config.select_last) for seed in seeds
        ]
        entries.append(
            {
                "point": point,
                "score": statistics.fmean(scores),
                "se": standard_error(scores),
                "scores": scores,
                "round": rounds[point],
            }
        )
    order = sorted(range(len(entries)), key=lambda i: (-entries[i]["score"], i))
    return [entries[i] for i in order]
