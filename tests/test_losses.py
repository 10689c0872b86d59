"""The fast losses against their naive definitions, plus precision, edge cases and bad input."""

from __future__ import annotations

import pytest
import torch
from naive import naive_dkd, naive_kd, naive_ldrrld

from ldrrld_core import DKDLoss, KDLoss, LDRRLDLoss, create_loss, dkd_loss, kd_loss, ldrrld_loss, list_losses
from ldrrld_core.losses import dkd_terms
from ldrrld_core.models import create_model

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def logits(batch, classes, seed, scale=3.0, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(batch, classes, generator=g, dtype=dtype)).to(device)


def pair(batch, classes, seed, **kw):
    student = logits(batch, classes, seed, **kw).requires_grad_(True)
    teacher = logits(batch, classes, seed + 1000, **kw).requires_grad_(True)
    return student, teacher


# ---------------------------------------------------------------------------- exactness

CASES = [
    # (batch, classes, depth, temperature, decay, weighting, rank_by)
    (1, 2, 2, 4.0, 0.05, "adw", "student"),
    (3, 3, 2, 1.0, 0.0, "adw", "teacher"),
    (3, 3, 3, 4.0, 0.05, "adw", "student"),
    (4, 10, 7, 4.0, 0.05, "adw", "student"),
    (4, 10, 7, 4.0, 0.05, "adw", "teacher"),
    (2, 10, 10, 2.0, 0.1, "adw", "student"),
    (5, 12, 4, 0.5, 0.3, "irw", "student"),
    (5, 12, 5, 8.0, 0.2, "erd", "teacher"),
    (3, 9, 6, 4.0, 0.05, "uniform", "student"),
    (2, 37, 9, 3.0, 0.01, "adw", "teacher"),
]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "traced"])
@pytest.mark.parametrize("batch,classes,depth,temperature,decay,weighting,rank_by", CASES)
def test_ldrrld_matches_naive_values_and_gradients(
    batch, classes, depth, temperature, decay, weighting, rank_by, fused
):
    seed = batch * 1000 + classes * 10 + depth
    student, teacher = pair(batch, classes, seed)
    fast = ldrrld_loss(
        student,
        teacher,
        depth=depth,
        temperature=temperature,
        decay=decay,
        weighting=weighting,
        rank_by=rank_by,
        fused=fused,
    )
    ref_local, ref_rntk = naive_ldrrld(
        student, teacher, depth, temperature, decay, weighting=weighting, rank_by=rank_by
    )
    assert fast.local.dtype == torch.float64
    torch.testing.assert_close(fast.local, ref_local, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(fast.rntk, ref_rntk, rtol=1e-12, atol=1e-14)

    # Gradients of an arbitrary combination of both terms; the teacher gets none.
    (got,) = torch.autograd.grad(3 * fast.local + 2 * fast.rntk, student)
    (want,) = torch.autograd.grad(3 * ref_local + 2 * ref_rntk, student)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)
    assert not (fast.local.grad_fn is None and fast.rntk.grad_fn is None)
    assert teacher.grad is None


@pytest.mark.parametrize("depth,rank_by", [(2, "student"), (4, "teacher"), (6, "student")])
def test_gradcheck(depth, rank_by):
    student, teacher = pair(3, 6, seed=11 + depth)
    teacher = teacher.detach()
    target = torch.tensor([0, 3, 5])
    for fused in (True, False):
        module = LDRRLDLoss(depth=depth, rank_by=rank_by, fused=fused)
        assert torch.autograd.gradcheck(lambda s: module(s, teacher, target), (student,))
    assert torch.autograd.gradgradcheck(
        lambda s: ldrrld_loss(s, teacher, depth=depth, rank_by=rank_by, fused=False).local, (student,)
    )


def test_pair_terms_sum_to_local():
    student, teacher = pair(8, 20, seed=5)
    terms = ldrrld_loss(student, teacher, depth=6)
    pairs = terms.pair_kl.shape[1]
    assert pairs == 15 and terms.top_classes.shape == (8, 6)
    per_sample = (terms.pair_kl @ terms.pair_weights + terms.topd_kl) / (pairs + 1)
    torch.testing.assert_close(terms.local, 16 * per_sample.mean())
    torch.testing.assert_close(terms.rntk, 16 * terms.rntk_kl.mean())


# ---------------------------------------------------------------------------- properties


def test_zero_when_student_equals_teacher():
    student = logits(7, 30, seed=1, dtype=torch.float32)
    terms = ldrrld_loss(student, student.clone(), depth=7)
    assert float(terms.local) == pytest.approx(0.0, abs=1e-6)
    assert float(terms.rntk) == pytest.approx(0.0, abs=1e-6)


