"""From per-epoch histories to the reported numbers, the markdown report and the figure.

:func:`build_results` makes the content of ``results.json``; every summary in it is computed
from the per-seed numbers stored beside it (:func:`~ldrrld_core.study.stats.summarize`,
:func:`~ldrrld_core.study.stats.paired_difference`), so a reader can recompute it.
:func:`render` turns a ``results.json`` into ``results.md`` and ``results.png``.

Accuracies are percentages. For every method and seed, ``test_top1_last`` is the test top-1
after the last epoch and ``test_top1_best_val`` the test top-1 at the epoch of highest validation
top-1 (the first such epoch). Paired differences are taken seed by seed on ``test_top1_last``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_text, read_json
from ..provenance import source_commit
from ..tables import difference, interval, markdown_table, mean_std, text_table, wrap
from .stats import paired_difference, standard_error, summarize
from .tuning import DEFAULT_TUNING, edges, tuning_to_dict
from .verdicts import disagreements, framed_sentence, paired_verdicts

__all__ = [
    "PAPER_ORDER",
    "source_commit",
    "build_results",
    "study_fingerprint",
    "verdict",
    "shown_verdict",
    "shown_comparisons",
    "format_p",
    "results_table",
    "results_text",
    "render_markdown",
    "plot_results",
    "results_figure",
    "plot_selection",
    "compare_methods",
    "schedule_check",
    "is_level",
    "not_level",
    "shown_schedule_check",
    "LEVEL_RULE",
    "render",
    "load_results",
    "chosen_recipe",
    "EVERY_METHOD",
    "preset_recipe",
    "method_recipes",
    "point_labels",
    "is_evidence",
]

#: The paper's ordering, best first.
PAPER_ORDER = ("ldrrld", "dkd", "kd", "ce")
_LABELS = {
    "ce": "CE",
    "kd": "KD",
    "kd-mdistiller": "KD (mdistiller)",
    "dkd": "DKD",
    "ldrrld": "LDRRLD",
    "dist": "DIST",
    "lskd": "LSKD",
    "wttm": "WTTM",
    "ctkd": "CTKD",
    "tekap": "TeKAP",
    "sdd": "SDD",
}
_MEANING = {
    "ce": "student alone (cross-entropy)",
    "kd": "KD, Hinton: CE + T² KL (weights 1, 1)",
    "kd-mdistiller": "KD, mdistiller's CIFAR setting (0.1 CE + 0.9 T² KL)",
    "dkd": "DKD (Zhao et al.)",
    "ldrrld": "LDRRLD, full (ADW)",
    "dist": "DIST (Huang et al.): Pearson relations per sample and per class",
    "lskd": "LSKD (Sun et al.): KD on standardised logits",
    "wttm": "WTTM (Zheng & Yang): weighted transformed-teacher matching",
    "ctkd": "CTKD (Li et al.): KD at a learned, adversarial temperature",
    "tekap": "TeKAP (Hossain et al.): KD from the teacher and 3 noisy copies",
    "sdd": "SDD (Wei et al.): KD on a spatial pyramid of region logits",
}


def _label(method: str) -> str:
    return _LABELS.get(method, method)


def _rounded(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    return value


def _per_seed(seed: int, rows: list[dict]) -> dict[str, Any]:
    val = [row["val_top1"] for row in rows]
    best = max(range(len(val)), key=lambda i: (val[i], -i))  # the first epoch of highest validation top-1
    return {
        "seed": seed,
        "test_top1_last": rows[-1]["test_top1"],
        "test_top1_best_val": rows[best]["test_top1"],
        "best_val_epoch": rows[best]["epoch"],
        "val_top1_by_epoch": val,
    }


def _device_name(device: str) -> str:
    if torch.device(device).type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"{device} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


#: The teacher's record as ``results.json`` keeps it.
TEACHER_FIELDS = (
    "model",
    "train_top1",
    "val_top1",
    "test_top1",
    "epochs",
    "plateaued",
    "rule",
    "key",
    "sha256",
    "val_top1_by_epoch",
)


#: The schedule check: a method's validation accuracy is level in a phase of the schedule (before
#: the first rate drop, and after the last) when the upper end of the 95% Student-t interval (over
#: seeds) of its rise per ``LEVEL_WINDOW`` epochs over the second half of that phase is at most
#: ``LEVEL_BOUND`` points: a rise that the seeds cannot bound below half a point per 5 epochs is
#: "still rising", whatever its mean. A seed's rise is ``LEVEL_WINDOW`` times the least-squares
#: slope of its curve there; the seed-mean curve's rise is their mean.
LEVEL_WINDOW, LEVEL_BOUND = 5, 0.5

#: The rule in words, as the rendered pages and the terminal state it.
LEVEL_RULE = (
    f"level when the upper end of the 95% interval (over seeds) of the rise per {LEVEL_WINDOW} epochs is at most "
    f"{LEVEL_BOUND:g} point; with one seed, when the rise itself is"
)


def _trend(curves: Sequence[Sequence[float]], start: int, stop: int) -> dict[str, Any] | None:
    """The rise per ``LEVEL_WINDOW`` epochs over the second half of ``curves[:, start:stop]``: that of
    the seed-mean curve, which is the mean of the seeds' own least-squares rises (``rise``), with
    their standard error (``se``), its 95% Student-t interval over the seeds (``ci95``; ``None`` with
    one seed) and the 1-based epochs it covers (``epochs``); ``None`` when that half holds fewer than
    3 epochs."""
    first = start + (stop - start) // 2
    if stop - first < 3:
        return None
    epochs = range(first, stop)
    rises = [LEVEL_WINDOW * statistics.linear_regression(epochs, curve[first:stop]).slope for curve in curves]
    return {
        "rise": statistics.fmean(rises),
        "se": standard_error(rises),
        "ci95": summarize(rises)["ci95"],
        "epochs": [first + 1, stop],
    }


def is_level(trend: Mapping | None) -> bool:
    """Whether one phase's trend (:func:`_trend`) is level by :data:`LEVEL_RULE`: the upper end of its
    95% interval at most :data:`LEVEL_BOUND`, or, with one seed (no interval), its rise; a phase too
    short to judge (``None``) counts as level. A stored trend without ``ci95`` (written before the rule
    took the interval) is judged by its rise alone: :func:`schedule_markdown` recomputes the check
    from the stored curves rather than read such a trend."""
    if trend is None:
        return True
    if trend.get("ci95") is not None:
        return trend["ci95"][1] <= LEVEL_BOUND
    return trend["rise"] <= LEVEL_BOUND


def schedule_check(methods: Mapping[str, Mapping], decay_epochs: Sequence[int]) -> dict[str, dict[str, Any]]:
    """For every method, whether its validation accuracy is level before the first rate drop and at
    the end (:data:`LEVEL_RULE`): ``{"before_drop", "at_end", "level"}``, each phase's
    :func:`_trend` (``None``: too few epochs, or no drop, which counts as level).

    ``decay_epochs`` as the recipe gives them: the rate drops *after* each
    (:func:`~ldrrld_core.train.schedule.learning_rate`), so the first phase ends with epoch
    ``min(decay_epochs)`` and the last starts after ``max(decay_epochs)``. The slope over half a
    phase, rather than two short windows, keeps the estimate's noise below the bound at a high
    learning rate, where single epochs swing by several points; on a curve that still bends
    upwards it overstates the final rise, so it errs towards "not level".
    """
    checks = {}
    for method, entry in methods.items():
        curves = [s["val_top1_by_epoch"] for s in entry["per_seed"]]
        epochs = len(curves[0])
        before = _trend(curves, 0, min(decay_epochs)) if decay_epochs else None
        end = _trend(curves, max(decay_epochs) if decay_epochs else 0, epochs)
        level = is_level(before) and is_level(end)
        checks[method] = {"before_drop": before, "at_end": end, "level": level}
    return checks


def _comparisons(methods: Mapping[str, Mapping]) -> list[tuple[str, str]]:
    """Every pair of methods, the better-in-the-paper first: the study's family for Holm."""
    order = [m for m in PAPER_ORDER if m in methods] + [m for m in methods if m not in PAPER_ORDER]
    return [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]


