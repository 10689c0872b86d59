"""Forward + backward time of KD, LDRRLD and the masked (naive) LDRRLD, and their ratios.

All three run interleaved in one process, so the ratios are robust to a noisy machine: each
repeat times every method once, and the table reports medians. Usage::

    python benchmarks/loss_speed.py                 # B=256, C in {100, 1000}, d=7, CPU (+ CUDA)
    python benchmarks/loss_speed.py --repeats 50 --classes 100
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from masked_reference import masked_ldrrld  # noqa: E402

from ldrrld_core import kd_loss, ldrrld_loss  # noqa: E402

TARGETS = {100: 6.0, 1000: 3.0}   # LDRRLD / KD at most this (issue 2)
NAIVE_TARGET = 10.0               # naive / LDRRLD at least this


def methods(depth: int):
    def kd(s, t):
        return kd_loss(s, t, 4.0, validate=False)

    def ldrrld(s, t):
        terms = ldrrld_loss(s, t, depth=depth, validate=False)
        return 10.5 * terms.local + 7.0 * terms.rntk

    def naive(s, t):
        local, rntk = masked_ldrrld(s, t, depth)
        return 10.5 * local + 7.0 * rntk

    return {"kd": kd, "ldrrld": ldrrld, "naive": naive}


def time_once(fn, student, teacher, device) -> float:
    student.grad = None
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn(student, teacher).backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(batch: int, classes: int, depth: int, device: torch.device, repeats: int, warmup: int = 5):
    g = torch.Generator().manual_seed(0)
    student = (3 * torch.randn(batch, classes, generator=g)).to(device).requires_grad_(True)
    teacher = (3 * torch.randn(batch, classes, generator=g)).to(device)
    fns = methods(depth)
    samples = {name: [] for name in fns}
    for r in range(warmup + repeats):
        for name, fn in fns.items():
            elapsed = time_once(fn, student, teacher, device)
            if r >= warmup:
                samples[name].append(elapsed)
    ms = {name: 1e3 * statistics.median(values) for name, values in samples.items()}
    return {"device": device.type, "batch": batch, "classes": classes, "depth": depth,
            **{f"{k}_ms": round(v, 4) for k, v in ms.items()},
            "ldrrld_over_kd": round(ms["ldrrld"] / ms["kd"], 2),
            "naive_over_ldrrld": round(ms["naive"] / ms["ldrrld"], 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--classes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--depth", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = [measure(args.batch, c, args.depth, dev, args.repeats) for dev in devices for c in args.classes]
    name = {"cpu": f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"}
    if torch.cuda.is_available():
        name["cuda"] = torch.cuda.get_device_name()
    print(f"torch {torch.__version__}; forward+backward, median of {args.repeats} interleaved repeats; "
          f"B={args.batch}, d={args.depth}")
    print("| device | C | KD ms | LDRRLD ms | naive ms | LDRRLD/KD (target) | naive/LDRRLD (target) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        target = TARGETS.get(row["classes"])
        print(f"| {name[row['device']]} | {row['classes']} | {row['kd_ms']:.3f} | {row['ldrrld_ms']:.3f} | "
              f"{row['naive_ms']:.3f} | {row['ldrrld_over_kd']:.2f} (<= {target}) | "
              f"{row['naive_over_ldrrld']:.1f} (>= {NAIVE_TARGET}) |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
