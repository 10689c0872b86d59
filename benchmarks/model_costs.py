"""What the seed's heterogeneous (Table 4) and ImageNet (Table 3) models cost on a CPU.

For each model, built through the zoo (``create_model``) with random weights at its table's class
count (Table 4: 100 classes; Table 3: 1000) and 224 x 224 images:

* parameters;
* forward GFLOPs per image, counted by ``torch.utils.flop_counter.FlopCounterMode`` on the meta
  device (2 per multiply-add; matrix products, convolutions and attention, not the elementwise
  operations): what the kit's GPU-hour estimates use (``ldrrld_core/reproduce/costs.py``);
* CPU forward time at batch 8 (eval mode, ``torch.inference_mode``, contiguous layout; after one
  warm-up forward, the median and the fastest of ``--repeats`` on the wall clock, and the median
  CPU time of the process, its threads summed), on ``--threads`` torch threads. On a shared
  machine the wall clock includes waiting for other jobs; the CPU time does not, so it is the
  steadier of the two there (near threads x wall time on an idle machine);
* peak memory of one forward + backward at batch 8 (train mode, cross-entropy on random labels):
  the growth of the process's peak resident set (``ru_maxrss``, Linux) over its resident set just
  before the step, each model in a fresh process so that no other model's peak hides it. This is
  memory the system gave the process (weights' gradients, activations, workspace), not torch's own
  allocator count, which a CPU build does not keep.

Usage::

    PYTHONPATH=. python benchmarks/model_costs.py                    # every model, markdown table
    PYTHONPATH=. python benchmarks/model_costs.py --models timm:DeiT-T resnet18 --json out.json
    PYTHONPATH=. python benchmarks/model_costs.py --skip-memory timm:Mixer-B/16
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

#: (zoo name, classes, table) of every model of the seed's Tables 3 and 4.
MODELS = (
    ("timm:Swin-T", 100, "4 T"),
    ("timm:ViT-S", 100, "4 T"),
    ("timm:Mixer-B/16", 100, "4 T"),
    ("timm:ConvNeXt-T", 100, "4 T"),
    ("timm:ResNet18", 100, "4 S"),
    ("timm:MobileNetV2", 100, "4 S"),
    ("timm:DeiT-T", 100, "4 S"),
    ("timm:Swin-P", 100, "4 S"),
    ("timm:ResMLP-S12", 100, "4 S"),
    ("resnet34", 1000, "3 T"),
    ("resnet50", 1000, "3 T"),
    ("resnet18", 1000, "3 S"),
    ("mobilenet_v1", 1000, "3 S"),
)
BATCH, IMAGE = 8, 224


def _resident_kib() -> int:
    """This process's resident set now, in KiB (``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def measure_one(name: str, classes: int, *, repeats: int, memory: bool) -> dict[str, object]:
    """One model's row (run in a fresh process by :func:`main`)."""
    from ldrrld_core.models import create_model
    from ldrrld_core.reproduce.costs import forward_gflops

    torch.manual_seed(0)
    model = create_model(name, num_classes=classes)
    images = torch.randn(BATCH, 3, IMAGE, IMAGE)
    labels = torch.randint(0, classes, (BATCH,))
    row: dict[str, object] = {
        "model": name,
        "classes": classes,
        "parameters": sum(p.numel() for p in model.parameters()),
        "gflops": forward_gflops(name, classes),
    }
    if memory:
        model.train()
        before = _resident_kib()
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        row["step_peak_mib"] = (peak - before) / 1024 if peak > peak_before else None
        model.zero_grad(set_to_none=True)
    model.eval()
    times, cpu_times = [], []
    with torch.inference_mode():
        model(images)  # warm-up
        for _ in range(repeats):
            started, cpu_started = time.perf_counter(), time.process_time()
            model(images)
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)
    row["forward_ms"] = 1000 * statistics.median(times)
    row["forward_min_ms"] = 1000 * min(times)
    row["forward_cpu_ms"] = 1000 * statistics.median(cpu_times)
    return row


def markdown(rows: list[dict[str, object]], threads: int) -> str:
    lines = [
        f"torch {torch.__version__}, CPU ({os.uname().machine}, {threads} threads); batch {BATCH} at "
        f"{IMAGE} x {IMAGE}; forward: eval mode, wall time (median, fastest) and process CPU time "
        "(median, threads summed) of the repeats; step "
        "peak: ru_maxrss growth over the resident set before one forward + backward (train mode), a "
        "fresh process per model",
        "| table | model | classes | parameters (M) | forward GFLOPs / image | forward wall ms, median "
        "(fastest) | forward CPU ms | forward + backward peak MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        peak = row.get("step_peak_mib")
        lines.append(
            f"| {row['table']} | {row['model']} | {row['classes']} | {row['parameters'] / 1e6:.2f} | "
            f"{row['gflops']:.2f} | {row['forward_ms']:.0f} ({row['forward_min_ms']:.0f}) | "
            f"{row['forward_cpu_ms']:.0f} | "
            f"{'not measured' if peak is None else f'{peak:.0f}'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", help="zoo names (default: every model of Tables 3 and 4)")
    parser.add_argument("--skip-memory", nargs="*", default=[], help="models whose step peak is not measured")
    parser.add_argument("--repeats", type=int, default=3, help="timed forwards per model (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "CLASSES"), help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.one:  # the child: one model, one JSON line
        row = measure_one(args.one[0], int(args.one[1]), repeats=args.repeats, memory=not args.no_memory)
        print(json.dumps(row))
        return 0
    chosen = [entry for entry in MODELS if not args.models or entry[0] in args.models]
    rows = []
    for name, classes, table in chosen:
        command = [sys.executable, __file__, "--one", name, str(classes), "--repeats", str(args.repeats)]
        command += ["--threads", str(args.threads)] + (["--no-memory"] if name in args.skip_memory else [])
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append({"table": table, **json.loads(done.stdout.strip().splitlines()[-1])})
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(markdown(rows, args.threads))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
