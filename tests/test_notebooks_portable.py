"""The notebooks pass on machines other than the one that executed them.

Torch picks its CPU kernels by what the processor offers, so trained numbers differ in their last
digits from machine to machine. The notebooks therefore compare only output that is deterministic
by construction and check everything from training with asserts. This test proves it on one
machine by running ``pytest --nbval`` on every notebook under other kernels: the plain (non-SIMD)
ATen kernels, and oneDNN/MKL restricted to SSE4.1 in their bitwise-compatible mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbval")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb"))

#: Numeric environments other than the default one: each changes the kernels torch uses.
OTHER_KERNELS = {
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "sse41-compatible": {"ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"},
}


@pytest.mark.slow
@pytest.mark.parametrize("kernels", list(OTHER_KERNELS), ids=list(OTHER_KERNELS))
def test_notebooks_pass_under_other_kernels(kernels, tmp_path):
    assert NOTEBOOKS, "no notebooks found"
    env = {**os.environ, **OTHER_KERNELS[kernels], "OMP_NUM_THREADS": "1", "LDRRLD_FAST": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "-q", "-p", "no:cacheprovider", "--no-header",
         f"--basetemp={tmp_path / 'pytest'}", *map(str, NOTEBOOKS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, f"pytest --nbval under {OTHER_KERNELS[kernels]} failed:\n{run.stdout[-6000:]}"
