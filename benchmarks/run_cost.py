"""What distillation costs over its student: epochs of the ``teaching`` recipe, each divided by CE's.

Runs the real trainer (``fit``) on the ``teaching`` recipe (resnet8 student, wrn_16_2 teacher,
synthetic 16x16 images, batch 64) one epoch per run, for each method in turn and interleaved
(each repeat runs every method once, in an order rotated by one per repeat), on ``--threads``
torch threads (default 1: one core). An epoch is the trainer's epoch (``_train_epoch``): the
training steps and the evaluation of the test and validation splits, timed by this process's CPU
time (``--clock cpu``, the default; robust on a shared machine) or wall time (``--clock wall``).
The table gives the median epoch of each method and, as ``/ CE``, the median of its per-repeat
ratios to CE's epoch, with their interquartile range (``IQR``). The first repeat is warm-up and not counted.

Methods: ``ce`` (the student alone), ``kd``, ``dkd``, ``ldrrld`` as the trainer runs them (the
teacher's logits computed once per problem, see ``ldrrld_core/train/teacher_outputs.py``;
channels-last images), and each with ``-before``: as the trainer ran before issue 21 (the
teacher run at every step, contiguous images). The teacher is randomly initialised (only speed
is measured). Cached logits go to a temporary folder: the
warm-up repeat computes them once, as the first run of a study does, and that one-off pass is
timed on its own (``teacher pass``) and amortised over ``--amortise`` epochs in the last column.

Usage::

    PYTHONPATH=. python benchmarks/run_cost.py                      # 7 repeats, one thread
    PYTHONPATH=. python benchmarks/run_cost.py --repeats 3 --methods ce kd ldrrld
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

from ldrrld_core.data import make_loader
from ldrrld_core.models import create_model
from ldrrld_core.train import evaluate, fit, get_recipe, load_data
from ldrrld_core.train import loop as loop_module
from ldrrld_core.train.teacher_outputs import ENV_FOLDER, compute_teacher_outputs

LOSSES = ("ce", "kd", "dkd", "ldrrld")
METHODS = LOSSES + tuple(f"{loss}-before" for loss in LOSSES)
#: A distillation epoch / a CE epoch, at most (issue 21).
TARGET = 1.15


def epoch_seconds(method: str, recipe, teacher: torch.nn.Module, data, clock=time.process_time) -> float:
    """Seconds of ``clock`` over one trainer epoch (its steps and evaluation) with ``method``."""
    loss = method.removesuffix("-before")
    before = method.endswith("-before")
    recipe = recipe.replace(loss=loss, channels_last=False if before else recipe.channels_last)
    spent = []
    train_epoch = loop_module._train_epoch

    def timed_epoch(*args, **kwargs):
        start = clock()
        row = train_epoch(*args, **kwargs)
        spent.append(clock() - start)
        return row

    with mock.patch.object(loop_module, "_train_epoch", timed_epoch):
        if before:  # the teacher at every step, as before its outputs were cached
            with mock.patch.object(loop_module, "attach_teacher_outputs", lambda loader, *a, **k: loader):
                fit(recipe, teacher=teacher, data=data, progress=False)
        else:
            fit(recipe, teacher=teacher if loss != "ce" else None, data=data, progress=False)
    return spent[-1]


def side_costs(recipe, teacher: torch.nn.Module, data, repeats: int, clock=time.process_time) -> dict[str, float]:
    """Median seconds of the one-off teacher pass over the training split and of one epoch's evaluation."""
    train = make_loader(data.train, recipe.batch_size, train=True, augment="none")
    layout = torch.channels_last  # the trainer's default for images
    student = create_model(recipe.model, num_classes=data.num_classes).to(memory_format=layout)
    teacher.to(memory_format=layout)
    evaluation = [make_loader(split, 256, train=False) for split in (data.test, data.val) if split is not None]
    passes, evaluations = [], []
    for _ in range(repeats):
        start = clock()
        compute_teacher_outputs(teacher, train, autocast_dtype=None, memory_format=layout)
        passes.append(clock() - start)
        start = clock()
        for batches in evaluation:
            evaluate(student, batches, memory_format=layout)
        evaluations.append(clock() - start)
    return {"teacher_pass_s": statistics.median(passes), "evaluation_s": statistics.median(evaluations)}


