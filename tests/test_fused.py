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


# ------------------------------------------------------------------ the baselines' fused nodes
# DIST, LSKD, WTTM, CTKD, TeKAP and SDD: each fused node against its traced form (fused=False,
# the autograd-recorded definition) in float64, values and gradients, and gradcheck on the node.


def baselines(fused: bool, *, batch: int, classes: int, seed: int = 0):
    """Each baseline's pure term as ``(student_shape, f(student) -> scalar)``, odd settings on purpose."""
    from ldrrld_core.losses import (
        dist_loss,
        dist_terms,
        learned_temperature_kd,
        lskd_loss,
        sdd_loss,
        tekap_loss,
        wttm_loss,
    )

    teacher = logits(batch, classes, seed + 1, dtype=torch.float64)
    noise = torch.randn(3, batch, classes, generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64)
    regions_teacher = 3 * torch.randn(batch, 5, classes, generator=torch.Generator().manual_seed(seed + 3)).double()
    target = torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(seed + 4))
    temperature = torch.tensor(3.7, dtype=torch.float64)
    plain, regions = (batch, classes), (batch, 5, classes)
    return {
        "dist": (plain, lambda s: dist_loss(s, teacher, 3.0, 0.7, 1.3, fused=fused)),
        "dist-inter": (plain, lambda s: dist_terms(s, teacher, 2.0, fused=fused)[0]),
        "dist-intra": (plain, lambda s: dist_terms(s, teacher, 2.0, fused=fused)[1]),
        "dist-both": (
            plain,
            lambda s: sum(w * term for w, term in zip((0.4, 2.0), dist_terms(s, teacher, 2.0, fused=fused))),
        ),
        "lskd": (plain, lambda s: lskd_loss(s, teacher, 2.0, fused=fused)),
        "wttm": (plain, lambda s: wttm_loss(s, teacher, 5.0, fused=fused)),
        "ctkd": (plain, lambda s: learned_temperature_kd(s, teacher, temperature, fused=fused)),
        "tekap": (plain, lambda s: tekap_loss(s, teacher, noise, 4.0, noise_weight=0.6, noise_scale=0.3, fused=fused)),
        "tekap-no-noise": (plain, lambda s: tekap_loss(s, teacher, noise[:0], 4.0, fused=fused)),
        "sdd": (regions, lambda s: sdd_loss(s, regions_teacher, target, 4.0, fused=fused)),
    }


BASELINE_NAMES = list(baselines(True, batch=2, classes=3))
# One sample, two classes, CIFAR-100, ImageNet; DIST sums over the batch by a matrix product from 2048 classes.
BASELINE_SHAPES = [(1, 2), (2, 2), (7, 10), (16, 100), (4, 1000), (3, 2100)]


