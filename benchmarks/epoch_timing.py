"""Whole distillation epochs: resnet32x4 -> resnet8x4 with KD and with LDRRLD, and their ratio.

Runs the real trainer (``distill``) on synthetic CIFAR-shaped images (32x32, 100 classes) for
one epoch per run, each loss ``--runs`` times, interleaved (KD, LDRRLD, KD, LDRRLD, ...); the
table reports the last run of each (earlier ones pay for warm-up and, on a GPU, cuDNN autotuning)
and the LDRRLD / KD ratio of whole epochs, evaluation of the test split included. The teacher is
randomly initialised: only speed is measured here.

Defaults per device:

* CUDA: 20,000 training images (200 per class), batch 64 and 256, bf16 autocast and float32;
* CPU: 1,000 training images (10 per class), batch 64, float32 (about 30 s per run on one
  core of the project's 2-core machine).

Usage::

    PYTHONPATH=. python3 benchmarks/epoch_timing.py                       # CUDA when present, else CPU
    PYTHONPATH=. python3 benchmarks/epoch_timing.py --device cpu --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from ldrrld_core.data import load_dataset
from ldrrld_core.models import create_model
from ldrrld_core.train import distill, get_recipe

LOSSES = ("kd", "ldrrld")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_seconds(
    loss: str,
    batch: int,
    amp: str,
    teacher: torch.nn.Module,
    data,
    data_options: dict,
    device: torch.device,
    student: str,
) -> tuple[float, float]:
    """Seconds of one ``distill`` epoch with ``loss``, and the student's test top-1."""
    recipe = get_recipe(
        "synthetic",
        model=student,
        teacher="resnet32x4",
        loss=loss,
        epochs=1,
        batch_size=batch,
        amp=amp,
        deterministic=False,
        warmup_epochs=0,
        data_options=data_options,
        lr=0.05 * batch / 64,
    )
    _synchronize(device)
    start = time.perf_counter()
    run = distill(recipe, teacher=teacher, data=data, device=device, progress=False)
    _synchronize(device)
    return time.perf_counter() - start, run.top1


def measure(
    device: torch.device,
    batches: list[int],
    amps: list[str],
    runs: int,
    train_per_class: int,
    test_per_class: int,
    student: str = "resnet8x4",
) -> list[dict]:
    """One row per (batch, amp) setting: the last run's epoch seconds of each loss and their ratio."""
    data_options = {"train_per_class": train_per_class, "test_per_class": test_per_class}
    data = load_dataset("synthetic", **data_options)
    images = 100 * train_per_class
    teacher = create_model("resnet32x4", num_classes=100).to(device)
    rows = []
    for batch in batches:
        for amp in amps:
            seconds = {}
            for run in range(runs):
                for loss in LOSSES:
                    seconds[loss], top1 = epoch_seconds(loss, batch, amp, teacher, data, data_options, device, student)
                    print(
                        json.dumps(
                            {
                                "batch": batch,
                                "amp": amp,
                                "loss": loss,
                                "run": run,
                                "epoch_s": round(seconds[loss], 3),
                                "top1": round(top1, 2),
                            }
                        ),
                        file=sys.stderr,
                        flush=True,
                    )
            rows.append(
                {
                    "batch": batch,
                    "amp": amp,
                    "images": images,
                    **{f"{loss}_epoch_s": round(seconds[loss], 3) for loss in LOSSES},
                    **{f"{loss}_images_per_s": round(images / seconds[loss]) for loss in LOSSES},
                    "ldrrld_over_kd": round(seconds["ldrrld"] / seconds["kd"], 3),
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| batch | amp | KD epoch s | LDRRLD epoch s | KD images/s | LDRRLD images/s | LDRRLD/KD |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['batch']} | {row['amp']} | {row['kd_epoch_s']:.2f} | {row['ldrrld_epoch_s']:.2f} | "
            f"{row['kd_images_per_s']} | {row['ldrrld_images_per_s']} | {row['ldrrld_over_kd']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda if visible, else cpu")
    parser.add_argument("--batch", type=int, nargs="+", help="default: 64 256 on CUDA, 64 on CPU")
    parser.add_argument(
        "--amp",
        nargs="+",
        choices=("bf16", "fp16", "none"),
        help="autocast settings (default: bf16 none on CUDA, none on CPU)",
    )
    parser.add_argument("--runs", type=int, default=2, help="epochs per loss, interleaved; the last counts")
    parser.add_argument("--train-per-class", type=int, help="default: 200 on CUDA, 10 on CPU")
    parser.add_argument("--test-per-class", type=int, help="test images per class (default: 50 CUDA, 5 CPU)")
    parser.add_argument("--student", default="resnet8x4", help="student model (the teacher is resnet32x4)")
    parser.add_argument("--threads", type=int, help="CPU threads of torch (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is visible")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    hardware = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads"
    rows = measure(
        device,
        args.batch or ([64, 256] if gpu else [64]),
        args.amp or (["bf16", "none"] if gpu else ["none"]),
        args.runs,
        args.train_per_class or (200 if gpu else 10),
        args.test_per_class or (50 if gpu else 5),
        args.student,
    )
    print(
        f"{hardware} | torch {torch.__version__} | one epoch resnet32x4 -> {args.student}, "
        f"{rows[0]['images']} synthetic 32x32 images, run {args.runs} of {args.runs} per loss, interleaved"
    )
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
