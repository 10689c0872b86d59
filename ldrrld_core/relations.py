"""The vocabulary of LDRRLD: ranked classes, rank pairs, their weights and local distributions.

Everything here is a small pure function of tensors. The loss (``ldrrld_core.losses``) and the
pictures (``ldrrld_viz``) both speak this vocabulary, so it lives once.

Conventions used throughout:

* ``B`` is the batch size, ``C`` the number of classes, ``d`` the depth (how many top-ranked
  classes are decoupled) and ``P = d (d - 1) / 2`` the number of rank pairs.
* Ranks are 1-based in formulas (rank 1 is the largest logit) and 0-based as tensor positions:
  position ``p`` in a top-``d`` tensor holds the class of rank ``p + 1``.
"""

from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from .kernels import cpu_ldrrld

__all__ = [
    "WEIGHTINGS",
    "adw_weights",
    "binary_kl_from_gaps",
    "class_mask",
    "compute_dtype",
    "exclusion_bias",
    "full_precision",
    "kl_excluding",
    "erd",
    "irw",
    "kl_from_logits",
    "nonnegative",
    "num_pairs",
    "pair_gap_matrix",
    "pair_logits",
    "pair_weights",
    "rank_pairs",
    "ranked_top",
    "top_classes",
    "upcast",
]

#: The pair weightings the loss understands: the paper's ADW (IRW x ERD), each factor alone, and
#: ``"uniform"`` (every pair weight 1), the "without ADW" ablation of the paper.
WEIGHTINGS = ("adw", "irw", "erd", "uniform")


def num_pairs(depth: int) -> int:
    """Number of rank pairs ``i < j`` among ``depth`` ranks: ``d (d - 1) / 2``."""
    return depth * (depth - 1) // 2