def test_invariant_to_a_constant_shift_per_row():
    student, teacher = pair(5, 12, seed=2, dtype=torch.float32)
    shift = torch.randn(5, 1)
    a = ldrrld_loss(student, teacher, depth=5)
    b = ldrrld_loss(student + shift, teacher - 2 * shift, depth=5)
    torch.testing.assert_close(a.local, b.local, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a.rntk, b.rntk, rtol=1e-5, atol=1e-6)


def test_ranking_carries_no_gradient_and_follows_rank_source():
    student, teacher = pair(4, 10, seed=9, dtype=torch.float32)
    by_student = ldrrld_loss(student, teacher, depth=3, rank_by="student")
    by_teacher = ldrrld_loss(student, teacher, depth=3, rank_by="teacher")
    assert not by_student.top_classes.requires_grad
    assert torch.equal(by_student.top_classes, student.topk(3).indices)
    assert torch.equal(by_teacher.top_classes, teacher.topk(3).indices)


def test_depth_two_top_set_is_the_single_pair_with_weight_one():
    student, teacher = pair(6, 8, seed=4, dtype=torch.float32)
    terms = ldrrld_loss(student, teacher, depth=2)
    torch.testing.assert_close(terms.topd_kl, terms.pair_kl[:, 0])
    w = float(terms.pair_weights[0])  # IRW(1,2) * ERD(1,2) = 2 / 2.5 * exp(-0.15)
    assert w == pytest.approx(0.8 * torch.exp(torch.tensor(-0.15)).item(), rel=1e-6)
    expected = 16 * ((w + 1) * terms.pair_kl[:, 0] / 2).mean()
    torch.testing.assert_close(terms.local, expected)


def test_depth_equal_to_classes_has_no_remaining_term():
    student, teacher = pair(3, 6, seed=8, dtype=torch.float32)
    terms = ldrrld_loss(student, teacher, depth=6)
    assert float(terms.rntk) == 0.0
    (grad,) = torch.autograd.grad(terms.local + terms.rntk, student)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_uniform_weighting_equals_all_ones():
    student, teacher = pair(3, 9, seed=6, dtype=torch.float32)
    terms = ldrrld_loss(student, teacher, depth=4, weighting="uniform")
    assert torch.equal(terms.pair_weights, torch.ones(6))


# ---------------------------------------------------------------------------- precision & devices


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_stay_finite_and_close(device, dtype):
    student32, teacher32 = pair(64, 100, seed=12, dtype=torch.float32, device=device, scale=6.0)
    ref = ldrrld_loss(student32, teacher32)
    student = student32.detach().to(dtype).requires_grad_(True)
    teacher = teacher32.detach().to(dtype)
    half = ldrrld_loss(student, teacher)
    assert half.local.dtype == torch.float32
    tol = 2e-2 if dtype == torch.bfloat16 else 3e-3
    torch.testing.assert_close(half.local, ref.local, rtol=tol, atol=tol)
    torch.testing.assert_close(half.rntk, ref.rntk, rtol=tol, atol=tol)
    (grad,) = torch.autograd.grad(half.local + half.rntk, student)
    assert grad.dtype == dtype and torch.isfinite(grad).all()


@pytest.mark.parametrize("device", DEVICES)
def test_extreme_logits_in_float16_do_not_overflow(device):
    # Logits near float16's range: a -1000 mask or an exp in half precision would break here.
    student = torch.tensor([[6e4, -6e4, 0.0, 3e4, -3e4]], dtype=torch.float16, device=device, requires_grad=True)
    teacher = torch.tensor([[-6e4, 6e4, 1e4, 0.0, 5.0]], dtype=torch.float16, device=device)
    terms = ldrrld_loss(student, teacher, depth=3)
    (grad,) = torch.autograd.grad(terms.local + terms.rntk, student)
    assert torch.isfinite(terms.local) and torch.isfinite(terms.rntk) and torch.isfinite(grad).all()


