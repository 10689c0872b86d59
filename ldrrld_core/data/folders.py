"""Image sets read from class folders on disk, decoded on access with PIL.

The layout is the one torchvision's ``ImageFolder`` reads, ``<split>/<class>/**/<image>``, plus
the raw Tiny-ImageNet validation layout (``val/images/*`` and a ``val_annotations.txt`` table).
Every failure names the folder or file at fault.

What a scan counts, so that no image is counted twice or under the wrong label:

* hidden entries (names starting with ``.``: ``.ipynb_checkpoints``, macOS ``._*`` files) are
  skipped at every level;
* symbolic links are followed, but a folder reached twice (a link loop, or a link into another
  class's folder) and an image reached twice through links are errors;
* a file with an image name that is not a regular file (a FIFO, a socket, a broken link) is an
  error, found from the directory listing without opening it (opening a FIFO blocks forever).

Decoding converts every mode to 8-bit RGB by its range: 16-bit grayscale is scaled by 255/65535
(PIL's own conversion would clip it to white), and floating-point images, whose range is
unknown, are refused; so are decompression bombs (PIL's pixel limit).
"""

from __future__ import annotations

import copy
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .augment import check_policy, folder_transform
from .errors import DatasetFormatError

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "scan_class_folders",
    "scan_annotated_folder",
    "read_class_descriptions",
    "open_rgb",
    "check_class_list",
]

#: File endings (lower case) counted as images.
IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


def open_rgb(path: Path, expected_size: tuple[int, int] | None = None):
    """Decode ``path`` into an RGB PIL image, checking its ``(width, height)`` when one is expected.

    Raises:
        DatasetFormatError: the file is not a decodable image, is truncated, or has another size.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if expected_size is not None and image.size != tuple(expected_size):
                raise DatasetFormatError(
                    f"image {path} is {image.size[0]}x{image.size[1]} pixels, but this data set's images are all "
                    f"{expected_size[0]}x{expected_size[1]}; replace the file with the original from the archive"
                )
            return _to_rgb(image, path)
    except DatasetFormatError:
        raise
    except Image.DecompressionBombError as error:
        raise DatasetFormatError(
            f"image {path} is too large to decode safely ({error}): a decompression "
            "bomb or "
            "a damaged header. Remove the file; if it is a genuine image, raise "
            "PIL.Image.MAX_IMAGE_PIXELS before loading the data set"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DatasetFormatError(
            f"cannot decode image {path} ({error}); the file is corrupt or not an image: "
            "replace it with the original from the archive, or delete it"
        ) from error
    except Exception as error:  # noqa: BLE001 - damaged bytes make some decoders raise anything
        raise DatasetFormatError(
            f"cannot decode image {path} ({type(error).__name__}: {error}); the file is "
            "corrupt: replace it with the original from the archive, or delete it"
        ) from error


#: PIL modes of one channel wider than 8 bits, and the largest value each can hold.
_WIDE_GRAY = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}


def _to_rgb(image, path: Path):
    """``image`` as 8-bit RGB, values scaled by their range rather than clipped."""
    from PIL import Image

    if image.mode in _WIDE_GRAY:
        values = np.asarray(image, dtype=np.int64)
        top = _WIDE_GRAY[image.mode]
        if values.size and (values.min() < 0 or values.max() > top):
            raise DatasetFormatError(
                f"image {path} holds values {values.min()}..{values.max()}, outside the "
                f"0..{top} of a 16-bit image; convert it to 8-bit RGB yourself"
            )
        scaled = (values * 255 + top // 2) // top  # round(v * 255 / 65535)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        raise DatasetFormatError(
            f"image {path} holds floating-point pixels, whose range is unknown; "
            "convert it "
            "to 8-bit RGB (e.g. PNG or JPEG) yourself"
        )
    return image.convert("RGB")


class _Scan:
    """What one split's scan has met: the real folders listed and the images reached through links."""

    def __init__(self) -> None:
        self.folders: dict[str, Path] = {}  # real path -> the path it was listed under
        self.linked: list[tuple[str, Path]] = []  # (real path, link) of every symlinked image

    def check_links(self) -> None:
        """Raise if a symlinked image is also listed elsewhere (counted twice, maybe under two labels)."""
        first: dict[str, Path] = {}
        for real, link in self.linked:
            folder, name = os.path.split(real)
            other = first.get(real) or (self.folders[folder] / name if folder in self.folders else None)
            if other is not None:
                raise DatasetFormatError(
                    f"{link} and {other} are the same image file (through a symbolic "
                    "link): "
                    "it would be counted twice, possibly under two labels. Keep one of "
                    "them."
                )
            first[real] = link


