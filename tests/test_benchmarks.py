"""The loss benchmark runs, and the "naive" form it races against computes the same loss."""

import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from masked_reference import masked_ldrrld  # noqa: E402

from ldrrld_core import ldrrld_loss  # noqa: E402
from naive import naive_ldrrld  # noqa: E402


@pytest.mark.parametrize("classes,depth", [(10, 3), (30, 7), (7, 7)])
def test_masked_reference_equals_fast_loss_and_naive(classes, depth):
    g = torch.Generator().manual_seed(classes)
    student = torch.randn(5, classes, generator=g, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(5, classes, generator=g, dtype=torch.float64)
    local, rntk = masked_ldrrld(student, teacher, depth)
    fast = ldrrld_loss(student.float(), teacher.float(), depth=depth)
    torch.testing.assert_close(local, fast.local, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(rntk, fast.rntk, rtol=1e-5, atol=1e-6)
    ref_local, ref_rntk = naive_ldrrld(student, teacher, depth)
    torch.testing.assert_close(local.double(), ref_local, rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(local + rntk, student)
    assert torch.isfinite(grad).all()


def test_loss_speed_script_prints_its_table(capsys):
    import loss_speed

    assert loss_speed.main(["--batch", "16", "--classes", "20", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "| CPU" in out and "LDRRLD/KD" in out
    row = [line for line in out.splitlines() if line.startswith("| CPU")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "20" and all(float(c) > 0 for c in cells[2:5])
