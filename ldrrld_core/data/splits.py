"""What :func:`~ldrrld_core.data.load_dataset` returns: the splits and what describes them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from .augment import check_policy

__all__ = ["DataSplits"]


@dataclass
class DataSplits:
    """A data set's splits (train, test, optional validation) with everything models and pictures need.

    Attributes:
        name: the registry name, e.g. ``"cifar100"``.
        train, test: the splits; tensor sets are :class:`~ldrrld_core.data.TensorImageDataset`.
        num_classes: number of classes ``C``; labels are ``0 .. C - 1``.
        input_shape: ``(channels, height, width)`` of what a model receives.
        class_names: ``C`` names, ``class_names[label]``.
        superclass_of: ``(C,)`` long tensor, the superclass of every class, or ``None`` when the
            data set has no hierarchy.
        superclass_names: names of the superclasses, ``superclass_names[superclass_of[c]]``,
            or ``None``.
        mean, std: per-channel normalisation statistics the images carry.
        augment: the training augmentation policy, ``"cifar"``, ``"imagenet"`` or ``"none"``.
        val: images held out of the training set to choose settings on (see
            :func:`~ldrrld_core.data.split_validation`), or ``None``.
    """

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, int, int]
    class_names: list[str]
    superclass_of: torch.Tensor | None
    superclass_names: list[str] | None
    mean: tuple
    std: tuple
    augment: str
    val: Dataset | None = None

    def __post_init__(self) -> None:
        check_policy(self.augment)
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"{self.name}: {len(self.class_names)} class names for {self.num_classes} classes")
        if (self.superclass_of is None) != (self.superclass_names is None):
            raise ValueError(f"{self.name}: give superclass_of and superclass_names together, or neither")
        if self.superclass_of is not None:
            if self.superclass_of.shape != (self.num_classes,):
                raise ValueError(
                    f"{self.name}: superclass_of must have shape ({self.num_classes},), "
                    f"got {tuple(self.superclass_of.shape)}"
                )
            if self.superclass_of.min() < 0 or self.superclass_of.max() >= len(self.superclass_names):
                raise ValueError(
                    f"{self.name}: superclass_of holds indices outside 0..{len(self.superclass_names) - 1}"
                )

    @property
    def num_superclasses(self) -> int | None:
        """Number of superclasses, or ``None`` without a hierarchy."""
        return None if self.superclass_names is None else len(self.superclass_names)

    def __repr__(self) -> str:
        hierarchy = "" if self.superclass_names is None else f" in {self.num_superclasses} superclasses"
        shape = "x".join(map(str, self.input_shape))
        val = "" if self.val is None else f"{len(self.val)} val / "
        return (
            f"DataSplits({self.name!r}: {len(self.train)} train / {val}{len(self.test)} test images "
            f"{shape}, "
            f"{self.num_classes} classes{hierarchy}, augment={self.augment!r})"
        )
