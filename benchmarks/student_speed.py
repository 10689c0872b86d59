"""The fastest exact way to train the small CPU students: memory format, compile, threads against processes.

The step timed is the trainer's own (``ldrrld_core.train.train_step``) on the ``teaching``
recipe's student (resnet8, 100 classes, 16x16 images, batch 64, SGD) with the LDRRLD loss and
the teacher's logits given, as the trainer runs it once they are cached
(``ldrrld_core/train/teacher_outputs.py``). Every variant gets its own copy of one student.

1. ``--formats``: contiguous against channels-last (the default since issue 21), interleaved per
   repeat, for the training step and for inference (evaluation, the teacher pass) of
   ``--format-models`` (batch 64, each at its recipe's image size); the median step and the
   median of per-repeat ratios to contiguous.
2. ``--compile``: ``torch.compile`` of the student; its first steps (compilation) are timed
   apart, then its steady step interleaved with the plain one. A run of ``--epochs`` epochs of
   ``--steps-per-epoch`` steps gains ``epochs x steps x (plain - compiled)`` and pays the
   compilation once: the table says which wins.
3. ``--throughput``: the channels-last step's arithmetic rate (its floating-point operations,
   counted by ``torch.utils.flop_counter``, over its time) beside the rate a large float32 matrix
   product reaches on the same thread: how far the student's exact step is from what the core
   can do at all, and the share of the step's time its convolutions take.
4. ``--layout``: ``--runs`` identical short runs (``--steps`` steps each) as ``--cores``
   processes of one thread each, all at once, against the same runs one after the other in one
   process with ``--cores`` threads; wall time of all of them.

Time is this process's CPU time for 1 to 3 (``--clock cpu``, robust on a shared machine) and
wall time for 3 (processes against threads can only be compared on the wall clock; on a busy
machine it is noisy, so it is repeated ``--layout-repeats`` times and the medians reported).

Usage::

    PYTHONPATH=. python benchmarks/student_speed.py
    PYTHONPATH=. python benchmarks/student_speed.py --repeats 3 --no-compile --no-layout
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from ldrrld_core.losses import create_loss
from ldrrld_core.models import create_model
from ldrrld_core.train import train_step

CLASSES, IMAGE, STUDENT = 100, (3, 16, 16), "resnet8"
#: Models of the offline recipes for the memory-format comparison: (image shape, classes).
FORMAT_MODELS = {"resnet8": (IMAGE, CLASSES), "wrn_16_2": (IMAGE, CLASSES), "digits_cnn": ((1, 8, 8), 10)}


def batch(size: int, seed: int = 0, image=IMAGE, classes=CLASSES) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images ``(B, *image)``, labels ``(B,)`` and teacher logits ``(B, classes)``."""
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(size, *image, generator=g),
        torch.randint(0, classes, (size,), generator=g),
        3 * torch.randn(size, classes, generator=g),
    )


