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

import functools

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


# ------------------------------------------------------------------------------ the baselines
# SDD, WTTM, LSKD, TeKAP and DIST as single nodes, each with the closed-form backward of its
# paper's formula; their traced forms (``fused=False``) are the autograd-recorded definitions.
# As above, each keeps for the backward pass only what its closed form reads.

from .standardize import STANDARDIZE_EPS  # noqa: E402 (no import cycle: it imports torch alone)

__all__ += [
    "fused_weighted_kd",
    "fused_wttm",
    "fused_lskd",
    "fused_tekap",
    "fused_learned_temperature_kd",
    "fused_dist",
]


def _softmax_lse(z: Tensor) -> tuple[Tensor, Tensor]:
    """``softmax(z)`` and ``logsumexp(z)`` along the last axis, the second read off the first.

    ``logsumexp = max z - log max softmax`` (the largest logit has the largest probability,
    ``exp(max z - logsumexp)``): two cheap reductions instead of ``torch.logsumexp``'s own passes.
    """
    prob = torch.softmax(z, -1)
    return prob, z.amax(-1).sub_(prob.amax(-1).log_())


class _WeightedKD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, temperature: float, weigh, dtype: torch.dtype):
        z = _tempered(student, teacher, temperature, dtype)  # (2, N, C)
        weights = weigh(z[1])  # (N,), read off the tempered teacher before z is consumed
        kl, prob, _ = _restricted_kl_(z, None)
        ctx.save_for_backward(prob[0].sub_(prob[1]), weights)  # d KL_n / d u_n = q_n - p_n
        ctx.scale, ctx.student_dtype = temperature / student.shape[0], student.dtype  # T^2 / N / T
        return temperature**2 * (weights @ kl) / kl.shape[0]

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        _no_double_backward("sdd_loss(fused=True)")
        softmax_difference, weights = ctx.saved_tensors
        grad = softmax_difference * (weights * (grad_loss * ctx.scale))[:, None]
        return grad.to(ctx.student_dtype), None, None, None, None


def fused_weighted_kd(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float, weigh, dtype: torch.dtype
) -> Tensor:
    """``T^2 * mean_n w_n KL(softmax(z_t / T) || softmax(z_s / T))`` over rows ``(N, C)`` as one node (SDD's term).

    ``weigh(z_t / T) -> (N,)`` gives the row weights from the tempered teacher (in ``dtype``); they
    carry no gradient. The student's gradient is ``w_n (q_n - p_n) T / N``.
    """
    return _WeightedKD.apply(student_logits, teacher_logits.detach(), temperature, weigh, dtype)


class _WTTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, temperature: float, dtype: torch.dtype):
        # (3, B, C): the student at temperature 1, the teacher at T and at 1 (for U's normaliser).
        z = student.new_empty((3, *student.shape), dtype=dtype)
        z[0].copy_(student)
        z[2].copy_(teacher)
        torch.div(z[2], temperature, out=z[1])
        prob, lse = _softmax_lse(z)  # (3, B, C), (3, B)
        kl = z[1].sub_(z[0]).mul_(prob[1]).sum(1).sub_(lse[1]).add_(lse[0]).clamp_min_(0)  # KL(q || softmax(z_s))
        weights = lse[1].sub_(lse[2], alpha=1 / temperature).exp_()  # U = exp(lse(z_t / T) - lse(z_t) / T)
        ctx.save_for_backward(prob[0].sub_(prob[1]), weights)
        ctx.scale, ctx.student_dtype = 1 / student.shape[0], student.dtype
        return (weights @ kl) / kl.shape[0]

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        _no_double_backward("wttm_loss(fused=True)")
        softmax_difference, weights = ctx.saved_tensors
        grad = softmax_difference * (weights * (grad_loss * ctx.scale))[:, None]
        return grad.to(ctx.student_dtype), None, None, None


