"""Batches for training and evaluation: on the device for tensor sets, a DataLoader for folders.

Both loaders behave alike: iterate for ``(x, y)`` batches already on the device, ``len()`` is
the number of batches this rank gets per epoch, and the order of an epoch is a pure function
of ``(seed, epoch)`` (see :mod:`ldrrld_core.data.order`). Each pass (each ``iter()``) takes the
next epoch, so a plain loop reshuffles; ``set_epoch(e)`` makes the next pass epoch ``e``, as a
resumed or distributed run needs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .augment import AUGMENT_POLICIES, check_policy, draw_crop_flip, random_crop_flip
from .errors import DatasetFormatError
from .folders import ImageFolderDataset
from .order import AUGMENT_STREAM, ShardSampler, derive_generator
from .splits import DataSplits
from .tensors import TensorImageDataset

__all__ = ["EpochLoader", "DeviceLoader", "StreamingLoader", "make_loader"]

Batch = tuple[Tensor, Tensor]


class EpochLoader:
    """What both loaders share: the epoch counter, the shard sampler and the batch count.

    Attributes:
        dataset: the data set batches come from.
        batch_size: samples per batch (the last one may be smaller unless ``drop_last``).
        device: where batches are delivered.
        train: whether this is a training loader (shuffled, equal shares per rank).
        augment: the policy applied to every batch.
        epoch: the epoch the next pass will use (0 at first).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        train: bool,
        device: torch.device,
        augment: str,
        seed: int,
        rank: int,
        world_size: int,
        drop_last: bool,
    ) -> None:
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.dataset, self.batch_size, self.device, self.train = dataset, int(batch_size), device, train
        self.augment, self.seed, self.drop_last = augment, seed, drop_last
        self.sampler = ShardSampler(
            len(dataset), shuffle=train, seed=seed, rank=rank, world_size=world_size, equal_shards=train
        )
        self._next_epoch = 0
        if drop_last and len(self.sampler) < self.batch_size:
            raise ValueError(
                f"batch_size {batch_size} is larger than the {len(self.sampler)} samples this rank gets "
                "per epoch, so drop_last=True would leave no batch; lower batch_size or pass "
                "drop_last=False"
            )

    @property
    def epoch(self) -> int:
        return self._next_epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (its order and augmentation are fixed by ``(seed, epoch)``)."""
        if int(epoch) != epoch or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self._next_epoch = int(epoch)

    @property
    def num_samples(self) -> int:
        """Samples this rank visits per epoch (after ``drop_last``)."""
        count = len(self.sampler)
        return count - count % self.batch_size if self.drop_last else count

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        epoch, self._next_epoch = self._next_epoch, self._next_epoch + 1
        return self._batches(epoch)

    def _batches(self, epoch: int) -> Iterator[Batch]:
        """The batches of one epoch."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} batches of {self.batch_size} on {self.device}, "
            f"augment={self.augment!r}, epoch {self.epoch})"
        )


class DeviceLoader(EpochLoader):
    """Batches of a :class:`TensorImageDataset` cut, shuffled and augmented on the device.

    The whole set is copied to the device once; each batch is one index-gather, and the
    ``"cifar"`` augmentation two more (:func:`~ldrrld_core.data.augment.random_crop_flip`).
    No worker processes, no host-to-device copy per batch.
    """

    def __init__(self, dataset: TensorImageDataset, batch_size: int, **options) -> None:
        super().__init__(dataset, batch_size, **options)
        self.resident = dataset.to(self.device)
        self.fill = None if dataset.mean is None else [-m / s for m, s in zip(dataset.mean, dataset.std)]
        self.sample_values: Tensor | None = None

    def with_sample_values(self, values: Tensor) -> DeviceLoader:
        """A copy of this loader whose batches are ``(x, y, values[index])``: one value per sample, carried along.

        ``values`` is ``(N, ...)`` on the device, row ``i`` belonging to sample ``i`` of the data
        set (its order, not an epoch's). The order and augmentation of the batches are this
        loader's; a value is the sample's whatever the augmentation did to its image (the trainer
        attaches teacher logits only with ``augment="none"``, see
        :mod:`ldrrld_core.train.teacher_outputs`).
        """
        if values.shape[0] != len(self.dataset):
            raise ValueError(f"sample values have {values.shape[0]} rows for a data set of {len(self.dataset)} samples")
        carrying = copy.copy(self)
        carrying.sample_values = values.to(self.device)
        return carrying

    def _batches(self, epoch: int) -> Iterator[Batch]:
        order = self.sampler.indices(epoch)[: self.num_samples].to(self.device)
        if self.augment == "cifar":
            generator = derive_generator(self.seed, epoch, AUGMENT_STREAM, self.sampler.rank)
            offsets, flips = (choice.to(self.device) for choice in draw_crop_flip(len(order), generator))
        for start in range(0, len(order), self.batch_size):
            batch = slice(start, start + self.batch_size)
            index = order[batch]
            images = self.resident.images[index]
            if self.augment == "cifar":
                images = random_crop_flip(images, offsets[batch], flips[batch], fill=self.fill)
            if self.sample_values is None:
                yield images, self.resident.labels[index]
            else:
                yield images, self.resident.labels[index], self.sample_values[index]


