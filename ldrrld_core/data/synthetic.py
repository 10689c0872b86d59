"""A generated CIFAR-100-shaped image set with a known class hierarchy.

Every image is built from smooth random patterns at three levels::

    field = superclass prototype + class_spread * class pattern + difficulty * image noise
    image = sigmoid(field shifted by up to 2 pixels)          (3 x 32 x 32, values in (0, 1))

Prototypes are coarse (a 4x4 grid of random colours, smoothly upsampled), class patterns and
noise finer (8x8). The five classes of a superclass share its prototype, so they really are
closer to each other than to other classes: correlation matrices of a trained model's logits
and t-SNE plots of its features have a known structure to find. Everything is drawn from
``seed`` alone; the train images do not depend on ``test_per_class`` and vice versa.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .augment import random_crop_flip
from .order import derive_generator
from .splits import DataSplits
from .tensors import TensorImageDataset, channel_stats, normalize

__all__ = ["smooth_fields", "synthetic_images", "load_synthetic"]

_PROTOTYPES, _TRAIN, _TEST = 0, 1, 2  # seed streams
_JITTER = 2  # pixels an image may be shifted by


def smooth_fields(count: int, size: int, cells: int, generator: torch.Generator, channels: int = 3) -> Tensor:
    """``(count, channels, size, size)`` smooth random patterns with unit standard deviation.

    Each is a ``cells x cells`` grid of standard normal values, upsampled bicubically; fewer
    cells give coarser patterns.
    """
    grid = torch.randn(count, channels, cells, cells, generator=generator)
    fields = F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False)
    return fields / fields.flatten(1).std(1).view(-1, 1, 1, 1)


def synthetic_images(
    class_fields: Tensor, per_class: int, difficulty: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Draw ``per_class`` noisy, shifted images of every class pattern in ``class_fields``.

    Args:
        class_fields: ``(C, channels, S, S)`` noise-free fields of the classes.
        per_class: images per class.
        difficulty: scale of the per-image noise.

    Returns:
        ``(images (C * per_class, channels, S, S) in (0, 1), labels (C * per_class,))``, grouped
        by class.
    """
    num_classes, channels, size, _ = class_fields.shape
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    count = len(labels)
    noise = 0.9 * smooth_fields(count, size, 8, generator, channels) + 0.3 * torch.randn(
        count, channels, size, size, generator=generator
    )
    shifts = torch.randint(0, 2 * _JITTER + 1, (count, 2), generator=generator)
    fields = random_crop_flip(
        class_fields[labels] + difficulty * noise, shifts, torch.zeros(count, dtype=torch.bool), padding=_JITTER
    )
    return torch.sigmoid(fields), labels


def load_synthetic(
    root: str | Path | None = None,
    *,
    download: bool = False,
    seed: int = 0,
    train_per_class: int = 50,
    test_per_class: int = 20,
    difficulty: float = 1.0,
    class_spread: float = 0.6,
    num_superclasses: int = 20,
    classes_per_superclass: int = 5,
    image_size: int = 32,
) -> DataSplits:
    """Generate the synthetic hierarchy: by default 100 classes in 20 superclasses of 5, 3x32x32.

    Args:
        seed: picks the data set; the same seed always gives the same images. Keep it fixed
            for a teacher and its students.
        train_per_class, test_per_class: images per class in each split.
        difficulty: per-image noise scale; 0 gives the noise-free pattern (up to a shift),
            larger values make classes harder to tell apart.
        class_spread: how far the classes of one superclass lie from their prototype,
            relative to the distance between prototypes (~1); smaller makes siblings more alike.
        num_superclasses, classes_per_superclass, image_size: the shape of the set.
        root, download: unused (nothing is read from disk).

    Class ``c`` belongs to superclass ``c // classes_per_superclass``; classes are named like
    ``"s03_c2"`` (class 2 of superclass 3) and superclasses like ``"s03"``.
    """
    for name, value in (
        ("train_per_class", train_per_class),
        ("test_per_class", test_per_class),
        ("num_superclasses", num_superclasses),
        ("classes_per_superclass", classes_per_superclass),
    ):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if difficulty < 0 or class_spread < 0:
        raise ValueError(f"difficulty and class_spread must be >= 0, got {difficulty} and {class_spread}")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    num_classes = num_superclasses * classes_per_superclass
    superclass_of = torch.arange(num_classes) // classes_per_superclass

    generator = derive_generator(seed, _PROTOTYPES)
    prototypes = smooth_fields(num_superclasses, image_size, 4, generator)
    class_fields = prototypes[superclass_of] + class_spread * smooth_fields(num_classes, image_size, 8, generator)
    train_pixels, train_labels = synthetic_images(
        class_fields, train_per_class, difficulty, derive_generator(seed, _TRAIN)
    )
    test_pixels, test_labels = synthetic_images(class_fields, test_per_class, difficulty, derive_generator(seed, _TEST))
    mean, std = channel_stats(train_pixels)

    def tensor_set(pixels: Tensor, labels: Tensor) -> TensorImageDataset:
        return TensorImageDataset(normalize(pixels, mean, std), labels, mean=mean, std=std, augment="cifar")

    digits = max(2, len(str(num_superclasses - 1)))
    superclass_names = [f"s{s:0{digits}d}" for s in range(num_superclasses)]
    class_names = [
        f"{superclass_names[c // classes_per_superclass]}_c{c % classes_per_superclass}" for c in range(num_classes)
    ]
    return DataSplits(
        name="synthetic",
        train=tensor_set(train_pixels, train_labels),
        test=tensor_set(test_pixels, test_labels),
        num_classes=num_classes,
        input_shape=(3, image_size, image_size),
        class_names=class_names,
        superclass_of=superclass_of,
        superclass_names=superclass_names,
        mean=mean,
        std=std,
        augment="cifar",
    )
