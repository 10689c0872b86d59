"""``ldrrld sweep``: what depth, decay and temperature do to an LDRRLD student, measured over seeds.

The sweep trains LDRRLD students on the study's problem (:mod:`ldrrld_core.study.protocol`): the
same converged teacher, validation split, schedule and seeds. One rule differs, to keep the cost
feasible: every grid point trains at the learning rate and loss setting the study chose for
``ldrrld`` on validation (read from the study's ``results.json``; the point's ``d``, decay and ``T``
over the setting's), instead of choosing them per point. A point that would prefer another rate
is therefore handicapped, and since ``d`` and the decay change the local term's scale (up to 36x
over the default grid, :func:`local_term_scale`), a point's difference to the default mixes what
its pairs teach with a change of effective step size; the sweep measures sensitivity at a fixed
rate.

The grid is depth ``d`` x decay at the default temperature, plus the temperatures at the default
``d`` and decay (depths above the number of classes are dropped). For every point and seed the
last-epoch student is measured on the test split:

- ``test_top1_last``, ``test_top1_best_val``, ``best_val_epoch``: as in the study (%).
- ``kendall_tau``: Kendall's tau-b between the student's and the teacher's ranking of *all*
  classes, averaged over test images. No method optimises it: the neutral relation measure.
- ``kl_all``: KL(teacher || student) of the full softmaxes at ``T = 4``: KD's own objective
  divided by ``T^2``, so it favours KD.
- ``topd_pair_agreement``: the share of the teacher's top-7 class pairs the student orders as the
  teacher does: what LDRRLD's local term optimises, so it favours LDRRLD.
- ``seconds``: wall time of the training (all epochs, with the per-epoch evaluation).

The relation measures use one setting for every point (``MEASURE_DEPTH``, ``MEASURE_TEMPERATURE``)
so that points stay comparable. Optional reference runs (CE, KD, DKD at the study's rates and
settings, the sweep's seeds) get the same measures; their accuracy over the study's own seeds
comes from ``results.json``, and ``sweep.json`` labels each number with the runs it comes from.
Every comparison carries its paired p and its Holm-adjusted p within its family
(:mod:`.sweep_summary`); ``sweep.json`` records the code's fingerprint
(:func:`~ldrrld_core.provenance.numbers_fingerprint`) so a stale committed sweep is caught.

Every point and seed is a run file ``<out_dir>/runs/<point>/seed<seed>.json``; a run whose file
holds the same recipe is not trained again, so a killed sweep resumes where it stopped.
``sweep.json`` and ``sweep.md`` are rewritten after every finished run: at any moment they hold
every grid point, with ``missing_seeds`` and ``status`` saying what is not run yet.

This module runs the sweep: it reads the study, trains the planned runs and keeps their files.
The parts with names of their own live beside it, and everything public is importable from here:
:mod:`.sweep_plan` (the configuration, the grid, the runs in training order),
:mod:`.sweep_summary` (``sweep.json`` from the finished runs) and :mod:`.sweep_report`
(``sweep.md``, and the queries figures and notebooks make of a loaded sweep).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_text
from ..models import create_model
from ..provenance import SWEEP_SOURCES, numbers_fingerprint, source_commit
from ..train import Recipe, load_data
from .executors import Executor, ready_executor
from .protocol import learning_rates, read_run_file, run_study, stored_run, study_recipe
from .report import load_results
from .run_folder import checkpoint_folder, fit_in_folder, remove_checkpoints
from .sweep_plan import (
    QUICK_SWEEP,
    SweepConfig,
    grid_points,
    local_term_scale,
    plan_runs,
    point_recipe,
    study_settings,
)
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
from .sweep_summary import build_sweep, diverged, with_comparisons
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
    "with_comparisons",
    "study_settings",
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


#: The measures every finished run's result holds (:func:`_measure_one`); a stored result lacking one is refused.
RUN_MEASURES = ("kendall_tau", "kl_all", "topd_pair_agreement")


def _run_path(out_dir: Path, name: str, seed: int) -> Path:
    return out_dir / "runs" / name / f"seed{seed}.json"


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
    if not run and results_path is None and (out_dir / "study" / "results.json").is_file():
        candidates.insert(0, out_dir / "study" / "results.json")  # the study an earlier sweep ran
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
    teacher: str | None,
    device: str,
    executor: Executor,
    threads: int,
    progress: bool,
    desc: str,
    on_record=None,
    train: bool = True,
    overwrite: bool = False,
) -> dict:
    """Results of every planned run ``(name, seed) -> recipe``: read from its run file, copied from a
    finished run of the same recipe under another name, or trained (``train=False``: left out).
    Every stored file is checked first (:func:`~ldrrld_core.study.protocol.stored_run`)."""
    done = {
        spec: result
        for spec, recipe in plan.items()
        if (
            result := stored_run(
                _run_path(out_dir, *spec), recipe, teacher, key="result", overwrite=overwrite, measures=RUN_MEASURES
            )
        )
        is not None
    }
    by_recipe = {}
    for path in sorted((out_dir / "runs").glob("*/seed*.json")):
        recipe = Recipe.from_dict(read_run_file(path, "result")["recipe"])
        found = stored_run(path, recipe, teacher, key="result", overwrite=True, measures=RUN_MEASURES)  # as its own run
        if found is not None:
            by_recipe[json.dumps(recipe.to_dict(), sort_keys=True)] = found

    def record(spec, result) -> None:
        content = {"recipe": plan[spec].to_dict(), "teacher": teacher, "result": result}
        atomic_write_text(json.dumps(content), _run_path(out_dir, *spec))
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
    from tqdm.contrib.logging import logging_redirect_tqdm

    bar = tqdm(
        total=len(plan), initial=len(plan) - len(todo), desc=desc, unit="run", disable=not progress, dynamic_ncols=True
    )

    def finish(spec, result) -> None:
        record(spec, result)
        bar.update(1)
        outcome = "diverged" if diverged(result) else f"test {result['history'][-1]['test_top1']:.1f}"
        bar.set_postfix(last=f"{spec[0]} seed {spec[1]}: {outcome}")

    def arguments(spec):
        return plan[spec].to_dict(), weights, device, threads, str(checkpoint_folder(_run_path(out_dir, *spec)))

    with logging_redirect_tqdm(tqdm_class=type(bar)):  # every line through the bar's writer, none glued to it
        executor.run_each(_measure_one, todo, arguments, finish, threads=threads, device=device)
    bar.close()
    return done


def _select_lr(config: SweepConfig, recipe: Recipe, out_dir: Path, **options) -> tuple[float, dict[str, float]]:
    """Without a study: LDRRLD's rate from the study's first grid, by the mean last-epoch validation
    top-1 over the study's selection seeds, at the default point and the loss's own setting (ties:
    the smaller rate; a diverged run counts as 0). The study itself tunes more (:mod:`.tuning`)."""
    lrs = learning_rates(recipe, config.study)
    seeds = config.study.selection_seeds
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
            0.0 if diverged(result := done[f"select-lr{lr:g}", seed]) else result["history"][-1]["val_top1"]
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
    overwrite: bool = False,
    executor: Executor | str | None = None,
) -> dict:
    """Train (or collect) every point x seed and write ``<out_dir>/sweep.json`` and ``sweep.md``.

    Args:
        config: the grid (:data:`QUICK_SWEEP` for a toy-sized run).
        out_dir: every run (``runs/``), the teacher cache, the study if one runs, and the output.
        results: the study's ``results.json``: every point trains at its ``ldrrld`` rate and setting
            (``methods.ldrrld.setting``, :func:`~.sweep_plan.study_settings`), every reference at its
            method's. Default: ``docs/results.json`` when it studies the
            same problem; else, with ``run_study_first``, the whole study runs into
            ``<out_dir>/study``; else the sweep chooses LDRRLD's rate itself with the study's rule
            (:func:`_select_lr`) and has no reference lines until it is rerun with the results.
        lr: train the grid at this rate without a study or a selection (no reference lines). With
            a study's results it must equal the rate the study chose for ``ldrrld``.
        device, jobs, threads: where to train, runs at once (one process each), torch threads per run.
        executor: where the runs train (see :func:`~.protocol.run_study`; ``jobs`` is the local one's).
        train: ``False`` trains nothing (no teacher, no study) and gathers finished runs (``--collect``).
        command, overwrite: the command line to record; retrain over run files of other settings.

    Returns:
        The content of ``sweep.json``.
    """
    started, commit, fingerprint = time.perf_counter(), source_commit(), numbers_fingerprint(*SWEEP_SOURCES)
    out_dir = Path(out_dir)
    executor = ready_executor(executor, jobs)
    options = dict(device=device, executor=executor, threads=threads, progress=progress)
    study, study_path = _study_results(config, results, out_dir, options, run=train and run_study_first and lr is None)
    _check_study_rate(study, study_path, lr)
    settings = study_settings(study, ("ldrrld", *config.references), study_path) if study is not None else {}
    recipe = study_recipe(config.study)
    data = load_data(recipe)
    teacher = _teacher(config, out_dir, data, device=device, progress=progress, train=train)
    _check_study_teacher(study, study_path, teacher)
    weights, digest = teacher["weights"], teacher["sha256"]
    train_options = dict(options, weights=weights, teacher=digest, train=train, overwrite=overwrite)
    lr, lr_rule, selection = _learning_rate(config, recipe, out_dir, study, lr, train_options)
    points, dropped = grid_points(config, data.num_classes)
    plan = plan_runs(config, recipe, points, lr, study)

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
            settings=settings,
            code_fingerprint=fingerprint,
        )
        atomic_write_text(json.dumps(sweep, indent=1), out_dir / "sweep.json")
        atomic_write_text(render_sweep(sweep), out_dir / "sweep.md")
        return sweep

    write(_train_plan(plan, out_dir, desc="sweep runs", **{**train_options, "train": False}))
    return write(_train_plan(plan, out_dir, desc="sweep runs", on_record=write, **train_options))


def _teacher(config: SweepConfig, out_dir: Path, data, *, device: str, progress: bool, train: bool) -> dict:
    """The study's converged teacher's record, from ``<out_dir>/study/teachers`` (trained there when
    missing, unless ``train`` is off: collecting trains nothing)."""
    _, teacher = converged_teacher(
        study_recipe(config.study, students=False),
        config.study.teacher,
        cache_dir=out_dir / "study" / "teachers",
        data=data,
        device=device,
        progress=progress,
        train=train,
    )
    return teacher


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
            "the rate the study chose for ldrrld on validation (at the default d, decay and T), with the study's "
            "ldrrld setting under each point's d, decay and T",
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
