"""The losses as single autograd nodes with closed-form backward passes.

Every distillation term here is a KL between two softmaxes (over all classes, over a subset, or
over two classes), and the derivative of ``KL(softmax(v) || softmax(u))`` in the student's
logits ``u`` is simply ``softmax(u) - softmax(v)`` over the same classes. So instead of letting
autograd record (and keep alive) every ``(B, C)`` intermediate of the forward pass, each
function here computes its value with no graph and keeps for the backward pass only the
gradient per unit of loss, built from the softmaxes the value needed anyway (``q - p``, held
in the buffer of the two softmaxes), plus the top-d indices and one ``(B, d)`` tensor; the
backward pass scales it:

* a two-class KL on logit gaps ``g_s, g_t`` gives ``sigmoid(g_s) - sigmoid(g_t)`` on the gap;
* a KL over the top ``d`` classes gives ``softmax(u_top) - softmax(v_top)``;
* a KL over the classes outside a set gives the restricted-softmax difference ``q - p`` there.

The formulas are those of ``docs/method.md``; the values equal the autograd-traced forms
(``fused=False``) to round-off, and ``tests/test_fused.py`` checks values and gradients
against the naive references in float64, ``gradcheck`` included. A second derivative is not
provided: ``backward`` raises when asked to build a graph (``create_graph=True``).

Teacher logits are constants here (they never receive gradient). Inputs of any floating dtype
are accepted; the arithmetic runs in ``dtype`` (float32 or float64, see
:func:`~ldrrld_core.relations.compute_dtype`) and the gradient returns in the student's dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..kernels import cpu_ldrrld, triton_ldrrld

__all__ = ["use_fused", "fused_kd", "fused_ldrrld", "fused_dkd"]


def use_fused(requested: bool) -> bool:
    """Whether to run the fused node: as ``requested``, except inside ``torch.compile``.

    Compiled, the traced form is faster than this hand-written node and keeps less memory
    (inductor fuses the traced graph into a few passes; the node it can only run as written).
    ``benchmarks/loss_speed.py`` times both (``ldrrld-compiled`` against ``ldrrld``).
    """
    return requested and not torch.compiler.is_compiling()


def _no_double_backward(name: str) -> None:
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"{name} has a closed-form first derivative only and cannot be differentiated "
            f"twice (create_graph=True); call it with fused=False for double backward"
        )


def _tempered(student: Tensor, teacher: Tensor, temperature: float, dtype: torch.dtype) -> Tensor:
    """Both logit sets divided by ``T`` in ``dtype``, stacked: ``(B, C) x 2 -> (2, B, C)``.

    Index 0 is the student (``u``), 1 the teacher (``v``): every step below runs once for both.
    A new tensor, safe to modify in place. Each half is written once, by the division itself
    (``torch.stack`` and an in-place division would pass over both twice); logits of another
    dtype are converted first, so the division runs in ``dtype``.
    """
    z = student.new_empty((2, *student.shape), dtype=dtype)
    for half, logits in zip(z, (student, teacher)):
        if logits.dtype == dtype:
            torch.div(logits, temperature, out=half)
        else:
            half.copy_(logits).div_(temperature)
    return z


def _restricted_kl_(z: Tensor, excluded: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``KL(softmax(v) || softmax(u))`` per row over the classes not in ``excluded``, with the softmaxes.

    ``z`` is ``(2, B, C)`` (``u``, ``v``), ``excluded`` ``(B, k)`` or ``None``. Returns ``(kl (B,),
    prob (2, B, C), L (2, B))``: the student's and teacher's restricted softmaxes ``q``, ``p``
    (exactly 0 at excluded classes) and their log-sum-exps. ``KL = sum_k p_k (v_k - u_k) - L_t + L_s``,
    clipped at 0 (round-off). ``L`` is read off the largest kept logit ``m``, whose probability is
    the largest, ``exp(m - L)``: ``L = m - log max softmax``. Consumes ``z`` (overwritten).
    """
    if excluded is not None:
        z.scatter_(2, excluded.expand(2, *excluded.shape), float("-inf"))
    lse = z.amax(2)  # (2, B)
    prob = torch.softmax(z, 2)
    lse.sub_(prob.amax(2).log_())
    difference = z[1].sub_(z[0])  # v - u; nan where excluded
    if excluded is not None:
        difference.scatter_(1, excluded, 0.0)  # ... where p is 0
    kl = difference.mul_(prob[1]).sum(1)  # sum_k p_k (v_k - u_k)
    return kl.sub_(lse[1]).add_(lse[0]).clamp_min_(0), prob, lse