def fused_wttm(student_logits: Tensor, teacher_logits: Tensor, temperature: float, dtype: torch.dtype) -> Tensor:
    """WTTM's ``mean_b U_b KL(softmax(z_t / T) || softmax(z_s))`` as one node; gradient ``U_b (q_b - p_b) / B``."""
    return _WTTM.apply(student_logits, teacher_logits.detach(), temperature, dtype)


class _LSKD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, temperature: float, dtype: torch.dtype):
        batch, classes = student.shape
        z = student.new_empty((2, batch, classes), dtype=dtype)
        for half, logits in zip(z, (student, teacher)):
            torch.sub(logits, logits.mean(1, keepdim=True, dtype=dtype), out=half)  # x - mean x
        # The unbiased deviation from the centred logits (two passes: torch.std_mean is ten times slower).
        std = torch.linalg.vector_norm(z, dim=2, keepdim=True).mul_((classes - 1) ** -0.5)  # (2, B, 1)
        scale = std[0] + STANDARDIZE_EPS
        z.div_((std + STANDARDIZE_EPS).mul_(temperature))  # standard scores / T
        kl, prob, _ = _restricted_kl_(z, None)  # reads z[0] and leaves it: y_s / T
        # The backward pass's factors: 1 / s, and T^2 s / ((C - 1) std) (0 where the row is constant).
        factor = torch.where(std[0] > 0, (temperature**2 / (classes - 1)) * scale / std[0], 0.0)
        ctx.save_for_backward(prob[0].sub_(prob[1]), z[0], factor, scale.reciprocal_())
        ctx.scale, ctx.student_dtype = temperature / batch, student.dtype
        return temperature**2 * kl.mean()

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        """Through the standardisation ``y = (x - mean x) / s``, ``s = std x + eps``, of ``g = dL/dy``.

        ``dL/dx = (g - mean g - y <g, y> s / ((C - 1) std)) / s``. Here ``g = c (q - p)`` with
        ``c = T / B`` (the KL's ``T^2 / B``, over ``T``), whose mean is 0 (both softmaxes sum to
        1); the last term is 0 for a constant row (``y = 0``), as autograd's derivative of the
        deviation there. ``y / T`` is what the forward pass kept.
        """
        _no_double_backward("lskd_loss(fused=True)")
        softmax_difference, tempered, factor, inverse_scale = ctx.saved_tensors
        grad = softmax_difference * tempered  # its row sums, then the gradient itself in the same buffer
        coefficient = grad.sum(1, keepdim=True).mul_(factor)  # <q - p, y> s / ((C - 1) std)
        torch.addcmul(softmax_difference, tempered, coefficient, value=-1, out=grad)
        grad.mul_(inverse_scale * (grad_loss * ctx.scale))
        return grad.to(ctx.student_dtype), None, None, None


def fused_lskd(student_logits: Tensor, teacher_logits: Tensor, temperature: float, dtype: torch.dtype) -> Tensor:
    """LSKD's ``T^2 * mean_b KL(softmax(std(z_t) / T) || softmax(std(z_s) / T))`` as one node.

    ``std`` is the standardisation of :mod:`.standardize`; the backward pass runs through it in
    closed form (see ``_LSKD.backward``).
    """
    return _LSKD.apply(student_logits, teacher_logits.detach(), temperature, dtype)


#: Logits (all sets together) up to which a blocked node makes one pass over the whole batch: its
#: temporaries fit the processor's last-level cache. Above, it runs blocks of rows of about
#: ``_BLOCK_ELEMENTS`` logits, whose temporaries stay in cache (TeKAP at ``B = 256, C = 32,000``:
#: about 30% faster than whole-batch passes, which stream every temporary through memory).
_UNBLOCKED_ELEMENTS, _BLOCK_ELEMENTS = 2**22, 2**19


