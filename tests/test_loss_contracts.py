"""What the losses promise their callers, beyond the right numbers (issue 11's loss classes).

* No returned tensor is an internal cache or a view of one: editing it changes nothing later.
* Under ``torch.autocast`` the losses still compute in float32.
* Teacher logits never receive gradient.
* Loss weights and temperatures are finite and in range, or a ``ValueError`` says which is not.
* A float32 student with a float64 teacher computes in float64; int32 labels work like int64.
* The cross-entropy baseline checks its input like the distillation losses.
* The finiteness check accepts huge finite logits (its sum may overflow) and names the bad tensor.
"""

from __future__ import annotations

import math

import pytest
import torch

from ldrrld_core import DKDLoss, KDLoss, LDRRLDLoss, create_loss, dkd_loss, kd_loss, ldrrld_loss
from ldrrld_core.losses import dkd_terms
from ldrrld_core.relations import pair_gap_matrix, pair_weights


def logits(batch, classes, seed, scale=3.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(batch, classes, generator=g, dtype=dtype)


S, T = logits(6, 20, 0), logits(6, 20, 1)
Y = torch.tensor([0, 5, 19, 3, 3, 7])
FUSED = pytest.mark.parametrize("fused", [True, False], ids=["fused", "traced"])


# ---------------------------------------------------------------------------- 1. no shared tensors


@FUSED
def test_editing_returned_pair_weights_changes_no_later_loss(fused):
    before = ldrrld_loss(S, T, fused=fused)
    local = before.local.clone()
    before.pair_weights.mul_(0).add_(1e3)  # a user normalising weights for a plot
    before.top_classes.zero_()
    after = ldrrld_loss(S, T, fused=fused)
    assert after.pair_weights is not before.pair_weights
    torch.testing.assert_close(after.local, local, rtol=0, atol=0)
    torch.testing.assert_close(after.pair_weights, pair_weights(7)[2])


def test_relation_helpers_hand_out_copies():
    first, second, weights = pair_weights(6)
    for tensor in (first, second, weights):
        tensor.zero_()
    again = pair_weights(6)
    assert again[0].tolist()[:3] == [0, 0, 0] and again[1].tolist()[:3] == [1, 2, 3]
    assert bool((again[2] > 0).all())
    gap = pair_gap_matrix(4)
    gap.zero_()
    assert pair_gap_matrix(4).abs().sum() == 2 * 6


def test_logged_terms_are_copies_of_the_loss():
    module = LDRRLDLoss()
    total = module(S.requires_grad_(False), T, Y)
    value = float(total)
    module.last_terms["loss"].zero_()
    module.last_terms["local"].zero_()
    assert float(total) == value
    assert module.last_details.local is not module.last_terms["local"]


# ---------------------------------------------------------------------------- 2. autocast


@FUSED
def test_ldrrld_under_autocast_computes_in_float32(fused):
    student = logits(32, 100, 2, scale=6.0).requires_grad_(True)
    teacher = logits(32, 100, 3, scale=6.0)
    want = ldrrld_loss(student, teacher, fused=fused)
    (grad_want,) = torch.autograd.grad(want.total(), student)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ldrrld_loss(student, teacher, fused=fused)
    for name in ("local", "rntk", "pair_kl", "topd_kl", "rntk_kl", "pair_weights"):
        assert getattr(got, name).dtype == torch.float32, name
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=1e-6, atol=1e-7, msg=name)
    (grad,) = torch.autograd.grad(got.total(), student)
    torch.testing.assert_close(grad, grad_want, rtol=1e-6, atol=1e-8)


@FUSED
def test_baselines_under_autocast_compute_in_float32(fused):
    for loss in (
        lambda s, t: kd_loss(s, t, fused=fused),
        lambda s, t: dkd_loss(s, t, Y, fused=fused),
        lambda s, t: create_loss("ce")(s, t, Y),
    ):
        want = loss(S, T)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = loss(S, T)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- 3. teacher gradients


@FUSED
@pytest.mark.parametrize("name", ["kd", "dkd", "ldrrld", "ldrrld-teacher-rank"])
def test_teacher_logits_never_receive_gradient(name, fused):
    student = S.clone().requires_grad_(True)
    teacher = T.clone().requires_grad_(True)
    create_loss(name, fused=fused)(student, teacher, Y).backward()
    assert teacher.grad is None and student.grad is not None


@FUSED
def test_pure_functions_detach_the_teacher(fused):
    student = S.clone().requires_grad_(True)
    teacher = T.clone().requires_grad_(True)
    outputs = [
        kd_loss(student, teacher, fused=fused),
        dkd_loss(student, teacher, Y, fused=fused),
        *dkd_terms(student, teacher, Y, fused=fused),
        ldrrld_loss(student, teacher, fused=fused).total(),
    ]
    for value in outputs:
        assert torch.autograd.grad(value, teacher, allow_unused=True)[0] is None