def compare_methods(methods: Mapping[str, Mapping]) -> dict[str, Any]:
    """Paired verdicts of every pair of methods, Holm-adjusted within the study, for both the
    last-epoch and the best-val-epoch test top-1, and the comparisons where the two disagree."""
    families = {}
    for measure in ("test_top1_last", "test_top1_best_val"):
        differences = {}
        for first, second in _comparisons(methods):
            a = {s["seed"]: s[measure] for s in methods[first]["per_seed"]}
            b = {s["seed"]: s[measure] for s in methods[second]["per_seed"]}
            differences[_label(first), _label(second)] = [a[seed] - b[seed] for seed in a]
        families[measure] = paired_verdicts(differences)
    last, best = families["test_top1_last"], families["test_top1_best_val"]
    return {
        "family": "every pair of methods, Holm within the study",
        "last_epoch": [_stored_verdict(v) for v in last],
        "best_val": [_stored_verdict(v) for v in best],
        "disagreements": [d.sentence for d in disagreements(last, best)],
    }


def _stored_verdict(v) -> dict[str, Any]:
    """A verdict as results.json keeps it: numbers to 4 decimals, p-values to 4 significant digits
    (a p of 2.5e-05 stays 2.5e-05, not 0)."""
    return _rounded(v.as_dict()) | {"p": float(f"{v.p:.4g}"), "p_holm": float(f"{v.p_holm:.4g}")}


def _tuning_record(config, selection: Mapping[str, list[dict]], runs) -> tuple[dict, dict]:
    """Every point each method tried (as ``protocol.tried`` keeps it) and each method's entry: its
    chosen rate and setting, where that sits in the grid, and its per-seed numbers."""
    tried: dict[str, list[dict]] = {}
    methods: dict[str, Any] = {}
    for method, entries in selection.items():
        axes = config.tuning[method]
        best = entries[0]["point"]
        tried[method] = [
            {
                "lr": e["point"].lr,
                "setting": e["point"].setting_label(axes),
                "hparams": e["point"].loss_hparams(axes),
                "score": e["score"],
                "se": e["se"],
                "scores": e["scores"],
                "round": e["round"],
            }
            for e in entries
        ]
        methods[method] = {
            "lr": best.lr,
            "setting": {"label": best.setting_label(axes), "hparams": best.loss_hparams(axes)},
            "edges": edges(best, axes, [e["point"] for e in entries]),
            "selection_runs": len(entries) * len(config.selection_seeds),
            "per_seed": [_rounded(_per_seed(seed, runs[method][seed])) for seed in config.seeds],
        }
    return tried, methods


