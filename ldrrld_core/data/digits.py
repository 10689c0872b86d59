"""scikit-learn's 8x8 handwritten digits: real data that ships with the toolkit, no download.

1797 grey-scale 8x8 images of the digits 0-9 (pixel values 0-16 in the original, scaled here to
[0, 1]), split once, stratified, into train and test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .splits import DataSplits
from .tensors import TensorImageDataset, channel_stats, normalize

__all__ = ["DIGITS_TEST_SIZE", "digits_split", "load_digits"]

#: Test images in the default split (a quarter of the set; 1347 remain for training).
DIGITS_TEST_SIZE = 450


def digits_split(labels: np.ndarray, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(train_indices, test_indices)``, each sorted, fixed by ``seed``."""
    from sklearn.model_selection import train_test_split

    if not 10 <= test_size <= len(labels) - 10:
        raise ValueError(
            f"test_size must leave at least one image per digit on each side: "
            f"10 <= test_size <= {len(labels) - 10}, got {test_size}"
        )
    train, test = train_test_split(np.arange(len(labels)), test_size=test_size, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(test)


def load_digits(
    root: str | Path | None = None, *, download: bool = False, seed: int = 0, test_size: int = DIGITS_TEST_SIZE
) -> DataSplits:
    """The digits as 1x8x8 images normalised with the train split's mean and std.

    ``seed`` fixes the stratified split (seed 0 gives the toolkit's standard 1347/450 split);
    keep it the same for a teacher and its students, or the teacher will have trained on some
    of the student's test images. ``root`` and ``download`` are unused: the data ship with
    scikit-learn.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    pixels = torch.as_tensor(bunch.data, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
    labels = torch.as_tensor(bunch.target, dtype=torch.long)
    train_index, test_index = (torch.from_numpy(index) for index in digits_split(bunch.target, test_size, seed))
    mean, std = channel_stats(pixels[train_index])

    def tensor_set(index: torch.Tensor) -> TensorImageDataset:
        return TensorImageDataset(
            normalize(pixels[index], mean, std), labels[index], mean=mean, std=std, augment="none"
        )

    return DataSplits(
        name="digits",
        train=tensor_set(train_index),
        test=tensor_set(test_index),
        num_classes=10,
        input_shape=(1, 8, 8),
        class_names=[str(digit) for digit in range(10)],
        superclass_of=None,
        superclass_names=None,
        mean=mean,
        std=std,
        augment="none",
    )
