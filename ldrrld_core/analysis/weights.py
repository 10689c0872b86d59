"""Pair weights: IRW, ERD and ADW over the rank grid, and per-pair values spread over it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..losses.checks import check_depth, check_non_negative, check_positive
from ..relations import adw_weights, num_pairs, rank_pairs

__all__ = ["MAX_GRID_DEPTH", "WeightMaps", "weight_maps", "pair_matrix", "check_grid_depth"]

#: The deepest rank grid the analysis builds: ``d x d`` cells (4M at 2,048, 32 MB in float64) and
#: ``d (d - 1) / 2`` pairs. A picture of more ranks cannot be read; the loss itself has no such limit.
MAX_GRID_DEPTH = 2048


def check_grid_depth(depth: int, what: str) -> None:
    """``depth`` as :func:`~ldrrld_core.losses.checks.check_depth` wants it, and at most :data:`MAX_GRID_DEPTH`."""
    check_depth(depth)
    if depth > MAX_GRID_DEPTH:
        raise ValueError(
            f"{what} builds a {depth} x {depth} rank grid ({num_pairs(depth):,} pairs); it takes a depth of at "
            f"most {MAX_GRID_DEPTH}: pass a smaller depth (the loss's own depth is usually 5 to 10)"
        )


def pair_matrix(values: Tensor, depth: int, diagonal: float = 0.0) -> Tensor:
    """Spread per-pair values over a symmetric rank grid: ``(..., P) -> (..., d, d)``.

    ``out[..., p, q] = out[..., q, p] = values[..., k]`` for the ``k``-th pair ``(p, q)`` of
    :func:`~ldrrld_core.relations.rank_pairs`; the diagonal (a rank with itself, never a pair)
    holds ``diagonal`` (use ``float("nan")`` to leave those cells blank in a heatmap).
    """
    check_grid_depth(depth, "pair_matrix")
    if values.shape[-1] != num_pairs(depth):
        raise ValueError(
            f"expected {num_pairs(depth)} pair values for depth {depth} (d (d - 1) / 2), "
            f"got a last axis of {values.shape[-1]}"
        )
    first, second = rank_pairs(depth, device=values.device)
    out = values.new_full((*values.shape[:-1], depth, depth), diagonal)
    out[..., first, second] = values
    out[..., second, first] = values
    return out


@dataclass(frozen=True)
class WeightMaps:
    """IRW, ERD and their product ADW for every rank pair of one depth.

    Attributes:
        depth, decay, irw_scale, irw_offset: the settings (``d``, ``gamma``, IRW's ``a`` and ``c``).
        irw, erd, adw: ``(d, d)`` float64, symmetric with a zero diagonal; entry ``[p, q]`` is the
            weight of the pair of ranks ``p + 1`` and ``q + 1`` (``adw = irw * erd``).
        share: ``(P,)`` the share of one sample's local term that each pair carries when every
            pair (and the top-d set) has the same KL: ``w_p / (sum_q w_q + 1)``.
        topd_share: the share the top-d set term carries then, ``1 / (sum_q w_q + 1)``;
            ``share.sum() + topd_share == 1``.
    """

    depth: int
    decay: float
    irw_scale: float
    irw_offset: float
    irw: Tensor
    erd: Tensor
    adw: Tensor
    share: Tensor
    topd_share: float

    def by_distance(self) -> Tensor:
        """ADW as curves over rank distance: ``(d - 1, d - 1)``; row ``i - 1`` holds the pairs that
        start at rank ``i``, column ``k - 1`` distance ``k``: ``ADW(i, i + k)``, NaN where ``i + k > d``."""
        d, device = self.depth, self.adw.device
        start = torch.arange(d - 1, device=device)[:, None]  # rank i - 1
        end = start + torch.arange(1, d, device=device)[None, :]  # rank i + k - 1
        return torch.where(end < d, self.adw[start, end.clamp(max=d - 1)], math.nan)

    def summary(self) -> dict[str, int | float]:
        """Where the weight goes, in a few numbers (shares of the local term with equal KLs).

        ``pairs``: how many; ``pair (1,2)``: the top pair's share; ``pairs with rank 1``: the
        share of every pair that involves the top class; ``top-d set``: the top-d term's share.
        """
        first, _ = rank_pairs(self.depth, device=self.share.device)
        return {
            "d": self.depth,
            "decay": self.decay,
            "pairs": int(self.share.numel()),
            "pair (1,2)": float(self.share[0]),
            "pairs with rank 1": float(self.share[first == 0].sum()),
            "top-d set": self.topd_share,
        }

    def irw_by_distance(self) -> Tensor:
        """IRW over rank distance ``k = 1 .. d - 1``: ``(d - 1,)``. It depends on the distance only."""
        return self.irw[0, 1:]


def weight_maps(depth: int = 7, decay: float = 0.05, *, irw_scale: float = 2.0, irw_offset: float = 1.5) -> WeightMaps:
    """The IRW, ERD and ADW grids of a depth, computed with the loss's own weight function."""
    check_grid_depth(depth, "weight_maps")
    check_non_negative("decay", decay)
    check_positive("irw_scale", irw_scale)
    check_non_negative("irw_offset", irw_offset)
    grids = {
        name: adw_weights(depth, decay, irw_scale=irw_scale, irw_offset=irw_offset, weighting=name, dtype=torch.float64)
        for name in ("irw", "erd", "adw")
    }
    first, second = rank_pairs(depth)
    weights = grids["adw"][first, second]
    total = float(weights.sum()) + 1.0
    return WeightMaps(
        depth=depth,
        decay=float(decay),
        irw_scale=float(irw_scale),
        irw_offset=float(irw_offset),
        share=weights / total,
        topd_share=1.0 / total,
        **grids,
    )
