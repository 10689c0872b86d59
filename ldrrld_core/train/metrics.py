"""Accuracy counting and test-set evaluation, accumulated on the device and read once.

Counts stay tensors on the training device until the end of a pass; one ``.tolist()`` then reads
them all, so no step waits for the host. Under ``torchrun`` the counts are summed over the
processes first, so every process reports the accuracy of the whole test set.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .distributed import all_reduce_sum

__all__ = ["correct_top_k", "evaluate"]


def correct_top_k(logits: Tensor, target: Tensor, ks: tuple[int, ...] = (1, 5)) -> Tensor:
    """How many rows have their label among the ``k`` largest logits, for each ``k``.

    Args:
        logits: ``(B, C)``.
        target: ``(B,)`` class indices.
        ks: the cut-offs; a ``k`` above ``C`` counts as ``C`` (every sample correct).

    Returns:
        ``(len(ks),)`` float tensor of counts on the logits' device (no host synchronisation).
    """
    largest = min(max(ks), logits.shape[1])
    hits = logits.topk(largest, dim=1).indices == target[:, None]  # (B, k_max), one True at most per row
    # Slices only: indexing with a list of positions would copy it to the device at every step.
    return torch.stack([hits[:, : min(k, largest)].sum() for k in ks]).float()


def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    autocast_dtype: torch.dtype | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    """Cross-entropy, top-1 and top-5 accuracy (%) of ``model`` over ``batches``.

    The model is put in eval mode for the pass and returned to its previous mode. ``batches``
    yields ``(x, y)`` already on the model's device (a loader from ``make_loader``); under
    ``torchrun`` each process passes its shard and the totals are summed over processes.

    Returns:
        ``{"test_loss": ..., "test_top1": ..., "test_top5": ...}`` as plain floats.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals = torch.zeros(4, device=device)  # summed CE, top-1 hits, top-5 hits, samples
    autocast = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else nullcontext()
    with torch.inference_mode(), autocast:
        for x, y in batches:
            logits = model(x.contiguous(memory_format=memory_format) if x.dim() == 4 else x).float()
            totals[0] += F.cross_entropy(logits, y, reduction="sum")
            totals[1:3] += correct_top_k(logits, y)
            totals[3] += y.shape[0]
    model.train(was_training)
    loss, top1, top5, count = all_reduce_sum(totals).tolist()
    if count == 0:
        raise ValueError("evaluation saw no samples: the test split (or this process's shard of it) is empty")
    return {"test_loss": loss / count, "test_top1": 100.0 * top1 / count, "test_top5": 100.0 * top5 / count}