def _images_below(folder: Path, scan: _Scan) -> list[str]:
    """Image files anywhere below ``folder`` (see the module's rules), as sorted paths relative to it.

    ``os.scandir`` reads file types from the directory listing, so no regular file is ``stat``-ed
    or opened: this matters for ImageNet's 1.3 million files on network storage.
    """
    found: list[str] = []
    pending = [folder]
    while pending:
        directory = pending.pop()
        real = os.path.realpath(directory)
        if real in scan.folders:
            raise DatasetFormatError(
                f"{directory} is the folder {scan.folders[real]} again (a symbolic "
                "link loop, "
                "or a link to another class's folder): its images would be counted "
                "twice, "
                "under two labels. Remove the link."
            )
        scan.folders[real] = directory
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    pending.append(Path(entry.path))
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                    if not entry.is_file():
                        raise DatasetFormatError(
                            f"{entry.path} is named like an image but is not a regular "
                            "file "
                            "(a FIFO, socket, device or broken link), and reading it "
                            "could "
                            "block forever; remove it"
                        )
                    if entry.is_symlink():
                        scan.linked.append((os.path.realpath(entry.path), Path(entry.path)))
                    found.append(str(Path(entry.path).relative_to(folder)))
    return sorted(found)


def _class_folders(split_dir: Path) -> list[str]:
    """The class sub-folders of a split, sorted; hidden ones (``.ipynb_checkpoints``) are not classes."""
    return sorted(entry.name for entry in split_dir.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def check_class_list(classes: Sequence[str], source: object) -> None:
    """Raise :class:`DatasetFormatError` if a class is listed twice (making an empty class) or is empty."""
    repeated = sorted(name for name, count in Counter(classes).items() if count > 1)
    if repeated:
        raise DatasetFormatError(
            f"{source} lists the class(es) {', '.join(repeated[:5])} more than once; "
            "every class must appear once (a repeated entry would be an extra class "
            "without "
            "images)"
        )
    if any(not str(name).strip() for name in classes):
        raise DatasetFormatError(f"{source} lists an empty class name")


def scan_class_folders(split_dir: Path, classes: Sequence[str] | None = None) -> tuple[list[str], list[str], list[int]]:
    """List the images of a ``<split_dir>/<class>/**/<image>`` tree.

    Args:
        split_dir: the split's folder, e.g. ``.../train``.
        classes: the class list labels index into. ``None`` takes the sorted sub-folders of
            ``split_dir`` (every one must hold images); otherwise sub-folders must be among
            ``classes`` and may leave some out (a validation split naming a subset).

    Returns:
        ``(classes, paths, labels)``: the class list, image paths relative to ``split_dir``
        and their labels, sorted by class then file name.
    """
    found = _class_folders(split_dir)
    if not found:
        raise DatasetFormatError(
            f"{split_dir} has no class folders; expected one sub-folder per class "
            "(e.g. n01443537/) holding that class's images"
        )
    if classes is None:
        classes = found
    else:
        check_class_list(classes, "the class list")
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise DatasetFormatError(
                f"{split_dir} has class folders the training split lacks: "
                f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}"
            )
    label_of = {name: label for label, name in enumerate(classes)}
    paths: list[str] = []
    labels: list[int] = []
    scan = _Scan()
    for name in found:
        images = _images_below(split_dir / name, scan)
        if not images:
            raise DatasetFormatError(
                f"class folder {split_dir / name} holds no images "
                f"({', '.join(IMAGE_EXTENSIONS)}); "
                "re-extract the archive or remove the folder"
            )
        paths += [f"{name}/{image}" for image in images]
        labels += [label_of[name]] * len(images)
    scan.check_links()
    return list(classes), paths, labels


