"""The Triton kernel's tests on every run of the unit tests, GPU or not.

``tests/test_triton.py`` needs a GPU, or Triton's CPU interpreter, which reads ``TRITON_INTERPRET=1``
when Triton is first imported: too late inside this pytest process, which imported it already.
So on a machine without a GPU this test runs that file in a fresh pytest process with the variable
set, and asserts that every test there ran and passed (none skipped). On a GPU the file runs in
this process anyway, against the real kernel.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ldrrld_core.kernels import triton_ldrrld

KERNEL_TESTS = Path(__file__).resolve().parent / "test_triton.py"


@pytest.mark.skipif(triton_ldrrld.triton is None, reason="Triton is not installed")
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU, test_triton.py runs the real kernel in this process")
@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1", reason="test_triton.py runs in this process already")
def test_triton_kernel_tests_pass_in_the_interpreter():
    root = KERNEL_TESTS.parent.parent
    env = {
        **os.environ,
        "TRITON_INTERPRET": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "pytest", str(KERNEL_TESTS), "-q", "-rs", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", summary), summary
    assert not re.search(r"skipped|deselected|error", summary), summary
