"""The Triton kernel of the fused LDRRLD forward against the torch form.

On a CPU the kernel runs in Triton's interpreter: set ``TRITON_INTERPRET=1`` before Python starts
(``TRITON_INTERPRET=1 pytest tests/test_triton.py``); without it, and without a GPU, these tests skip
here, and ``tests/test_triton_interpreter.py`` runs this file in a fresh process with the variable set.
"""

from __future__ import annotations

import os

import pytest
import torch
from naive import naive_top

from ldrrld_core import ldrrld_loss
from ldrrld_core.kernels import torch_only, triton_ldrrld
from ldrrld_core.losses import fused
from ldrrld_core.relations import cached_pair_weights, ranked_top, top_classes

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = [
    pytest.mark.skipif(
        triton_ldrrld.triton is None or (DEVICE == "cpu" and os.environ.get("TRITON_INTERPRET") != "1"),
        reason="needs Triton on a GPU, or TRITON_INTERPRET=1 for its CPU interpreter",
    ),
    # the interpreter evaluates both sides of tl.where in NumPy, which warns about the discarded side
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
]


def logits(batch, classes, seed, scale=3.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(batch, classes, generator=g)).to(dtype).to(DEVICE)


@pytest.mark.parametrize(
    "batch,classes,depth,dtype",
    [
        (4, 10, 7, torch.float32),
        (3, 2, 2, torch.float32),
        (5, 9, 9, torch.float32),
        (6, 3000, 5, torch.float32),
        (4, 100, 7, torch.bfloat16),
        (2, 37, 3, torch.float16),
    ],
)
@pytest.mark.parametrize("scale", [3.0, 400.0], ids=["plain", "extreme"])
def test_kernel_rows_equal_torch_rows(batch, classes, depth, dtype, scale):
    if dtype == torch.float16:
        scale = min(scale, 3e3)
    student = logits(batch, classes, 1, scale=scale, dtype=dtype)
    teacher = logits(batch, classes, 2, scale=scale, dtype=dtype)
    top = top_classes(student, depth)
    first, second, weights = cached_pair_weights(depth, 0.05, device=student.device)
    got = triton_ldrrld.ldrrld_rows(student, teacher, top, weights, first, second, 4.0)
    want = fused._ldrrld_rows(student, teacher, top, weights, first, second, 4.0, torch.float32)
    names = ("local_kl", "rntk_kl", "pair_kl", "topd_kl", "rest_grad", "top_grad")
    for name, a, b in zip(names, got, want):
        if b is None:
            assert a is None, name
        else:
            # float32 round-off of terms that cancel grows with the logits' magnitude
            torch.testing.assert_close(a, b, rtol=2e-5, atol=1e-6 * scale / 3, msg=name)


def test_loss_uses_the_kernel_and_the_switch_turns_it_off(monkeypatch):
    student = logits(8, 50, 3).requires_grad_(True)
    teacher = logits(8, 50, 4)
    calls = []
    original = triton_ldrrld.ldrrld_rows
    monkeypatch.setattr(triton_ldrrld, "ldrrld_rows", lambda *a, **k: calls.append(1) or original(*a, **k))
    with_kernel = ldrrld_loss(student, teacher)
    (grad_kernel,) = torch.autograd.grad(with_kernel.total(), student)
    assert calls == [1]
    monkeypatch.setattr(triton_ldrrld, "ENABLED", False)
    without = ldrrld_loss(student, teacher)
    (grad,) = torch.autograd.grad(without.total(), student)
    assert calls == [1]
    torch.testing.assert_close(with_kernel.local, without.local, rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(with_kernel.rntk, without.rntk, rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(grad_kernel, grad, rtol=2e-5, atol=1e-7)


def test_tied_bfloat16_logits_pick_the_same_classes_and_loss_as_the_torch_form(monkeypatch):
    student, teacher = logits(64, 100, 7, dtype=torch.bfloat16), logits(64, 100, 8, dtype=torch.bfloat16)
    values = student.topk(8, dim=1).values
    assert (values[:, 1:] == values[:, :-1]).any(1).sum() >= 8  # ties among the top 8 in many rows
    want = naive_top(student.cpu(), 7)  # equal logits: the lower class first
    assert torch.equal(top_classes(student, 7).cpu(), want)
    assert torch.equal(ranked_top(student, 7, skip_without_ties=False).cpu(), want)  # the GPU's search
    calls = []
    original = triton_ldrrld.ldrrld_rows
    monkeypatch.setattr(triton_ldrrld, "ldrrld_rows", lambda *a, **k: calls.append(1) or original(*a, **k))
    with_kernel = ldrrld_loss(student, teacher)
    assert calls == [1]
    with torch_only():
        torch_form = ldrrld_loss(student, teacher)
    assert torch.equal(with_kernel.top_classes, torch_form.top_classes)
    torch.testing.assert_close(with_kernel.local, torch_form.local, rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(with_kernel.rntk, torch_form.rntk, rtol=2e-5, atol=1e-6)


def test_float64_never_uses_the_kernel():
    assert not triton_ldrrld.available(torch.device(DEVICE), torch.float64)


def test_a_failing_kernel_falls_back_to_torch_and_says_so(monkeypatch, caplog):
    student, teacher = logits(4, 30, 5).requires_grad_(True), logits(4, 30, 6)
    want = ldrrld_loss(student, teacher, fused=False)

    def broken(*args, **kwargs):
        raise RuntimeError("no such PTX feature")

    monkeypatch.setattr(triton_ldrrld, "ldrrld_rows", broken)
    monkeypatch.setattr(triton_ldrrld, "ENABLED", True)
    with caplog.at_level("WARNING", logger="ldrrld"):
        got = ldrrld_loss(student, teacher)
    assert "Triton LDRRLD kernel failed" in caplog.text and not triton_ldrrld.ENABLED
    torch.testing.assert_close(got.local, want.local)


def test_kernel_remaining_term_over_one_class_is_zero_never_negative():
    # d = C - 1: each restricted softmax has one class, probability 1; KL 0 up to round-off, never below.
    student, teacher = logits(64, 8, 7, scale=20.0), logits(64, 8, 8, scale=20.0)
    top = top_classes(student, 7)
    first, second, weights = cached_pair_weights(7, 0.05, device=student.device)
    rntk_kl = triton_ldrrld.ldrrld_rows(student, teacher, top, weights, first, second, 4.0)[1]
    assert (rntk_kl >= 0).all() and float(rntk_kl.max()) < 1e-5
