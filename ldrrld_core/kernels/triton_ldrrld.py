"""The per-row work of the fused LDRRLD forward as one Triton kernel, for CUDA.

One program per sample does everything :func:`~ldrrld_core.losses.fused.fused_ldrrld` does after
the top-d selection: the dense pairs and the top-d term on the ``d`` gathered logits, then the
remaining classes in two passes over the row (an online log-sum-exp of both restricted softmaxes
with the KL's ``sum_k p_k (v_k - u_k)``, then the gradient ``q - p``). The torch form takes about
thirty small kernel launches and a dozen passes over ``(B, C)``; this takes one launch and reads
the logits twice, so on a GPU the loss costs about what KD costs.

Used by default on CUDA for float32 arithmetic when Triton is importable (a CPU runs
:mod:`.cpu_ldrrld`); the torch form stays the fallback (float64, no Triton) and the switch:
``LDRRLD_TRITON=0`` in the environment, or :data:`ENABLED` set to ``False``.
``tests/test_triton.py`` runs the kernel on a CPU with ``TRITON_INTERPRET=1`` against the torch form.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - triton ships with CUDA builds of torch only
    triton = None

__all__ = ["ENABLED", "available", "ldrrld_rows", "try_ldrrld_rows"]

#: Set to False to run the torch form everywhere (also: ``LDRRLD_TRITON=0`` in the environment).
ENABLED = os.environ.get("LDRRLD_TRITON", "1") != "0"


def available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether :func:`ldrrld_rows` runs for logits on ``device`` computed in ``dtype``.

    CUDA and float32 only, unless ``TRITON_INTERPRET=1`` (the CPU interpreter, for tests).
    """
    if not ENABLED or triton is None or dtype != torch.float32:
        return False
    return device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