def test_autocast_bfloat16_on_cpu():
    model = torch.nn.Linear(16, 50)
    x = torch.randn(32, 16)
    teacher = torch.randn(32, 50)
    target = torch.randint(0, 50, (32,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        student = model(x)
        loss = LDRRLDLoss()(student, teacher, target)
    assert student.dtype == torch.bfloat16 and loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(model.weight.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    student, teacher = pair(32, 100, seed=21, dtype=torch.float32)
    cpu = ldrrld_loss(student, teacher)
    gpu = ldrrld_loss(student.detach().cuda(), teacher.detach().cuda())
    torch.testing.assert_close(gpu.local.cpu(), cpu.local, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gpu.rntk.cpu(), cpu.rntk, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- baselines


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "traced"])
@pytest.mark.parametrize("batch,classes,temperature", [(1, 2, 1.0), (4, 10, 4.0), (3, 33, 0.7)])
def test_kd_matches_textbook(batch, classes, temperature, fused):
    student, teacher = pair(batch, classes, seed=classes)
    fast = kd_loss(student, teacher, temperature, fused=fused)
    ref = naive_kd(student, teacher, temperature)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(
        torch.autograd.grad(fast, student)[0], torch.autograd.grad(ref, student)[0], rtol=1e-10, atol=1e-13
    )
    assert torch.autograd.gradcheck(lambda s: kd_loss(s, teacher, temperature, fused=fused), (student,))


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "traced"])
@pytest.mark.parametrize(
    "batch,classes,temperature,alpha,beta", [(1, 2, 4.0, 1.0, 8.0), (5, 10, 4.0, 1.0, 8.0), (4, 21, 2.0, 0.5, 2.0)]
)
def test_dkd_matches_textbook(batch, classes, temperature, alpha, beta, fused):
    student, teacher = pair(batch, classes, seed=batch * classes)
    target = torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(1))
    fast = dkd_loss(student, teacher, target, alpha, beta, temperature, fused=fused)
    ref = naive_dkd(student, teacher, target, alpha, beta, temperature)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(
        torch.autograd.grad(fast, student)[0], torch.autograd.grad(ref, student)[0], rtol=1e-10, atol=1e-13
    )
    assert torch.autograd.gradcheck(
        lambda s: dkd_loss(s, teacher, target, alpha, beta, temperature, fused=fused), (student,)
    )


def test_dkd_with_unit_weights_recovers_kd_decomposition():
    # KD = TCKD + (1 - p_t[target]) * NCKD: a known identity of DKD's decomposition.
    student, teacher = pair(6, 12, seed=30)
    target = torch.randint(0, 12, (6,))
    t = 4.0
    p_target = torch.softmax(teacher.detach() / t, 1).gather(1, target[:, None])[:, 0]
    # per-sample form of the identity, using the naive per-sample terms
    for b in range(6):
        s_b, t_b, y_b = student[b : b + 1], teacher[b : b + 1], target[b : b + 1]
        tckd, nckd = dkd_terms(s_b, t_b, y_b, t)
        torch.testing.assert_close(kd_loss(s_b, t_b, t), tckd + (1 - p_target[b]).float() * nckd, rtol=1e-5, atol=1e-6)


def test_dkd_warmup_ramps_linearly():
    loss = DKDLoss(warmup_epochs=20)
    student, teacher = pair(4, 10, seed=31, dtype=torch.float32)
    target = torch.tensor([0, 1, 2, 3])
    values = []
    for epoch in (1, 10, 20, 40):
        loss.set_epoch(epoch)
        total = loss(student, teacher, target)
        t = loss.last_terms
        assert torch.equal(total.detach(), t["loss"])
        values.append((float(t["loss"]) - float(t["ce"])) / (float(t["tckd"]) + 8 * float(t["nckd"])))
    assert values == pytest.approx([0.05, 0.5, 1.0, 1.0], rel=1e-5)


def test_modules_combine_terms_as_documented():
    student, teacher = pair(8, 10, seed=40, dtype=torch.float32)
    target = torch.randint(0, 10, (8,))
    ce = torch.nn.functional.cross_entropy(student, target)
    kd = KDLoss(temperature=3.0, ce_weight=0.2, kd_weight=0.7)
    torch.testing.assert_close(kd(student, teacher, target), 0.2 * ce + 0.7 * kd_loss(student, teacher, 3.0))
    ld = LDRRLDLoss(depth=5, alpha=2.0, beta=3.0, ce_weight=0.5)
    terms = ldrrld_loss(student, teacher, depth=5)
    torch.testing.assert_close(ld(student, teacher, target), 0.5 * ce + 2.0 * terms.local + 3.0 * terms.rntk)
    assert set(ld.last_terms) == {"ce", "local", "rntk", "loss"}
    assert not any(v.requires_grad for v in ld.last_terms.values())


# ---------------------------------------------------------------------------- registry


