"""The straightforward way to write LDRRLD: one masked full-width softmax per class combination.

Vectorised over the batch but not over pairs, as the method's description suggests (and as the
authors' code does): for each of the ``d (d - 1) / 2`` rank pairs, the top-``d`` set and the
remaining classes, it builds a ``(B, C)`` mask and runs two softmaxes over all ``C`` classes.
It is exact (masking with ``-inf`` and summing only over the kept classes), just slow: the
benchmark's "naive" baseline, checked against ``ldrrld_loss`` in ``tests/test_benchmarks.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ldrrld_core.relations import adw_weights, top_classes


def _masked_kl(z_t: Tensor, z_s: Tensor, keep: Tensor) -> Tensor:
    """Per-sample KL of the softmaxes restricted to ``keep`` (a ``(B, C)`` bool mask) -> ``(B,)``."""
    minus_inf = torch.tensor(float("-inf"), dtype=z_t.dtype, device=z_t.device)
    log_p_t = torch.log_softmax(torch.where(keep, z_t, minus_inf), dim=1)
    log_p_s = torch.log_softmax(torch.where(keep, z_s, minus_inf), dim=1)
    zero = torch.zeros((), dtype=z_t.dtype, device=z_t.device)
    return torch.where(keep, log_p_t.exp() * (log_p_t - torch.where(keep, log_p_s, zero)), zero).sum(1)


def masked_ldrrld(
    student_logits: Tensor, teacher_logits: Tensor, depth: int = 7, temperature: float = 4.0, decay: float = 0.05
) -> tuple[Tensor, Tensor]:
    """``(local, rntk)`` of LDRRLD computed with one masked softmax pair per class combination."""
    z_s, z_t = student_logits.float() / temperature, teacher_logits.float() / temperature
    batch, num_classes = z_s.shape
    top = top_classes(student_logits, depth)
    weights = adw_weights(depth, decay, device=z_s.device)
    rows = torch.arange(batch, device=z_s.device)

    def keep_only(columns: Tensor) -> Tensor:
        keep = torch.zeros(batch, num_classes, dtype=torch.bool, device=z_s.device)
        keep[rows[:, None], columns] = True
        return keep

    per_sample = torch.zeros(batch, device=z_s.device)
    for i in range(depth):
        for j in range(i + 1, depth):
            per_sample = per_sample + weights[i, j] * _masked_kl(z_t, z_s, keep_only(top[:, [i, j]]))
    top_set = keep_only(top)
    per_sample = (per_sample + _masked_kl(z_t, z_s, top_set)) / (depth * (depth - 1) / 2 + 1)
    rntk = _masked_kl(z_t, z_s, ~top_set) if depth < num_classes else torch.zeros(batch)
    scale = temperature**2
    return scale * per_sample.mean(), scale * rntk.mean()
