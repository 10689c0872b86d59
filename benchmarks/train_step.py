"""Time one training step of resnet32x4 -> resnet8x4 on CIFAR-shaped batches: KD against LDRRLD.

The step is the trainer's own, ``ldrrld_core.train.train_step``, the function ``fit`` calls per
batch: the teacher runs in eval mode under ``torch.inference_mode`` (and autocast), its logits
are cloned into a normal tensor, the student runs, the recipe's loss (built without its per-call
input check, as the trainer builds it) gives the total, then ``zero_grad(set_to_none=True)``,
backward and an SGD step. Nothing in the step reads a value back to the host.

Every method gets its own copy of one student (same initial weights) and its own optimiser; each
repeat times every method once, interleaved, so a noisy machine slows all methods alike, and the
table reports medians, images per second and the LDRRLD / KD ratio.

Defaults per device:

* CPU: batch 32, full precision, 5 repeats (seconds on an idle two-core machine, a minute when it is busy);
* CUDA: batch 64 and 256, bf16 autocast, channels-last, 20 repeats of 10 steps each.

Usage::

    python benchmarks/train_step.py                          # CPU, and CUDA when present
    python benchmarks/train_step.py --device cuda --compile  # add torch.compile (student, teacher, loss)
    python benchmarks/train_step.py --device cpu --batch 4 --repeats 1 --json step.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ldrrld_core.models import create_model
from ldrrld_core.train import get_recipe, train_step

TEACHER, STUDENT, CLASSES, IMAGE = "resnet32x4", "resnet8x4", 100, (3, 32, 32)
METHODS = ("kd", "ldrrld")


@dataclass(frozen=True)
class Setting:
    """Where and how one table row's steps run."""

    device: str
    batch: int
    bf16: bool
    channels_last: bool
    compile: bool
    repeats: int
    warmup: int
    steps: int  # steps per timed sample (amortises the synchronisation on a GPU)

    @classmethod
    def default(cls, device: str, batch: int, *, compile: bool = False) -> Setting:
        if device == "cuda":
            return cls(
                device,
                batch,
                bf16=True,
                channels_last=True,
                compile=compile,
                repeats=20,
                warmup=5 if compile else 3,
                steps=10,
            )
        return cls(device, batch, bf16=False, channels_last=False, compile=compile, repeats=5, warmup=1, steps=1)


Step = Callable[[torch.Tensor, torch.Tensor], None]


def make_step(student: nn.Module, teacher: nn.Module, method: str, setting: Setting) -> Step:
    """The trainer's step for ``method`` as a function of a batch ``(x (B, 3, 32, 32), y (B,))``."""
    device = torch.device(setting.device)
    loss_fn = get_recipe("cifar100", loss=method).build_loss(validate=False).to(device)
    loss_fn.set_epoch(1)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    modules = (student, teacher, loss_fn)
    if setting.compile:
        modules = tuple(torch.compile(module) for module in modules)
    autocast_dtype = torch.bfloat16 if setting.bf16 else None

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        train_step(*modules, optimizer, x, y, autocast_dtype=autocast_dtype)

    return step


def measure(setting: Setting, methods: tuple[str, ...] = METHODS, seed: int = 0) -> dict[str, object]:
    """Median milliseconds per step and images per second of every method under ``setting``."""
    device = torch.device(setting.device)
    memory_format = torch.channels_last if setting.channels_last else torch.contiguous_format
    torch.manual_seed(seed)
    teacher = create_model(TEACHER, num_classes=CLASSES).to(device, memory_format=memory_format).eval()
    student = create_model(STUDENT, num_classes=CLASSES).to(device, memory_format=memory_format).train()
    steps = {method: make_step(copy.deepcopy(student), teacher, method, setting) for method in methods}
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(setting.batch, *IMAGE, generator=generator).to(device).contiguous(memory_format=memory_format)
    y = torch.randint(0, CLASSES, (setting.batch,), generator=generator).to(device)

    samples: dict[str, list[float]] = {method: [] for method in methods}
    for repeat in range(setting.warmup + setting.repeats):
        for method, step in steps.items():
            seconds = _time(lambda: [step(x, y) for _ in range(setting.steps)], device) / setting.steps
            if repeat >= setting.warmup:
                samples[method].append(seconds)
    ms = {method: 1e3 * statistics.median(values) for method, values in samples.items()}
    row: dict[str, object] = {**asdict(setting), "hardware": _device_name(device)}
    for method in methods:
        row[f"{method}_ms"] = round(ms[method], 3)
        row[f"{method}_images_per_s"] = round(1e3 * setting.batch / ms[method], 1)
    if "kd" in ms and "ldrrld" in ms:
        row["ldrrld_over_kd"] = round(ms["ldrrld"] / ms["kd"], 3)
    return row


def _time(work: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def table(rows: list[dict[str, object]], methods: tuple[str, ...] = METHODS) -> str:
    """The rows as a markdown table."""
    head = (
        ["device", "batch", "precision", "compile"]
        + [f"{m} ms" for m in methods]
        + [f"{m} img/s" for m in methods]
        + (["LDRRLD/KD"] if {"kd", "ldrrld"} <= set(methods) else [])
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        precision = ("bf16" if row["bf16"] else "fp32") + (", channels-last" if row["channels_last"] else "")
        cells = [row["hardware"], row["batch"], precision, "yes" if row["compile"] else "no"]
        cells += [f"{row[f'{m}_ms']:.2f}" for m in methods] + [f"{row[f'{m}_images_per_s']:.0f}" for m in methods]
        if "ldrrld_over_kd" in row:
            cells.append(f"{row['ldrrld_over_kd']:.2f}")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        action="append",
        help="repeatable; default: cpu, plus cuda when a GPU is visible",
    )
    parser.add_argument("--batch", type=int, nargs="+", help="batch sizes (default: 32 on CPU, 64 256 on CUDA)")
    parser.add_argument("--repeats", type=int, help="timed samples per method (default: 5 CPU, 20 CUDA)")
    parser.add_argument("--warmup", type=int, help="untimed samples first (default: 1 CPU, 3 CUDA)")
    parser.add_argument("--steps", type=int, help="steps per timed sample (default: 1 CPU, 10 CUDA)")
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        choices=("kd", "dkd", "ldrrld", "ldrrld-no-adw"),
        help="distillation losses to time (default: kd ldrrld)",
    )
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the student, the teacher and the loss, as the trainer's compile=True does",
    )
    parser.add_argument("--threads", type=int, help="CPU threads of torch for this run (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    try:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        return _run(args, parser)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:

    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is visible")
    overrides = {name: value for name in ("repeats", "warmup", "steps") if (value := getattr(args, name)) is not None}
    if args.fp32:
        overrides["bf16"] = False
    methods = tuple(args.methods)
    rows = []
    for device in devices:
        for batch in args.batch or ([64, 256] if device == "cuda" else [32]):
            setting = Setting(**{**asdict(Setting.default(device, batch, compile=args.compile)), **overrides})
            rows.append(measure(setting, methods))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        f"torch {torch.__version__}; one training step {TEACHER} -> {STUDENT} ({CLASSES} classes, "
        f"{'x'.join(map(str, IMAGE))} images): median of interleaved repeats, teacher forward included"
    )
    print(table(rows, methods))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