def _binary_kl(gaps: Tensor) -> tuple[Tensor, Tensor]:
    """Two-class KL on stacked logit gaps ``(2, ...)`` (student, teacher), and its gap derivative.

    ``KL = softplus(g_s) - sigmoid(g_t) g_s - [softplus(g_t) - sigmoid(g_t) g_t]``;
    ``dKL/dg_s = sigmoid(g_s) - sigmoid(g_t)``. ``softplus(g) = max(g, 0) - log sigmoid(|g|)``: the
    same value as ``F.softplus`` to round-off, from vectorised kernels instead of ``log1p`` (ten
    times slower on a CPU).
    """
    sig = torch.sigmoid(gaps)
    soft = gaps.clamp_min(0).sub_(gaps.abs().sigmoid_().log_()).addcmul_(sig[1], gaps, value=-1)
    return soft[0].sub_(soft[1]).clamp_min_(0), sig[0].sub_(sig[1])


class _KD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, temperature: float, dtype: torch.dtype):
        kl, prob, _ = _restricted_kl_(_tempered(student, teacher, temperature, dtype), None)
        ctx.save_for_backward(prob[0].sub_(prob[1]))  # d KL_b / d u = q - p
        ctx.scale, ctx.student_dtype = temperature / student.shape[0], student.dtype  # T^2 / B / T
        return temperature**2 * kl.mean()

    @staticmethod
    def backward(ctx, grad_kd: Tensor):
        _no_double_backward("kd_loss(fused=True)")
        (softmax_difference,) = ctx.saved_tensors
        return (softmax_difference * (grad_kd * ctx.scale)).to(ctx.student_dtype), None, None, None


def fused_kd(student_logits: Tensor, teacher_logits: Tensor, temperature: float, dtype: torch.dtype) -> Tensor:
    """``T^2 * mean_b KL(softmax(z_t / T) || softmax(z_s / T))`` as one node. ``(B, C), (B, C) -> ()``."""
    return _KD.apply(student_logits, teacher_logits.detach(), temperature, dtype)


def _local_rows(tops: Tensor, weights: Tensor, first: Tensor, second: Tensor) -> tuple[Tensor, ...]:
    """The local term per sample from the top-d logits, ranks first: ``(2, d, B)`` (``u``, ``v``).

    Returns ``(local_kl (B,), pair_kl (P, B), topd_kl (B,), top_grad (d, B))``, ``top_grad`` the
    derivative of ``local_kl`` in ``u_top``. Ranks lie along dimension 1 so that every reduction
    over them runs vectorised across the batch.
    """
    norm = 1 / (len(first) + 1)
    # Dense pairs: the two-class KL on every pair's gap, and its gap derivative.
    pair_kl, pair_grad = _binary_kl(tops.index_select(1, first) - tops.index_select(1, second))  # (P, B) x 2
    # The top-d set: KL of the softmaxes over the d classes, and softmax(u) - softmax(v).
    log_top = tops.log_softmax(1)  # (2, d, B)
    p_top = log_top.exp()
    topd_kl = (log_top[1] - log_top[0]).mul_(p_top[1]).sum(0).clamp_min_(0)  # (B,)
    top_grad = p_top[0].sub_(p_top[1])  # (d, B)
    pair_grad.mul_(weights[:, None])
    top_grad.index_add_(0, first, pair_grad).index_add_(0, second, pair_grad, alpha=-1).mul_(norm)
    local_kl = torch.addmv(topd_kl, pair_kl.t(), weights, beta=norm, alpha=norm)  # (B,)
    return local_kl, pair_kl, topd_kl, top_grad


def _ldrrld_rows(
    student: Tensor,
    teacher: Tensor,
    top: Tensor,
    weights: Tensor,
    first: Tensor,
    second: Tensor,
    temperature: float,
    dtype: torch.dtype,
) -> tuple[Tensor, ...]:
    """Per-sample LDRRLD values and gradients: ``(local_kl, rntk_kl, pair_kl, topd_kl, rest_grad, top_grad)``.

    Shapes ``(B,), (B,), (B, P), (B,), (B, C) or None, (B, d)``: ``rest_grad = q - p`` (0 on the
    top d) and ``top_grad = d local_b / d u_top``, both per unit of ``u = z_s / T``.
    """
    z = _tempered(student, teacher, temperature, dtype)  # (2, B, C)
    _, batch, num_classes = z.shape
    tops = z.transpose(1, 2).gather(1, top.t().expand(2, *top.t().shape))  # (2, d, B)
    local_kl, pair_kl, topd_kl, top_grad = _local_rows(tops, weights, first, second)
    # The remaining classes: KL of the softmaxes restricted to them, and q - p (0 on the top d).
    if top.shape[1] < num_classes:
        rntk_kl, prob, _ = _restricted_kl_(z, top)
        rest_grad = prob[0].sub_(prob[1])
    else:
        rntk_kl, rest_grad = z.new_zeros(batch), None
    return local_kl, rntk_kl, pair_kl.t().contiguous(), topd_kl, rest_grad, top_grad.t()