if triton is not None:

    @triton.jit
    def _softplus(x):
        return tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x)))

    @triton.jit
    def _local_terms(
        u_top,
        v_top,
        in_depth,
        ranks,
        row,
        depth,
        pairs,
        w_ptr,
        pair_index_ptr,
        top_grad_ptr,
        pair_kl_ptr,
        topd_ptr,
        local_ptr,
    ):
        """The dense pairs and the top-d set of one row, from its ``(DP,)`` top logits; stores the results."""
        # Dense pairs on the full (d, d) gap matrices: pair (i, j) and (j, i) have the same KL.
        both = in_depth[:, None] & in_depth[None, :]
        cell = ranks[:, None] * depth + ranks[None, :]
        weight = tl.load(w_ptr + cell, mask=both, other=0.0)  # symmetric
        g_s = u_top[:, None] - u_top[None, :]
        g_t = v_top[:, None] - v_top[None, :]
        sig_t = tl.sigmoid(g_t)
        pair_kl = tl.maximum(sig_t * (g_t - g_s) - _softplus(g_t) + _softplus(g_s), 0.0)
        pair_sum = 0.5 * tl.sum(tl.sum(weight * pair_kl, axis=1), axis=0)
        pair_grad = tl.sum(weight * (tl.sigmoid(g_s) - sig_t), axis=1)  # (DP,)
        pair_index = tl.load(pair_index_ptr + cell, mask=both, other=-1)
        tl.store(pair_kl_ptr + row * pairs + pair_index, pair_kl, mask=pair_index >= 0)

        # The top-d set, in log space as log_softmax does.
        shift_s = u_top - tl.max(tl.where(in_depth, u_top, -float("inf")), 0)
        shift_t = v_top - tl.max(tl.where(in_depth, v_top, -float("inf")), 0)
        log_q = shift_s - tl.log(tl.sum(tl.where(in_depth, tl.exp(shift_s), 0.0), 0))
        log_p = shift_t - tl.log(tl.sum(tl.where(in_depth, tl.exp(shift_t), 0.0), 0))
        q_top = tl.where(in_depth, tl.exp(log_q), 0.0)
        p_top = tl.where(in_depth, tl.exp(log_p), 0.0)
        topd_kl = tl.maximum(tl.sum(tl.where(in_depth, p_top * (log_p - log_q), 0.0), 0), 0.0)
        norm = pairs + 1.0
        tl.store(top_grad_ptr + row * depth + ranks, (q_top - p_top + pair_grad) / norm, mask=in_depth)
        tl.store(topd_ptr + row, topd_kl)
        tl.store(local_ptr + row, (pair_sum + topd_kl) / norm)

    @triton.jit
    def _rest_block(s_row, t_row, top, start, num_classes, temperature, BLOCK: tl.constexpr):
        """One block of columns of a row: ``(cols, in_row, keep, u, v)``; ``keep``: outside the top d."""
        cols = start + tl.arange(0, BLOCK)
        in_row = cols < num_classes
        keep = in_row & (tl.sum((cols[:, None] == top[None, :]).to(tl.int32), axis=1) == 0)
        u = tl.load(s_row + cols, mask=in_row, other=0.0).to(tl.float32) / temperature
        v = tl.load(t_row + cols, mask=in_row, other=0.0).to(tl.float32) / temperature
        return cols, in_row, keep, u, v

    @triton.jit
    def _rest_log_sum_exps(s_row, t_row, top, num_classes, temperature, BLOCK: tl.constexpr):
        """Online log-sum-exps of both restricted softmaxes, ``(m_s, z_s, m_t, z_t, acc)``.

        ``L = m + log z`` for each; ``acc = sum_k e^(v_k - m_t) (v_k - u_k)`` over the kept classes.
        """
        m_s = tl.full([], -float("inf"), tl.float32)
        m_t = tl.full([], -float("inf"), tl.float32)
        z_s = tl.zeros([], tl.float32)
        z_t = tl.zeros([], tl.float32)
        acc = tl.zeros([], tl.float32)
        for start in range(0, num_classes, BLOCK):
            cols, in_row, keep, u, v = _rest_block(s_row, t_row, top, start, num_classes, temperature, BLOCK)
            new_s = tl.maximum(m_s, tl.max(tl.where(keep, u, -float("inf")), 0))
            new_t = tl.maximum(m_t, tl.max(tl.where(keep, v, -float("inf")), 0))
            rescale_s = tl.where(new_s == -float("inf"), 1.0, tl.exp(m_s - new_s))
            rescale_t = tl.where(new_t == -float("inf"), 1.0, tl.exp(m_t - new_t))
            e_u = tl.where(keep, tl.exp(u - new_s), 0.0)
            e_v = tl.where(keep, tl.exp(v - new_t), 0.0)
            z_s = z_s * rescale_s + tl.sum(e_u, 0)
            z_t = z_t * rescale_t + tl.sum(e_v, 0)
            acc = acc * rescale_t + tl.sum(e_v * tl.where(keep, v - u, 0.0), 0)
            m_s = new_s
            m_t = new_t
        return m_s, z_s, m_t, z_t, acc

    @triton.jit
    def _ldrrld_row_kernel(
        s_ptr,
        t_ptr,
        stride_s,
        stride_t,
        top_ptr,
        w_ptr,
        pair_index_ptr,
        rest_grad_ptr,
        top_grad_ptr,
        pair_kl_ptr,
        topd_ptr,
        rntk_ptr,
        local_ptr,
        num_classes,
        depth,
        pairs,
        temperature,
        BLOCK: tl.constexpr,
        DP: tl.constexpr,
        HAS_REST: tl.constexpr,
    ):
        row = tl.program_id(0).to(tl.int64)
        s_row = s_ptr + row * stride_s
        t_row = t_ptr + row * stride_t
        ranks = tl.arange(0, DP)
        in_depth = ranks < depth
        top = tl.load(top_ptr + row * depth + ranks, mask=in_depth, other=-1)  # (DP,)
        u_top = tl.load(s_row + top, mask=in_depth, other=0.0).to(tl.float32) / temperature
        v_top = tl.load(t_row + top, mask=in_depth, other=0.0).to(tl.float32) / temperature
        _local_terms(
            u_top,
            v_top,
            in_depth,
            ranks,
            row,
            depth,
            pairs,
            w_ptr,
            pair_index_ptr,
            top_grad_ptr,
            pair_kl_ptr,
            topd_ptr,
            local_ptr,
        )
        if HAS_REST:
            # Pass 1: the restricted log-sum-exps and the KL; pass 2: the gradient q - p (0 on the top d).
            m_s, z_s, m_t, z_t, acc = _rest_log_sum_exps(s_row, t_row, top, num_classes, temperature, BLOCK)
            tl.store(rntk_ptr + row, tl.maximum(acc / z_t - (m_t + tl.log(z_t)) + (m_s + tl.log(z_s)), 0.0))
            for start in range(0, num_classes, BLOCK):
                cols, in_row, keep, u, v = _rest_block(s_row, t_row, top, start, num_classes, temperature, BLOCK)
                grad = tl.where(keep, tl.exp(u - m_s) / z_s - tl.exp(v - m_t) / z_t, 0.0)
                tl.store(rest_grad_ptr + row * num_classes + cols, grad, mask=in_row)