def measure(methods, repeats: int, recipe, teacher, data, clock) -> dict[str, list[float]]:
    """Per method, the epoch seconds of each counted repeat (the first repeat is warm-up)."""
    samples = {name: [] for name in methods}
    order = list(methods)
    for r in range(repeats + 1):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            seconds = epoch_seconds(name, recipe, teacher, data, clock)
            if r:
                samples[name].append(seconds)
            print(json.dumps({"repeat": r, "method": name, "epoch_s": round(seconds, 4)}), file=sys.stderr, flush=True)
    return samples


def rows(samples: dict[str, list[float]], side: dict[str, float], amortise: int) -> list[dict]:
    """One row per method: median epoch, median per-repeat ratio to CE with its quartiles, amortised ratio."""
    ce = samples["ce"]
    table = []
    for name, seconds in samples.items():
        ratios = [a / b for a, b in zip(seconds, ce)]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        epoch = statistics.median(seconds)
        once = side["teacher_pass_s"] if name in LOSSES[1:] else 0.0
        table.append(
            {
                "method": name,
                "epoch_s": round(epoch, 4),
                "over_ce": round(statistics.median(ratios), 3),
                "over_ce_iqr": [round(q1, 3), round(q3, 3)],
                "run_over_ce": round((amortise * epoch + once) / (amortise * statistics.median(ce)), 3),
                "repeats": len(seconds),
            }
        )
    return table


def render(table: list[dict], side: dict[str, float], args: argparse.Namespace, samples: int) -> str:
    lines = [
        f"torch {torch.__version__}; recipe teaching ({samples} training images, batch {args.batch}), "
        f"{torch.get_num_threads()} thread(s), {args.clock} clock; epoch = steps + evaluation, median of "
        f"{args.repeats} interleaved "
        f"repeats after 1 warm-up; / CE: median of per-repeat ratios, IQR: their interquartile range",
        f"teacher pass over the training split (once per problem): {side['teacher_pass_s']:.3f} s; "
        f"evaluation per epoch (test + validation): {side['evaluation_s']:.3f} s",
        "",
        f"| method | epoch s | / CE (target) | / CE, IQR | {args.amortise}-epoch run / CE, teacher pass included |",
        "|---|---|---|---|---|",
    ]
    for row in table:
        target = f" (<= {TARGET})" if row["method"] in LOSSES[1:] else ""
        q1, q3 = row["over_ce_iqr"]
        lines.append(
            f"| {row['method']} | {row['epoch_s']:.3f} | {row['over_ce']:.2f}{target} | {q1:.2f}-{q3:.2f} "
            f"| {row['run_over_ce']:.2f} |"
        )
    epochs = {row["method"]: row["epoch_s"] for row in table}
    if all(name in epochs for name in METHODS):
        now = args.amortise * sum(epochs[name] for name in LOSSES) + side["teacher_pass_s"]
        before = args.amortise * sum(epochs[f"{name}-before"] for name in LOSSES)
        lines += [
            "",
            f"one {args.amortise}-epoch run of each of {', '.join(LOSSES)} (teacher pass once) / the same before: "
            f"{now / before:.2f}",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="counted repeats (one warm-up repeat runs first)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: one core)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="this process's CPU time (default: robust on a shared machine) or wall time",
    )
    parser.add_argument("--train-per-class", type=int, default=20, help="the teaching recipe's 20, or fewer for a test")
    parser.add_argument("--test-per-class", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64, help="the teaching recipe's batch size")
    parser.add_argument("--amortise", type=int, default=30, help="epochs of a run, for the amortised column")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    methods = tuple(dict.fromkeys(("ce",) + tuple(args.methods)))  # CE first: every ratio needs it
    options = {"train_per_class": args.train_per_class, "test_per_class": args.test_per_class, "image_size": 16}
    recipe = get_recipe("teaching", data_options=options, batch_size=args.batch).rescheduled(1)
    data = load_data(recipe)  # with the recipe's validation split, as the trainer loads it
    torch.manual_seed(0)
    teacher = create_model(recipe.teacher, num_classes=data.num_classes).eval()

    with tempfile.TemporaryDirectory() as folder, mock.patch.dict(os.environ, {ENV_FOLDER: folder}):
        samples = measure(methods, args.repeats, recipe, teacher, data, clock)
    side = side_costs(recipe, teacher, data, repeats=3, clock=clock)
    table = rows(samples, side, args.amortise)
    print(render(table, side, args, len(data.train)))
    if args.json:
        args.json.write_text(json.dumps({"rows": table, **side}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
