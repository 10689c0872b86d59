"""Tiny-ImageNet and ImageNet, read from image folders under the data root.

Expected layouts (``root`` is the data root, ``data/`` by default)::

    root/tiny-imagenet-200/                 root/imagenet/
        wnids.txt        (optional)             LOC_synset_mapping.txt  (optional)
        words.txt        (optional)             train/<wnid>/*.JPEG
        train/<wnid>/images/*.JPEG              val/<wnid>/*.JPEG
        val/images/*.JPEG + val/val_annotations.txt
          or val/<wnid>/[images/]*.JPEG

Neither set can be downloaded automatically: data/README.md says where to get them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetFormatError, DatasetNotFoundError
from .folders import (
    ImageFolderDataset,
    check_class_list,
    read_class_descriptions,
    scan_annotated_folder,
    scan_class_folders,
)
from .splits import DataSplits

__all__ = ["FolderSetSpec", "TINY_IMAGENET", "IMAGENET", "load_folder_set", "load_tiny_imagenet", "load_imagenet"]


@dataclass(frozen=True)
class FolderSetSpec:
    """What distinguishes one image-folder data set from another."""

    name: str
    folder: str  # below the data root
    crop_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    augment: str
    image_size: tuple[int, int] | None  # (width, height) every image must have, if fixed
    class_list: str | None  # optional file listing the class ids, one a line
    descriptions: str  # optional <id> <names> table for readable class names
    how_to_get: str


TINY_IMAGENET = FolderSetSpec(
    name="tiny-imagenet",
    folder="tiny-imagenet-200",
    crop_size=64,
    resize_size=64,
    mean=(0.4802, 0.4481, 0.3975),
    std=(0.2302, 0.2265, 0.2262),
    augment="imagenet",
    image_size=(64, 64),
    class_list="wnids.txt",
    descriptions="words.txt",
    how_to_get="download tiny-imagenet-200.zip from the Stanford CS231n course site and unzip it into the data "
    "root, so that tiny-imagenet-200/train/ exists (see data/README.md)",
)

IMAGENET = FolderSetSpec(
    name="imagenet",
    folder="imagenet",
    crop_size=224,
    resize_size=256,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    augment="imagenet",
    image_size=None,
    class_list=None,
    descriptions="LOC_synset_mapping.txt",
    how_to_get="ImageNet (ILSVRC-2012) needs an account at image-net.org or Kaggle; extract train/ and val/ into "
    "<root>/imagenet/ with one folder per class in each (see data/README.md)",
)


def _split_folder(base: Path, split: str, spec: FolderSetSpec, download: bool) -> Path:
    folder = base / split
    if not folder.is_dir():
        no_download = " Automatic download is not offered for this data set." if download else ""
        raise DatasetNotFoundError(
            f"{spec.name}: no folder {folder.resolve()}.{no_download} To get it: "
            f"{spec.how_to_get}. Or pass root= pointing at the folder that holds "
            f"{spec.folder}/."
        )
    return folder


def _train_classes(base: Path, train_dir: Path, spec: FolderSetSpec) -> list[str] | None:
    if spec.class_list is None or not (base / spec.class_list).is_file():
        return None
    listed = sorted(line.strip() for line in (base / spec.class_list).read_text().splitlines() if line.strip())
    check_class_list(listed, base / spec.class_list)
    missing = [name for name in listed if not (train_dir / name).is_dir()]
    if missing:
        raise DatasetFormatError(
            f"{base / spec.class_list} lists classes with no folder in {train_dir}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    return listed


def _scan_val(val_dir: Path, classes: list[str]) -> tuple[list[str], list[int]]:
    """Class-folder validation splits first; else the raw ``images/`` + ``val_annotations.txt`` layout."""
    if set(entry.name for entry in val_dir.iterdir() if entry.is_dir()) & set(classes):
        return scan_class_folders(val_dir, classes)[1:]
    table = val_dir / "val_annotations.txt"
    if table.is_file():
        return scan_annotated_folder(val_dir, table, classes)
    raise DatasetFormatError(
        f"{val_dir} has neither class folders nor val_annotations.txt; sort the validation "
        "images into one folder per class (for ImageNet, the valprep.sh script of PyTorch's "
        "ImageNet example does this)"
    )


def load_folder_set(
    spec: FolderSetSpec, root: str | Path, *, download: bool = False, verify: bool = False
) -> DataSplits:
    """Scan a folder data set's train and val splits into :class:`ImageFolderDataset`\\ s.

    ``verify=True`` decodes every image up front (slow on ImageNet) instead of failing at the
    first bad file during training.
    """
    base = Path(root) / spec.folder
    train_dir = _split_folder(base, "train", spec, download)
    val_dir = _split_folder(base, "val", spec, download)
    classes, train_paths, train_labels = scan_class_folders(train_dir, _train_classes(base, train_dir, spec))
    val_paths, val_labels = _scan_val(val_dir, classes)

    def dataset(folder: Path, paths: list[str], labels: list[int]) -> ImageFolderDataset:
        return ImageFolderDataset(
            folder,
            paths,
            labels,
            crop_size=spec.crop_size,
            resize_size=spec.resize_size,
            mean=spec.mean,
            std=spec.std,
            image_size=spec.image_size,
            augment=spec.augment,
        )

    train, test = dataset(train_dir, train_paths, train_labels), dataset(val_dir, val_paths, val_labels)
    if verify:
        train.verify()
        test.verify()
    return DataSplits(
        name=spec.name,
        train=train,
        test=test,
        num_classes=len(classes),
        input_shape=(3, spec.crop_size, spec.crop_size),
        class_names=read_class_descriptions(base / spec.descriptions, classes),
        superclass_of=None,
        superclass_names=None,
        mean=spec.mean,
        std=spec.std,
        augment=spec.augment,
    )


def load_tiny_imagenet(root: str | Path, *, download: bool = False, seed: int = 0, verify: bool = False) -> DataSplits:
    """Tiny-ImageNet: 200 classes of 64x64 images, 500 train and 50 val per class.

    The val split is the test split (the official test images carry no labels). ``seed`` is
    unused: the split is the published one.
    """
    return load_folder_set(TINY_IMAGENET, root, download=download, verify=verify)


def load_imagenet(root: str | Path, *, download: bool = False, seed: int = 0, verify: bool = False) -> DataSplits:
    """ImageNet (ILSVRC-2012): 1000 classes, models see 224x224 crops; val is the test split.

    ``seed`` is unused: the split is the published one.
    """
    return load_folder_set(IMAGENET, root, download=download, verify=verify)