def ldrrld_rows(
    student: Tensor,
    teacher: Tensor,
    top: Tensor,
    weights: Tensor,
    first: Tensor,
    second: Tensor,
    temperature: float,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, ...]:
    """The kernel's per-row results, as the torch form returns them.

    Shapes: logits ``(B, C)`` (any float dtype; arithmetic in float32), ``top (B, d)``,
    ``weights``, ``first``, ``second`` ``(P,)``. Returns ``(local_kl (B,), rntk_kl (B,),
    pair_kl (B, P), topd_kl (B,), rest_grad (B, C) or None, top_grad (B, d))``.
    """
    batch, num_classes = student.shape
    depth, pairs = top.shape[1], len(first)
    device = student.device
    weight_matrix = torch.zeros(depth, depth, dtype=torch.float32, device=device)
    weight_matrix[first, second] = weights.float()
    weight_matrix[second, first] = weights.float()
    pair_index = torch.full((depth, depth), -1, dtype=torch.int32, device=device)
    pair_index[first, second] = torch.arange(pairs, dtype=torch.int32, device=device)
    has_rest = depth < num_classes
    student, teacher, top = student.contiguous(), teacher.contiguous(), top.contiguous()
    f32 = {"dtype": torch.float32, "device": device}
    rest_grad = torch.empty(batch, num_classes, **f32) if has_rest else None
    top_grad = torch.empty(batch, depth, **f32)
    pair_kl = torch.empty(batch, pairs, **f32)
    topd_kl, rntk_kl, local_kl = (torch.zeros(batch, **f32) for _ in range(3))
    block = min(triton.next_power_of_2(num_classes), 2048)
    _ldrrld_row_kernel[(batch,)](
        student,
        teacher,
        student.stride(0),
        teacher.stride(0),
        top,
        weight_matrix,
        pair_index,
        rest_grad if has_rest else top_grad,
        top_grad,
        pair_kl,
        topd_kl,
        rntk_kl,
        local_kl,
        num_classes,
        depth,
        pairs,
        float(temperature),
        BLOCK=block,
        DP=triton.next_power_of_2(depth),
        HAS_REST=has_rest,
    )
    return local_kl, rntk_kl, pair_kl, topd_kl, rest_grad, top_grad


def try_ldrrld_rows(*args, **kwargs) -> tuple[Tensor, ...] | None:
    """:func:`ldrrld_rows`, or ``None`` if the kernel fails to compile or launch.

    A failure is logged once and switches the kernel off for the process (:data:`ENABLED`), so
    the loss falls back to the torch form instead of stopping a run.
    """
    global ENABLED
    try:
        return ldrrld_rows(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any compiler or launch failure: fall back, loudly
        ENABLED = False
        logging.getLogger("ldrrld").warning(
            "the Triton LDRRLD kernel failed (%s: %s); using the torch form from now on", type(error).__name__, error
        )
        return None