# ---------------------------------------------------------------------------- 4. loss weights

BAD_NUMBERS = [-1.0, math.nan, math.inf, -math.inf]
WEIGHTS = [
    (LDRRLDLoss, "alpha"),
    (LDRRLDLoss, "beta"),
    (LDRRLDLoss, "ce_weight"),
    (LDRRLDLoss, "decay"),
    (LDRRLDLoss, "irw_offset"),
    (KDLoss, "ce_weight"),
    (KDLoss, "kd_weight"),
    (DKDLoss, "alpha"),
    (DKDLoss, "beta"),
    (DKDLoss, "ce_weight"),
    (DKDLoss, "warmup_epochs"),
]
POSITIVE = [(LDRRLDLoss, "temperature"), (LDRRLDLoss, "irw_scale"), (KDLoss, "temperature"), (DKDLoss, "temperature")]


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=str)
@pytest.mark.parametrize("factory,name", WEIGHTS + POSITIVE, ids=lambda x: getattr(x, "__name__", x))
def test_loss_modules_reject_bad_weights(factory, name, value):
    with pytest.raises(ValueError, match=name):
        factory(**{name: value})


@pytest.mark.parametrize("value", BAD_NUMBERS + ["1", None, True], ids=str)
def test_pure_functions_reject_bad_weights(value):
    with pytest.raises(ValueError, match="alpha"):
        dkd_loss(S, T, Y, alpha=value)
    with pytest.raises(ValueError, match="beta"):
        ldrrld_loss(S, T).total(beta=value)
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(S, T, temperature=value)
    with pytest.raises(ValueError, match="decay"):
        ldrrld_loss(S, T, decay=value)


def test_zero_weights_are_allowed():
    assert torch.isfinite(create_loss("ldrrld", alpha=0.0, beta=0, ce_weight=0.0)(S, T, Y))
    assert torch.isfinite(create_loss("dkd", warmup_epochs=0, alpha=0)(S, T, Y))


# ---------------------------------------------------------------------------- 10. dtypes and labels


@FUSED
def test_float32_student_with_float64_teacher_computes_in_float64(fused):
    student = S.clone().requires_grad_(True)
    teacher = T.double() + 1e-9 * torch.randn(T.shape, dtype=torch.float64)  # not representable in fp32
    for loss in (
        lambda s, t: kd_loss(s, t, fused=fused),
        lambda s, t: dkd_loss(s, t, Y, fused=fused),
        lambda s, t: ldrrld_loss(s, t, fused=fused).total(),
    ):
        mixed = loss(student, teacher)
        wide = loss(student.double(), teacher)
        assert mixed.dtype == torch.float64
        torch.testing.assert_close(mixed, wide, rtol=1e-12, atol=1e-14)
        (grad,) = torch.autograd.grad(mixed, student)
        assert grad.dtype == torch.float32


@pytest.mark.parametrize("name", ["ce", "kd", "dkd", "ldrrld"])
@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_integer_labels_of_any_width_work_like_int64(name, dtype):
    module = create_loss(name)
    torch.testing.assert_close(module(S, T, Y.to(dtype)), module(S, T, Y))


@pytest.mark.parametrize(
    "student,target,message",
    [
        (S[:0], Y[:0], "empty"),
        (S, torch.tensor([0, 1, 2, 3, 4, 20]), r"lie in \[0, 20\)"),
        (S, torch.tensor([0, 1, 2, 3, 4, -1]), r"lie in \[0, 20\)"),
        (S, Y[:5], "1-D tensor of 6"),
        (S, Y.float(), "integer class indices"),
        (S[0], Y, "must be 2-D"),
        (S.where(S > 0, torch.nan), Y, "non-finite"),
        (S.long(), Y, "floating point"),
    ],
)
def test_cross_entropy_validates_like_the_other_losses(student, target, message):
    with pytest.raises(ValueError, match=message):
        create_loss("ce")(student, None, target)


# ---------------------------------------------------------------------------- 5. the finiteness check


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_finiteness_check_takes_huge_finite_logits_and_names_the_bad_tensor(dtype):
    """The check sums first (cheap); a sum that overflows on finite values must not count as non-finite."""
    from ldrrld_core.losses.checks import check_logit_pair, check_logits

    huge = torch.full((4, 20), torch.finfo(dtype).max / 2, dtype=dtype)  # finite, but their sum is inf
    check_logit_pair(huge, -huge)
    check_logits(huge)
    for bad in (float("nan"), float("inf"), -float("inf")):
        spoiled = huge.clone()
        spoiled[2, 3] = bad
        with pytest.raises(ValueError, match="teacher_logits holds 1 non-finite"):
            check_logit_pair(huge, spoiled)
        with pytest.raises(ValueError, match="student_logits holds 1 non-finite"):
            check_logit_pair(spoiled, huge)
        with pytest.raises(ValueError, match="student_logits holds 1 non-finite"):
            check_logits(spoiled)
