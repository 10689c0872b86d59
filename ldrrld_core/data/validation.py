"""A validation split carved from a training split: what a protocol may use to choose settings.

The test split must never choose anything (a learning rate, an epoch, a method), so choices are
made on a held-out part of the training images instead. :func:`split_validation` takes the same
fraction of every class (stratified), with the held-out images fixed by ``seed`` alone, so a
teacher and all its students see exactly the same training and validation images.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .order import derive_generator
from .splits import DataSplits

__all__ = ["split_validation", "stratified_holdout"]

_VALIDATION_STREAM = 7  # keeps the held-out draw independent of other uses of the data seed


def stratified_holdout(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices ``(kept, held_out)`` that hold out ``round(fraction * n_c)`` samples of every class ``c``.

    Args:
        labels: ``(N,)`` class indices.
        fraction: in ``(0, 1)``; every class keeps at least one sample and, when it has two or
            more, gives at least one.
        seed: fixes which samples are held out.

    Returns:
        Two sorted ``(N - V,)`` and ``(V,)`` long tensors that together are ``0 .. N - 1``.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must lie strictly between 0 and 1, got {fraction!r}")
    labels = torch.as_tensor(labels).long().cpu()
    generator = derive_generator(seed, _VALIDATION_STREAM)
    held_out = []
    for label in labels.unique().tolist():
        members = (labels == label).nonzero().flatten()
        count = min(max(1, round(fraction * len(members))), len(members) - 1)
        chosen = members[torch.randperm(len(members), generator=generator)[:count]]
        held_out.append(chosen)
    held = torch.cat(held_out).sort().values if held_out else torch.empty(0, dtype=torch.long)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[held] = False
    return keep.nonzero().flatten(), held


def split_validation(data: DataSplits, fraction: float = 0.1, seed: int = 0) -> DataSplits:
    """``data`` with ``fraction`` of every class of its train split moved into a new ``val`` split.

    Args:
        data: the data set; its train split must have ``labels`` and ``subset`` (the tensor
            sets: digits, synthetic, CIFAR-100).
        fraction: share of each class held out, e.g. ``0.1``.
        seed: fixes the held-out images (use the recipe's ``data_seed``).

    Returns:
        A new :class:`DataSplits` whose ``train`` lacks the held-out images and whose ``val``
        holds them; ``test`` is unchanged.
    """
    if data.val is not None:
        raise ValueError(f"{data.name} already has a validation split ({len(data.val)} images); split it once")
    train = data.train
    if not (hasattr(train, "labels") and hasattr(train, "subset")):
        raise ValueError(
            f"the train split of {data.name!r} ({type(train).__name__}) cannot be split here: "
            "split_validation needs a tensor set with labels and subset(); for image folders "
            "keep validation_fraction=0 and use the data set's own validation folder"
        )
    kept, held = stratified_holdout(train.labels, fraction, seed)
    return dataclasses.replace(data, train=train.subset(kept), val=train.subset(held))
