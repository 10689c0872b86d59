"""Rerun the paper's CIFAR-100 tables: a thin wrapper of :mod:`ldrrld_core.reproduce` (see docs/reproduce.md).

python benchmarks/reproduce_cifar100.py pairs
python benchmarks/reproduce_cifar100.py commands --teachers data/teachers --seeds 0 1 2
python benchmarks/reproduce_cifar100.py run --teachers data/teachers --only resnet32x4-resnet8x4
python benchmarks/reproduce_cifar100.py table
python benchmarks/reproduce_cifar100.py run --fast      # seconds on a CPU: checks the code path
"""

import sys

from ldrrld_core.reproduce.command import main

if __name__ == "__main__":
    sys.exit(main())