class StreamingLoader(EpochLoader):
    """Batches from a torch ``DataLoader`` (decoding and transforms in ``num_workers`` processes).

    The sampler is a :class:`~ldrrld_core.data.order.ShardSampler`, so the order and the DDP
    sharding match :class:`DeviceLoader` exactly. Batches are pinned and copied asynchronously
    when the device is a GPU.
    """

    def __init__(self, dataset: Dataset, batch_size: int, *, num_workers: int = 0, **options) -> None:
        super().__init__(dataset, batch_size, **options)
        pin = self.device.type == "cuda"
        self.loader = DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=self.sampler,
            drop_last=self.drop_last,
            num_workers=num_workers,
            pin_memory=pin,
            persistent_workers=num_workers > 0,
            generator=derive_generator(self.seed, AUGMENT_STREAM, self.sampler.rank),
        )

    def _batches(self, epoch: int) -> Iterator[Batch]:
        self.sampler.set_epoch(epoch)
        try:
            for images, labels in self.loader:
                yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
        except DatasetFormatError as error:
            raise DatasetFormatError(_worker_message(str(error))) from None


def _worker_message(text: str) -> str:
    """The data set's own message out of a DataLoader worker's re-raised error.

    A worker process sends its exception back as text: "Caught DatasetFormatError in DataLoader
    worker process 0", then the worker's whole traceback, then the message. Only the message
    (which names the bad file) is kept.
    """
    marker = f"{DatasetFormatError.__name__}: "
    return text.rsplit(marker, 1)[1].strip() if text.startswith("Caught ") and marker in text else text


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    device: torch.device | str = "cpu",
    augment: str | None = None,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool | None = None,
    num_workers: int = 0,
) -> EpochLoader:
    """An iterable of ``(x, y)`` batches of ``dataset`` on ``device``, one rank's share of each epoch.

    Args:
        dataset: a :class:`TensorImageDataset` (served from the device), an
            :class:`~ldrrld_core.data.folders.ImageFolderDataset` or any map-style data set of
            ``(image tensor, label)`` pairs (served by a torch ``DataLoader``).
        batch_size: samples per batch on this rank.
        train: shuffle each epoch, give every rank an equal share and, by default, augment
            with the data set's policy and drop the last incomplete batch. ``False``: the data
            set's order, no augmentation, every sample exactly once over all ranks.
        device: where the batches are delivered.
        augment: ``"cifar"``, ``"imagenet"`` (folder sets only) or ``"none"``; ``None`` means the
            data set's own policy when ``train`` and ``"none"`` otherwise.
        seed: with the epoch, fixes the order and the augmentation.
        rank, world_size: this process's place in a distributed run.
        drop_last: drop the last incomplete batch; ``None`` means ``train``.
        num_workers: loader processes for folder sets; tensor sets need none and ignore it.

    Returns:
        A :class:`DeviceLoader` or :class:`StreamingLoader`: ``x`` is ``(B, C, H, W)`` float,
        ``y`` is ``(B,)`` long.
    """
    if isinstance(dataset, DataSplits):
        raise ValueError(
            f"make_loader takes one split, not the whole DataSplits: pass {dataset.name!r} splits.train or splits.test"
        )
    if augment is None:
        augment = getattr(dataset, "augment", "none") if train else "none"
    policy = check_policy(augment)
    options = dict(
        train=train,
        device=torch.device(device),
        augment=policy,
        seed=seed,
        rank=rank,
        world_size=world_size,
        drop_last=train if drop_last is None else drop_last,
    )
    if isinstance(dataset, TensorImageDataset):
        if policy == "imagenet":
            raise ValueError(
                "the 'imagenet' policy (random resized crops) is for image-folder data sets; "
                "tensor sets support 'cifar' or 'none'"
            )
        return DeviceLoader(dataset, batch_size, **options)
    if isinstance(dataset, ImageFolderDataset):
        dataset = dataset.with_policy(policy)
    elif policy != "none":
        raise ValueError(
            f"cannot apply augmentation {policy!r} to a {type(dataset).__name__}: only "
            f"TensorImageDataset and ImageFolderDataset know the policies {AUGMENT_POLICIES}; "
            "pass augment='none' or wrap the tensors in a TensorImageDataset"
        )
    return StreamingLoader(dataset, batch_size, num_workers=num_workers, **options)
