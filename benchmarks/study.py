"""Every method and every LDRRLD ablation on the offline data sets, over several seeds.

For each data set preset and seed, one teacher is trained and then one student per method, all
students from the same initial weights (see ``ldrrld_core.train.compare``). The table of
last-epoch test top-1 accuracy (mean ± sample standard deviation over seeds) goes to
``docs/results.md``, with the settings that produced it.

    python benchmarks/study.py                     # 5 seeds, digits and synthetic (CPU: tens of minutes)
    python benchmarks/study.py --seeds 3 --data digits
    python benchmarks/study.py --quick --output /tmp/results.md   # one seed, one epoch, four methods: a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from ldrrld_core.train import compare, get_recipe

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("ce", "kd", "dkd", "ldrrld", "ldrrld-no-adw", "ldrrld-irw", "ldrrld-erd", "ldrrld-no-rntk",
           "ldrrld-teacher-rank")
PRESETS = ("digits", "synthetic")
#: What each method is, for the table.
MEANING = {
    "teacher": "the teacher (cross-entropy)",
    "ce": "student alone (cross-entropy)",
    "kd": "KD (Hinton et al.)",
    "dkd": "DKD (Zhao et al.)",
    "ldrrld": "LDRRLD, full (ADW = IRW x ERD)",
    "ldrrld-no-adw": "LDRRLD, every pair weight 1 (no ADW)",
    "ldrrld-irw": "LDRRLD, IRW only",
    "ldrrld-erd": "LDRRLD, ERD only",
    "ldrrld-no-rntk": "LDRRLD, no remaining-class term",
    "ldrrld-teacher-rank": "LDRRLD, teacher ranks the classes",
}
#: ``--quick``: one seed, one epoch, a synthetic set of two small images per class, four methods.
QUICK_OVERRIDES = {"digits": {"epochs": 1},
                   "synthetic": {"epochs": 1, "data_options": {"train_per_class": 2, "test_per_class": 2,
                                                               "image_size": 16}}}
QUICK_METHODS = ("ce", "kd", "ldrrld", "ldrrld-no-adw")


def run_study(presets, seeds, methods, device, quick: bool) -> tuple[dict, dict]:
    """``results[preset][method] -> [top1 per seed]`` (``"teacher"`` included) and each preset's recipe."""
    results, recipes = {}, {}
    for preset in presets:
        recipe = get_recipe(preset, **(QUICK_OVERRIDES[preset] if quick else {}))
        recipes[preset], results[preset] = recipe, {name: [] for name in ("teacher", *methods)}
        for seed in seeds:
            started = time.perf_counter()
            comparison = compare(recipe.replace(seed=seed), methods, device=device, progress=False)
            results[preset]["teacher"].append(comparison.teacher.top1)
            for name, top1 in comparison.top1().items():
                results[preset][name].append(top1)
            print(f"{preset} seed {seed}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in results[preset].items())
                  + f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    return results, recipes


def _mean_std(values: list[float]) -> str:
    spread = f"{statistics.stdev(values):.2f}" if len(values) > 1 else "–"
    return f"{statistics.mean(values):.2f} ± {spread}"


def _settings(recipe) -> str:
    ldrrld = recipe.replace(loss="ldrrld").build_loss().hparams()
    data = ", ".join(f"{k}={v}" for k, v in recipe.data_options.items()) or "defaults"
    schedule = (f"lr {recipe.lr}, warm-up {recipe.warmup_epochs} epochs, x{recipe.decay_rate} after epochs "
                f"{', '.join(map(str, recipe.decay_epochs)) or 'none'} ({recipe.schedule})")
    losses = "; ".join(f"{name}: {', '.join(f'{k}={v}' for k, v in opts.items())}"
                       for name, opts in recipe.loss_options.items()) or "none"
    return (f"- **{recipe.name}**: `{recipe.teacher}` -> `{recipe.model}` on `{recipe.data}` (data options: {data}); "
            f"{recipe.epochs} epochs, batch {recipe.batch_size}, SGD momentum {recipe.momentum}, weight decay "
            f"{recipe.weight_decay}, {schedule}. LDRRLD: depth {ldrrld['depth']}, T {ldrrld['temperature']}, "
            f"decay {ldrrld['decay']}, alpha {ldrrld['alpha']}, beta {ldrrld['beta']}. Loss settings changed from "
            f"their defaults: {losses}.")


def render(results: dict, recipes: dict, seeds, seconds: float, device: str, quick: bool) -> str:
    presets = list(results)
    header = ["method", "what it is", *(f"{p} top-1 (%)" for p in presets), *(f"{p} vs ce" for p in presets)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in results[presets[0]]:
        cells = [_mean_std(results[p][name]) for p in presets]
        gains = []
        for p in presets:
            ce = results[p].get("ce")
            gains.append("" if name in ("teacher", "ce") or not ce else
                         f"{statistics.mean(results[p][name]) - statistics.mean(ce):+.2f}")
        lines.append(f"| {name} | {MEANING.get(name, '')} | " + " | ".join(cells + gains) + " |")
    per_seed = ["| data | method | " + " | ".join(f"seed {s}" for s in seeds) + " |",
                "|---|---|" + "---|" * len(seeds)]
    for preset in presets:
        for name, values in results[preset].items():
            per_seed.append(f"| {preset} | {name} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, device `{device}`, "
               f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}")
    return "\n".join([
        "# Measured results on the offline data sets",
        "",
        "Generated by `python benchmarks/study.py`" + (" --quick (a smoke run, not a result)" if quick else "")
        + f" in {seconds / 60:.1f} minutes ({machine}). Test top-1 accuracy after the last epoch, mean ± sample "
          f"standard deviation over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}). For every seed one teacher "
          "is trained, then one student per method from identical initial weights and the same data order; the "
          "seed changes the initial weights, the data order and the augmentation, not the data split. "
          "Every method uses the recipe's learning rate and schedule unchanged; no method was tuned.",
        "",
        *lines,
        "",
        "## Settings",
        "",
        *(_settings(recipes[p]) for p in presets),
        "",
        "These are small, fast problems meant to exercise the toolkit, not to reproduce the paper: "
        "see the paper numbers in `docs/training.md` and the CIFAR-100 recipes for that.",
        "",
        "## Every seed",
        "",
        *per_seed,
        "",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, 0 .. N-1 (default 5)")
    parser.add_argument("--data", nargs="+", default=list(PRESETS), choices=PRESETS, help="presets to run")
    parser.add_argument("--methods", nargs="+", help="losses to compare (default: all nine; --quick: four)")
    parser.add_argument("--device", default="cpu", help="where to train (default cpu, so numbers are repeatable)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "results.md", help="markdown file to write")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of torch (default 1: fastest for these small models, and the numbers "
                             "do not depend on the number of cores)")
    parser.add_argument("--quick", action="store_true", help="one seed, one epoch, tiny synthetic set: a smoke run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = [0] if args.quick else list(range(args.seeds))
    started = time.perf_counter()
    methods = args.methods or (QUICK_METHODS if args.quick else METHODS)
    results, recipes = run_study(args.data, seeds, methods, args.device, args.quick)
    text = render(results, recipes, seeds, time.perf_counter() - started, args.device, args.quick)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
