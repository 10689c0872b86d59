"""Image sets held entirely in tensors, and the per-channel normalisation they use.

Small data sets (digits, synthetic, CIFAR-100) live in a :class:`TensorImageDataset`: one
``(N, C, H, W)`` float tensor of normalised images and one ``(N,)`` long tensor of labels.
:func:`~ldrrld_core.data.make_loader` moves such a set to the device once and batches, shuffles
and augments it there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .augment import check_policy

__all__ = ["TensorImageDataset", "channel_stats", "normalize", "denormalize"]


def _channel_view(values: Sequence[float] | Tensor, like: Tensor) -> Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)


def channel_stats(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of ``(N, C, H, W)`` images.

    Accumulates in float64, so the statistics of large uint8-derived sets do not drift.
    """
    per_channel = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return tuple(per_channel.mean(1).tolist()), tuple(per_channel.std(1, correction=0).tolist())


def normalize(images: Tensor, mean: Sequence[float], std: Sequence[float], *, inplace: bool = False) -> Tensor:
    """``(images - mean) / std`` per channel for a ``(N, C, H, W)`` float batch.

    ``inplace=True`` overwrites ``images`` instead of allocating (large sets).
    """
    if inplace:
        return images.sub_(_channel_view(mean, images)).div_(_channel_view(std, images))
    return (images - _channel_view(mean, images)) / _channel_view(std, images)


def denormalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Undo :func:`normalize`: ``images * std + mean`` per channel, e.g. to display a batch."""
    return images * _channel_view(std, images) + _channel_view(mean, images)


class TensorImageDataset(Dataset):
    """A labelled image set held in two tensors.

    Args:
        images: ``(N, C, H, W)`` floating tensor, already normalised.
        labels: ``(N,)`` integer tensor of class indices (stored as long).
        mean, std: the per-channel statistics ``images`` were normalised with (``C`` values
            each). Optional, but when given the ``"cifar"`` augmentation pads with true black and
            :meth:`pixels` can undo the normalisation.
        augment: the augmentation policy a training loader applies by default
            (``"cifar"``, ``"imagenet"`` or ``"none"``).

    ``dataset[i]`` is ``(image (C, H, W), label ())``, like any map-style torch data set.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        augment: str = "none",
    ) -> None:
        if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
            described = (
                f"shape {tuple(images.shape)}, dtype {images.dtype}"
                if isinstance(images, Tensor)
                else type(images).__name__
            )
            raise ValueError(
                f"images must be a floating (N, C, H, W) tensor, got {described}; "
                "convert uint8 pixels with .float() / 255 and normalise them first"
            )
        if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.is_floating_point():
            raise ValueError("labels must be a 1-D integer tensor of class indices")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(f"images hold {images.shape[0]} samples but labels hold {labels.shape[0]}")
        if labels.device != images.device:
            raise ValueError(f"images are on {images.device} but labels on {labels.device}; keep them together")
        for name, stats in (("mean", mean), ("std", std)):
            if stats is not None and len(stats) != images.shape[1]:
                raise ValueError(f"{name} has {len(stats)} values but the images have {images.shape[1]} channels")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.images = images
        self.labels = labels.long()
        self.mean = None if mean is None else tuple(float(m) for m in mean)
        self.std = None if std is None else tuple(float(s) for s in std)
        self.augment = check_policy(augment)
        self._copies: dict[str, TensorImageDataset] = {}

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.input_shape))
        return (
            f"TensorImageDataset({len(self)} images {shape}, {self.images.dtype}, on {self.images.device}, "
            f"augment={self.augment!r})"
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.images.device

    def _like(self, images: Tensor, labels: Tensor) -> TensorImageDataset:
        return TensorImageDataset(images, labels, mean=self.mean, std=self.std, augment=self.augment)

    def subset(self, indices: Sequence[int] | Tensor) -> TensorImageDataset:
        """A new set of the samples at ``indices`` (same statistics and policy)."""
        index = torch.as_tensor(indices, dtype=torch.long, device=self.device)
        return self._like(self.images[index], self.labels[index])

    def to(self, device: torch.device | str) -> TensorImageDataset:
        """This set with its tensors on ``device``; the copy is made once and remembered."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if device == self.device:
            return self
        key = str(device)
        if key not in self._copies:
            self._copies[key] = self._like(self.images.to(device), self.labels.to(device))
        return self._copies[key]

    def pixels(self, index: int | slice | Sequence[int] | Tensor = slice(None)) -> Tensor:
        """Images at ``index`` with the normalisation undone, ``(n, C, H, W)`` in about ``[0, 1]``.

        Needs the ``mean`` and ``std`` the set was built with.
        """
        if self.mean is None:
            raise ValueError(
                "this set was built without mean/std, so its normalisation cannot be undone; "
                "pass mean= and std= to TensorImageDataset"
            )
        images = self.images[index]
        return denormalize(images if images.dim() == 4 else images[None], self.mean, self.std)
