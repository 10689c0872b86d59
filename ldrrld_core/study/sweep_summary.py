"""``sweep.json`` from the finished runs: every grid point, the reference lines, the protocol.

:func:`build_sweep` is a function of the finished runs alone (``done[(name, seed)]``, as the
run files hold them), so the file can be rebuilt at any moment of a sweep: every point is listed,
with the seeds finished, missing and diverged, each measure's mean, std and 95% interval over the
finished seeds, and differences paired by seed against the default point and against KD. The
reference lines are the baselines' numbers from the study and, for the methods the sweep also
trains, their own runs on the sweep's seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .protocol import study_recipe
from .report import _per_seed, _rounded
from .stats import paired_difference, summarize
from .sweep_plan import SweepConfig, local_term_scale
from .sweep_report import MEASURE_DEPTH, MEASURE_TEMPERATURE, MEASURES, point_name

__all__ = ["build_sweep", "diverged"]


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
