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
def test_notebooks_pass_under_other_kernels(tmp_path):
    """``pytest --nbval`` on every notebook under each environment of OTHER_KERNELS, the runs side
    by side (each uses one core: the notebooks set one torch thread, and so does OMP_NUM_THREADS)."""
    assert NOTEBOOKS, "no notebooks found"
    runs = {}
    for name, variables in OTHER_KERNELS.items():
        env = {**os.environ, **variables, "OMP_NUM_THREADS": "1", "LDRRLD_FAST": "1"}
        log = open(tmp_path / f"{name}.log", "w+")
        runs[name] = (
            log,
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "--nbval",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "--no-header",
                    f"--basetemp={tmp_path / name}",
                    *map(str, NOTEBOOKS),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
        )
    failed = {}
    for name, (log, process) in runs.items():
        try:
            code = process.wait(timeout=1200)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "timeout"
        log.seek(0)
        if code != 0:
            failed[name] = f"{OTHER_KERNELS[name]} (exit {code}):\n{log.read()[-5000:]}"
        log.close()
    assert not failed, "pytest --nbval failed under " + "\n\n".join(failed.values())
