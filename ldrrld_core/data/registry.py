"""Data sets by name: :func:`load_dataset` and :func:`list_datasets`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

from ..registry import Registry
from .cifar100 import load_cifar100, load_cifar100_224
from .digits import load_digits
from .imagenet import load_imagenet, load_tiny_imagenet
from .splits import DataSplits
from .synthetic import load_synthetic

__all__ = ["DATASETS", "load_dataset", "list_datasets", "dataset_options"]

#: Name -> loader ``(root, *, download, seed, **options) -> DataSplits``; ``DATASETS.add`` adds a set.
#: Names are matched ignoring case and ``_`` vs ``-`` (``Tiny_ImageNet`` is ``tiny-imagenet``).
DATASETS: Registry[Callable[..., DataSplits]] = Registry(
    "data set", normalize=lambda name: name.lower().replace("_", "-")
)
DATASETS.add("digits", load_digits, "scikit-learn's 8x8 handwritten digits, offline")
DATASETS.add("synthetic", load_synthetic, "a generated CIFAR-shaped hierarchy of 100 classes in 20 superclasses")
DATASETS.add("cifar100", load_cifar100, "CIFAR-100 in torchvision's format, with superclasses")
DATASETS.add("cifar100-224", load_cifar100_224, "CIFAR-100 at 224 x 224 through an OFA-KD recipe's timm transforms")
DATASETS.add("tiny-imagenet", load_tiny_imagenet, "Tiny ImageNet (200 classes, 64x64) from its folders")
DATASETS.add("imagenet", load_imagenet, "ImageNet-1k from class folders")

_COMMON = ("root", "download", "seed")


def list_datasets() -> list[str]:
    """Names :func:`load_dataset` accepts, offline ones (digits, synthetic) first."""
    return list(DATASETS)


def _loader(name: str) -> Callable[..., DataSplits]:
    return DATASETS[name]  # an unknown name: a ValueError with suggestions


def dataset_options(name: str) -> dict[str, object]:
    """The extra keyword options a data set takes, with their defaults."""
    parameters = inspect.signature(_loader(name)).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in _COMMON}


def load_dataset(
    name: str, root: str | Path = "data", *, download: bool = False, seed: int = 0, **options
) -> DataSplits:
    """Load a data set's train and test splits by name.

    Args:
        name: one of :func:`list_datasets`: ``"digits"``, ``"synthetic"``, ``"cifar100"``,
            ``"tiny-imagenet"``, ``"imagenet"``.
        root: the folder holding downloaded data sets (relative paths are relative to the
            working directory; notebooks in ``notebooks/`` pass ``root="../data"``).
        download: fetch the files when missing, where the data set allows it (CIFAR-100).
        seed: fixes generated or split data (synthetic, digits); unused by the others.
        options: per-data-set options, see :func:`dataset_options`, e.g.
            ``load_dataset("synthetic", train_per_class=20, difficulty=1.5)``.

    Raises:
        ValueError: unknown name or option.
        DatasetNotFoundError: the files are not under ``root``; the message says how to get them.
        DatasetFormatError: the files are there but malformed; the message names the file.
    """
    loader = _loader(name)
    accepted = dataset_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        offered = ", ".join(f"{key}={value!r}" for key, value in accepted.items()) or "none"
        raise ValueError(f"{name} does not take the option(s) {', '.join(unknown)}; its options are: {offered}")
    return loader(Path(root), download=download, seed=seed, **options)