def test_registry_builds_every_loss_and_ablation():
    names = list_losses()
    assert {
        "ce",
        "kd",
        "dkd",
        "ldrrld",
        "ldrrld-no-adw",
        "ldrrld-irw",
        "ldrrld-erd",
        "ldrrld-no-rntk",
        "ldrrld-teacher-rank",
        "dist",
        "lskd",
        "wttm",
        "ctkd",
        "tekap",
        "sdd",
    } <= set(names)
    # Every loss reads what it declares of two models (logits, or SDD's region logits).
    torch.manual_seed(50)
    student_model, teacher_model = (create_model("digits_cnn_small", num_classes=10) for _ in range(2))
    images, target = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    for name in names:
        loss = create_loss(name)
        student, teacher = (loss.model_outputs(model)(images) for model in (student_model, teacher_model))
        value = loss(student, teacher, target)
        assert torch.isfinite(value), name
        assert loss.logits_of(student).shape == (4, 10), name
    assert create_loss("ldrrld-no-adw").weighting == "uniform"
    assert create_loss("ldrrld-no-rntk").beta == 0.0
    assert create_loss("ldrrld-teacher-rank").rank_by == "teacher"
    assert create_loss("ldrrld", depth=4).depth == 4
    assert create_loss("ce").needs_teacher is False


def test_registry_errors_are_helpful():
    with pytest.raises(ValueError, match="Did you mean 'ldrrld'"):
        create_loss("ldrld")
    with pytest.raises(ValueError, match="does not accept"):
        create_loss("kd", depth=3)


# ---------------------------------------------------------------------------- bad input

GOOD_S, GOOD_T = torch.randn(4, 10), torch.randn(4, 10)


@pytest.mark.parametrize(
    "kwargs,student,teacher,message",
    [
        ({}, torch.randn(4, 10), torch.randn(4, 11), "class counts differ"),
        ({}, torch.randn(4, 10), torch.randn(5, 10), "batch sizes differ"),
        ({}, torch.randn(4, 10, 1), torch.randn(4, 10, 1), "must be 2-D"),
        ({}, torch.randn(10), torch.randn(10), "must be 2-D"),
        ({}, torch.randint(0, 3, (4, 10)), torch.randn(4, 10), "floating point"),
        ({}, torch.randn(0, 10), torch.randn(0, 10), "empty"),
        ({"depth": 1}, GOOD_S, GOOD_T, r"depth must lie in \[2, 10\]"),
        ({"depth": 11}, GOOD_S, GOOD_T, r"depth must lie in \[2, 10\]"),
        ({"depth": 3.0}, GOOD_S, GOOD_T, "depth must be an integer"),
        ({"temperature": 0.0}, GOOD_S, GOOD_T, "temperature must be > 0"),
        ({"temperature": -1.0}, GOOD_S, GOOD_T, "temperature must be > 0"),
        ({"decay": -0.1}, GOOD_S, GOOD_T, "decay must be >= 0"),
        ({"rank_by": "both"}, GOOD_S, GOOD_T, "unknown rank_by"),
        ({"weighting": "cosine"}, GOOD_S, GOOD_T, "unknown weighting"),
        ({}, torch.tensor([[1.0, float("nan")]] * 4), torch.randn(4, 2), "non-finite"),
        ({}, torch.randn(4, 2), torch.tensor([[float("inf"), 0.0]] * 4), "non-finite"),
    ],
)
def test_bad_input_raises_clear_value_error(kwargs, student, teacher, message):
    with pytest.raises(ValueError, match=message):
        ldrrld_loss(student, teacher, **kwargs)


@pytest.mark.parametrize(
    "target,message",
    [
        (torch.tensor([0, 1, 2, 10]), r"lie in \[0, 10\)"),
        (torch.tensor([0, 1, 2, -1]), r"lie in \[0, 10\)"),
        (torch.tensor([0.0, 1.0, 2.0, 3.0]), "integer class indices"),
        (torch.tensor([0, 1, 2]), "1-D tensor of 4"),
    ],
)
@pytest.mark.parametrize("name", ["kd", "dkd", "ldrrld"])
def test_bad_labels_raise(name, target, message):
    with pytest.raises(ValueError, match=message):
        create_loss(name)(GOOD_S, GOOD_T, target)


def test_module_rejects_bad_hyperparameters_at_construction():
    for kwargs in ({"depth": 1}, {"temperature": 0}, {"decay": -1}, {"rank_by": "x"}, {"weighting": "x"}):
        with pytest.raises(ValueError):
            LDRRLDLoss(**kwargs)


def test_validate_false_skips_the_device_sync_but_not_shape_checks():
    with pytest.raises(ValueError, match="depth must lie"):
        ldrrld_loss(GOOD_S, GOOD_T, depth=20, validate=False)
    nan = torch.tensor([[1.0, float("nan"), 0.0]] * 2)
    terms = ldrrld_loss(nan, torch.randn(2, 3), depth=2, validate=False)  # no error: caller watches the loss
    assert not torch.isfinite(terms.local + terms.rntk)
