"""Measure the margins notebooks 03 and 04 assert, over several seeds, so their tolerances are measured.

Notebook 03 asserts that every distilled student beats the student alone by more than ``MARGIN``
points, and notebook 04 that every distilled student's all-class Kendall tau exceeds the student
alone's by more than ``TAU_MARGIN``. Both train in fast mode (the ``teaching`` recipe shortened to
``FAST_EPOCHS``) at the points ``docs/results.json`` chose. This script trains exactly those
students for each seed and prints the smallest gain and the smallest tau gap, so the notes below
those cells can quote what was measured. Run it under each numeric environment the notes name::

    python tools/notebook_margins.py --seeds 0 1 2
    ATEN_CPU_CAPABILITY=default python tools/notebook_margins.py --seeds 0 1 2

``--every-method`` trains notebook 04's students instead: every method of the toolkit, those the
study tuned at their chosen point and the others at their authors' preset with KD's rate
(:func:`ldrrld_core.study.report.method_recipes`), and also prints each student's class-mean and
correlation gaps to the teacher (the means notebook 04 tabulates).

Its numbers are not asserted anywhere: they justify the notebooks' tolerances, which are.
"""

from __future__ import annotations

import argparse
import os

import torch

from ldrrld_core import analysis
from ldrrld_core.data import make_loader
from ldrrld_core.study import load_results, shipped_teacher
from ldrrld_core.study.report import EVERY_METHOD, method_recipes
from ldrrld_core.study.sweep import DEFAULT_RESULTS
from ldrrld_core.train import compare, get_recipe, load_data

#: The fast mode of notebooks 03 and 04 (their ``FAST_EPOCHS``).
FAST_EPOCHS = 4


def measure(seed: int, epochs: int = FAST_EPOCHS, every_method: bool = False) -> dict[str, dict[str, float]]:
    """Test top-1 (%), all-class Kendall tau to the teacher and mean relation gaps (class-mean, both
    definitions, and correlation) of every method's student at ``seed``."""
    recipe = get_recipe("teaching").rescheduled(epochs).replace(seed=seed)
    data, study = load_data(recipe), load_results(DEFAULT_RESULTS)
    teacher, _ = shipped_teacher("teaching", device="cpu")
    batches = make_loader(data.test, batch_size=512, train=False, device="cpu")
    outputs = analysis.collect_outputs(teacher, batches)
    teacher_logits, labels = outputs.logits, outputs.labels
    recipes = method_recipes(recipe, study, EVERY_METHOD if every_method else list(study["methods"]))
    result = {}
    for method, chosen in recipes.items():
        run = compare(chosen, [method], teacher=teacher, data=data, progress=False)
        student = run.students[method]
        logits = {method: analysis.collect_outputs(student.model, batches).logits}
        fidelity = analysis.compare_fidelity(logits, teacher_logits, depth=5, temperature=4.0)[method]
        gaps = {
            "mean_gap": analysis.relation_gaps(logits, teacher_logits, labels=labels, num_classes=data.num_classes),
            "mdistiller_gap": analysis.relation_gaps(
                logits, teacher_logits, labels=labels, num_classes=data.num_classes, definition="mdistiller"
            ),
            "correlation_gap": analysis.relation_gaps(logits, teacher_logits, kind="correlation"),
        }
        result[method] = {
            "top1": student.top1,
            "tau": fidelity.summary()["kendall_tau_all"],
            **{name: gap[method].mean for name, gap in gaps.items()},
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds to train (default 0 1 2)")
    parser.add_argument("--every-method", action="store_true", help="notebook 04's students: every method")
    args = parser.parse_args()
    torch.set_num_threads(1)
    capability = os.environ.get("ATEN_CPU_CAPABILITY", torch.backends.cpu.get_cpu_capability())
    print(f"torch {torch.__version__}; CPU kernels {capability}; fast mode, {FAST_EPOCHS} epochs")
    gains, gaps = [], []
    for seed in args.seeds:
        runs = measure(seed, every_method=args.every_method)
        for method, run in runs.items():
            gain, gap = run["top1"] - runs["ce"]["top1"], run["tau"] - runs["ce"]["tau"]
            print(
                f"seed {seed} {method:7s} top-1 {run['top1']:6.2f}  vs CE {gain:+6.2f}  "
                f"tau {run['tau']:.4f}  vs CE {gap:+.4f}"
                + (
                    f"  gaps: class-mean {run['mean_gap']:.3f}, mdistiller {run['mdistiller_gap']:.3f}, "
                    f"correlation {run['correlation_gap']:.3f}"
                    if args.every_method
                    else ""
                ),
                flush=True,
            )
            if method != "ce":
                gains.append((gain, method, seed))
                gaps.append((gap, method, seed))
    gain, gap = min(gains), min(gaps)
    print(f"smallest gain over CE: {gain[0]:.2f} points ({gain[1]}, seed {gain[2]})")
    print(f"smallest tau gap over CE: {gap[0]:.3f} ({gap[1]}, seed {gap[2]})")


if __name__ == "__main__":
    main()