class Stepper:
    """One student with its optimiser and loss, stepping on fixed batches."""

    def __init__(self, student: torch.nn.Module, *, channels_last: bool = False, compiled: bool = False) -> None:
        self.student = copy.deepcopy(student).train()
        self.format = torch.channels_last if channels_last else torch.contiguous_format
        self.student.to(memory_format=self.format)
        self.model = torch.compile(self.student) if compiled else self.student
        self.optimizer = torch.optim.SGD(self.student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        self.loss = create_loss("ldrrld")
        self.loss.validate = False  # as the trainer builds it

    def step(self, images, labels, teacher_logits) -> None:
        x = images.contiguous(memory_format=self.format)
        train_step(self.model, None, self.loss, self.optimizer, x, labels, teacher_logits=teacher_logits)


def interleaved(steppers: dict[str, Stepper], data, repeats: int, steps: int, clock) -> dict[str, list[float]]:
    """Seconds per step of each stepper: ``steps`` steps per sample, one sample each per repeat, rotated."""
    samples = {name: [] for name in steppers}
    order = list(steppers)
    for r in range(repeats + 1):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            start = clock()
            for _ in range(steps):
                steppers[name].step(*data)
            if r:  # the first repeat warms up
                samples[name].append((clock() - start) / steps)
    return samples


def summarise(samples: dict[str, list[float]], reference: str) -> list[dict]:
    out = []
    for name, values in samples.items():
        ratios = [a / b for a, b in zip(values, samples[reference])]
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        out.append(
            {
                "variant": name,
                "step_ms": round(1e3 * statistics.median(values), 2),
                "over_reference": round(statistics.median(ratios), 3),
                "iqr": [round(q1, 3), round(q3, 3)],
            }
        )
    return out


def table(rows: list[dict], reference: str) -> str:
    lines = [f"| variant | step ms | / {reference} | IQR |", "|---|---|---|---|"]
    for row in rows:
        q1, q3 = row["iqr"]
        lines.append(f"| {row['variant']} | {row['step_ms']:.2f} | {row['over_reference']:.2f} | {q1:.2f}-{q3:.2f} |")
    return "\n".join(lines)


class Inference(Stepper):
    """The same model in eval mode, forward only under ``torch.inference_mode`` (evaluation, the teacher pass)."""

    def step(self, images, labels, teacher_logits) -> None:
        with torch.inference_mode():
            self.student.eval()(images.contiguous(memory_format=self.format))


def formats(args, clock) -> list[dict]:
    """Per model, training step and inference, contiguous against channels-last."""
    rows = []
    for name in args.format_models:
        image, classes = FORMAT_MODELS[name]
        torch.manual_seed(0)
        model = create_model(name, num_classes=classes)
        data = batch(64, image=image, classes=classes)
        for kind, make in (("step", Stepper), ("inference", Inference)):
            steppers = {"contiguous": make(model), "channels_last": make(model, channels_last=True)}
            samples = interleaved(steppers, data, args.repeats, args.steps_per_sample, clock)
            for row in summarise(samples, "contiguous"):
                rows.append({**row, "variant": f"{name} {kind} {row['variant']}"})
    return rows


def compiled(args, student, data, clock) -> dict:
    plain, fast = Stepper(student), Stepper(student, compiled=True)
    start = time.perf_counter()
    for _ in range(3):  # compilation happens here (the first steps)
        fast.step(*data)
    compile_s = time.perf_counter() - start
    rows = summarise(
        interleaved({"plain": plain, "compiled": fast}, data, args.repeats, args.steps_per_sample, clock), "plain"
    )
    plain_ms, compiled_ms = rows[0]["step_ms"], rows[1]["step_ms"]
    steps = args.epochs * args.steps_per_epoch
    gain_s = steps * (plain_ms - compiled_ms) / 1e3
    return {"rows": rows, "compile_s": round(compile_s, 2), "run_steps": steps, "run_gain_s": round(gain_s, 2)}


def _timed(work, clock) -> float:
    start = clock()
    work()
    return clock() - start


def throughput(args, student, data, clock) -> dict:
    """GFLOP/s of the channels-last training step and of a float32 ``GEMM x GEMM`` matrix product, and
    the share of the step's time spent in convolutions (forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    stepper = Stepper(student, channels_last=True)
    with FlopCounterMode(display=False) as counter:
        stepper.step(*data)
    step_flops = counter.get_total_flops()
    step_s = statistics.median(interleaved({"step": stepper}, data, args.repeats, args.steps_per_sample, clock)["step"])
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(args.steps_per_sample):
            stepper.step(*data)
    events = profiler.key_averages()
    conv_share = sum(e.self_cpu_time_total for e in events if "convolution" in e.key) / sum(
        e.self_cpu_time_total for e in events
    )
    a = torch.randn(args.gemm, args.gemm)
    gemm_s = statistics.median(_timed(lambda: a @ a, clock) for _ in range(args.repeats + 1))
    step_rate, gemm_rate = step_flops / step_s / 1e9, 2 * args.gemm**3 / gemm_s / 1e9
    return {
        "step_gflop": round(step_flops / 1e9, 3),
        "step_ms": round(1e3 * step_s, 2),
        "step_gflops": round(step_rate, 1),
        "gemm": args.gemm,
        "gemm_gflops": round(gemm_rate, 1),
        "step_over_gemm": round(step_rate / gemm_rate, 3),
        "conv_share": round(conv_share, 3),
    }


def _child(steps: int, threads: int) -> None:
    """One short run in this process: ``steps`` steps of a fresh student on ``threads`` threads."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    stepper = Stepper(create_model(STUDENT, num_classes=CLASSES))
    data = batch(64)
    for _ in range(steps):
        stepper.step(*data)


def _spawn(steps: int, threads: int, runs: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, __file__, "--child", str(steps), str(threads), str(runs)]
    return subprocess.Popen(command, env=env)


def layout(args) -> dict:
    """Wall seconds of ``runs`` runs: ``cores`` one-thread processes at once, or one ``cores``-thread process."""
    per_process = args.runs // args.cores
    results = {"processes": [], "threads": []}
    for _ in range(args.layout_repeats):
        start = time.perf_counter()
        children = [_spawn(args.steps, 1, per_process) for _ in range(args.cores)]
        if any(child.wait() for child in children):
            raise RuntimeError("a child run failed")
        results["processes"].append(time.perf_counter() - start)
        start = time.perf_counter()
        if _spawn(args.steps, args.cores, args.runs).wait():
            raise RuntimeError("a child run failed")
        results["threads"].append(time.perf_counter() - start)
    medians = {name: round(statistics.median(values), 2) for name, values in results.items()}
    return {"runs": args.runs, "steps": args.steps, "cores": args.cores, "wall_s": medians, "samples": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps-per-sample", type=int, default=3, help="steps per timed sample")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--formats", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--format-models", nargs="+", default=list(FORMAT_MODELS), choices=FORMAT_MODELS)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--epochs", type=int, default=30, help="a run's epochs, for the compile break-even")
    parser.add_argument("--steps-per-epoch", type=int, default=28, help="the teaching recipe's 1,800 images / 64")
    parser.add_argument("--throughput", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--gemm", type=int, default=1024, help="size of the reference matrix product")
    parser.add_argument("--layout", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--runs", type=int, default=4, help="runs in the layout comparison (a multiple of --cores)")
    parser.add_argument("--steps", type=int, default=60, help="steps of each layout run")
    parser.add_argument("--layout-repeats", type=int, default=3)
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        steps, threads, runs = args.child
        for _ in range(runs):
            _child(steps, threads)
        return 0

    torch.set_num_threads(1)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.manual_seed(0)
    student = create_model(STUDENT, num_classes=CLASSES)
    data = batch(64)
    report: dict = {"torch": torch.__version__, "clock": args.clock}
    print(f"torch {torch.__version__}; the trainer's step (LDRRLD, teacher logits given) or inference, batch 64")
    if args.formats:
        report["formats"] = formats(args, clock)
        print(f"\nmemory format ({args.clock} clock, median of {args.repeats} interleaved repeats)")
        print(table(report["formats"], "contiguous"))
    if args.compile:
        report["compile"] = result = compiled(args, student, data, clock)
        verdict = "compile wins" if result["run_gain_s"] > result["compile_s"] else "plain wins"
        print(f"\ntorch.compile of the student ({args.clock} clock; compilation {result['compile_s']} s wall)")
        print(table(result["rows"], "plain"))
        print(
            f"a {args.epochs}-epoch run ({result['run_steps']} steps) saves {result['run_gain_s']} s of steps "
            f"and pays {result['compile_s']} s of compilation: {verdict}"
        )
    if args.throughput:
        report["throughput"] = result = throughput(args, student, data, clock)
        print(
            f"\narithmetic rate ({args.clock} clock): the channels-last step does {result['step_gflop']} GFLOP in "
            f"{result['step_ms']} ms, {result['step_gflops']} GFLOP/s; a {args.gemm}x{args.gemm} float32 matrix "
            f"product reaches {result['gemm_gflops']} GFLOP/s on the same thread; step / product: "
            f"{result['step_over_gemm']:.2f}; convolutions, forward and backward, take {result['conv_share']:.0%} of "
            "the step's time (torch.profiler, self time)"
        )
    if args.layout:
        report["layout"] = result = layout(args)
        print(
            f"\n{args.runs} runs of {args.steps} steps, wall seconds, median of {args.layout_repeats}: "
            f"{args.cores} one-thread processes at once {result['wall_s']['processes']} s; "
            f"one {args.cores}-thread process, runs in turn {result['wall_s']['threads']} s"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
