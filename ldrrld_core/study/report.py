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

import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_text, read_json
from ..provenance import source_commit
from ..tables import difference, interval, markdown_table, mean_std, text_table
from .stats import paired_difference, summarize

__all__ = [
    "PAPER_ORDER",
    "source_commit",
    "build_results",
    "verdict",
    "results_table",
    "results_text",
    "render_markdown",
    "plot_results",
    "render",
    "load_results",
]

#: The paper's ordering, best first.
PAPER_ORDER = ("ldrrld", "dkd", "kd", "ce")
_LABELS = {"ce": "CE", "kd": "KD", "kd-mdistiller": "KD (mdistiller)", "dkd": "DKD", "ldrrld": "LDRRLD"}
_MEANING = {
    "ce": "student alone (cross-entropy)",
    "kd": "KD, Hinton: CE + T² KL (weights 1, 1)",
    "kd-mdistiller": "KD, mdistiller's CIFAR setting (0.1 CE + 0.9 T² KL)",
    "dkd": "DKD (Zhao et al.)",
    "ldrrld": "LDRRLD, full (ADW)",
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


def build_results(
    *,
    config,
    recipe,
    teacher: Mapping,
    lr_grid: list[float],
    selection: Mapping,
    chosen: Mapping[str, float],
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
        recipe: the students' recipe (before the per-run loss, lr and seed).
        teacher: the record of :func:`~ldrrld_core.study.teacher.converged_teacher`.
        lr_grid: the learning rates tried.
        selection: method -> lr -> mean last-epoch validation top-1 over the selection seeds.
        chosen: method -> the learning rate chosen.
        runs: method -> seed -> the history rows at the chosen learning rate.
        command, commit, seconds: what ran, from which source (:func:`source_commit` when the
            study started) and for how long (wall clock of this call, which reuses finished runs).
        train_seconds: the training time of the teacher (its final schedule) and of every run
            (all learning rates), summed, whenever they ran. Both go into ``fingerprint``.
    """
    seeds = list(config.seeds)
    methods: dict[str, Any] = {}
    for method, by_seed in runs.items():
        per_seed = [_rounded(_per_seed(seed, by_seed[seed])) for seed in seeds]
        methods[method] = {"lr": chosen[method], "per_seed": per_seed}
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
            "teacher": {key: teacher[key] for key in TEACHER_FIELDS},
            "selection_seeds": seeds[: config.selection_seeds],
            "lr_selection": {m: {f"{lr:g}": v for lr, v in by_lr.items()} for m, by_lr in selection.items()},
            "recipe": recipe.to_dict(),
        },
        "methods": methods,
    }
    results = _rounded(results)
    results["verdict"] = verdict(results["methods"])
    results["fingerprint"] = {
        "torch": torch.__version__,
        "device": _device_name(device),
        "commit": commit,
        "threads": threads,
        "seconds": round(seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "command": command,
    }
    return results


def verdict(methods: Mapping[str, Mapping]) -> str:
    """One line: does the paper's ordering (LDRRLD > DKD > KD > CE) hold here, within the noise?

    Each neighbouring pair of the ordering present in ``methods`` is compared by the paired
    difference of ``test_top1_last``: its 95% interval above 0 confirms the step, below 0
    reverses it, containing 0 leaves it unresolved. The ordering holds only if every step is
    confirmed.
    """
    present = [m for m in PAPER_ORDER if m in methods]
    steps, states = [], []
    for better, worse in zip(present, present[1:]):
        values = [s["test_top1_last"] for s in methods[better]["per_seed"]]
        baseline = [s["test_top1_last"] for s in methods[worse]["per_seed"]]
        diff = paired_difference(values, baseline)
        lo, hi = diff["ci95"]
        state = "confirmed" if lo > 0 else "reversed" if hi < 0 else "within noise"
        states.append(state)
        steps.append(f"{_label(better)} - {_label(worse)} {difference(diff['mean'], diff['ci95'])} ({state})")
    order = " > ".join(_label(m) for m in present)
    if all(state == "confirmed" for state in states):
        outcome = "holds"
    elif "reversed" in states:
        outcome = "does not hold"
    else:
        outcome = "is not resolved within the noise"
    return f"The paper's ordering {order} {outcome} here: " + "; ".join(steps) + " (paired 95% CIs over seeds)."


def results_text(results: Mapping, methods: Sequence[str] | None = None) -> str:
    """The headline numbers as a text table for a terminal: each method's last-epoch test top-1
    (mean ± std over seeds) and its paired differences to CE and KD with their 95% intervals."""
    rows = []
    for method in methods or list(results["methods"]):
        entry = results["methods"][method]
        last = entry["test_top1_last"]
        deltas = [
            "–" if method == base else difference(entry[key]["mean"], entry[key]["ci95"])
            for base, key in (("ce", "delta_vs_ce"), ("kd", "delta_vs_kd"))
        ]
        rows.append([method, f"{entry['lr']:g}", mean_std(last["mean"], last["std"]), *deltas])
    header = ["method", "lr", "test top-1 (%)", "vs ce, paired 95% CI", "vs kd, paired 95% CI"]
    return text_table(header, rows, right=[False, True, True, True, True])


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
            "test top-1, last epoch (%)",
            "95% CI",
            "test top-1, best-val epoch (%)",
            "vs CE, paired (95% CI)",
            "vs KD, paired (95% CI)",
        ],
        rows,
    )


def _grid_edges(results: Mapping) -> str:
    """A caveat naming the methods whose chosen rate is the smallest or the largest of the grid."""
    grid = results["protocol"]["lr_grid"]
    edges = [
        f"{_label(m)} the {'smallest' if e['lr'] == min(grid) else 'largest'} ({e['lr']:g})"
        for m, e in results["methods"].items()
        if e["lr"] in (min(grid), max(grid))
    ]
    return (
        f" Chosen at an end of the grid: {', '.join(edges)}; that method's best rate may lie outside it."
        if edges
        else ""
    )


def render_markdown(results: Mapping, plot_name: str | None = "results.png") -> str:
    """``results.md``: the protocol, the headline table, the verdict, the lr selection and every seed."""
    protocol, finger = results["protocol"], results["fingerprint"]
    lines = [
        f"# Distillation study: the `{protocol['problem']}` problem",
        "",
        "Written by `ldrrld study --render DIR` from `results.json` beside it. The study ran as "
        f"`{finger.get('command') or 'ldrrld study'}` on {finger['device']}, {finger['threads']} torch "
        f"thread(s) per run, torch {finger['torch']}, commit `{finger['commit']}`; the teacher's final "
        f"schedule and all runs took {finger['train_seconds'] / 60:.0f} minutes of training in all.",
        "",
        "## Protocol (the same for every method)",
        "",
        *_protocol_lines(results),
        "",
        "## Results",
        "",
        f"Test top-1 (%) over {len(protocol['seeds'])} seeds: mean ± sample standard deviation, 95% Student-t "
        "interval; differences are paired by seed on the last-epoch accuracy.",
        "",
        results_table(results),
        "",
        f"**Verdict.** {results['verdict']}",
        "",
    ]
    if plot_name:
        lines += [
            f"![validation top-1 per epoch and paired differences to CE]({plot_name})",
            "",
            "Left: validation top-1 per epoch at each method's chosen learning rate (line: mean over "
            "seeds, band: lowest to highest seed); the dashed line is the teacher, on its own "
            "validation split. Right: test top-1 "
            "minus the student alone, per seed (dots), with the mean and its 95% interval.",
            "",
        ]
    grid = protocol["lr_grid"]
    selection = [
        [method, *(f"{by_lr[f'{lr:g}']:.2f}" for lr in grid), f"{results['methods'][method]['lr']:g}"]
        for method, by_lr in protocol["lr_selection"].items()
    ]
    seeds = [
        [method, s["seed"], f"{s['test_top1_last']:.2f}", f"{s['test_top1_best_val']:.2f}", s["best_val_epoch"]]
        for method, entry in results["methods"].items()
        for s in entry["per_seed"]
    ]
    lines += [
        "## Learning-rate selection",
        "",
        "Mean last-epoch validation top-1 (%) over the selection seeds.",
        "",
        markdown_table(["method", *(f"lr {lr:g}" for lr in grid), "chosen"], selection),
        "",
        "## Every seed",
        "",
        markdown_table(
            ["method", "seed", "test top-1, last epoch", "test top-1, best-val epoch", "best-val epoch"], seeds
        ),
    ]
    return "\n".join(lines) + "\n"


def _protocol_lines(results: Mapping) -> list[str]:
    """The protocol's bullet points: problem, validation, teacher, learning rate and seeds."""
    protocol = results["protocol"]
    teacher, recipe = protocol["teacher"], protocol["recipe"]
    data = ", ".join(f"{k}={v}" for k, v in recipe["data_options"].items()) or "defaults"
    teacher_data = ", ".join(f"{k}={v}" for k, v in recipe.get("teacher_data_options", {}).items())
    if teacher_data:
        teacher_data = f" on its own training set ({teacher_data}, with its own validation split)"
    decays = ", ".join(map(str, recipe["decay_epochs"])) or "none"
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
        f"- **Learning rate**: chosen per method from {', '.join(f'{lr:g}' for lr in protocol['lr_grid'])} "
        f"by the mean last-epoch validation top-1 over seed(s) "
        f"{', '.join(map(str, protocol['selection_seeds']))}.{_grid_edges(results)}",
        f"- **Seeds**: {', '.join(map(str, protocol['seeds']))}. Within a seed every student starts from the "
        "same weights and sees the same data order.",
    ]


def plot_results(results: Mapping, path: str | os.PathLike) -> Path:
    """Save the two-panel figure (validation curves; paired differences to CE) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
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
        curves.plot(epochs, mean, color=colors[method], label=f"{_label(method)} (lr {entry['lr']:g})")
    teacher = results["protocol"]["teacher"]
    curves.axhline(teacher["val_top1"], color="black", linestyle="--", linewidth=1, label=f"teacher {teacher['model']}")
    curves.set(xlabel="epoch", ylabel="validation top-1 (%)", title="Validation accuracy per epoch")
    curves.legend(loc="lower right", fontsize="small")
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def load_results(path: str | os.PathLike) -> dict:
    """Read a ``results.json`` (or the folder holding it) and check its top-level shape."""
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no results.json at {path}; run `ldrrld study --out-dir DIR` first")
    keys = ("protocol", "methods", "verdict", "fingerprint")
    return read_json(path, keys=keys, what="a results.json written by `ldrrld study`")


def render(folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.png`` next to ``<folder>/results.json``; return both paths."""
    folder = Path(folder)
    results = load_results(folder)
    picture = plot_results(results, folder / "results.png")
    return atomic_write_text(render_markdown(results, picture.name), folder / "results.md"), picture
