"""``ldrrld sweep``: what depth, decay and temperature do to an LDRRLD student, measured over seeds.

The sweep trains LDRRLD students on the study's problem (:mod:`ldrrld_core.study.protocol`): the
same converged teacher, validation split, schedule and seeds. One rule differs, to keep the cost
feasible: every grid point trains at the learning rate the study chose for ``ldrrld`` on
validation (read from the study's ``results.json``), instead of choosing one per point. A point
that would prefer another rate is therefore slightly handicapped; the sweep measures sensitivity
at a fixed rate.

The grid is depth ``d`` x decay at the default temperature, plus the temperatures at the default
``d`` and decay (depths above the number of classes are dropped). For every point and seed the
last-epoch student is measured on the test split:

- ``test_top1_last``, ``test_top1_best_val``, ``best_val_epoch``: as in the study (%).
- ``kendall_tau``: Kendall's tau-a between the student's and the teacher's ranking of *all*
  classes, averaged over test images. No method optimises it: the neutral relation measure.
- ``kl_all``: KL(teacher || student) of the full softmaxes at ``T = 4``: KD's own objective
  divided by ``T^2``, so it favours KD.
- ``topd_pair_agreement``: the share of the teacher's top-7 class pairs the student orders as the
  teacher does: what LDRRLD's local term optimises, so it favours LDRRLD.
- ``seconds``: wall time of the training (all epochs, with the per-epoch evaluation).

The relation measures use one setting for every point (``MEASURE_DEPTH``, ``MEASURE_TEMPERATURE``)
so that points stay comparable. Optional reference runs (CE, KD, DKD at the study's rates, same
seeds) get the same measures; their accuracy over the study's seeds comes from ``results.json``.

Every point and seed is a run file ``<out_dir>/runs/<point>/seed<seed>.json``; a run whose file
holds the same recipe is not trained again, so a killed sweep resumes where it stopped.
``sweep.json`` and ``sweep.md`` are rewritten after every finished run: at any moment they hold
every grid point, with ``missing_seeds`` and ``status`` saying what is not run yet.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_text
from ..models import create_model
from ..train import Recipe, load_data
from .executors import Executor, ready_executor
from .protocol import QUICK, StudyConfig, learning_rates, run_study, study_recipe
from .report import _per_seed, _rounded, load_results, source_commit
from .run_folder import checkpoint_folder, fit_in_folder, remove_checkpoints
from .stats import paired_difference, summarize
from .sweep_report import (
    MEASURE_DEPTH,
    MEASURE_TEMPERATURE,
    MEASURES,
    find_point,
    findings,
    grid_markdown,
    load_sweep,
    point_name,
    render_sweep,
    sweep_slice,
)
from .teacher import converged_teacher

__all__ = [
    "SweepConfig",
    "QUICK_SWEEP",
    "MEASURES",
    "MEASURE_DEPTH",
    "MEASURE_TEMPERATURE",
    "DEFAULT_RESULTS",
    "grid_points",
    "point_name",
    "point_recipe",
    "run_sweep",
    "build_sweep",
    "render_sweep",
    "load_sweep",
    "find_point",
    "sweep_slice",
    "findings",
    "grid_markdown",
    "local_term_scale",
]

#: The committed full study, where the sweep reads its learning rate and reference lines.
DEFAULT_RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results.json"
#: Recipe fields that do not change what a run learns (ignored when matching the study's recipe).
_UNRELATED = ("out_dir", "data_root", "download", "num_workers", "save_every", "tensorboard")


@dataclass(frozen=True)
class SweepConfig:
    """The grid of a sweep and the study it builds on.

    Attributes:
        study: the study's protocol (problem, teacher rule, validation split, epochs, overrides).
        depths, decays: the ``d`` x ``gamma`` grid, at ``default_temperature``.
        temperatures: the ``T`` values tried at ``default_depth`` and ``default_decay``.
        seeds: the training seeds of every point (the study's first seeds: same initial weights).
        default_depth, default_decay, default_temperature: the loss's defaults, the point every
            other point is compared with (paired by seed).
        references: baselines also trained on ``seeds`` at the study's rates, for their relation
            measures (their accuracy over all the study's seeds comes from the study itself).
    """

    study: StudyConfig = field(default_factory=StudyConfig)
    depths: tuple[int, ...] = (2, 3, 5, 7, 10, 15, 20)
    decays: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2)
    temperatures: tuple[float, ...] = (2.0, 4.0, 8.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    default_depth: int = 7
    default_decay: float = 0.05
    default_temperature: float = 4.0
    references: tuple[str, ...] = ("ce", "kd", "dkd")

    def __post_init__(self) -> None:
        for name in ("depths", "decays", "temperatures", "seeds", "references"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("decays", "temperatures"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        for name in ("default_decay", "default_temperature"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("depths", "decays", "temperatures", "seeds", "references"):
            values = getattr(self, name)
            if name != "references" and not values:
                raise ValueError(f"{name} must hold at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} must not repeat, got {list(values)}")
        depths = (*self.depths, self.default_depth)
        if any(isinstance(d, bool) or not isinstance(d, int) or d < 2 for d in depths):
            raise ValueError(f"depths must be integers >= 2, got {list(self.depths)} and default {self.default_depth}")
        if any(not g >= 0 for g in (*self.decays, self.default_decay)):
            raise ValueError(f"decays must be >= 0, got {list(self.decays)} and default {self.default_decay}")
        if any(not t > 0 for t in (*self.temperatures, self.default_temperature)):
            raise ValueError(
                f"temperatures must be > 0, got {list(self.temperatures)} and default {self.default_temperature}"
            )
        unknown = [m for m in self.references if m not in self.study.methods or m == "ldrrld"]
        if unknown:
            raise ValueError(
                f"references must be baselines of the study ({', '.join(self.study.methods)}, "
                f"ldrrld excluded), got {unknown}"
            )

    @property
    def default_point(self) -> tuple[int, float, float]:
        """``(depth, decay, temperature)`` of the loss's defaults."""
        return self.default_depth, self.default_decay, self.default_temperature


#: ``--quick``: the study's toy protocol (without DKD), a 2 x 2 grid plus one temperature, 2 seeds, KD
#: as the one reference. It exercises the code in a minute or two; its numbers mean nothing.
QUICK_SWEEP = SweepConfig(
    study=replace(QUICK, methods=("ce", "kd", "ldrrld")),
    depths=(2, 7),
    decays=(0.0, 0.05),
    temperatures=(4.0, 8.0),
    seeds=(0, 1),
    references=("kd",),
)


# ------------------------------------------------------------------------------------ the grid
def grid_points(config: SweepConfig, num_classes: int) -> tuple[list[tuple[int, float, float]], list[int]]:
    """The points ``(depth, decay, temperature)`` in report order, and the depths dropped (> classes)."""
    d0, g0, t0 = config.default_point
    points = [(d, g, t0) for d in config.depths for g in config.decays]
    points += [(d0, g0, t) for t in config.temperatures]
    unique = list(dict.fromkeys(points))
    dropped = sorted({d for d, _, _ in unique if d > num_classes})
    return [p for p in unique if p[0] <= num_classes], dropped


def _priority(point: tuple[int, float, float], config: SweepConfig) -> int:
    """Training order: the default point, the depth slice, the decay slice, the temperatures, (the
    reference methods,) the rest of the grid.

    A sweep stopped early then still holds whole one-dimensional slices and the references.
    """
    d0, g0, t0 = config.default_point
    d, g, t = point
    if point == config.default_point:
        return 0
    if (g, t) == (g0, t0):
        return 1
    if (d, t) == (d0, t0):
        return 2
    return 3 if t != t0 else 5


def point_recipe(recipe: Recipe, point: tuple[int, float, float], lr: float, seed: int) -> Recipe:
    """The study's student recipe with LDRRLD at ``point = (depth, decay, temperature)``, ``lr``, ``seed``."""
    depth, decay, temperature = point
    options = {name: dict(values) for name, values in recipe.loss_options.items()}
    options["ldrrld"] = {**options.get("ldrrld", {}), "depth": depth, "decay": decay, "temperature": temperature}
    return recipe.replace(loss="ldrrld", lr=lr, seed=seed, loss_options=options)


def local_term_scale(depth: int, decay: float, *, temperature: float = 4.0, alpha: float = 10.5) -> dict[str, float]:
    """What LDRRLD's local term multiplies each KL by, for one sample (``P = d (d - 1) / 2`` pairs).

    Pair ``p`` gets ``alpha T^2 w_p / (P + 1)`` and the top-d set ``alpha T^2 / (P + 1)``, so
    changing ``d`` changes the loss's scale as well as its pairs. Returns ``pairs`` (``P``),
    ``top_pair`` (the coefficient of ranks 1 and 2), ``topd_set`` and ``total``
    (``alpha T^2 (sum_p w_p + 1) / (P + 1)``: the local term when every KL equals 1).
    """
    from ..analysis import weight_maps

    maps = weight_maps(depth, decay)
    pairs = maps.share.numel()
    factor = alpha * temperature**2 / (pairs + 1)
    return {
        "pairs": pairs,
        "top_pair": factor * float(maps.adw[0, 1]),
        "topd_set": factor,
        "total": factor * (float(maps.adw.sum()) / 2 + 1),
    }


# ------------------------------------------------------------------------------------ one run
_LOADED: dict[str, Any] = {}  # per process: data, teacher and its test logits, loaded once


def _measure_one(recipe_dict: dict, teacher_weights: str, device: str, threads: int, folder: str | None = None) -> dict:
    """Train one student (a batch task, with its checkpoints in ``folder``) and measure it:
    ``{"history", "measures", "seconds"}``."""
    from ..analysis import collect_outputs, relation_fidelity
    from ..data import make_loader

    torch.set_num_threads(threads)
    recipe = Recipe.from_dict(recipe_dict)
    data_fields = ("data", "data_options", "data_seed", "validation_fraction")
    key = json.dumps([{k: recipe_dict[k] for k in data_fields}, teacher_weights, device], sort_keys=True)
    if _LOADED.get("key") != key:
        data = load_data(recipe)
        teacher = create_model(recipe.teacher, num_classes=data.num_classes, checkpoint=teacher_weights)
        teacher = teacher.to(device).eval()
        test = make_loader(data.test, 256, train=False, device=device)
        _LOADED.update(
            key=key, data=data, teacher=teacher, test=test, teacher_logits=collect_outputs(teacher, test).logits
        )
    try:
        run = fit_in_folder(
            recipe, folder, teacher=_LOADED["teacher"], data=_LOADED["data"], device=device, progress=False
        )
    except FloatingPointError as error:  # the loss diverged at this rate: a result, not a crash
        return {"history": [], "seconds": None, "measures": {}, "diverged": str(error)}
    fidelity = relation_fidelity(
        student_logits=collect_outputs(run.model, _LOADED["test"]).logits,
        teacher_logits=_LOADED["teacher_logits"],
        depth=MEASURE_DEPTH,
        temperature=MEASURE_TEMPERATURE,
    ).summary()
    return {
        "history": run.history.rows,
        "seconds": run.summary["seconds"],
        "measures": {
            "kendall_tau": fidelity["kendall_tau_all"],
            "kl_all": fidelity["kl_all"],
            "topd_pair_agreement": fidelity["pair_agreement"],
        },
    }


def _diverged(result: Mapping) -> bool:
    return bool(result.get("diverged"))


def _per_seed_record(seed: int, result: Mapping) -> dict[str, Any]:
    """The numbers of one run as ``sweep.json`` stores them (rounded as the study rounds)."""
    numbers = {k: v for k, v in _per_seed(seed, result["history"]).items() if k != "val_top1_by_epoch"}
    return _rounded({**numbers, **result["measures"], "seconds": result["seconds"]})


def _run_path(out_dir: Path, name: str, seed: int) -> Path:
    return out_dir / "runs" / name / f"seed{seed}.json"


def _finished(path: Path, recipe: Recipe) -> dict | None:
    if not path.is_file():
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    return saved["result"] if saved.get("recipe") == recipe.to_dict() else None


# ------------------------------------------------------------------------------- the study
def _comparable(recipe_dict: Mapping) -> dict:
    return {k: v for k, v in recipe_dict.items() if k not in _UNRELATED}


def _study_results(
    config: SweepConfig, results_path: str | Path | None, out_dir: Path, options: Mapping[str, Any], run: bool = True
) -> tuple[dict | None, str | None]:
    """The study's results for this problem: from ``results_path``, else ``docs/results.json`` if it is
    the same problem, else a study run into ``<out_dir>/study`` (``run=False``: none). Returns
    ``(results, where)``."""
    expected = _comparable(study_recipe(config.study).to_dict())
    candidates = (
        [Path(results_path)] if results_path is not None else [DEFAULT_RESULTS] if DEFAULT_RESULTS.is_file() else []
    )
    for path in candidates:
        results = load_results(path)
        if _comparable(results["protocol"]["recipe"]) == expected:
            return results, str(path)
        if results_path is not None:
            differing = sorted(k for k in expected if results["protocol"]["recipe"].get(k) != expected[k])
            raise ValueError(
                f"{path} is a study of another problem (recipe fields {', '.join(differing)} "
                "differ from this sweep's); pass the results.json of the same study, or leave "
                "--results out"
            )
    if not run:
        return None, None
    study_dir = out_dir / "study"
    results = run_study(config.study, study_dir, **options)
    return results, str(study_dir / "results.json")


# ------------------------------------------------------------------------------- the sweep
def _train_plan(
    plan: Mapping[tuple[str, int], Recipe],
    out_dir: Path,
    *,
    weights: str,
    device: str,
    executor: Executor,
    threads: int,
    progress: bool,
    desc: str,
    on_record=None,
    train: bool = True,
) -> dict:
    """Results of every planned run ``(name, seed) -> recipe``: read from its run file, copied from a
    finished run of the same recipe under another name, or trained (``train=False``: left out)."""
    done = {
        spec: result
        for spec, recipe in plan.items()
        if (result := _finished(_run_path(out_dir, *spec), recipe)) is not None
    }
    by_recipe = {}
    for path in sorted((out_dir / "runs").glob("*/seed*.json")):
        saved = json.loads(path.read_text(encoding="utf-8"))
        by_recipe[json.dumps(saved["recipe"], sort_keys=True)] = saved["result"]

    def record(spec, result) -> None:
        atomic_write_text(json.dumps({"recipe": plan[spec].to_dict(), "result": result}), _run_path(out_dir, *spec))
        remove_checkpoints(checkpoint_folder(_run_path(out_dir, *spec)))
        done[spec] = result
        if on_record is not None:
            on_record(done)

    for spec in [spec for spec in plan if spec not in done]:
        if (found := by_recipe.get(json.dumps(plan[spec].to_dict(), sort_keys=True))) is not None:
            record(spec, found)
    todo = [spec for spec in plan if spec not in done] if train else []
    if not todo:
        return done
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(plan), initial=len(plan) - len(todo), desc=desc, unit="run", disable=not progress, dynamic_ncols=True
    )

    def finish(spec, result) -> None:
        record(spec, result)
        bar.update(1)
        outcome = "diverged" if _diverged(result) else f"test {result['history'][-1]['test_top1']:.1f}"
        bar.set_postfix(last=f"{spec[0]} seed {spec[1]}: {outcome}")

    def arguments(spec):
        return plan[spec].to_dict(), weights, device, threads, str(checkpoint_folder(_run_path(out_dir, *spec)))

    executor.run_each(_measure_one, todo, arguments, finish, threads=threads, device=device)
    bar.close()
    return done


def _select_lr(config: SweepConfig, recipe: Recipe, out_dir: Path, **options) -> tuple[float, dict[str, float]]:
    """The study's rule for LDRRLD alone: the rate of the grid with the highest mean last-epoch
    validation top-1 over the selection seeds, at the default point (ties: the smaller rate; a diverged
    run counts as 0)."""
    lrs = learning_rates(recipe, config.study)
    seeds = config.study.seeds[: config.study.selection_seeds]
    plan = {
        (f"select-lr{lr:g}", seed): point_recipe(recipe, config.default_point, lr, seed) for lr in lrs for seed in seeds
    }
    done = _train_plan(plan, out_dir, desc="lr selection", **options)
    if len(done) < len(plan):
        raise ValueError(
            "the learning rate is not chosen yet (its runs are not finished): run the sweep "
            "without --collect first, or give the study's results"
        )
    selection = {
        lr: sum(
            0.0 if _diverged(result := done[f"select-lr{lr:g}", seed]) else result["history"][-1]["val_top1"]
            for seed in seeds
        )
        / len(seeds)
        for lr in lrs
    }
    return max(lrs, key=lambda lr: selection[lr]), {f"{lr:g}": value for lr, value in selection.items()}


# ------------------------------------------------------------------------------- the sweep
def run_sweep(
    config: SweepConfig = SweepConfig(),
    out_dir: str | Path = "runs/sweep",
    *,
    results: str | Path | None = None,
    lr: float | None = None,
    run_study_first: bool = False,
    device: str = "cpu",
    jobs: int = 1,
    threads: int = 1,
    progress: bool = True,
    train: bool = True,
    command: str | None = None,
    executor: Executor | str | None = None,
) -> dict:
    """Train (or collect) every point x seed and write ``<out_dir>/sweep.json`` and ``sweep.md``.

    Args:
        config: the grid (:data:`QUICK_SWEEP` for a toy-sized run).
        out_dir: every run (``runs/``), the teacher cache, the study if one runs, and the output.
        results: the study's ``results.json``. Default: ``docs/results.json`` when it studies the
            same problem; else, with ``run_study_first``, the whole study runs into
            ``<out_dir>/study``; else the sweep chooses LDRRLD's rate itself with the study's rule
            (:func:`_select_lr`) and has no reference lines until it is rerun with the results.
        lr: train the grid at this rate without a study or a selection (no reference lines). With
            a study's results it must equal the rate the study chose for ``ldrrld``.
        device, jobs, threads: where to train, runs at once (one process each), torch threads per run.
        executor: where the runs train (see :func:`~.protocol.run_study`; ``jobs`` is the local one's).
        train: ``False`` trains nothing and only gathers the finished runs (``--collect``).
        command: the command line to record.

    Returns:
        The content of ``sweep.json``.
    """
    started, commit = time.perf_counter(), source_commit()
    out_dir = Path(out_dir)
    executor = ready_executor(executor, jobs)
    options = dict(device=device, executor=executor, threads=threads, progress=progress)
    study, study_path = _study_results(config, results, out_dir, options, run=run_study_first and lr is None)
    _check_study_rate(study, study_path, lr)
    recipe = study_recipe(config.study)
    data = load_data(recipe)
    _, teacher = converged_teacher(
        study_recipe(config.study, students=False),
        config.study.teacher,
        cache_dir=out_dir / "study" / "teachers",
        data=data,
        device=device,
        progress=progress,
    )
    _check_study_teacher(study, study_path, teacher)
    train_options = dict(
        weights=teacher["weights"], device=device, executor=executor, threads=threads, progress=progress, train=train
    )
    lr, lr_rule, selection = _learning_rate(config, recipe, out_dir, study, lr, train_options)
    points, dropped = grid_points(config, data.num_classes)
    plan = _plan(config, recipe, points, lr, study)

    def write(done) -> dict:
        sweep = build_sweep(
            config,
            points,
            dropped,
            done,
            study,
            study_path=study_path,
            lr=lr,
            lr_rule=lr_rule,
            lr_selection=selection,
            teacher=teacher,
            device=device,
            threads=threads,
            command=command,
            commit=commit,
            seconds=time.perf_counter() - started,
        )
        atomic_write_text(json.dumps(sweep, indent=1), out_dir / "sweep.json")
        atomic_write_text(render_sweep(sweep), out_dir / "sweep.md")
        return sweep

    write(_train_plan(plan, out_dir, desc="sweep runs", **{**train_options, "train": False}))
    return write(_train_plan(plan, out_dir, desc="sweep runs", on_record=write, **train_options))


def _check_study_rate(study: Mapping | None, study_path: str | None, lr: float | None) -> None:
    """A given ``lr`` must be the rate the study chose for ``ldrrld``."""
    if study is None or lr is None:
        return
    chosen = study["methods"]["ldrrld"]["lr"]
    if not math.isclose(lr, chosen):
        raise ValueError(
            f"lr {lr:g} differs from the rate the study chose for ldrrld, {chosen:g} "
            f"({study_path}); leave lr out to use the study's"
        )


def _check_study_teacher(study: Mapping | None, study_path: str | None, teacher: Mapping) -> None:
    """The sweep's teacher must be the one the study's reference lines were measured with."""
    if study is not None and study["protocol"]["teacher"]["sha256"] != teacher["sha256"]:
        raise ValueError(
            f"{study_path} was made with teacher SHA-256 "
            f"{study['protocol']['teacher']['sha256']}, but this sweep's teacher is "
            f"{teacher['sha256']} ({teacher['weights']}); use the study's teacher (the shipped "
            "one) or rerun the study"
        )


def _learning_rate(
    config: SweepConfig, recipe: Recipe, out_dir: Path, study: Mapping | None, lr: float | None, train_options: dict
) -> tuple[float, str, dict | None]:
    """The grid's rate, how it was chosen, and the selection's scores when the sweep chose it."""
    if study is not None:
        return (
            study["methods"]["ldrrld"]["lr"],
            "the rate the study chose for ldrrld on validation (at the default d, decay and T)",
            None,
        )
    if lr is None:
        lr, selection = _select_lr(config, recipe, out_dir, **train_options)
        return (
            lr,
            (
                "chosen by the sweep with the study's rule (mean last-epoch validation top-1 over the "
                "selection seeds, at the default point); no study results were read, so no reference "
                "lines"
            ),
            selection,
        )
    return float(lr), "given (no study results were read): no reference lines", None


def _plan(
    config: SweepConfig, recipe: Recipe, points: Sequence[tuple[int, float, float]], lr: float, study: Mapping | None
) -> dict[tuple[str, int], Recipe]:
    """Every run, ``{(name, seed): recipe}``, in training order: the slices first, references last."""
    runs = [
        (_priority(p, config), point_name(p), point_recipe(recipe, p, lr, seed), seed)
        for p in points
        for seed in config.seeds
    ]
    if study is not None:
        runs += [
            (4, f"reference-{m}", recipe.replace(loss=m, lr=study["methods"][m]["lr"], seed=seed), seed)
            for m in config.references
            for seed in config.seeds
        ]
    return {(name, seed): run_recipe for _, name, run_recipe, seed in sorted(runs, key=lambda run: run[0])}


# ------------------------------------------------------------------------------ sweep.json
def _summaries(per_seed: Sequence[Mapping], measures: Sequence[str]) -> dict[str, Any]:
    return {m: summarize([s[m] for s in per_seed]) if per_seed else None for m in measures}


def _status(found: int, wanted: int) -> str:
    return "complete" if found == wanted else "missing" if found == 0 else "partial"


def _paired(per_seed: Sequence[Mapping], baseline: Sequence[Mapping]) -> dict | None:
    """Paired difference of ``test_top1_last`` on the seeds both have (``None`` below 2 seeds)."""
    base = {s["seed"]: s["test_top1_last"] for s in baseline}
    pairs = [(s["test_top1_last"], base[s["seed"]]) for s in per_seed if s["seed"] in base]
    if len(pairs) < 2:
        return None
    values, baseline_values = zip(*pairs)
    return paired_difference(values, baseline_values)


def build_sweep(
    config: SweepConfig,
    points: Sequence[tuple[int, float, float]],
    dropped: Sequence[int],
    done: Mapping[tuple[str, int], Mapping],
    study: Mapping | None,
    *,
    study_path: str | None,
    lr: float,
    lr_rule: str,
    lr_selection: Mapping[str, float] | None,
    teacher: Mapping,
    device: str,
    threads: int,
    command: str | None,
    commit: str | None,
    seconds: float,
) -> dict[str, Any]:
    """The content of ``sweep.json`` from the finished runs ``done[(name, seed)]``.

    Every grid point is listed; ``per_seed`` holds the seeds finished, ``missing_seeds`` the rest,
    ``diverged_seeds`` those whose loss became NaN or infinite (finished, left out of ``per_seed``),
    and each measure's ``{"mean", "std", "ci95"}`` is computed from ``per_seed`` (``None`` when no
    seed is finished; ``std`` and ``ci95`` ``None`` with one seed). ``delta_vs_default`` and
    ``delta_vs_kd`` are paired by seed on ``test_top1_last``. Without a ``study`` (a sweep started
    with a given ``lr``) there are no reference lines.
    """
    finished = _Finished(done, list(config.seeds))
    default_runs = finished.runs(point_name(config.default_point))
    kd_runs = finished.runs("reference-kd") if "kd" in config.references and study is not None else []
    entries = [_point_entry(point, finished, default_runs, kd_runs) for point in points]
    sweep = _rounded(
        {
            "points": entries,
            "references": _references(config, study, finished),
            "protocol": _protocol(
                config,
                dropped,
                study,
                study_path=study_path,
                lr=lr,
                lr_rule=lr_rule,
                lr_selection=lr_selection,
                teacher=teacher,
            ),
        }
    )
    runs = sum(len(e["per_seed"]) for e in entries)
    sweep["progress"] = {
        "runs_done": runs,
        "runs_planned": len(points) * len(config.seeds),
        "points_complete": sum(e["status"] == "complete" for e in entries),
        "points": len(entries),
    }
    sweep["fingerprint"] = {
        "torch": torch.__version__,
        "device": device,
        "threads": threads,
        "commit": commit,
        "seconds": round(seconds, 1),
        "command": command,
    }
    return sweep


@dataclass(frozen=True)
class _Finished:
    """The finished runs ``done[(name, seed)]`` of a sweep over ``seeds``, read per run name."""

    done: Mapping[tuple[str, int], Mapping]
    seeds: list[int]

    def runs(self, name: str) -> list[dict]:
        """The per-seed records of ``name``'s finished runs that did not diverge."""
        return [
            _per_seed_record(seed, self.done[name, seed])
            for seed in self.seeds
            if (name, seed) in self.done and not _diverged(self.done[name, seed])
        ]

    def seed_status(self, name: str) -> dict[str, Any]:
        """How many seeds finished, which are missing and which diverged (left out of ``per_seed``)."""
        finished = [seed for seed in self.seeds if (name, seed) in self.done]
        return {
            "status": _status(len(finished), len(self.seeds)),
            "missing_seeds": [seed for seed in self.seeds if seed not in finished],
            "diverged_seeds": [seed for seed in finished if _diverged(self.done[name, seed])],
        }


def _point_entry(
    point: tuple[int, float, float], finished: _Finished, default_runs: list[dict], kd_runs: list[dict]
) -> dict[str, Any]:
    """One grid point of ``sweep.json``: its settings, seeds, summaries and paired differences."""
    name = point_name(point)
    per_seed = finished.runs(name)
    return {
        "depth": point[0],
        "decay": point[1],
        "temperature": point[2],
        "name": name,
        "local_scale": local_term_scale(*point[:2], temperature=point[2])["total"],
        **finished.seed_status(name),
        "per_seed": per_seed,
        **_summaries(per_seed, MEASURES),
        "delta_vs_default": _paired(per_seed, default_runs),
        "delta_vs_kd": _paired(per_seed, kd_runs),
    }


def _protocol(
    config: SweepConfig,
    dropped: Sequence[int],
    study: Mapping | None,
    *,
    study_path: str | None,
    lr: float,
    lr_rule: str,
    lr_selection: Mapping[str, float] | None,
    teacher: Mapping,
) -> dict[str, Any]:
    """What every run of the sweep shares: the problem, seeds, rate, grid, measures and teacher."""
    recipe = study_recipe(config.study)
    return {
        "problem": recipe.name,
        "epochs": recipe.epochs,
        "validation_fraction": recipe.validation_fraction,
        "seeds": list(config.seeds),
        "lr": lr,
        "lr_rule": lr_rule,
        "lr_selection": lr_selection,
        "study_results": study_path,
        "study_commit": (study or {}).get("fingerprint", {}).get("commit"),
        "depths": list(config.depths),
        "decays": list(config.decays),
        "temperatures": list(config.temperatures),
        "depths_dropped_above_num_classes": list(dropped),
        "default": {
            "depth": config.default_depth,
            "decay": config.default_decay,
            "temperature": config.default_temperature,
        },
        "measures": {
            "depth": MEASURE_DEPTH,
            "temperature": MEASURE_TEMPERATURE,
            "split": "test",
            "model": "last epoch",
        },
        "teacher": {k: teacher[k] for k in ("model", "key", "sha256", "train_top1", "val_top1", "test_top1")},
        "recipe": recipe.to_dict(),
    }


def _references(config: SweepConfig, study: Mapping | None, finished: _Finished) -> dict[str, dict]:
    """The baselines' lines: each method's study numbers, and its own runs on the sweep's seeds."""
    references = {}
    for method in ("ce", "kd", "dkd", "ldrrld"):
        if study is None or method not in study["methods"]:
            continue
        entry = study["methods"][method]
        reference = {
            "lr": entry["lr"],
            "study": {
                "seeds": [s["seed"] for s in entry["per_seed"]],
                "test_top1_last": entry["test_top1_last"],
                "test_top1_best_val": entry["test_top1_best_val"],
            },
        }
        if method in config.references:
            per_seed = finished.runs(f"reference-{method}")
            reference.update(
                **finished.seed_status(f"reference-{method}"), per_seed=per_seed, **_summaries(per_seed, MEASURES)
            )
        references[method] = reference
    return references
