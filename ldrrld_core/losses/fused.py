"""The losses as single autograd nodes with closed-form backward passes.

Every distillation term here is a KL between two softmaxes (over all classes, over a subset, or
over two classes), and the derivative of ``KL(softmax(v) || softmax(u))`` in the student's
logits ``u`` is simply ``softmax(u) - softmax(v)`` over the same classes. So instead of letting
autograd record (and keep alive) every ``(B, C)`` intermediate of the forward pass, each
function here computes its value with no graph, keeps only the inputs (already alive), a few
per-row log-sum-exps and small ``(B, d)`` tensors, and rebuilds the gradient in one pass:

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
import torch.nn.functional as F
from torch import Tensor

from ..relations import num_pairs

__all__ = ["fused_kd", "fused_ldrrld", "fused_dkd"]


def _no_double_backward(name: str) -> None:
    if torch.is_grad_enabled():
        raise RuntimeError(f"{name} has a closed-form first derivative only and cannot be differentiated "
                           f"twice (create_graph=True); call it with fused=False for double backward")


def _tempered(logits: Tensor, temperature: float, dtype: torch.dtype) -> Tensor:
    """``logits / T`` in ``dtype``, always a new tensor (safe to modify in place). ``(B, C)``."""
    return logits.to(dtype).div(temperature)


def _logsumexp(z: Tensor) -> Tensor:
    """Row-wise ``logsumexp`` with one temporary: ``(B, C) -> (B,)``; ``-inf`` entries count as absent."""
    top = z.amax(1, keepdim=True)
    return (z - top).exp_().sum(1).log_().add_(top[:, 0])


def _kl_rows_(u: Tensor, v: Tensor, lse_s: Tensor, lse_t: Tensor, excluded: Tensor | None) -> Tensor:
    """``KL(softmax(v) || softmax(u))`` per row over the classes not in ``excluded``; ``(B,)``.

    ``KL = sum_k p_k (v_k - u_k) - L_t + L_s`` with ``p = exp(v - L_t)`` and ``L`` the log-sum-exps
    over the kept classes (``u``, ``v`` hold ``-inf`` at excluded classes). Consumes ``u`` and
    ``v`` (overwritten) to stay at two ``(B, C)`` buffers; clipped at 0 (round-off).
    """
    diff = u.neg_().add_(v)                                     # v - u; NaN where both are -inf
    if excluded is not None:
        diff.scatter_(1, excluded, 0.0)
    p = v.sub_(lse_t[:, None]).exp_()                           # 0 at excluded classes
    return (p.mul_(diff).sum(1) - lse_t + lse_s).clamp_min_(0)


def _softmax_difference(student: Tensor, teacher: Tensor, temperature: float, dtype: torch.dtype,
                        lse_s: Tensor, lse_t: Tensor) -> Tensor:
    """``softmax(u) - softmax(v)`` with the saved log-sum-exps (restricted ones give the restricted
    softmaxes, exact at the kept classes; excluded classes get garbage to overwrite). ``(B, C)``."""
    q = _tempered(student, temperature, dtype).sub_(lse_s[:, None]).exp_()
    p = _tempered(teacher, temperature, dtype).sub_(lse_t[:, None]).exp_()
    return q.sub_(p)


class _KD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, temperature: float, dtype: torch.dtype):
        u, v = _tempered(student, temperature, dtype), _tempered(teacher, temperature, dtype)
        lse_s, lse_t = _logsumexp(u), _logsumexp(v)
        kl = _kl_rows_(u, v, lse_s, lse_t, None)                                  # (B,)
        ctx.save_for_backward(student, teacher, lse_s, lse_t)
        ctx.temperature, ctx.dtype = temperature, dtype
        return temperature ** 2 * kl.mean()

    @staticmethod
    def backward(ctx, grad_kd: Tensor):
        _no_double_backward("kd_loss(fused=True)")
        student, teacher, lse_s, lse_t = ctx.saved_tensors
        t = ctx.temperature
        grad = _softmax_difference(student, teacher, t, ctx.dtype, lse_s, lse_t)
        grad.mul_(grad_kd * (t / student.shape[0]))                              # T^2 / B / T
        return grad.to(student.dtype), None, None, None


def fused_kd(student_logits: Tensor, teacher_logits: Tensor, temperature: float,
             dtype: torch.dtype) -> Tensor:
    """``T^2 * mean_b KL(softmax(z_t / T) || softmax(z_s / T))`` as one node. ``(B, C), (B, C) -> ()``."""
    return _KD.apply(student_logits, teacher_logits.detach(), temperature, dtype)


class _LDRRLD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, top: Tensor, weights: Tensor, first: Tensor,
                second: Tensor, temperature: float, dtype: torch.dtype):
        u, v = _tempered(student, temperature, dtype), _tempered(teacher, temperature, dtype)
        batch, num_classes = u.shape
        depth = top.shape[1]
        u_top, v_top = u.gather(1, top), v.gather(1, top)                         # (B, d)

        # Dense pairs: the two-class KL on every pair's gap, and its gap derivative.
        g_s, g_t = u_top[:, first] - u_top[:, second], v_top[:, first] - v_top[:, second]  # (B, P)
        s_t = torch.sigmoid(g_t)
        pair_kl = (s_t * (g_t - g_s) - F.softplus(g_t) + F.softplus(g_s)).clamp_min_(0)
        pair_grad = (torch.sigmoid(g_s) - s_t).mul_(weights)                     # (B, P)

        # The top-d set: KL of the softmaxes over the d classes, and softmax(u) - softmax(v).
        log_q, log_p = u_top.log_softmax(1), v_top.log_softmax(1)               # (B, d)
        p_top = log_p.exp()
        topd_kl = (p_top * (log_p - log_q)).sum(1).clamp_min_(0)                # (B,)
        local_kl = ((pair_kl * weights).sum(1) + topd_kl) / (num_pairs(depth) + 1)   # (B,)
        top_grad = log_q.exp_().sub_(p_top)
        top_grad.index_add_(1, first, pair_grad).index_add_(1, second, pair_grad, alpha=-1)
        top_grad.div_(num_pairs(depth) + 1)                                      # d local_b / d u_top

        # The remaining classes: KL of the softmaxes restricted to them.
        if depth < num_classes:
            u.scatter_(1, top, float("-inf"))
            v.scatter_(1, top, float("-inf"))
            lse_s, lse_t = _logsumexp(u), _logsumexp(v)                          # (B,)
            rntk_kl = _kl_rows_(u, v, lse_s, lse_t, top)
        else:
            lse_s = lse_t = rntk_kl = u.new_zeros(batch)
        ctx.save_for_backward(student, teacher, top, top_grad, lse_s, lse_t)
        ctx.temperature, ctx.dtype, ctx.has_rest = temperature, dtype, depth < num_classes
        ctx.mark_non_differentiable(pair_kl, topd_kl, rntk_kl)
        scale = temperature ** 2
        return scale * local_kl.mean(), scale * rntk_kl.mean(), pair_kl, topd_kl, rntk_kl

    @staticmethod
    def backward(ctx, grad_local: Tensor, grad_rntk: Tensor, *_):
        _no_double_backward("ldrrld_loss(fused=True)")
        student, teacher, top, top_grad, lse_s, lse_t = ctx.saved_tensors
        t = ctx.temperature
        scale = t / student.shape[0]                                             # T^2 / B, and 1/T for z / T
        if ctx.has_rest:
            grad = _softmax_difference(student, teacher, t, ctx.dtype, lse_s, lse_t)
            grad.mul_(grad_rntk * scale)
        else:
            grad = torch.zeros_like(student, dtype=ctx.dtype)
        grad.scatter_(1, top, top_grad * (grad_local * scale))                   # the rest is 0 there
        return grad.to(student.dtype), None, None, None, None, None, None, None


def fused_ldrrld(student_logits: Tensor, teacher_logits: Tensor, top: Tensor, weights: Tensor,
                 first: Tensor, second: Tensor, temperature: float,
                 dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """LDRRLD's ``(local, rntk, pair_kl, topd_kl, rntk_kl)`` as one node.

    Shapes: logits ``(B, C)``, ``top`` ``(B, d)`` selected classes, ``weights``, ``first``,
    ``second`` ``(P,)``. ``local`` and ``rntk`` are scalars with gradient; the per-sample
    ``pair_kl (B, P)``, ``topd_kl (B,)`` and ``rntk_kl (B,)`` carry none.
    """
    return _LDRRLD.apply(student_logits, teacher_logits.detach(), top, weights, first, second,
                         temperature, dtype)


class _DKD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, label: Tensor, temperature: float,
                dtype: torch.dtype):
        u, v = _tempered(student, temperature, dtype), _tempered(teacher, temperature, dtype)
        u_y, v_y = u.gather(1, label)[:, 0], v.gather(1, label)[:, 0]            # (B,)
        u.scatter_(1, label, float("-inf"))
        v.scatter_(1, label, float("-inf"))
        lse_s, lse_t = _logsumexp(u), _logsumexp(v)                              # non-target (B,)
        # TCKD: binary [p_y, 1 - p_y] = sigmoid of the gap between z_y and the non-target lse.
        g_s, g_t = u_y - lse_s, v_y - lse_t
        s_t = torch.sigmoid(g_t)
        tckd = (s_t * (g_t - g_s) - F.softplus(g_t) + F.softplus(g_s)).clamp_min_(0)
        nckd = _kl_rows_(u, v, lse_s, lse_t, label)
        ctx.save_for_backward(student, teacher, label, lse_s, lse_t, torch.sigmoid(g_s) - s_t)
        ctx.temperature, ctx.dtype = temperature, dtype
        scale = temperature ** 2
        return scale * tckd.mean(), scale * nckd.mean()

    @staticmethod
    def backward(ctx, grad_tckd: Tensor, grad_nckd: Tensor):
        """``d TCKD / du = (q_y - p_y)(e_y - q_nt)``, ``d NCKD / du = q_nt - p_nt`` (``_nt``: non-target softmax)."""
        _no_double_backward("dkd_loss(fused=True)")
        student, teacher, label, lse_s, lse_t, target_gap = ctx.saved_tensors
        t = ctx.temperature
        scale = t / student.shape[0]
        q = _tempered(student, t, ctx.dtype).sub_(lse_s[:, None]).exp_()       # (B, C) q_nt
        p = _tempered(teacher, t, ctx.dtype).sub_(lse_t[:, None]).exp_()       # (B, C) p_nt
        tc = target_gap * grad_tckd                                              # (B,)
        grad = q.mul_((grad_nckd - tc)[:, None]).sub_(p.mul_(grad_nckd)).mul_(scale)
        grad.scatter_(1, label, (tc * scale)[:, None])
        return grad.to(student.dtype), None, None, None, None


def fused_dkd(student_logits: Tensor, teacher_logits: Tensor, label: Tensor, temperature: float,
              dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """DKD's ``(tckd, nckd)``, each ``T^2`` times a batch-mean KL, as one node. ``label`` is ``(B, 1)``."""
    return _DKD.apply(student_logits, teacher_logits.detach(), label, temperature, dtype)
