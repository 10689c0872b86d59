"""Data sets and loaders.

``load_dataset(name)`` returns a :class:`DataSplits` (train and test splits, class names, the
superclass hierarchy where there is one, normalisation and augmentation policy);
``make_loader(split, batch_size, train=...)`` turns a split into ``(x, y)`` batches on a device.

* Offline: ``"digits"`` (scikit-learn's handwritten 8x8 digits, the default everywhere) and
  ``"synthetic"`` (a generated CIFAR-100-shaped set with a known 20 x 5 class hierarchy).
* From ``data/``: ``"cifar100"`` (torchvision's format, ``download=True`` fetches it),
  ``"cifar100-224"`` (the same files through an OFA-KD recipe's timm transforms, at 224 x 224),
  ``"tiny-imagenet"`` and ``"imagenet"`` (image folders).

Small sets are held as tensors and served from the device (:class:`DeviceLoader`); folder sets
stream through a torch ``DataLoader`` (:class:`StreamingLoader`). See ``docs/data.md``.
"""

from .augment import AUGMENT_POLICIES, random_crop_flip
from .errors import DatasetFormatError, DatasetNotFoundError
from .folders import ImageFolderDataset
from .loaders import DeviceLoader, EpochLoader, StreamingLoader, make_loader
from .registry import DATASETS, dataset_options, list_datasets, load_dataset
from .splits import DataSplits
from .tensors import TensorImageDataset, denormalize, normalize
from .validation import split_validation, stratified_holdout

__all__ = [
    "AUGMENT_POLICIES",
    "DATASETS",
    "DataSplits",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DeviceLoader",
    "EpochLoader",
    "ImageFolderDataset",
    "StreamingLoader",
    "TensorImageDataset",
    "dataset_options",
    "denormalize",
    "list_datasets",
    "load_dataset",
    "make_loader",
    "normalize",
    "random_crop_flip",
    "split_validation",
    "stratified_holdout",
]
