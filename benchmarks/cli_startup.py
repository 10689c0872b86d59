"""Start-up time of ``ldrrld --help`` against ``python -c "import torch"`` (target: ratio <= 1.2).

The command line imports torch (the losses need it) but nothing heavier before it parses its
arguments: torchvision, which pulls in ``torch._dynamo``, is imported only by the functions that
build ImageNet models or folder transforms. Both commands run as fresh processes, interleaved,
so a busy machine slows both alike; the table reports the medians. Usage::

    python benchmarks/cli_startup.py                # 7 repeats of each
    python benchmarks/cli_startup.py --repeats 15
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.2  # issue 15: `ldrrld --help` within 1.2x the time of importing torch

COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "ldrrld --help": [sys.executable, "-m", "ldrrld_core", "--help"],
}


def seconds(command: list[str]) -> float:
    """Wall-clock seconds of one fresh process running ``command`` (which must succeed)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": path}
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=environment)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    for command in COMMANDS.values():  # warm the file cache once, untimed
        seconds(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, command in COMMANDS.items():
            times[name].append(seconds(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["ldrrld --help"] / medians["import torch"]
    print("| command | median s | min s |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| `{name}` | {medians[name]:.2f} | {min(values):.2f} |")
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"\nratio {ratio:.2f} ({verdict} the target <= {TARGET}); {args.repeats} interleaved repeats")
    if args.json:
        print(json.dumps({"medians": medians, "ratio": ratio, "target": TARGET, "repeats": args.repeats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
