"""``sweep.json`` from the finished runs: every grid point, the reference lines, the protocol.

:func:`build_sweep` is a function of the finished runs alone (``done[(name, seed)]``, as the
run files hold them), so the file can be rebuilt at any moment of a sweep: every point is listed,
with the seeds finished, missing and diverged, and each measure's mean, std and 95% interval over
the finished seeds. The reference lines are the baselines' numbers from the study (labelled
"study, seeds ...") and, for the methods the sweep also trains, their own runs on the sweep's
seeds (labelled "sweep reference runs, seeds ...").

:func:`with_comparisons` adds what is compared, from the per-seed records alone (so it can be
recomputed from a loaded ``sweep.json``): three families of paired comparisons, each with its raw
paired p, its Holm-adjusted p within the family, the 95% interval, the difference the seeds
detect at 80% power and a verdict (:func:`~ldrrld_core.study.verdicts.paired_verdicts`):

- ``vs_default``: every other point - the default point, last-epoch test top-1 (each point's
  ``delta_vs_default``);
- ``vs_kd``: every point - KD's sweep reference runs on the same seeds (``delta_vs_kd``);
- ``depth_steps``: Kendall tau at each depth - at the next smaller depth of the grid, at every
  decay and the default temperature (``depth_steps``): the test behind any "rises" or "levels off".

It also flags *collapsed* seeds: a last-epoch test top-1 below the low end of CE's study interval,
i.e. worse than the student trained alone. They stay in every statistic and are named as such.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..losses import create_loss
from .protocol import study_recipe
from .report import _per_seed, _rounded
from .stats import block_anova, holm, minimum_detectable_difference, summarize
from .sweep_plan import NO_SETTING, SweepConfig, local_term_scale, point_options
from .sweep_report import (
    MEASURE_DEPTH,
    MEASURE_TEMPERATURE,
    MEASURES,
    point_name,
    runs_source,
    study_source,
)
from .verdicts import ALPHA, POWER, paired_verdicts

__all__ = ["build_sweep", "diverged", "with_comparisons", "COMPARED", "STEP_MEASURE"]

#: The measure the points are compared on (with the default point and with KD).
COMPARED = "test_top1_last"
#: The measure whose steps between adjacent depths are tested (the neutral relation measure).
STEP_MEASURE = "kendall_tau"
#: Significant digits of the comparisons' numbers in ``sweep.json`` (p-values can be tiny).
_DIGITS = 6


def diverged(result: Mapping) -> bool:
    """Whether the run's loss became NaN or infinite (a finished run, left out of the statistics)."""
    return bool(result.get("diverged"))


def _per_seed_record(seed: int, result: Mapping) -> dict[str, Any]:
    """The numbers of one run as ``sweep.json`` stores them (rounded as the study rounds)."""
    numbers = {k: v for k, v in _per_seed(seed, result["history"]).items() if k != "val_top1_by_epoch"}
    return _rounded({**numbers, **result["measures"], "seconds": result["seconds"]})


def _summaries(per_seed: Sequence[Mapping], measures: Sequence[str]) -> dict[str, Any]:
    return {m: summarize([s[m] for s in per_seed]) if per_seed else None for m in measures}