@pytest.mark.parametrize("batch,classes", BASELINE_SHAPES, ids=[f"B{b}-C{c}" for b, c in BASELINE_SHAPES])
@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_baseline_fused_equals_traced_in_float64(name, batch, classes):
    (shape, fused), (_, traced) = (
        baselines(True, batch=batch, classes=classes)[name],
        baselines(False, batch=batch, classes=classes)[name],
    )
    student = 3 * torch.randn(shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64) + 2.0
    student.requires_grad_(True)
    value, want = fused(student), traced(student)
    torch.testing.assert_close(value, want, rtol=1e-12, atol=1e-14)
    assert value.grad_fn is not None and "Backward" in type(value.grad_fn).__name__
    torch.testing.assert_close(
        torch.autograd.grad(value, student)[0], torch.autograd.grad(want, student)[0], rtol=1e-10, atol=1e-13
    )


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_baseline_fused_node_passes_gradcheck(name):
    shape, fused = baselines(True, batch=3, classes=7, seed=11)[name]
    student = torch.randn(shape, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    assert torch.autograd.gradcheck(fused, (student.requires_grad_(True),))


def test_fused_learned_temperature_gradient_reaches_the_temperature():
    """CTKD's node differentiates in the temperature too: against the traced form, and gradcheck in both."""
    from ldrrld_core.losses import learned_temperature_kd

    teacher = logits(6, 40, 13, dtype=torch.float64) - 20.0  # offsets, as real logits have
    student = (logits(6, 40, 14, dtype=torch.float64) + 30.0).requires_grad_(True)
    temperature = torch.tensor(7.5, dtype=torch.float64, requires_grad=True)
    got, want = (learned_temperature_kd(student, teacher, temperature, fused=f) for f in (True, False))
    for a, b in zip(
        torch.autograd.grad(got, (student, temperature)), torch.autograd.grad(want, (student, temperature))
    ):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    assert torch.autograd.gradcheck(
        lambda s, t: learned_temperature_kd(s, teacher[:2, :5], t),
        (student[:2, :5].detach().requires_grad_(True), temperature),
    )


def test_blocked_tekap_equals_one_pass(monkeypatch):
    """At large sizes TeKAP runs blocks of rows (cache-sized); forced on tiny inputs, the same value and gradient."""
    from ldrrld_core.losses import fused as fused_module

    shape, loss = baselines(True, batch=9, classes=30, seed=15)["tekap"]
    student = torch.randn(shape, generator=torch.Generator().manual_seed(16), dtype=torch.float64).requires_grad_(True)
    value = loss(student)
    (grad,) = torch.autograd.grad(value, student)
    monkeypatch.setattr(fused_module, "_UNBLOCKED_ELEMENTS", 0)
    monkeypatch.setattr(fused_module, "_BLOCK_ELEMENTS", 2 * 5 * 30)  # blocks of 2 rows, the last of 1
    blocked = loss(student)
    torch.testing.assert_close(blocked, value, rtol=1e-13, atol=0)
    torch.testing.assert_close(torch.autograd.grad(blocked, student)[0], grad, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_baseline_double_backward_of_fused_raises_and_traced_works(name):
    shape, fused = baselines(True, batch=3, classes=5, seed=17)[name]
    _, traced = baselines(False, batch=3, classes=5, seed=17)[name]
    student = torch.randn(shape, generator=torch.Generator().manual_seed(18), dtype=torch.float64).requires_grad_(True)
    with pytest.raises(RuntimeError, match="fused=False"):
        torch.autograd.grad(fused(student), student, create_graph=True)
    assert torch.autograd.gradgradcheck(traced, (student,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_baseline_fused_gradient_returns_in_the_students_dtype(name, dtype):
    shape, fused = baselines(True, batch=8, classes=30, seed=19)[name]
    student = torch.randn(shape, generator=torch.Generator().manual_seed(20)).to(dtype).requires_grad_(True)
    value = fused(student)
    assert value.dtype == torch.float64, name  # the teacher here is float64: the loss computes in it
    (grad,) = torch.autograd.grad(value, student)
    assert grad.dtype == dtype and torch.isfinite(grad).all(), name


def test_fused_dist_constant_rows_and_one_sample_match_traced():
    """Degenerate correlations: a constant student row (zero deviation) and a batch of one (no column spread)."""
    from ldrrld_core.losses import dist_loss

    teacher = logits(4, 9, 21, dtype=torch.float64)
    student = logits(4, 9, 22, dtype=torch.float64)
    student[1] = 0.5  # softmax exactly 1 / C: the row's centred vector is 0
    for s, t in ((student, teacher), (student[:1], teacher[:1])):
        s = s.clone().requires_grad_(True)
        got, want = dist_loss(s, t), dist_loss(s, t, fused=False)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
        g_got, g_want = (torch.autograd.grad(v, s)[0] for v in (got, want))
        torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-9 * float(g_want.abs().max()))


@pytest.mark.parametrize("name", BASELINE_NAMES)
def test_baseline_fused_value_can_change_in_place_as_the_traced_one(name):
    """``loss *= w`` on a fused baseline's value backpropagates as on the traced one (no view outputs)."""
    (shape, fused), (_, traced) = (baselines(f, batch=4, classes=6, seed=23)[name] for f in (True, False))
    student = torch.randn(shape, generator=torch.Generator().manual_seed(24), dtype=torch.float64).requires_grad_(True)
    grads = []
    for loss in (fused, traced):
        value = loss(student)
        value *= 2.5
        grads.append(torch.autograd.grad(value, student)[0])
    torch.testing.assert_close(*grads, rtol=1e-10, atol=1e-13)