def build_results(
    *,
    config,
    recipe,
    teacher: Mapping,
    lr_grid: list[float],
    selection: Mapping[str, list[dict]],
    runs: Mapping[str, Mapping[int, list[dict]]],
    device: str,
    threads: int,
    command: str | None,
    commit: str | None,
    seconds: float,
    train_seconds: float,
) -> dict[str, Any]:
    """The content of ``results.json`` (see the module docstring and ``docs/results.md``).

    Args:
        config: the :class:`~ldrrld_core.study.protocol.StudyConfig`.
        recipe: the students' recipe (before the per-run loss, setting, lr and seed).
        teacher: the record of :func:`~ldrrld_core.study.teacher.converged_teacher`.
        lr_grid: the learning rates of the first grid.
        selection: method -> every point tried, best first (:func:`~.protocol.select_points`).
        runs: method -> seed -> the history rows at the chosen point.
        command, commit, seconds: what ran, from which source (:func:`source_commit` when the
            study started) and for how long (wall clock of this call, which reuses finished runs).
        train_seconds: the training time of the teacher (its final schedule) and of every run
            (all points), summed, whenever they ran. Both go into ``fingerprint``.
    """
    from ..provenance import numbers_fingerprint

    seeds = list(config.seeds)
    tried, methods = _tuning_record(config, selection, runs)
    last = {method: [s["test_top1_last"] for s in entry["per_seed"]] for method, entry in methods.items()}
    for method, entry in methods.items():
        entry["test_top1_last"] = summarize(last[method])
        entry["test_top1_best_val"] = summarize([s["test_top1_best_val"] for s in entry["per_seed"]])
        entry["delta_vs_ce"] = paired_difference(last[method], last["ce"])
        entry["delta_vs_kd"] = paired_difference(last[method], last["kd"])
    results = {
        "protocol": {
            "selection": "validation",
            "validation_fraction": recipe.validation_fraction,
            "lr_grid": lr_grid,
            "epochs": recipe.epochs,
            "seeds": seeds,
            "problem": recipe.name,
            "pair": f"{recipe.teacher} -> {recipe.model}",
            "teacher": {key: teacher[key] for key in TEACHER_FIELDS},
            "selection_seeds": list(config.selection_seeds),
            "select_last": config.select_last,
            "max_widenings": config.max_widenings,
            "tuning": tuning_to_dict(config.tuning),
            "tried": tried,
            "recipe": recipe.to_dict(),
        },
        "methods": methods,
    }
    results = _rounded(results)
    results["comparisons"] = compare_methods(results["methods"])
    results["schedule_check"] = _rounded(schedule_check(results["methods"], recipe.decay_epochs))
    results["verdict"] = verdict(results["comparisons"], list(results["methods"]))
    results["fingerprint"] = study_fingerprint(
        device=device,
        threads=threads,
        command=command,
        commit=commit,
        code=numbers_fingerprint(),
        seconds=seconds,
        train_seconds=train_seconds,
    )
    return results