def _compiled_rows(*args) -> tuple[Tensor, ...] | None:
    """:func:`_ldrrld_rows` from a compiled kernel (Triton on CUDA, C on a CPU), or ``None`` if none applies."""
    student, dtype = args[0], args[-1]
    if triton_ldrrld.available(student.device, dtype):
        return triton_ldrrld.try_ldrrld_rows(*args)
    return cpu_ldrrld.ldrrld_rows(*args)


class _LDRRLD(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        student: Tensor,
        teacher: Tensor,
        top: Tensor,
        weights: Tensor,
        first: Tensor,
        second: Tensor,
        temperature: float,
        dtype: torch.dtype,
    ):
        args = (student, teacher, top, weights, first, second, temperature, dtype)
        local_kl, rntk_kl, pair_kl, topd_kl, rest_grad, top_grad = _compiled_rows(*args) or _ldrrld_rows(*args)
        ctx.save_for_backward(rest_grad, top, top_grad)
        ctx.scale, ctx.student = temperature / student.shape[0], (student.shape, student.dtype)  # T^2/B/T
        ctx.mark_non_differentiable(pair_kl, topd_kl, rntk_kl)
        scale = temperature**2
        return scale * local_kl.mean(), scale * rntk_kl.mean(), pair_kl, topd_kl, rntk_kl

    @staticmethod
    def backward(ctx, grad_local: Tensor, grad_rntk: Tensor, *_):
        _no_double_backward("ldrrld_loss(fused=True)")
        rest_grad, top, top_grad = ctx.saved_tensors
        shape, dtype = ctx.student
        if rest_grad is None:
            grad = top_grad.new_zeros(shape)
        else:
            grad = rest_grad * (grad_rntk * ctx.scale)
        grad.scatter_(1, top, top_grad * (grad_local * ctx.scale))  # the rest is 0 there
        return grad.to(dtype), None, None, None, None, None, None, None


def fused_ldrrld(
    student_logits: Tensor,
    teacher_logits: Tensor,
    top: Tensor,
    weights: Tensor,
    first: Tensor,
    second: Tensor,
    temperature: float,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """LDRRLD's ``(local, rntk, pair_kl, topd_kl, rntk_kl)`` as one node.

    Shapes: logits ``(B, C)``, ``top`` ``(B, d)`` selected classes, ``weights``, ``first``,
    ``second`` ``(P,)``. ``local`` and ``rntk`` are scalars with gradient; the per-sample
    ``pair_kl (B, P)``, ``topd_kl (B,)`` and ``rntk_kl (B,)`` carry none.
    """
    return _LDRRLD.apply(student_logits, teacher_logits.detach(), top, weights, first, second, temperature, dtype)


class _DKD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, label: Tensor, temperature: float, dtype: torch.dtype):
        z = _tempered(student, teacher, temperature, dtype)  # (2, B, C)
        z_y = z.gather(2, label.expand(2, *label.shape))[:, :, 0]  # (2, B)
        nckd, prob, lse = _restricted_kl_(z, label)  # non-target softmaxes
        # TCKD: the binary [p_y, 1 - p_y] is the sigmoid of the gap between z_y and the non-target lse.
        tckd, target_grad = _binary_kl(z_y - lse)  # (B,) x 2
        ctx.save_for_backward(prob, label, target_grad)
        ctx.scale, ctx.student_dtype = temperature / student.shape[0], student.dtype
        scale = temperature**2
        return scale * tckd.mean(), scale * nckd.mean()

    @staticmethod
    def backward(ctx, grad_tckd: Tensor, grad_nckd: Tensor):
        """``d TCKD / du = (q_y - p_y)(e_y - q_nt)``, ``d NCKD / du = q_nt - p_nt``.

        ``_nt`` is the non-target softmax (0 at ``y``), ``q_y - p_y`` the saved ``target_grad``.
        """
        _no_double_backward("dkd_loss(fused=True)")
        prob, label, target_grad = ctx.saved_tensors
        tc = target_grad * grad_tckd  # (B,)
        grad = (prob[0] * (grad_nckd - tc)[:, None]).sub_(prob[1] * grad_nckd).mul_(ctx.scale)
        grad.scatter_(1, label, (tc * ctx.scale)[:, None])
        return grad.to(ctx.student_dtype), None, None, None, None


def fused_dkd(
    student_logits: Tensor, teacher_logits: Tensor, label: Tensor, temperature: float, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """DKD's ``(tckd, nckd)``, each ``T^2`` times a batch-mean KL, as one node. ``label`` is ``(B, 1)``."""
    return _DKD.apply(student_logits, teacher_logits.detach(), label, temperature, dtype)