def _block_rows(sets: int, batch: int, classes: int) -> int:
    """Rows per block for ``sets`` logit sets of ``(batch, classes)``: all of them, or a block that fits in cache."""
    if sets * batch * classes <= _UNBLOCKED_ELEMENTS:
        return batch
    return max(1, _BLOCK_ELEMENTS // (sets * classes))


@functools.lru_cache(maxsize=64)
def _tekap_weights(perturbed: int, noise_weight: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(1, 1 + K)``: the weight of the teacher's term, 1, then ``noise_weight`` for each perturbed teacher's."""
    with torch.inference_mode(False):
        return torch.tensor([[1.0] + [noise_weight] * perturbed], dtype=dtype, device=device)


def _tekap_block(
    student: Tensor,
    teacher: Tensor,
    noise: Tensor,
    temperature: float,
    noise_scale: float,
    weights: Tensor,
    total: float,
    scale: float,
    grad: Tensor,
    dtype: torch.dtype,
) -> Tensor:
    """TeKAP on a block of rows: ``KL_k`` per teacher and row ``(1 + K, r)``, and ``scale`` times the gradient in ``u``.

    The gradient of ``sum_k w_k KL_k`` (``weights`` ``(1, 1 + K)``) is written to ``grad``.
    """
    perturbed = noise.shape[0]
    # (2 + K, r, C): u = z_s / T, then the teachers v_0 = z_t / T and v_k = ((1 - s) z_t + s eps_k) / T.
    z = student.new_empty((2 + perturbed, *student.shape), dtype=dtype)
    for half, logits in zip(z, (student, teacher)):
        if logits.dtype == dtype:
            torch.div(logits, temperature, out=half)
        else:
            half.copy_(logits).div_(temperature)
    if perturbed:
        noisy = z[2:]
        if noise.dtype == dtype:
            torch.mul(noise, noise_scale / temperature, out=noisy)
        else:
            noisy.copy_(noise).mul_(noise_scale / temperature)
        noisy.add_(z[1], alpha=1 - noise_scale)
    prob, lse = _softmax_lse(z)  # (2 + K, r, C), (2 + K, r)
    # KL_k = <p_k, v_k - u> - lse_k + lse_u, the products in the logits' buffer (no longer needed).
    kl = z[1:].sub_(z[0]).mul_(prob[1:]).sum(2).sub_(lse[1:]).add_(lse[0]).clamp_min_(0)  # (1 + K, r)
    # d/du sum_k w_k KL_k = (sum_k w_k) q - sum_k w_k p_k, as one matrix product (faster than addmv's).
    teachers = prob[1:].view(1 + perturbed, -1)
    torch.addmm(prob[0].view(1, -1), weights, teachers, beta=total * scale, alpha=-scale, out=grad.view(1, -1))
    return kl


class _TeKAP(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        student: Tensor,
        teacher: Tensor,
        noise: Tensor,
        temperature: float,
        noise_weight: float,
        noise_scale: float,
        dtype: torch.dtype,
    ):
        batch, classes = student.shape
        perturbed = noise.shape[0]
        weights = _tekap_weights(perturbed, noise_weight, dtype, student.device)
        total, scale = 1.0 + noise_weight * perturbed, temperature / batch  # T^2 / B, over T for u = z_s / T
        compiled = cpu_ldrrld.tekap_rows(student, teacher, noise, temperature, noise_weight, noise_scale, scale, dtype)
        if compiled is not None:
            kl, grad = compiled  # (B,) already weighted over the teachers, (B, C)
            ctx.save_for_backward(grad)
            ctx.student_dtype = student.dtype
            return kl.sum().mul_(temperature**2 / batch)
        grad = student.new_empty(student.shape, dtype=dtype)
        rows = _block_rows(2 + perturbed, batch, classes)
        if rows >= batch:
            kl = _tekap_block(student, teacher, noise, temperature, noise_scale, weights, total, scale, grad, dtype)
        else:
            kl = torch.cat(  # (1 + K, B)
                [
                    _tekap_block(
                        student[i : i + rows],
                        teacher[i : i + rows],
                        noise[:, i : i + rows],
                        temperature,
                        noise_scale,
                        weights,
                        total,
                        scale,
                        grad[i : i + rows],
                        dtype,
                    )
                    for i in range(0, batch, rows)
                ],
                1,
            )
        ctx.save_for_backward(grad)  # the gradient per unit of loss
        ctx.student_dtype = student.dtype
        return torch.mm(weights, kl.sum(1, keepdim=True)).squeeze_().mul_(temperature**2 / batch)

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        _no_double_backward("tekap_loss(fused=True)")
        (grad,) = ctx.saved_tensors
        return (grad * grad_loss).to(ctx.student_dtype), None, None, None, None, None, None


def fused_tekap(
    student_logits: Tensor,
    teacher_logits: Tensor,
    noise: Tensor,
    temperature: float,
    noise_weight: float,
    noise_scale: float,
    dtype: torch.dtype,
) -> Tensor:
    """TeKAP's ``T^2 mean_b sum_k w_k KL(p_k || q)`` (``w_0 = 1``, then ``noise_weight``) as one node.

    ``p_0`` is the teacher's softmax, ``p_k`` that of ``(1 - s) z_t + s eps_k``, all at ``T``;
    the gradient in ``z_s / T`` is ``(sum_k w_k) q - sum_k w_k p_k``.
    """
    return _TeKAP.apply(student_logits, teacher_logits.detach(), noise, temperature, noise_weight, noise_scale, dtype)


class _LearnedTemperatureKD(torch.autograd.Function):
    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor, temperature: Tensor, dtype: torch.dtype):
        if student.shape != teacher.shape:  # what the traced form's broadcasting raises
            raise RuntimeError(
                f"student and teacher logits differ in shape: {tuple(student.shape)} vs {tuple(teacher.shape)}"
            )
        temperature_c = temperature.detach().to(dtype)
        z = student.new_empty((2, *student.shape), dtype=dtype)
        for half, logits in zip(z, (student, teacher)):
            torch.div(logits.to(dtype), temperature_c, out=half)
        peak = z.amax(2, keepdim=True)  # (2, B, 1)
        prob = torch.softmax(z, 2)
        z.sub_(peak)  # u - max u, v - max v: each row's logits below its largest
        log_ratio = z[1] - z[0]  # log p - log q up to the per-row constant below
        log_ratio.add_(prob.amax(2).log_().diff(dim=0).t())  # + log max p - log max q = log(p / q)
        weighted = log_ratio.mul_(prob[1])  # p log(p / q)
        raw_kl = weighted.sum(1)  # (B,)
        kl = raw_kl.clamp_min(0)
        difference = prob[0].sub_(prob[1])  # q - p
        # dKL/dT = -(<q - p, u> + <p log(p / q), v> - KL <p, v>) / T, with u, v shifted by their row
        # maxima (the first sum of q - p and the covariance under p are blind to a per-row shift).
        # (Each product lands in a buffer no longer needed: the shifted u, p log(p / q), p.)
        shifted_dot = z[0].mul_(difference).sum(1)
        shifted_dot += weighted.mul_(z[1]).sum(1)
        shifted_dot -= raw_kl * prob[1].mul_(z[1]).sum(1)
        ctx.save_for_backward(difference, kl, shifted_dot, temperature_c)
        ctx.student_dtype, ctx.temperature_dtype = student.dtype, temperature.dtype
        return temperature_c.square() * kl.mean()

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        """``dL/dz_s = T (q - p) / B``; ``dL/dT = 2 T mean KL + T^2 mean dKL/dT = T mean(2 KL - shifted_dot)``."""
        _no_double_backward("learned_temperature_kd(fused=True)")
        difference, kl, shifted_dot, temperature = ctx.saved_tensors
        grad_logits = grad_temperature = None
        if ctx.needs_input_grad[0]:
            grad_logits = (difference * (grad_loss * temperature / difference.shape[0])).to(ctx.student_dtype)
        if ctx.needs_input_grad[2]:
            grad_temperature = (grad_loss * temperature * (2 * kl - shifted_dot).mean()).to(ctx.temperature_dtype)
        return grad_logits, None, grad_temperature, None


def fused_learned_temperature_kd(
    student_logits: Tensor, teacher_logits: Tensor, temperature: Tensor, dtype: torch.dtype
) -> Tensor:
    """CTKD's ``T^2 mean_b KL(softmax(z_t / T) || softmax(z_s / T))`` for a tensor ``T`` that learns, as one node.

    The gradient reaches the student's logits, ``T (q - p) / B``, and ``T`` itself (see ``backward``);
    the teacher's logits receive none.
    """
    return _LearnedTemperatureKD.apply(student_logits, teacher_logits.detach(), temperature, dtype)


#: From this many classes on, a sum over the batch axis runs as a matrix product with a row of
#: ones: torch's reduction across rows is then about twice as slow. Below, the plain sum.
_MATMUL_BATCH_SUM_CLASSES = 2048


def _batch_sum(x: Tensor) -> Tensor:
    """``x.sum(-2)``: ``(..., B, C) -> (..., C)``."""
    if x.shape[-1] < _MATMUL_BATCH_SUM_CLASSES:
        return x.sum(-2)
    return torch.matmul(x.new_ones((1, x.shape[-2])), x).squeeze(-2)


@functools.lru_cache(maxsize=64)
def _dist_weights(
    batch: int,
    classes: int,
    temperature: float,
    inter_weight: float,
    intra_weight: float,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """``(W, c)``: ``(inter, intra, total) = c + T W rho``, ``rho`` the ``B`` sample then ``C`` class correlations.

    ``W`` ``(3, B + C)``: row 0 is ``-T / B`` on the samples, row 1 ``-T / C`` on the classes, row 2
    their weighted sum; ``c = T^2 (1, 1, inter_weight + intra_weight)``. The backward pass scales
    ``d rho`` by ``W^T g`` (``-T^2`` over the count, over ``T`` for the logits ``z = T u``).
    """
    with torch.inference_mode(False):
        weights = torch.zeros((3, batch + classes), dtype=dtype, device=device)
        weights[0, :batch] = -temperature / batch
        weights[1, batch:] = -temperature / classes
        weights[2] = inter_weight * weights[0] + intra_weight * weights[1]
        scale = temperature**2
        constant = torch.tensor([scale, scale, scale * (inter_weight + intra_weight)], dtype=dtype, device=device)
        return weights, constant


def _pearson(dot: Tensor, norms: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Pearson's ``rho = <a, b> / (|a| |b| + eps)`` of centred ``a``, ``b``, and its derivative in ``a``.

    Takes ``<a, b>`` and ``(|a|, |b|)`` stacked. Returns ``rho`` and ``(-beta, alpha)``
    stacked, the factors of ``a`` and ``b`` in ``d rho / d a = alpha b - beta a``: ``alpha = 1 / D``,
    ``beta = rho |b| / (|a| D)``, ``D = |a| |b| + eps``; ``beta`` is 0 where ``a`` is 0 (there
    ``rho`` is 0 too, and autograd's derivative of the norm is 0). The centring's own derivative
    projects onto centred vectors, which ``a`` and ``b`` already are.
    """
    norm_a, norm_b = norms
    alpha = norm_a.mul(norm_b).add_(eps).reciprocal_()
    rho = dot * alpha
    neg_beta = torch.mul(rho, alpha).mul_(norm_b).div_(norm_a.neg()).nan_to_num_(nan=0.0)  # 0 / 0: 0
    coefficients = torch.stack((neg_beta, alpha))
    return rho, coefficients


def _dist_forward(
    ctx,
    student: Tensor,
    teacher: Tensor,
    temperature: float,
    inter_weight: float,
    intra_weight: float,
    eps: float,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor]:
    """DIST's forward pass for :class:`_DIST` and :class:`_DISTTerms`: ``rho`` ``(B + C,)`` and ``(W, c)``.

    ``rho`` holds the correlations of every sample, then of every class; ``(W, c)`` are
    :func:`_dist_weights`, with which ``(inter, intra, total) = c + T W rho``.

    Saves on ``ctx`` what :func:`_dist_backward` reads: the softmaxes ``y`` ``(2, B, C)``, their
    means over the batch ``(2, C)``, Pearson's coefficients ``(2, B + C)`` and ``weights``. On a
    CPU the compiled kernel (:func:`~ldrrld_core.kernels.cpu_ldrrld.dist_forward`) does it all in
    one call, the sums in float64; the torch form below is the fallback.
    """
    batch, classes = student.shape
    weights, constant = _dist_weights(batch, classes, temperature, inter_weight, intra_weight, dtype, student.device)
    ctx.student_dtype = student.dtype
    compiled = cpu_ldrrld.dist_forward(student, teacher, temperature, eps, dtype)
    if compiled is not None:
        y, means, rho, coefficients = compiled
        ctx.save_for_backward(y, means, coefficients, weights)
        return rho, weights, constant
    if classes < _MATMUL_BATCH_SUM_CLASSES and student.dtype == teacher.dtype == dtype:
        z = torch.stack((student, teacher)).div_(temperature)  # fewer calls than _tempered's; small C
    else:
        z = _tempered(student, teacher, temperature, dtype)
    y = torch.softmax(z, 2)  # (2, B, C): y_s, y_t
    # rows: each model's probabilities centred per sample, on their mean 1 / C (a softmax sums to
    # 1); columns: centred per class over the batch. Both (2, B, C), student first.
    rows, columns = centred = y.new_empty((2, 2, batch, classes))
    torch.sub(y, 1 / classes, out=rows)
    if classes < _MATMUL_BATCH_SUM_CLASSES:
        means = y.mean(1)  # (2, C)
        torch.sub(y, means.unsqueeze(1), out=columns)
        # <a, b> and (|a|, |b|) of every sample's row (B), then of every class's column (C).
        dot = torch.cat((torch.linalg.vecdot(*rows), torch.linalg.vecdot(*columns, dim=0)))
        squares = (torch.linalg.vecdot(rows, rows), torch.linalg.vecdot(columns, columns, dim=1))
        norms = torch.cat(squares, 1).sqrt_()  # (vector_norm across rows is six times slower)
    else:  # sums over the batch as matrix products: a reduction across rows is twice as slow there
        means = _batch_sum(y).div_(batch)
        torch.sub(y, means.unsqueeze(1), out=columns)
        products = y.new_empty((3, 2, batch, classes))  # a b, a^2, b^2; of rows, of columns
        torch.mul(centred[:, 0], centred[:, 1], out=products[0])
        torch.mul(centred, centred, out=products[1:].transpose(0, 1))
        stats = torch.cat((products[:, 0].sum(-1), _batch_sum(products[:, 1])), 1)  # (3, B + C)
        dot, norms = stats[0], stats[1:].sqrt_()
    rho, coefficients = _pearson(dot, norms, eps)
    ctx.save_for_backward(y, means, coefficients, weights)
    return rho, weights, constant


def _dist_backward(ctx, scale: Tensor) -> Tensor:
    """``G = dL/dy_s = -T^2 (g_inter / B d rho_b / d y_s + g_intra / C d rho_c / d y_s)``, then the softmax.

    ``scale`` ``(B + C,)`` is ``dL/d rho`` over ``T`` (the ``M^T g`` of :func:`_dist_weights`).
    ``dL/du = y_s (G - <G, y_s>)`` per row, ``u = z_s / T``, and ``dL/dz_s = dL/du / T``. A term
    constant along a row of ``G`` cancels there (``y_s`` sums to 1), so the inter part reads ``y``
    for its rows centred on ``1 / C``; the intra part reads the centred columns.
    """
    y, means, coefficients, _ = ctx.saved_tensors
    compiled = cpu_ldrrld.dist_backward(y, means, coefficients, scale)
    if compiled is not None:
        return compiled.to(ctx.student_dtype)
    batch = y.shape[1]
    columns = y - means.unsqueeze(1)
    factors = coefficients * scale  # (-beta, alpha) of (y_s, y_t): per sample, then per class
    grad = torch.addcmul(y * factors[:, :batch, None], columns, factors[:, None, batch:]).sum(0)  # G
    y_s = y[0]
    grad.mul_(y_s)  # y_s G; its row sums are <G, y_s>
    grad.addcmul_(y_s, grad.sum(1, keepdim=True), value=-1)
    return grad.to(ctx.student_dtype)


class _DIST(torch.autograd.Function):
    """``inter_weight * inter + intra_weight * intra``, one output (:func:`dist_loss`)."""

    @staticmethod
    def forward(
        ctx,
        student: Tensor,
        teacher: Tensor,
        temperature: float,
        inter_weight: float,
        intra_weight: float,
        eps: float,
        dtype: torch.dtype,
    ):
        rho, weights, constant = _dist_forward(
            ctx, student, teacher, temperature, inter_weight, intra_weight, eps, dtype
        )
        return torch.dot(weights[2], rho).mul_(temperature).add_(constant[2])  # T^2 (weights . (1 - mean rho))

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        _no_double_backward("dist_loss(fused=True)")
        weights = ctx.saved_tensors[3]
        return _dist_backward(ctx, weights[2] * grad_loss), None, None, None, None, None, None


class _DISTTerms(torch.autograd.Function):
    """``(inter, intra, inter_weight * inter + intra_weight * intra)``: three outputs (:func:`dist_terms`)."""

    @staticmethod
    def forward(
        ctx,
        student: Tensor,
        teacher: Tensor,
        temperature: float,
        inter_weight: float,
        intra_weight: float,
        eps: float,
        dtype: torch.dtype,
    ):
        rho, weights, constant = _dist_forward(
            ctx, student, teacher, temperature, inter_weight, intra_weight, eps, dtype
        )
        terms = torch.addmv(constant, weights, rho, alpha=temperature)  # T^2 (1 - mean rho): inter, intra, total
        ctx.set_materialize_grads(False)
        return terms[0].clone(), terms[1].clone(), terms[2].clone()  # not views: a caller may change them in place

    @staticmethod
    def backward(ctx, grad_inter: Tensor, grad_intra: Tensor, grad_total: Tensor):
        _no_double_backward("dist_loss(fused=True)")
        weights = ctx.saved_tensors[3]
        grads = [grad_inter, grad_intra, grad_total]
        if all(g is None for g in grads):
            return None, None, None, None, None, None, None
        scale = torch.mv(weights.t(), torch.stack([weights.new_zeros(()) if g is None else g for g in grads]))
        return _dist_backward(ctx, scale), None, None, None, None, None, None


def fused_dist(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float,
    inter_weight: float,
    intra_weight: float,
    eps: float,
    dtype: torch.dtype,
    *,
    terms: bool = False,
) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """DIST's ``inter_weight * inter + intra_weight * intra`` as one node; ``terms=True``: ``(inter, intra, that)``.

    ``inter`` and ``intra`` are ``T^2 (1 - mean rho)``, ``rho`` Pearson's correlation of
    ``softmax(z / T)`` of student and teacher per sample (inter) and per class over the batch
    (intra), ``eps`` added to the product of the norms; its derivative is in closed form.
    """
    node = _DISTTerms if terms else _DIST
    return node.apply(student_logits, teacher_logits.detach(), temperature, inter_weight, intra_weight, eps, dtype)