def study_fingerprint(
    *,
    device: str,
    threads: int,
    command: str | None,
    commit: str | None,
    code: str | None,
    seconds: float,
    train_seconds: float,
) -> dict[str, Any]:
    """A study's ``results.json`` fingerprint: what ran, where, from which code, and for how long, with
    the numeric environment of the process that wrote it (:func:`~ldrrld_core.provenance.numeric_environment`:
    torch's threads, ATen's CPU capability and the variables that change numerics), so a rerun that
    differs bitwise can be told why. Provenance only: no run's identity depends on it. ``threads`` is
    the torch thread count each run was given."""
    from ..provenance import numeric_environment

    return {
        "torch": torch.__version__,
        "device": _device_name(device),
        "commit": commit,
        "code": code,
        "threads": threads,
        "numeric_environment": numeric_environment(),
        "seconds": round(seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "command": command,
    }


def _environment_sentence(finger: Mapping) -> str:
    """The fingerprint's numeric environment in words, or a note that the file predates it."""
    env = finger.get("numeric_environment")
    if not env:
        return " Its numeric environment (ATen's CPU capability, the variables that change numerics) was not recorded."
    fixed = {"threads", "interop_threads", "cpu_capability"}
    set_variables = ", ".join(f"{k}={v}" for k, v in env.items() if k not in fixed and v is not None)
    return (
        f" Numeric environment of the process that wrote it: ATen CPU capability {env.get('cpu_capability')}, "
        f"{env.get('threads')} torch thread(s) ({env.get('interop_threads')} inter-op); "
        f"variables that change numerics: {set_variables or 'none set'}."
    )


def verdict(comparisons: Mapping[str, Any], methods: Sequence[str], *, framed: bool = False) -> str:
    """One paragraph: does the paper's ordering (LDRRLD > DKD > KD > CE) hold here?

    Each neighbouring step of the ordering among ``methods`` is read from the study's Holm-adjusted
    last-epoch verdicts (:func:`compare_methods`): resolved in the paper's direction, resolved
    against it, or a bound. The ordering holds only if every step is resolved in its direction.
    Comparisons where the best-val-epoch verdict differs are named after it. With ``framed`` each
    unresolved step opens with what its seeds can tell (:func:`~.verdicts.framed_sentence`) and the
    steps are sentences of their own, as a reader meets them (:func:`shown_verdict`); ``results.json``
    keeps the unframed paragraph.
    """
    present = [m for m in PAPER_ORDER if m in methods]
    by_name = {(v["first"], v["second"]): v for v in comparisons["last_epoch"]}
    steps = [by_name[_label(better), _label(worse)] for better, worse in zip(present, present[1:])]
    directions = [step["direction"] for step in steps]
    if all(d > 0 for d in directions):
        outcome = "holds"
    elif any(d < 0 for d in directions):
        outcome = "does not hold"
    else:
        outcome = "is not resolved"
    n, family = steps[0]["n"], len(comparisons["last_epoch"])
    text = (
        f"The paper's ordering {' > '.join(_label(m) for m in present)} {outcome} here "
        f"(last-epoch test top-1, paired over {n} seeds, Holm over {family} comparisons). "
        + (". " if framed else "; ").join(framed_sentence(step) if framed else step["sentence"] for step in steps)
        + "."
    )
    if comparisons["disagreements"]:
        text += " The best-val-epoch accuracy disagrees: " + "; ".join(comparisons["disagreements"]) + "."
    return text


def shown_verdict(results: Mapping) -> str:
    """The study's verdict as the terminal and the rendered pages show it: :func:`verdict` with each
    unresolved step framed by what its seeds can tell ("With 2 seeds these runs cannot tell DKD and
    KD apart: DKD is at most ..."), rebuilt from the stored comparisons; the stored paragraph when a
    file has no per-comparison verdicts to rebuild it from."""
    comparisons = shown_comparisons(results)
    if not comparisons.get("last_epoch") or "disagreements" not in comparisons:
        return results["verdict"]
    return verdict(comparisons, list(results["methods"]), framed=True)


def shown_comparisons(results: Mapping) -> dict[str, Any]:
    """The study's paired verdicts as the current code states them (:func:`compare_methods`, with each
    comparison's Holm-adjusted interval), recomputed from the stored per-seed accuracies; the stored
    ones when a file lacks them. The numbers are the stored ones: only what is said of them can change."""
    methods = results.get("methods") or {}
    stored = results.get("comparisons") or {}
    per_seed = [s for entry in methods.values() for s in entry.get("per_seed", [])]
    measures = ("seed", "test_top1_last", "test_top1_best_val")
    if len(methods) >= 2 and per_seed and all(all(k in s for k in measures) for s in per_seed):
        return compare_methods(methods)
    return stored


def paired_gap(comparisons: Sequence[Mapping], method: str, base: str) -> tuple[float, list[float], bool]:
    """``method - base`` from a family of paired verdicts: ``(mean, 95% interval, resolved after Holm)``."""
    for entry in comparisons:
        if {entry["first"], entry["second"]} == {_label(method), _label(base)}:
            sign = 1 if entry["first"] == _label(method) else -1
            return sign * entry["mean"], sorted(sign * bound for bound in entry["ci95"]), bool(entry["direction"])
    raise ValueError(f"the study compares no pair {method} - {base}")


def results_text(results: Mapping, methods: Sequence[str] | None = None) -> str:
    """The headline numbers as a text table for a terminal: each method's last-epoch test top-1
    (mean ± std over seeds) and its paired differences to CE and KD with their 95% intervals, a
    ``*`` on each one that Holm's adjustment resolves (as the verdict does), and a line saying so."""
    comparisons = shown_comparisons(results)["last_epoch"]
    rows = []
    for method in methods or list(results["methods"]):
        entry = results["methods"][method]
        last = entry["test_top1_last"]
        deltas = []
        for base in ("ce", "kd"):
            if method == base:
                deltas.append("–")
                continue
            mean, interval, resolved = paired_gap(comparisons, method, base)
            deltas.append(difference(mean, interval) + (" *" if resolved else "  "))
        rows.append([method, f"{entry['lr']:g}", mean_std(last["mean"], last["std"]), *deltas])
    header = ["method", "lr", "test top-1 (%)", "vs ce, paired 95% CI", "vs kd, paired 95% CI"]
    legend = (
        f"Intervals are per comparison (unadjusted); * marks a gap resolved after Holm's adjustment over the "
        f"study's {len(comparisons)} comparisons, the adjustment the verdict uses."
    )
    return "\n".join([text_table(header, rows, right=[False, True, True, True, True]), *wrap(legend, 96)])


def results_table(results: Mapping) -> str:
    """The headline table (``docs/benchmarks.md`` and ``results.md`` show exactly this)."""
    rows = []
    for method, entry in results["methods"].items():
        last, best = entry["test_top1_last"], entry["test_top1_best_val"]
        deltas = [
            "–" if method == base else difference(entry[key]["mean"], entry[key]["ci95"])
            for base, key in (("ce", "delta_vs_ce"), ("kd", "delta_vs_kd"))
        ]
        rows.append(
            [
                method,
                f"{entry['lr']:g}",
                entry.get("setting", {}).get("label", "default"),
                mean_std(last["mean"], last["std"]),
                interval(last["ci95"]),
                mean_std(best["mean"], best["std"]),
                *deltas,
            ]
        )
    return markdown_table(
        [
            "method",
            "lr",
            "setting",
            "test top-1, last epoch (%)",
            "95% CI",
            "test top-1, best-val epoch (%)",
            "vs CE, paired (95% CI)",
            "vs KD, paired (95% CI)",
        ],
        rows,
    )


def _grid_edges(results: Mapping) -> str:
    """A caveat naming the chosen values that sit at an end of what was tried (none after widening)."""
    found = [
        f"{_label(m)} {name} at the {side} value tried"
        for m, e in results["methods"].items()
        for name, side in e.get("edges", {}).items()
    ]
    if not found:
        return " Every chosen value has a tried neighbour on both sides of every numeric axis."
    return f" At an edge after {results['protocol']['max_widenings']} widenings: {', '.join(found)}."


def format_p(p: float) -> str:
    """A p-value for a page: three significant digits, ``"< 0.001"`` below 0.001 (never ``"0"``)."""
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def _verdict_rows(family: Sequence[Mapping]) -> list[list[str]]:
    return [
        [
            f"{v['first']} - {v['second']}",
            difference(v["mean"], v["ci95"]),
            "–" if v.get("ci_holm") is None else interval(v["ci_holm"], signed=True),
            format_p(v["p"]),
            format_p(v["p_holm"]),
            f"{v['detectable']:.2f}",
            {1: "first better", -1: "second better", 0: "not resolved"}[v["direction"]],
        ]
        for v in family
    ]


def comparisons_markdown(results: Mapping) -> str:
    """Both families of paired verdicts as tables, with the disagreements."""
    header = [
        "comparison",
        "mean [95% CI]",
        "Holm-adjusted interval",
        "p",
        "Holm p",
        "detectable at 80% power",
        "verdict",
    ]
    comparisons = shown_comparisons(results)
    lines = [
        "Last-epoch test top-1, paired by seed:",
        "",
        markdown_table(header, _verdict_rows(comparisons["last_epoch"])),
        "",
        "Best-val-epoch test top-1, paired by seed:",
        "",
        markdown_table(header, _verdict_rows(comparisons["best_val"])),
        "",
    ]
    if comparisons["disagreements"]:
        lines += ["Where the two disagree: " + "; ".join(comparisons["disagreements"]) + ".", ""]
    else:
        lines += ["The two measures agree on every comparison.", ""]
    return "\n".join(lines)


def selection_markdown(results: Mapping) -> str:
    """Every point each method tried, best first, with its score and standard error."""
    protocol = results["protocol"]
    lines = []
    for method, tried in protocol["tried"].items():
        entry = results["methods"][method]
        rows = [
            [
                t["setting"],
                f"{t['lr']:g}",
                f"{t['score']:.2f}",
                "–" if t["se"] is None else f"{t['se']:.2f}",
                " / ".join(f"{x:.1f}" for x in t["scores"]),
                t["round"],
            ]
            for t in tried
        ]
        margin = tried[0]["score"] - tried[1]["score"] if len(tried) > 1 else None
        lines += [
            f"**{_label(method)}**: chose {entry['setting']['label']}, lr {entry['lr']:g} "
            f"({entry['selection_runs']} selection runs"
            + (f"; margin over the runner-up {margin:.2f} points" if margin is not None else "")
            + ").",
            "",
            markdown_table(
                ["setting", "lr", "score (%)", "standard error", "per selection seed", "widening round"], rows
            ),
            "",
        ]
    return "\n".join(lines)


def _trend_cell(trend: Mapping | None) -> str:
    if trend is None:
        return "–"
    se = "" if trend["se"] is None else f" ± {trend['se']:.2f}"
    ci = "" if trend.get("ci95") is None else f", 95% CI [{trend['ci95'][0]:+.2f}, {trend['ci95'][1]:+.2f}]"
    return f"{trend['rise']:+.2f}{se}{ci} (epochs {trend['epochs'][0]}-{trend['epochs'][1]})"


def shown_schedule_check(results: Mapping) -> dict[str, dict[str, Any]]:
    """The schedule check by the current rule (:data:`LEVEL_RULE`), recomputed from the stored
    validation curves and the recipe's rate drops; the stored check when a file lacks them."""
    methods, recipe = results.get("methods") or {}, results.get("protocol", {}).get("recipe") or {}
    curves = all(s.get("val_top1_by_epoch") for e in methods.values() for s in e.get("per_seed", []))
    if methods and curves and "decay_epochs" in recipe:
        return schedule_check(methods, recipe["decay_epochs"])
    return results["schedule_check"]


def not_level(results: Mapping) -> list[str]:
    """Each method that fails :data:`LEVEL_RULE`, with the phase(s) and the upper end of the interval,
    e.g. ``"CE before the first drop (+0.90 ± 0.26, upper end +1.49)"``."""
    found = []
    for method, check in shown_schedule_check(results).items():
        for phase, name in (("before_drop", "before the first drop"), ("at_end", "at the end")):
            trend = check[phase]
            if is_level(trend):
                continue
            upper = trend["rise"] if trend.get("ci95") is None else trend["ci95"][1]
            se = "" if trend["se"] is None else f" ± {trend['se']:.2f}"
            found.append(f"{_label(method)} {name} ({trend['rise']:+.2f}{se}, upper end {upper:+.2f})")
    return found


def schedule_markdown(results: Mapping) -> str:
    """The schedule check as a table, by the current rule (:func:`shown_schedule_check`), and a line
    naming every method that fails it."""
    checks = shown_schedule_check(results)
    rows = [
        [_label(m), _trend_cell(c["before_drop"]), _trend_cell(c["at_end"]), "yes" if c["level"] else "no"]
        for m, c in checks.items()
    ]
    table = markdown_table(["method", "rise before the first drop", "rise at the end", "level"], rows)
    failing = not_level(results)
    note = (
        f"Still rising by this rule: {'; '.join(failing)}. Their last-epoch accuracy may understate what a "
        "longer schedule reaches, so a gap involving them is a gap at this schedule."
        if failing
        else "Every method is level by this rule."
    )
    return table + "\n\n" + note


def render_markdown(
    results: Mapping, plot_name: str | None = "results.png", level: int = 1, title: str | None = None
) -> str:
    """``results.md``: the protocol, the headline table, the verdicts, the selection and every seed.

    ``level`` is the heading level of the title (2 when the study is one part of the evidence set);
    ``title`` heads it (an evidence part's name, e.g. ``digits-same``; default: the recipe's name).
    """
    protocol, finger = results["protocol"], results["fingerprint"]
    h = "#" * level
    lines = [
        f"{h} {title or protocol['problem']}: `{protocol.get('pair', '')}`",
        "",
        "The study ran as "
        f"`{finger.get('command') or 'ldrrld study'}` on {finger['device']}, {finger['threads']} torch "
        f"thread(s) per run, torch {finger['torch']}, commit `{finger['commit']}`, code fingerprint "
        f"`{finger.get('code')}`; the teacher's final schedule and all runs took "
        f"{finger['train_seconds'] / 60:.0f} minutes of training in all." + _environment_sentence(finger),
        "",
        f"{h}# Protocol (the same for every method)",
        "",
        *_protocol_lines(results),
        "",
        f"{h}# Results",
        "",
        f"Test top-1 (%) over {len(protocol['seeds'])} seeds: mean ± sample standard deviation, 95% Student-t "
        "interval; differences are paired by seed on the last-epoch accuracy.",
        "",
        results_table(results),
        "",
        f"**Verdict.** {shown_verdict(results)}",
        "",
        f"{h}# Every comparison",
        "",
        "Each row is the mean per-seed difference with its 95% Student-t interval, the Student-t interval at "
        "the level Holm's step-down tests it at within this study (it excludes 0 exactly when the Holm p is "
        "below 0.05; an unresolved verdict's bound is read from it), the paired t-test's p, "
        "its Holm adjustment within this study, and the smallest true difference these seeds detect with "
        "80% power. A difference is called only when the Holm-adjusted p is below 0.05 and the interval "
        "excludes 0.",
        "",
        comparisons_markdown(results),
    ]
    lines += _figure_lines(plot_name)
    seeds = [
        [method, s["seed"], f"{s['test_top1_last']:.2f}", f"{s['test_top1_best_val']:.2f}", s["best_val_epoch"]]
        for method, entry in results["methods"].items()
        for s in entry["per_seed"]
    ]
    lines += [
        f"{h}# Schedule check",
        "",
        f"Validation top-1, rise per {LEVEL_WINDOW} epochs: {LEVEL_WINDOW} times the least-squares slope of the "
        "seed-mean curve over the second half of the phase before the first rate drop, and of the phase after "
        f"the last; ± its standard error over the seeds, and its 95% Student-t interval over the seeds. "
        f"The rule: {LEVEL_RULE}.",
        "",
        schedule_markdown(results),
        "",
        f"{h}# Selection",
        "",
        f"Score: validation top-1 averaged over the last {protocol['select_last']} epochs and over selection "
        f"seed(s) {', '.join(map(str, protocol['selection_seeds']))}; standard error over those seeds. "
        "Round 0 is the first grid; round k the k-th widening.",
        "",
        selection_markdown(results),
        f"{h}# Every seed",
        "",
        markdown_table(
            ["method", "seed", "test top-1, last epoch", "test top-1, best-val epoch", "best-val epoch"], seeds
        ),
    ]
    return "\n".join(lines) + "\n"


def _figure_lines(plot_name: str | None) -> list[str]:
    """The results picture and its caption, or nothing without a picture."""
    if not plot_name:
        return []
    return [
        f"![validation top-1 per epoch and paired differences to CE]({plot_name})",
        "",
        "Left: validation top-1 per epoch at each method's chosen point (line: mean over "
        "seeds, band: lowest to highest seed); the dashed line is the teacher, on its own "
        "validation split. Right: test top-1 "
        "minus the student alone, per seed (dots), with the mean and its 95% interval.",
        "",
    ]


def _protocol_lines(results: Mapping) -> list[str]:
    """The protocol's bullet points: problem, validation, teacher, tuning and seeds."""
    protocol = results["protocol"]
    teacher, recipe = protocol["teacher"], protocol["recipe"]
    data = ", ".join(f"{k}={v}" for k, v in recipe["data_options"].items()) or "defaults"
    teacher_data = ", ".join(f"{k}={v}" for k, v in recipe.get("teacher_data_options", {}).items())
    teacher_data = (
        f" on its own training set ({teacher_data}, with its own validation split)"
        if teacher_data
        else " on the students' own training images"
    )
    decays = ", ".join(map(str, recipe["decay_epochs"])) or "none"
    searches = "; ".join(
        f"{_label(m)}: the rate" + "".join(f", {a['name']} in {{{', '.join(map(str, a['values']))}}}" for a in axes)
        for m, axes in protocol["tuning"].items()
    )
    return [
        f"- **Problem**: `{recipe['teacher']}` -> `{recipe['model']}` on `{recipe['data']}` ({data}), "
        f"batch {recipe['batch_size']}, SGD momentum {recipe['momentum']}, "
        f"weight decay {recipe['weight_decay']}, "
        f"{recipe['warmup_epochs']} warm-up epochs, x{recipe['decay_rate']} after epoch(s) {decays}, "
        f"{protocol['epochs']} epochs for every student.",
        f"- **Validation**: {protocol['validation_fraction']:.0%} of every class of the training images is "
        "held out (fixed by the data seed); teacher and students train on the rest. The test split chooses "
        "nothing.",
        f"- **Teacher**: `{teacher['model']}` trained alone for {teacher['epochs']} epochs{teacher_data}; "
        "plateaued: "
        f"{'yes' if teacher['plateaued'] else 'no'} (best validation top-1 of the last "
        f"{teacher['rule']['window']} epochs at most {teacher['rule']['min_gain']} points above the best "
        f"before). Top-1: train {teacher['train_top1']:.2f}, validation {teacher['val_top1']:.2f}, "
        f"test {teacher['test_top1']:.2f}.",
        f"- **Tuning, alike for every method**: the first grid is the rates "
        f"{', '.join(f'{lr:g}' for lr in protocol['lr_grid'])} times each method's setting ({searches}); "
        f"then every numeric axis widens by factors of 2 past a chosen value at its edge (up to "
        f"{protocol['max_widenings']} times).{_grid_edges(results)}",
        f"- **Seeds**: selection {', '.join(map(str, protocol['selection_seeds']))}; evaluation "
        f"{', '.join(map(str, protocol['seeds']))} (disjoint). Within a seed every student starts from the "
        "same weights and sees the same data order.",
    ]


def plot_results(results: Mapping, path: str | os.PathLike) -> Path:
    """Save the two-panel figure (validation curves; paired differences to CE) as a PNG."""
    figure = results_figure(results)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def results_figure(results: Mapping):
    """The two-panel figure of :func:`plot_results` (a matplotlib ``Figure``): validation accuracy per
    epoch, each method's mean with its seeds' range, and each method's paired difference to CE. The
    legend sits under the panels, where it covers no curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(11, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    curves, deltas = figure.subplots(1, 2, width_ratios=(3, 2))
    colors = {method: f"C{i}" for i, method in enumerate(results["methods"])}
    for method, entry in results["methods"].items():
        by_seed = [s["val_top1_by_epoch"] for s in entry["per_seed"]]
        epochs = range(1, len(by_seed[0]) + 1)
        mean = [sum(values) / len(values) for values in zip(*by_seed)]
        curves.fill_between(
            epochs,
            [min(v) for v in zip(*by_seed)],
            [max(v) for v in zip(*by_seed)],
            color=colors[method],
            alpha=0.15,
            linewidth=0,
        )
        setting = entry.get("setting", {}).get("label", "default")
        label = f"{_label(method)} (lr {entry['lr']:g}{'' if setting == 'default' else ', ' + setting})"
        curves.plot(epochs, mean, color=colors[method], label=label)
    teacher = results["protocol"]["teacher"]
    curves.axhline(teacher["val_top1"], color="black", linestyle="--", linewidth=1, label=f"teacher {teacher['model']}")
    curves.set(xlabel="epoch", ylabel="validation top-1 (%)", title="Validation accuracy per epoch")
    curves.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # whole epochs, never 2.5
    # Under the panels: inside, the curves rise into any corner the legend could take.
    handles, labels = curves.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize="small")
    curves.grid(alpha=0.3)
    for i, (method, entry) in enumerate(results["methods"].items()):
        ce = {s["seed"]: s["test_top1_last"] for s in results["methods"]["ce"]["per_seed"]}
        points = [s["test_top1_last"] - ce[s["seed"]] for s in entry["per_seed"]]
        deltas.scatter([i] * len(points), points, color=colors[method], alpha=0.5, s=18)
        delta = entry["delta_vs_ce"]
        lo, hi = delta["ci95"]
        deltas.errorbar(
            [i + 0.15],
            [delta["mean"]],
            yerr=[[delta["mean"] - lo], [hi - delta["mean"]]],
            fmt="o",
            color=colors[method],
            capsize=4,
        )
    deltas.axhline(0, color="black", linewidth=1)
    deltas.set_xticks(range(len(results["methods"])), [_label(m) for m in results["methods"]])
    deltas.set(ylabel="test top-1 minus CE (points)", title="Paired difference to CE (95% CI)")
    deltas.grid(alpha=0.3, axis="y")
    return figure


def plot_selection(results: Mapping, path: str | os.PathLike) -> Path:
    """Save each method's selection curves (score against rate, one line per setting, standard
    error bars over the selection seeds; the chosen point ringed) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    tried = results["protocol"]["tried"]
    figure = Figure(figsize=(2.9 * len(tried), 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(tried), sharey=True, squeeze=False)[0]
    for ax, (method, points) in zip(axes, tried.items()):
        settings = list(dict.fromkeys(t["setting"] for t in points))
        for i, setting in enumerate(settings):
            line = sorted((t for t in points if t["setting"] == setting), key=lambda t: t["lr"])
            ax.errorbar(
                [t["lr"] for t in line],
                [t["score"] for t in line],
                yerr=[t["se"] or 0.0 for t in line],
                color=f"C{i}",
                marker="o",
                markersize=3,
                linewidth=1,
                capsize=2,
                label=setting,
            )
        best = points[0]
        ax.plot([best["lr"]], [best["score"]], "o", markersize=11, markerfacecolor="none", color="black")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.set(title=_label(method), xlabel="learning rate")
        ax.grid(alpha=0.3)
        if len(settings) > 1:
            ax.legend(fontsize=7, loc="lower center")
    axes[0].set_ylabel("selection score, validation top-1 (%)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    return path


def load_results(path: str | os.PathLike, part: str | None = None) -> dict:
    """Read one study's ``results.json`` (or the folder holding it) and check its top-level shape.

    An evidence set's ``results.json`` (``ldrrld study --evidence``, such as ``docs/results.json``)
    holds several studies: ``part`` names one (default: its headline study).
    """
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no results.json at {path}; run `ldrrld study --out-dir DIR` first")
    what = "a results.json written by `ldrrld study` (one study, or the evidence set of `--evidence`)"
    content = read_json(path, what=what)  # one read: an evidence set or one study
    if not isinstance(content, dict):
        raise ValueError(f"{path} holds a JSON {type(content).__name__}, not an object; it should be {what}")
    if "studies" in content:
        if "headline" not in content:
            raise ValueError(f"{path} lacks headline: it should be {what}")
        name = part or content["headline"]
        if name not in content["studies"]:
            raise ValueError(
                f"{path} holds the parts {', '.join(content['studies'])}, not {name!r}; choose one of them"
            )
        content = content["studies"][name]
    elif part is not None:
        raise ValueError(f"{path} holds one study, not an evidence set with parts; drop part={part!r}")
    missing = [key for key in ("protocol", "methods", "verdict", "fingerprint") if key not in content]
    if missing:
        raise ValueError(f"{path} is not a results.json written by `ldrrld study`: it lacks {', '.join(missing)}")
    return content


def is_evidence(path: Path) -> bool:
    """Whether ``path`` is an evidence set's ``results.json`` (several studies) rather than one study's."""
    try:
        return (
            path.is_file()
            and isinstance(content := json.loads(path.read_text(encoding="utf-8")), dict)
            and ("studies" in content)
        )
    except (OSError, ValueError):
        return False  # load_results says what is wrong with it


def chosen_recipe(recipe, results: Mapping, method: str):
    """``recipe`` for ``method`` at the point the study chose: its rate and its setting's loss hyperparameters."""
    entry = results["methods"][method]
    return recipe.with_loss(method, entry.get("setting", {}).get("hparams"), lr=float(entry["lr"]))


#: Every method a study knows how to tune (:data:`~.tuning.DEFAULT_TUNING`), in the order tables list
#: them: the student alone, KD, DKD and LDRRLD, then the baselines the seed compares against.
EVERY_METHOD: tuple[str, ...] = tuple(DEFAULT_TUNING)


def preset_recipe(recipe, results: Mapping, method: str, *, lr_of: str = "kd"):
    """``recipe`` for a method the study has not tuned: its loss at the registered preset (the authors'
    setting, with whatever ``recipe.loss_options`` gives that loss) and the learning rate the study
    chose for ``lr_of`` (KD: the plain distillation loss the presets are written against).

    Such a point is untuned: a student trained there shows what the method does out of the box,
    and its numbers are no ranking against the tuned methods. A method the study tuned is refused
    (:func:`chosen_recipe` gives its point).
    """
    tuned = results["methods"]
    if method in tuned:
        raise ValueError(f"the study tuned {method!r}: use chosen_recipe(recipe, results, {method!r}) for its point")
    if lr_of not in tuned:
        raise ValueError(f"lr_of={lr_of!r} names no method the study tuned; choose one of {', '.join(tuned)}")
    return recipe.with_loss(method, lr=float(tuned[lr_of]["lr"]))


def method_recipes(recipe, results: Mapping, methods: Sequence[str] = EVERY_METHOD, *, lr_of: str = "kd") -> dict:
    """``{method: recipe}`` in the order of ``methods``: a method the study tuned at the point it chose
    (:func:`chosen_recipe`), any other at its authors' preset and ``lr_of``'s rate (:func:`preset_recipe`)."""
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods names a method twice: {list(methods)}")
    return {
        method: chosen_recipe(recipe, results, method)
        if method in results["methods"]
        else preset_recipe(recipe, results, method, lr_of=lr_of)
        for method in methods
    }


def point_labels(results: Mapping, recipes: Mapping[str, Any], *, lr_of: str = "kd") -> dict[str, str]:
    """One short line per method saying where its recipe stands: ``"lr 0.4, T 2, weights hinton (tuned)"``
    for a method the study tuned, ``"lr 0.4 (KD's), authors' preset, untuned"`` for any other."""
    tuned = results["methods"]
    return {
        method: f"lr {recipe.lr:g}, {tuned[method].get('setting', {}).get('label', 'default')} (tuned)"
        if method in tuned
        else f"lr {recipe.lr:g} ({_label(lr_of)}'s), authors' preset, untuned"
        for method, recipe in recipes.items()
    }


def render(folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.png`` next to ``<folder>/results.json``; return both paths.

    An evidence set's folder (:func:`is_evidence`) is rendered by
    :func:`~.evidence_report.render_evidence` instead.
    """
    folder = Path(folder)
    results = load_results(folder)
    picture = plot_results(results, folder / "results.png")
    return atomic_write_text(render_markdown(results, picture.name), folder / "results.md"), picture