def rank_pairs(depth: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """All rank pairs ``i < j`` of a depth, as 0-based positions in row-major order.

    Returns ``(first, second)``, two ``(P,)`` long tensors: pair ``p`` compares the class at
    position ``first[p]`` with the class at ``second[p]`` (ranks ``first[p] + 1`` and
    ``second[p] + 1``). For ``depth=3``: ``(0, 1), (0, 2), (1, 2)``.
    """
    first, second = torch.triu_indices(depth, depth, offset=1, device=device)
    return first, second


def irw(rank_i: Tensor, rank_j: Tensor, irw_scale: float = 2.0, irw_offset: float = 1.5) -> Tensor:
    """Inverse Rank Weighting ``a / (c + |i - j|)`` of 1-based ranks: close ranks weigh more."""
    return irw_scale / (irw_offset + (rank_i - rank_j).abs())


def erd(rank_i: Tensor, rank_j: Tensor, decay: float = 0.05) -> Tensor:
    """Exponential Rank Decay ``exp(-gamma (i + j))`` of 1-based ranks: top ranks weigh more."""
    return torch.exp(-decay * (rank_i + rank_j))


def _weight_of_ranks(
    rank_i: Tensor, rank_j: Tensor, weighting: str, decay: float, irw_scale: float, irw_offset: float
) -> Tensor:
    if weighting == "adw":
        return irw(rank_i, rank_j, irw_scale, irw_offset) * erd(rank_i, rank_j, decay)
    if weighting == "irw":
        return irw(rank_i, rank_j, irw_scale, irw_offset)
    if weighting == "erd":
        return erd(rank_i, rank_j, decay)
    if weighting == "uniform":
        return torch.ones_like(rank_i)
    raise ValueError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")


def adw_weights(
    depth: int,
    decay: float = 0.05,
    *,
    irw_scale: float = 2.0,
    irw_offset: float = 1.5,
    weighting: str = "adw",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """The Adaptive Decay Weight of every rank pair as a ``(d, d)`` matrix.

    ``W[p, q]`` is the weight of the pair of ranks ``p + 1`` and ``q + 1``: symmetric, with a
    zero diagonal (a class is never paired with itself). ``weighting`` picks the ablations
    (``"irw"``, ``"erd"`` or ``"uniform"``) instead of the full ``IRW x ERD``.
    """
    ranks = torch.arange(1, depth + 1, dtype=torch.float64, device=device)
    weights = _weight_of_ranks(ranks[:, None], ranks[None, :], weighting, decay, irw_scale, irw_offset)
    weights = weights * (1 - torch.eye(depth, dtype=torch.float64, device=device))
    return weights.to(dtype)


@functools.lru_cache(maxsize=64)
def _cached_pair_weights(
    depth: int,
    decay: float,
    irw_scale: float,
    irw_offset: float,
    weighting: str,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[Tensor, Tensor, Tensor]:
    with torch.inference_mode(False):  # normal tensors, even if the first call came in inference mode
        first, second = rank_pairs(depth, device=device)
        weights = adw_weights(
            depth, decay, irw_scale=irw_scale, irw_offset=irw_offset, weighting=weighting, dtype=dtype, device=device
        )[first, second]
    return first, second, weights


def pair_weights(
    depth: int,
    decay: float = 0.05,
    *,
    irw_scale: float = 2.0,
    irw_offset: float = 1.5,
    weighting: str = "adw",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Rank pairs with their weights, ``(first, second, weight)``, each of shape ``(P,)``.

    The same pairs as :func:`rank_pairs`, with ``weight[p] = adw_weights(...)[first[p], second[p]]``.
    Built once per setting and device, and returned as fresh copies: editing them in place never
    changes what the loss computes next.
    """
    return tuple(
        x.clone()
        for x in cached_pair_weights(
            depth, decay, irw_scale=irw_scale, irw_offset=irw_offset, weighting=weighting, dtype=dtype, device=device
        )
    )


def cached_pair_weights(
    depth: int,
    decay: float = 0.05,
    *,
    irw_scale: float = 2.0,
    irw_offset: float = 1.5,
    weighting: str = "adw",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`pair_weights` without the copies, for the losses' own per-step use.

    The tensors are shared by every later call: read them, never modify them or hand them to a user.
    """
    device = torch.device(device if device is not None else "cpu")
    return _cached_pair_weights(depth, float(decay), float(irw_scale), float(irw_offset), weighting, dtype, device)


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """The precision the losses compute in: float32, or float64 if any of ``tensors`` is float64.

    A float32 student with a float64 teacher therefore computes in float64 (the gradient still
    returns in the student's own dtype).
    """
    dtype = torch.float32
    for x in tensors:
        dtype = torch.promote_types(dtype, x.dtype)
    return dtype


def upcast(logits: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """Logits in the precision the losses compute in: ``dtype``, by default :func:`compute_dtype` of them.

    Half-precision logits (float16, bfloat16, e.g. from autocast) are widened so softmaxes and
    sums never overflow or lose the small probabilities of low-ranked classes.
    """
    return logits.to(dtype or compute_dtype(logits))


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """A context in which ``torch.autocast`` is off on ``device``, so float32 math stays float32.

    Without it, matrix products inside a loss called under autocast would run in bfloat16 or
    float16 whatever the loss does with its inputs.
    """
    if torch.amp.is_autocast_available(device.type) and torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()  # autocast is off already: nothing to switch off (and no context to build)


def nonnegative(kl: Tensor) -> Tensor:
    """A computed KL with round-off below zero raised to exactly 0; the gradient is left unchanged.

    Every KL is ``>= 0``, but a sum of terms that cancel can land a few ulps below zero (e.g.
    ``-3e-8`` in float32 for a restricted softmax over a single class).
    """
    return kl + (kl.clamp_min(0) - kl).detach()


def pair_gap_matrix(
    depth: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """The ``(d, P)`` matrix ``G`` that turns top-``d`` logits into every pair's logit gap.

    ``(top_logits @ G)[b, p] = top_logits[b, first[p]] - top_logits[b, second[p]]`` for the pairs
    of :func:`rank_pairs`: column ``p`` holds ``+1`` at ``first[p]`` and ``-1`` at ``second[p]``.
    The gaps as one linear map (for pictures and analysis). The loss itself indexes instead,
    since a matrix product may run in reduced precision (TF32 on a GPU, autocast).
    """
    first, second = rank_pairs(depth, device=device)
    pairs = torch.arange(len(first), device=device)
    matrix = torch.zeros(depth, len(first), dtype=dtype, device=device)
    matrix[first, pairs] = 1.0
    matrix[second, pairs] = -1.0
    return matrix


def top_classes(rank_logits: Tensor, depth: int) -> Tensor:
    """Indices of the ``depth`` largest logits per sample, largest first: ``(B, C) -> (B, d)``.

    Equal logits: the lower class first, in the set and in its order, whatever the backend and
    precision (bfloat16 logits tie often): the compiled CPU search, the torch search below (on a
    CPU when the kernel is off, and on a GPU, where the Triton form takes its classes from here).
    The ranking is a discrete choice and carries no gradient. On a CPU the compiled search of
    :mod:`~ldrrld_core.kernels.cpu_ldrrld` runs (one pass per row); without it, wide rows are
    searched in two stages (:func:`_block_size`), which finds the same classes faster.
    """
    compiled = cpu_ldrrld.top_classes(rank_logits, depth)
    if compiled is not None:
        return compiled
    logits = rank_logits.detach()
    block = _block_size(logits.shape[1], depth) if logits.device.type == "cpu" else None
    if block is None:
        return ranked_top(logits, depth)
    # Every top-d class lies in one of the d blocks with the largest maxima (equal maxima: the lower
    # block): each of those d maxima is larger than a class outside them, or equal and of a lower class.
    batch, num_classes = logits.shape
    best_blocks = top_classes(logits.reshape(batch, num_classes // block, block).amax(2), depth)  # (B, d)
    offsets = torch.arange(block, device=logits.device)
    blocks = best_blocks.sort(dim=1).values  # in class order, so that position order is class order below
    candidates = (blocks[:, :, None] * block + offsets).reshape(batch, depth * block)  # (B, d k)
    return candidates.gather(1, ranked_top(logits.gather(1, candidates), depth))


def ranked_top(logits: Tensor, depth: int, *, skip_without_ties: bool = True) -> Tensor:
    """``logits.topk(depth).indices`` with the tie rule of :func:`top_classes`: ``(B, C) -> (B, d)``.

    ``topk`` orders equal values as it likes (differently on a CPU and a GPU). It runs for ``d + 1``
    values: when no two of them are equal its order holds; otherwise the set is rebuilt, all the
    classes above the ``d``-th value and the lowest classes equal to it, and ordered by value, then
    class. On a CPU that check decides (``skip_without_ties``); on a GPU and inside
    ``torch.compile`` the rebuild always runs, rather than wait for the check.
    """
    num_classes = logits.shape[1]
    if depth >= num_classes:
        return logits.sort(dim=1, descending=True, stable=True).indices[:, :depth]
    values, picked = logits.topk(depth + 1, dim=1, sorted=True)  # (B, d + 1)
    if skip_without_ties and logits.device.type == "cpu" and not torch.compiler.is_compiling():
        if not bool((values[:, 1:] == values[:, :-1]).any()):
            return picked[:, :depth]
    last = values[:, depth - 1 : depth]  # (B, 1) the d-th largest value
    above, tied = logits > last, logits == last  # (B, C)
    room = depth - above.sum(1, keepdim=True)  # how many of the tied classes fit
    chosen = above | (tied & (tied.cumsum(1) <= room))  # exactly d per row
    lower_first = torch.arange(num_classes, 0, -1, device=logits.device)  # C .. 1: a unique key per class
    classes = (chosen * lower_first).topk(depth, dim=1).indices.sort(dim=1).values  # (B, d) in class order
    order = logits.gather(1, classes).sort(dim=1, descending=True, stable=True).indices
    return classes.gather(1, order)


def _block_size(num_classes: int, depth: int) -> int | None:
    """The block width for the two-stage top-d search on a CPU, or ``None`` for one ``topk``.

    CPU ``topk`` of a few classes is fast on rows of <= 64 entries, slowest on rows of 65 to
    447 and about 1 ns per logit beyond (measured with torch 2.14, one thread), while block
    maxima are one vectorised pass. Rows of 65-447 classes use blocks small enough that both
    stages search <= 64 entries; rows of >= 4096 classes use blocks of 32-128 logits. The width
    must divide ``C``; otherwise (and for 448-4095 classes, where it did not pay) one ``topk``.
    """
    if 64 < num_classes < 448:
        widths = [k for k in range(2, 64 // depth + 1) if num_classes % k == 0 and num_classes // k <= 64]
    elif num_classes >= 4096:
        widths = [k for k in range(32, 129) if num_classes % k == 0 and num_classes // k >= depth]
    else:
        return None
    return max(widths) if widths else None


def pair_logits(top_logits: Tensor, first: Tensor, second: Tensor) -> Tensor:
    """Logits of every rank pair as two-class problems: ``(B, d) -> (B, P, 2)``.

    ``out[b, p] = [top_logits[b, first[p]], top_logits[b, second[p]]]``; a softmax over the last
    axis is the pair's local distribution (equal to ``sigmoid`` of the logit difference).
    """
    return torch.stack((top_logits[:, first], top_logits[:, second]), dim=-1)


def kl_from_logits(student_logits: Tensor, teacher_logits: Tensor, dim: int = -1) -> Tensor:
    """``KL(softmax(teacher) || softmax(student))`` along ``dim``, the axis summed out.

    Shapes: two tensors ``(..., K, ...)`` -> ``(...)``; student first, as in every loss. Computed in
    log space, so classes whose teacher probability underflows to 0 contribute exactly 0
    (``0 log 0 = 0``), and never below 0 (see :func:`nonnegative`).
    """
    log_p_teacher = F.log_softmax(teacher_logits, dim=dim)
    log_p_student = F.log_softmax(student_logits, dim=dim)
    return nonnegative((log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim))


def exclusion_bias(excluded: Tensor, like: Tensor) -> Tensor:
    """``(B, k)`` class indices -> ``(B, C)`` tensor of ``like``'s dtype: ``-inf`` there, 0 elsewhere.

    Added to logits, it removes those classes from a softmax or ``logsumexp`` exactly.
    """
    return torch.zeros_like(like).scatter_(1, excluded, float("-inf"))


def kl_excluding(student_logits: Tensor, teacher_logits: Tensor, excluded: Tensor) -> Tensor:
    """KL of the two softmaxes restricted to the classes *not* in ``excluded``: ``(B, C) -> (B,)``.

    Student first, as in every loss. ``excluded`` is ``(B, k)`` class indices, ``k < C``. With
    ``L`` the ``logsumexp`` over the
    kept classes and ``p`` the teacher's restricted softmax, the identity
    ``log p_k - log q_k = (t_k - L_t) - (s_k - L_s)`` and ``sum_k p_k = 1`` give::

        KL = sum_k p_k (t_k - s_k) - L_t + L_s

    Excluded classes get probability exactly 0 and never meet ``-inf - (-inf)``, in the value
    or the gradient; no large negative mask is involved. The terms cancel when one class is
    kept, so the round-off is clipped at 0 (:func:`nonnegative`).
    """
    bias = exclusion_bias(excluded, teacher_logits)
    t_kept, s_kept = teacher_logits + bias, student_logits + bias
    p_teacher = torch.softmax(t_kept, dim=1)
    return nonnegative(
        (p_teacher * (teacher_logits - student_logits)).sum(1) - t_kept.logsumexp(1) + s_kept.logsumexp(1)
    )


def binary_kl_from_gaps(student_gap: Tensor, teacher_gap: Tensor) -> Tensor:
    """KL between two-class distributions given by logit gaps, elementwise; student first.

    A pair of logits ``(u, v)`` defines ``p = softmax([u, v]) = [sigmoid(u - v), sigmoid(v - u)]``,
    so only the gap ``u - v`` matters. With teacher gap ``g_t`` and student gap ``g_s``::

        KL = sigmoid(g_t) (g_t - g_s) - softplus(g_t) + softplus(g_s)

    the same value as :func:`kl_from_logits` on the stacked pairs, in three elementwise steps
    (never below 0, see :func:`nonnegative`). Its derivative in ``g_s`` is
    ``sigmoid(g_s) - sigmoid(g_t)``.
    """
    return nonnegative(
        torch.sigmoid(teacher_gap) * (teacher_gap - student_gap) - F.softplus(teacher_gap) + F.softplus(student_gap)
    )


def class_mask(classes: Tensor, num_classes: int) -> Tensor:
    """``(B, k)`` class indices -> ``(B, C)`` bool mask, True at those classes."""
    mask = torch.zeros(classes.shape[0], num_classes, dtype=torch.bool, device=classes.device)
    return mask.scatter_(1, classes, True)
