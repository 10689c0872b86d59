"""The fused losses (one autograd node, closed-form backward) against the traced ones and the naive forms."""

from __future__ import annotations

import pytest
import torch
from naive import naive_ldrrld

from ldrrld_core import dkd_loss, kd_loss, ldrrld_loss
from ldrrld_core.relations import top_classes

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def logits(batch, classes, seed, scale=3.0, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(batch, classes, generator=g, dtype=dtype)).to(device)


def losses(fused: bool, depth: int, target: torch.Tensor):
    """Each loss as ``f(student, teacher) -> scalar``, combining its terms with unequal weights."""
    return {
        "ldrrld": lambda s, t: ldrrld_loss(s, t, depth=depth, fused=fused).total(3.0, 2.0),
        "kd": lambda s, t: kd_loss(s, t, 2.0, fused=fused),
        "dkd": lambda s, t: dkd_loss(s, t, target, 1.5, 4.0, fused=fused),
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch,classes,depth", [(64, 100, 7), (16, 1000, 7), (8, 4096, 5), (5, 9, 9)])
def test_fused_equals_traced_in_float32(device, batch, classes, depth):
    student = logits(batch, classes, 1, device=device).requires_grad_(True)
    teacher = logits(batch, classes, 2, device=device)
    target = torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(3)).to(device)
    fused, traced = losses(True, depth, target), losses(False, depth, target)
    for name in fused:
        value, want = fused[name](student, teacher), traced[name](student, teacher)
        torch.testing.assert_close(value, want, rtol=1e-5, atol=1e-6, msg=name)
        (grad,) = torch.autograd.grad(value, student)
        (grad_want,) = torch.autograd.grad(want, student)
        torch.testing.assert_close(grad, grad_want, rtol=1e-4, atol=1e-7, msg=name)


def test_fused_per_sample_terms_equal_traced_ones_and_carry_no_gradient():
    student = logits(16, 50, 4, dtype=torch.float64).requires_grad_(True)
    teacher = logits(16, 50, 5, dtype=torch.float64)
    fused = ldrrld_loss(student, teacher, depth=6)
    traced = ldrrld_loss(student, teacher, depth=6, fused=False)
    for name in ("pair_kl", "topd_kl", "rntk_kl", "pair_weights", "top_classes"):
        torch.testing.assert_close(getattr(fused, name), getattr(traced, name), rtol=1e-12, atol=1e-14)
    assert not fused.pair_kl.requires_grad and traced.pair_kl.requires_grad
    assert fused.local.requires_grad and fused.rntk.requires_grad


def test_fused_gradient_of_each_term_separately_matches_naive():
    student = logits(4, 12, 6, dtype=torch.float64).requires_grad_(True)
    teacher = logits(4, 12, 7, dtype=torch.float64)
    fused = ldrrld_loss(student, teacher, depth=5)
    local, rntk = naive_ldrrld(student, teacher, 5)
    for got, want in ((fused.local, local), (fused.rntk, rntk)):
        torch.testing.assert_close(
            torch.autograd.grad(got, student, retain_graph=True)[0],
            torch.autograd.grad(want, student, retain_graph=True)[0],
            rtol=1e-10,
            atol=1e-13,
        )


@pytest.mark.parametrize("name", ["ldrrld", "kd", "dkd"])
def test_double_backward_of_fused_raises_and_traced_works(name):
    student = logits(3, 8, 8, dtype=torch.float64).requires_grad_(True)
    teacher = logits(3, 8, 9, dtype=torch.float64)
    target = torch.tensor([0, 4, 7])
    with pytest.raises(RuntimeError, match="fused=False"):
        torch.autograd.grad(losses(True, 4, target)[name](student, teacher), student, create_graph=True)
    traced = losses(False, 4, target)[name]
    assert torch.autograd.gradgradcheck(lambda s: traced(s, teacher), (student,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_fused_gradient_returns_in_the_students_dtype(dtype):
    student = logits(8, 30, 10).to(dtype).requires_grad_(True)
    teacher = logits(8, 30, 11).to(dtype)
    for name, loss in losses(True, 7, torch.arange(8)).items():
        value = loss(student, teacher)
        assert value.dtype == torch.float32, name
        (grad,) = torch.autograd.grad(value, student)
        assert grad.dtype == dtype and torch.isfinite(grad).all(), name


def _saved_bytes(loss, student, teacher) -> int:
    """Bytes of the storages autograd keeps for the backward pass of ``loss(student, teacher)``."""
    storages = {}

    def pack(x):
        storages[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        loss(student, teacher)
    inputs = {student.untyped_storage().data_ptr(), teacher.untyped_storage().data_ptr()}
    return sum(size for ptr, size in storages.items() if ptr not in inputs)


def test_fused_ldrrld_keeps_no_more_for_backward_than_kd():
    """Between forward and backward, LDRRLD holds what KD holds plus (B, d)-sized tensors."""
    batch, classes, depth = 32, 2000, 7
    student = logits(batch, classes, 12).requires_grad_(True)
    teacher = logits(batch, classes, 13)
    kd_fused = _saved_bytes(lambda s, t: kd_loss(s, t), student, teacher)
    kd_traced = _saved_bytes(lambda s, t: kd_loss(s, t, fused=False), student, teacher)
    ld_fused = _saved_bytes(lambda s, t: ldrrld_loss(s, t, depth=depth).total(), student, teacher)
    ld_traced = _saved_bytes(lambda s, t: ldrrld_loss(s, t, depth=depth, fused=False).total(), student, teacher)
    row = batch * classes * 4
    small = 4 * batch * depth * 8  # top indices and the (B, d) gradient, generously
    assert ld_fused <= kd_fused + small
    assert kd_fused <= 2 * row < kd_traced  # the traced KD keeps more (B, C) tensors alive
    assert ld_fused < ld_traced


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "traced"])
def test_remaining_term_over_one_class_is_never_negative(fused):
    # d = C - 1: the restricted softmaxes have one class, probability 1 each, KL exactly 0.
    for seed in range(20):
        student = logits(64, 8, seed, scale=20.0)
        teacher = logits(64, 8, seed + 100, scale=20.0)
        terms = ldrrld_loss(student, teacher, depth=7, fused=fused)
        assert (terms.rntk_kl >= 0).all() and float(terms.rntk) >= 0
        assert (terms.pair_kl >= 0).all() and (terms.topd_kl >= 0).all()


@pytest.mark.parametrize("classes", [10, 65, 100, 200, 447, 1000, 4096, 32000, 30011])
@pytest.mark.parametrize("depth", [2, 7, 9])
def test_two_stage_top_classes_equal_topk(classes, depth):
    z = logits(6, classes, classes + depth)
    assert torch.equal(top_classes(z, depth), z.topk(depth, 1).indices)


def test_two_stage_top_classes_with_ties_pick_a_valid_top_set():
    z = torch.zeros(3, 100)
    z[:, 40:47] = 1.0  # seven classes tie for the top, inside one block and across blocks
    z[1, 3] = 1.0
    top = top_classes(z, 8)
    values = z.gather(1, top)
    assert torch.equal(values.sort(1, descending=True).values, z.topk(8, 1).values)
    assert all(len(set(row)) == 8 for row in top.tolist())


def test_compiled_code_runs_the_traced_form(monkeypatch):
    from ldrrld_core.losses import fused

    assert fused.use_fused(True) and not fused.use_fused(False)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert not fused.use_fused(True)
    student = logits(4, 20, 14).requires_grad_(True)
    terms = ldrrld_loss(student, logits(4, 20, 15))
    assert terms.pair_kl.requires_grad  # the traced form: every intermediate has a graph