def scan_annotated_folder(split_dir: Path, table: Path, classes: Sequence[str]) -> tuple[list[str], list[int]]:
    """List a split stored flat in ``split_dir/images/`` with a tab-separated label table.

    Each line of ``table`` starts ``<file name>\\t<class>`` (Tiny-ImageNet's
    ``val_annotations.txt``; further columns are ignored). Returns ``(paths, labels)``, paths
    relative to ``split_dir``.
    """
    label_of = {name: label for label, name in enumerate(classes)}
    paths, labels = [], []
    listed: dict[str, int] = {}
    for number, line in enumerate(table.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in label_of:
            raise DatasetFormatError(
                f"{table}, line {number}: expected '<image>\\t<class>' with a class of the "
                f"training split, got {line[:80]!r}"
            )
        path = f"images/{fields[0]}"
        if not (split_dir / path).is_file():
            problem = "is not a regular file" if os.path.lexists(split_dir / path) else "does not exist"
            raise DatasetFormatError(f"{table}, line {number} lists {split_dir / path}, which {problem}")
        if path in listed:
            raise DatasetFormatError(
                f"{table}, line {number} lists {fields[0]} again (first on line "
                f"{listed[path]}); every image must appear once"
            )
        listed[path] = number
        paths.append(path)
        labels.append(label_of[fields[1]])
    if not paths:
        raise DatasetFormatError(f"{table} lists no images")
    return paths, labels


def read_class_descriptions(table: Path, classes: Sequence[str]) -> list[str]:
    """Readable names for class ids from a ``<id> <names, ...>`` table, else the ids themselves.

    Reads WordNet tables such as Tiny-ImageNet's ``words.txt`` (tab separated) and ImageNet's
    ``LOC_synset_mapping.txt`` (space separated); a class takes the first comma-separated name.
    Names shared by several classes (ImageNet has two "crane"s) get the id appended.
    """
    if not table.is_file():
        return list(classes)
    description = {}
    for line in table.read_text().splitlines():
        fields = line.strip().split(None, 1)
        if len(fields) == 2:
            description[fields[0]] = fields[1].split(",")[0].strip()
    names = [description.get(name, name) for name in classes]
    repeated = {name for name in names if names.count(name) > 1}
    return [f"{name} ({wnid})" if name in repeated else name for name, wnid in zip(names, classes)]


class ImageFolderDataset(Dataset):
    """Labelled images on disk, decoded and transformed on access.

    Args:
        root: folder the image paths are relative to.
        paths: relative image paths; stored as one NumPy byte array, so forked loader workers
            do not copy the list object by object.
        labels: class index of every path.
        crop_size, resize_size: see :func:`~ldrrld_core.data.augment.folder_transform`.
        mean, std: per-channel normalisation statistics.
        image_size: the ``(width, height)`` every image must have, or ``None`` when sizes vary.
        augment: the policy a training loader applies by default.
        policy: the policy this view applies; ``"none"`` (the evaluation transform) by default.

    ``dataset[i]`` is ``(image (3, crop_size, crop_size) float, label int)``.
    """

    def __init__(
        self,
        root: str | Path,
        paths: Sequence[str],
        labels: Sequence[int],
        *,
        crop_size: int,
        resize_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        image_size: tuple[int, int] | None = None,
        augment: str = "none",
        policy: str = "none",
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.root = Path(root)
        self._paths = np.array([path.encode() for path in paths], dtype=bytes)
        self._labels = np.asarray(labels, dtype=np.int64)
        self.crop_size, self.resize_size = crop_size, resize_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.image_size = None if image_size is None else tuple(image_size)
        self.augment = check_policy(augment)
        self._apply_policy(policy)

    def _apply_policy(self, policy: str) -> None:
        self.policy = check_policy(policy)
        self.transform = folder_transform(
            policy, crop_size=self.crop_size, resize_size=self.resize_size, mean=self.mean, std=self.std
        )

    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        return (
            f"ImageFolderDataset({len(self)} images under {self.root}, crop {self.crop_size}, "
            f"policy={self.policy!r}, augment={self.augment!r})"
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.crop_size, self.crop_size)

    @property
    def labels(self) -> Tensor:
        """``(N,)`` long tensor of every image's class."""
        return torch.from_numpy(self._labels)

    def path(self, index: int) -> Path:
        """Absolute path of image ``index``."""
        return self.root / self._paths[index].decode()

    def image(self, index: int):
        """Image ``index`` as a checked RGB PIL image, before any transform."""
        return open_rgb(self.path(index), self.image_size)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.transform(self.image(index)), int(self._labels[index])

    def with_policy(self, policy: str) -> ImageFolderDataset:
        """The same images seen through another augmentation policy (a cheap view)."""
        if policy == self.policy:
            return self
        view = copy.copy(self)
        view._apply_policy(policy)
        return view

    def verify(self) -> None:
        """Decode every image once, raising :class:`DatasetFormatError` at the first bad file."""
        for index in range(len(self)):
            self.image(index)