def _status(found: int, wanted: int) -> str:
    return "complete" if found == wanted else "missing" if found == 0 else "partial"


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
    settings: Mapping[str, Mapping] | None = None,
    code_fingerprint: str | None = None,
) -> dict[str, Any]:
    """The content of ``sweep.json`` from the finished runs ``done[(name, seed)]``.

    Every grid point is listed; ``per_seed`` holds the seeds finished, ``missing_seeds`` the rest,
    ``diverged_seeds`` those whose loss became NaN or infinite (finished, left out of ``per_seed``),
    and each measure's ``{"mean", "std", "ci95"}`` is computed from ``per_seed`` (``None`` when no
    seed is finished; ``std`` and ``ci95`` ``None`` with one seed). The comparisons come from
    :func:`with_comparisons`. Without a ``study`` (a sweep started with a given ``lr``) there are
    no reference lines. ``settings`` (``{method: {"label", "hparams"}}``, see
    :func:`~.sweep_plan.study_settings`) is what every run trained with; ``code_fingerprint`` is
    :func:`~ldrrld_core.provenance.numbers_fingerprint` of the code that ran.
    """
    settings = {m: dict(s) for m, s in (settings or {}).items()}
    ldrrld_hparams = settings.get("ldrrld", NO_SETTING)["hparams"]
    finished = _Finished(done, list(config.seeds))
    recipe = study_recipe(config.study)
    entries = [_point_entry(point, finished, recipe, ldrrld_hparams) for point in points]
    sweep = _rounded(
        {
            "points": entries,
            "references": _references(config, study, finished, settings),
            "protocol": _protocol(
                config,
                dropped,
                study,
                study_path=study_path,
                lr=lr,
                lr_rule=lr_rule,
                lr_selection=lr_selection,
                teacher=teacher,
                settings=settings,
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
    sweep["code"] = {"commit": commit, "fingerprint": code_fingerprint}
    return with_comparisons(sweep)


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
            if (name, seed) in self.done and not diverged(self.done[name, seed])
        ]

    def seed_status(self, name: str) -> dict[str, Any]:
        """How many seeds finished, which are missing and which diverged (left out of ``per_seed``)."""
        finished = [seed for seed in self.seeds if (name, seed) in self.done]
        return {
            "status": _status(len(finished), len(self.seeds)),
            "missing_seeds": [seed for seed in self.seeds if seed not in finished],
            "diverged_seeds": [seed for seed in finished if diverged(self.done[name, seed])],
        }


def _point_entry(point: tuple[int, float, float], finished: _Finished, recipe, hparams: Mapping) -> dict[str, Any]:
    """One grid point of ``sweep.json``: its settings, seeds and summaries (comparisons come later)."""
    name = point_name(point)
    per_seed = finished.runs(name)
    alpha = create_loss("ldrrld", **point_options(recipe, point, hparams)).alpha
    return {
        "depth": point[0],
        "decay": point[1],
        "temperature": point[2],
        "name": name,
        "local_scale": local_term_scale(*point[:2], temperature=point[2], alpha=alpha)["total"],
        **finished.seed_status(name),
        "per_seed": per_seed,
        **_summaries(per_seed, MEASURES),
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
    settings: Mapping[str, Mapping],
) -> dict[str, Any]:
    """What every run of the sweep shares: the problem, seeds, rate, setting, grid, measures and teacher."""
    recipe = study_recipe(config.study)
    return {
        "problem": recipe.name,
        "epochs": recipe.epochs,
        "validation_fraction": recipe.validation_fraction,
        "seeds": list(config.seeds),
        "lr": lr,
        "lr_rule": lr_rule,
        "lr_selection": lr_selection,
        "settings": dict(settings),
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


def _references(
    config: SweepConfig, study: Mapping | None, finished: _Finished, settings: Mapping[str, Mapping]
) -> dict[str, dict]:
    """The baselines' lines: each method's study numbers, and its own runs on the sweep's seeds, each
    labelled with the runs it comes from."""
    references = {}
    for method in ("ce", "kd", "dkd", "ldrrld"):
        if study is None or method not in study["methods"]:
            continue
        entry = study["methods"][method]
        seeds = [s["seed"] for s in entry["per_seed"]]
        reference = {
            "lr": entry["lr"],
            "study": {
                "source": study_source(seeds),
                "seeds": seeds,
                "test_top1_last": entry["test_top1_last"],
                "test_top1_best_val": entry["test_top1_best_val"],
            },
        }
        if method in settings:
            reference["setting"] = settings[method]
        if method in config.references:
            per_seed = finished.runs(f"reference-{method}")
            reference.update(
                runs_source=runs_source(config.seeds),
                **finished.seed_status(f"reference-{method}"),
                per_seed=per_seed,
                **_summaries(per_seed, MEASURES),
            )
        references[method] = reference
    return references


# ------------------------------------------------------------------------------ comparisons
def _significant(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{_DIGITS}g}")
    if isinstance(value, list):
        return [_significant(v) for v in value]
    if isinstance(value, dict):
        return {k: _significant(v) for k, v in value.items()}
    return value


def _differences(per_seed: Sequence[Mapping], baseline: Sequence[Mapping], measure: str) -> list[float]:
    """``per_seed - baseline`` of ``measure`` on the seeds both have, in ``per_seed``'s order."""
    base = {s["seed"]: s[measure] for s in baseline}
    return [s[measure] - base[s["seed"]] for s in per_seed if s["seed"] in base]


def _family(
    name: str, comparisons: Mapping[tuple[str, str], Sequence[float]], *, measure: str, what: str
) -> tuple[dict, dict[tuple[str, str], dict]]:
    """Holm within one family: its description, and each comparison's verdict as ``sweep.json`` keeps it."""
    family = {"measure": measure, "size": len(comparisons), "adjustment": "Holm", "power": POWER, "what": what}
    verdicts = paired_verdicts(comparisons) if comparisons else []
    found = {(v.first, v.second): {**v.as_dict(), "family": name} for v in verdicts}
    return family, {key: _significant(value) for key, value in found.items()}


def _collapse(sweep: Mapping) -> dict | None:
    """The rule that flags a collapsed seed, from CE's study interval; ``None`` without one."""
    ce = sweep["references"].get("ce")
    ci95 = ce["study"]["test_top1_last"].get("ci95") if ce else None
    if not ci95:
        return None
    return {
        "threshold": ci95[0],
        "measure": COMPARED,
        "rule": (
            f"last-epoch test top-1 below {ci95[0]:.2f}, the low end of the 95% interval of CE (the student "
            f"trained alone; {ce['study']['source']}): the distilled student learned less than one taught by "
            "no teacher"
        ),
    }


def with_comparisons(sweep: Mapping) -> dict:
    """``sweep`` with every comparison recomputed from its per-seed records (a new dict).

    Sets each point's ``delta_vs_default``, ``delta_vs_kd`` and ``collapsed_seeds``, and the
    top-level ``depth_steps``, ``families`` and ``collapse``. A comparison needs two or more seeds
    that both sides finished; otherwise it is ``None`` and not in its family. Each verdict holds
    ``n``, ``mean``, ``ci95``, ``p`` (paired t-test), ``p_holm`` (within its family), ``detectable``
    (the true gap the seeds detect with 80% power), ``direction`` (``0`` unless Holm-adjusted p <
    0.05 and the interval excludes 0) and ``sentence`` (``depth_steps`` have none: they are not in
    points of accuracy).
    """
    sweep = copy.deepcopy(dict(sweep))
    protocol, points = sweep["protocol"], sweep["points"]
    default = protocol["default"]
    default_name = point_name((default["depth"], default["decay"], default["temperature"]))
    by_name = {p["name"]: p for p in points}
    default_runs = by_name[default_name]["per_seed"] if default_name in by_name else []
    kd = sweep["references"].get("kd", {})
    kd_label = f"KD ({kd['runs_source']})" if "runs_source" in kd else None

    def paired(baseline: Sequence[Mapping], second: str, skip: str | None = None) -> dict:
        pairs = {}
        for point in points:
            differences = _differences(point["per_seed"], baseline, COMPARED)
            if point["name"] != skip and len(differences) >= 2:
                pairs[point["name"], second] = differences
        return pairs

    families = {}
    families["vs_default"], vs_default = _family(
        "vs_default",
        paired(default_runs, "the default point", skip=default_name),
        measure=COMPARED,
        what=f"every other point - the default point ({default_name}), paired by seed",
    )
    families["vs_kd"], vs_kd = _family(
        "vs_kd",
        paired(kd.get("per_seed", []), kd_label) if kd_label else {},
        measure=COMPARED,
        what=f"every point - {kd_label}, paired by seed" if kd_label else "no KD reference runs",
    )
    steps, families["depth_steps"], step_verdicts = _depth_steps(sweep)
    collapse = _collapse(sweep)
    for point in points:
        point["delta_vs_default"] = vs_default.get((point["name"], "the default point"))
        point["delta_vs_kd"] = vs_kd.get((point["name"], kd_label))
        point["collapsed_seeds"] = (
            [s["seed"] for s in point["per_seed"] if s[COMPARED] < collapse["threshold"]] if collapse else []
        )
    sweep["depth_steps"] = [
        {**step, **{k: v for k, v in step_verdicts[step["first"], step["second"]].items() if k != "sentence"}}
        for step in steps
    ]
    sweep["families"] = families
    sweep["collapse"] = collapse
    sweep["grid_tests"] = grid_tests(sweep)
    return sweep


def _omnibus(sweep: Mapping, measure: str) -> dict[str, Any] | None:
    """The randomised-block F test that every point of the grid whose seeds all finished has one mean of
    ``measure`` (:func:`~.stats.block_anova`; seeds are the blocks), with the minimum detectable paired
    difference at the pooled spread; ``None`` with fewer than 2 such points or 2 seeds."""
    seeds = sweep["protocol"]["seeds"]
    rows, names = [], []
    for point in sweep["points"]:
        by_seed = {s["seed"]: s[measure] for s in point["per_seed"]}
        if all(seed in by_seed for seed in seeds):
            rows.append([by_seed[seed] for seed in seeds])
            names.append(point["name"])
    if len(rows) < 2 or len(seeds) < 2:
        return None
    found = block_anova(rows)
    paired_sd = math.sqrt(2) * found["error_sd"]
    return {
        **found,
        "points": len(rows),
        "seeds": len(seeds),
        "paired_sd": paired_sd,
    }


def grid_tests(sweep: Mapping) -> dict[str, Any]:
    """What the grid as a whole shows, from its per-seed records: the omnibus F test of the grid for the
    compared accuracy and for Kendall tau (:func:`_omnibus`), Holm over every comparison of every
    family together (``holm_all``: the sweep's own multiplicity, beside Holm within each family), and
    the true paired gap the seeds detect with 80% power at the pooled spread, at level 0.05 and at the
    level of Holm's first step over all the sweep's tests (``detectable``)."""
    rows = []
    for point in sweep["points"]:
        for key in ("delta_vs_default", "delta_vs_kd"):
            verdict = point.get(key)
            if verdict:
                rows.append(
                    {
                        "family": verdict["family"],
                        "first": verdict["first"],
                        "second": verdict["second"],
                        "p": verdict["p"],
                        "p_holm": verdict["p_holm"],
                    }
                )
    for step in sweep.get("depth_steps") or []:
        rows.append(
            {
                "family": "depth_steps",
                "first": step["first"],
                "second": step["second"],
                "p": step["p"],
                "p_holm": step["p_holm"],
            }
        )
    for row, adjusted in zip(rows, holm([row["p"] for row in rows])):
        row["p_holm_all"] = adjusted
    rows.sort(key=lambda row: row["p"])
    omnibus = {measure: _omnibus(sweep, measure) for measure in (COMPARED, STEP_MEASURE)}
    detectable = {}
    top1 = omnibus[COMPARED]
    if top1 and top1["paired_sd"] > 0 and rows:
        n = top1["seeds"]
        detectable = {
            "measure": COMPARED,
            "seeds": n,
            "paired_sd": top1["paired_sd"],
            "at_0.05": minimum_detectable_difference(n, top1["paired_sd"], power=POWER, alpha=ALPHA),
            "at_holm_first_step": minimum_detectable_difference(
                n, top1["paired_sd"], power=POWER, alpha=ALPHA / len(rows)
            ),
        }
    return _significant(
        {
            "omnibus": omnibus,
            "holm_all": {"size": len(rows), "resolved": [r for r in rows if r["p_holm_all"] < ALPHA], "rows": rows},
            "detectable": detectable,
        }
    )


def _depth_steps(sweep: Mapping) -> tuple[list[dict], dict, dict]:
    """Kendall tau at each depth - at the next smaller grid depth, per decay at the default ``T``."""
    protocol = sweep["protocol"]
    temperature = protocol["default"]["temperature"]
    depths = [d for d in protocol["depths"] if d not in protocol["depths_dropped_above_num_classes"]]
    by_name = {p["name"]: p for p in sweep["points"]}
    steps, comparisons = [], {}
    for decay in protocol["decays"]:
        for low, high in zip(depths, depths[1:]):
            lower, upper = (by_name.get(point_name((d, decay, temperature))) for d in (low, high))
            if lower is None or upper is None:
                continue
            differences = _differences(upper["per_seed"], lower["per_seed"], STEP_MEASURE)
            if len(differences) >= 2:
                steps.append(
                    {
                        "decay": decay,
                        "from_depth": low,
                        "to_depth": high,
                        "first": upper["name"],
                        "second": lower["name"],
                    }
                )
                comparisons[upper["name"], lower["name"]] = differences
    family, verdicts = _family(
        "depth_steps",
        comparisons,
        measure=STEP_MEASURE,
        what=f"{STEP_MEASURE} at each depth - at the next smaller depth of the grid, per decay, T {temperature:g}",
    )
    return steps, family, verdicts
