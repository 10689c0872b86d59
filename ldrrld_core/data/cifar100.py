"""CIFAR-100 from torchvision's on-disk format, loaded whole into tensors.

Layout: ``root/cifar-100-python/{train,test,meta}``, the pickles of the official archive. Each
split pickle is a dict with ``data`` (``(N, 3072)`` uint8, channel-major rows of 32x32 images),
``fine_labels``, ``coarse_labels`` and ``filenames``; ``meta`` holds ``fine_label_names`` and
``coarse_label_names``. Keys may be ``bytes`` (the archive's Python 2 pickles) or ``str``.

The pickles are read by an unpickler that builds only plain containers and NumPy arrays, so a
tampered file cannot run code; it is refused with a message instead.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .errors import DatasetFormatError, DatasetNotFoundError
from .splits import DataSplits
from .tensors import TensorImageDataset, normalize

__all__ = [
    "CIFAR100_MEAN",
    "CIFAR100_STD",
    "CIFAR100_FOLDER",
    "TransformedImages",
    "load_cifar100",
    "load_cifar100_224",
    "read_cifar_pickle",
]

#: Normalisation of the paper's CIFAR-100 recipe (docs/method.md).
CIFAR100_MEAN = (0.5071, 0.4867, 0.4408)
CIFAR100_STD = (0.2675, 0.2565, 0.2761)
#: Folder of the extracted archive below the data root (torchvision's name).
CIFAR100_FOLDER = "cifar-100-python"

# What a CIFAR pickle may construct: NumPy arrays (under NumPy 1 and 2 module names) and the
# helper Python 3 uses to pickle bytes at protocol 2. Everything else is refused.
_ALLOWED_GLOBALS = (
    {
        (module, name)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    }
    | {(module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")}
    | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR pickle holds only lists, strings and NumPy arrays"
            )
        return super().find_class(module, name)


def read_cifar_pickle(path: Path) -> dict[str, object]:
    """Read one CIFAR pickle safely, with ``str`` keys whatever the file used."""
    try:
        with open(path, "rb") as file:
            content = _ArrayOnlyUnpickler(file, encoding="latin1").load()
    except OSError:
        raise
    except Exception as error:  # noqa: BLE001 - damaged bytes make the unpickler raise almost anything
        # (MemoryError for a huge length field, LookupError for a garbled codec name, ...)
        reason = type(error).__name__ + (f": {str(error).splitlines()[0][:200]}" if str(error) else "")
        raise DatasetFormatError(
            f"{path} is not a valid CIFAR pickle ({reason}); the file is damaged: "
            "delete "
            f"the folder {path.parent} and download the archive again"
        ) from None
    if not isinstance(content, dict):
        raise DatasetFormatError(f"{path} holds a {type(content).__name__}, expected a dict")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in content.items()}


def _field(content: dict, key: str, path: Path):
    if key not in content:
        raise DatasetFormatError(f"{path} lacks the key {key!r}; it has {sorted(content)}")
    return content[key]


def _names(content: dict, key: str, path: Path) -> list[str]:
    names = _field(content, key, path)
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, (bytes, str)) for name in names):
        raise DatasetFormatError(
            f"{path}: {key!r} must be a list of names, got {type(names).__name__}; the "
            "file "
            "is damaged: download the archive again"
        )
    decoded = [name.decode("latin1") if isinstance(name, bytes) else name for name in names]
    if len(set(decoded)) != len(decoded) or not decoded:
        raise DatasetFormatError(
            f"{path}: {key!r} must list distinct names, got {len(decoded)} with "
            f"{len(decoded) - len(set(decoded))} repeated; the file is damaged"
        )
    return decoded


def _labels(content: dict, key: str, path: Path) -> torch.Tensor:
    """``(N,)`` long labels; floats only when every one is a whole number (never truncated)."""
    values = np.asarray(_field(content, key, path))
    if values.ndim != 1 or not (values.dtype.kind in "iu" or values.dtype.kind == "f" or values.size == 0):
        raise DatasetFormatError(
            f"{path}: {key!r} must be a list of integer labels, got {values.dtype} values of shape {values.shape}"
        )
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (values == np.round(values))
        if not whole.all():
            bad = values[~whole][:3].tolist()
            raise DatasetFormatError(
                f"{path}: {key!r} holds labels that are not whole numbers ({bad} ...); "
                "truncating them would give wrong classes. Fix the labels, or download "
                "the archive again"
            )
    return torch.as_tensor(values.astype(np.int64))


def _read_split(path: Path, num_classes: int, num_superclasses: int):
    """``(images (N, 3, 32, 32) uint8, fine (N,) long, coarse (N,) long)`` of one split file."""
    content = read_cifar_pickle(path)
    data = np.asarray(_field(content, "data", path))
    fine = _labels(content, "fine_labels", path)
    coarse = _labels(content, "coarse_labels", path)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetFormatError(f"{path}: 'data' must be a (N, 3072) uint8 array, got {data.shape} {data.dtype}")
    if not len(fine) == len(coarse) == len(data):
        raise DatasetFormatError(f"{path}: {len(data)} images but {len(fine)} fine and {len(coarse)} coarse labels")
    for labels, count, kind in ((fine, num_classes, "fine"), (coarse, num_superclasses, "coarse")):
        if len(labels) and (labels.min() < 0 or labels.max() >= count):
            raise DatasetFormatError(
                f"{path}: {kind} labels must lie in 0..{count - 1} (the meta file names "
                f"{count}), found {labels.min().item()}..{labels.max().item()}"
            )
    return torch.tensor(data).view(-1, 3, 32, 32), fine, coarse


def _superclass_map(fine: torch.Tensor, coarse: torch.Tensor, num_classes: int, folder: Path) -> torch.Tensor:
    """``(C,)`` superclass of every fine class, checked to be a function of the fine label."""
    superclass_of = torch.full((num_classes,), -1, dtype=torch.long)
    superclass_of[fine] = coarse
    if not torch.equal(superclass_of[fine], coarse):
        raise DatasetFormatError(f"{folder}: some fine class carries two different coarse labels")
    if (superclass_of < 0).any():
        missing = torch.nonzero(superclass_of < 0).flatten().tolist()
        raise DatasetFormatError(
            f"{folder}: fine classes {missing[:5]} have no images, so their superclass is "
            "unknown; the files are incomplete"
        )
    return superclass_of


def _download(root: Path) -> None:
    from torchvision.datasets import CIFAR100

    try:
        CIFAR100(str(root), train=True, download=True)
    except (OSError, RuntimeError) as error:  # offline (URLError), a proxy, a failed checksum
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DatasetNotFoundError(
            f"cifar100: the download into {root.resolve()} failed ({type(error).__name__}: {reason}). Check "
            "the network connection (and proxy settings), or fetch cifar-100-python.tar.gz by other means "
            "and "
            f"extract it into {root.resolve()} so that {CIFAR100_FOLDER}/train, test and meta "
            "exist."
        ) from None


def _read_folder(root: Path, download: bool):
    """``(class_names, superclass_names, superclass_of, (train pixels, labels), (test pixels, labels))``."""
    folder = root / CIFAR100_FOLDER

    def missing() -> list[str]:
        return [name for name in ("train", "test", "meta") if not (folder / name).is_file()]

    if download and missing():
        _download(root)
    if missing():
        raise DatasetNotFoundError(
            f"cifar100: {', '.join(missing())} not found in {folder.resolve()}. Get the data with --download "
            f"on the command line (load_dataset('cifar100', root={str(root)!r}, download=True) in Python), or "
            f"extract cifar-100-python.tar.gz into {root.resolve()} yourself so that {CIFAR100_FOLDER}/train, "
            "test and meta exist."
        )
    meta = read_cifar_pickle(folder / "meta")
    class_names = _names(meta, "fine_label_names", folder / "meta")
    superclass_names = _names(meta, "coarse_label_names", folder / "meta")
    (train_pixels, train_fine, train_coarse), (test_pixels, test_fine, test_coarse) = (
        _read_split(folder / split, len(class_names), len(superclass_names)) for split in ("train", "test")
    )
    superclass_of = _superclass_map(
        torch.cat([train_fine, test_fine]), torch.cat([train_coarse, test_coarse]), len(class_names), folder
    )
    return class_names, superclass_names, superclass_of, (train_pixels, train_fine), (test_pixels, test_fine)


def load_cifar100(root: str | Path, *, download: bool = False, seed: int = 0) -> DataSplits:
    """CIFAR-100: 50 000 train and 10 000 test 32x32 images, 100 classes in 20 superclasses.

    Images are normalised with the recipe's mean and std (docs/method.md) and held as float32 tensors; the
    superclass map and all names come from the files. ``download=True`` fetches and checks the
    archive with torchvision when the folder is missing. ``seed`` is unused (the split is fixed).
    """
    class_names, superclass_names, superclass_of, (train_pixels, train_fine), (test_pixels, test_fine) = _read_folder(
        Path(root), download
    )

    def tensor_set(pixels: torch.Tensor, labels: torch.Tensor) -> TensorImageDataset:
        images = normalize(pixels.float().div_(255), CIFAR100_MEAN, CIFAR100_STD, inplace=True)
        return TensorImageDataset(images, labels, mean=CIFAR100_MEAN, std=CIFAR100_STD, augment="cifar")

    return DataSplits(
        name="cifar100",
        train=tensor_set(train_pixels, train_fine),
        test=tensor_set(test_pixels, test_fine),
        num_classes=len(class_names),
        input_shape=(3, 32, 32),
        class_names=class_names,
        superclass_of=superclass_of,
        superclass_names=superclass_names,
        mean=CIFAR100_MEAN,
        std=CIFAR100_STD,
        augment="cifar",
    )


class TransformedImages(Dataset):
    """uint8 images ``(N, 3, H, W)`` served one by one as PIL images through ``transform``: ``(tensor, label)``.

    The random transforms (timm's RandomResizedCrop, RandAugment, random erasing) draw from Python's
    and torch's global generators, which the trainer seeds and checkpoints.
    """

    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.pixels, self.labels, self.transform = pixels, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        image = Image.fromarray(self.pixels[index].permute(1, 2, 0).numpy())
        return self.transform(image), int(self.labels[index])


def load_cifar100_224(
    root: str | Path,
    *,
    download: bool = False,
    seed: int = 0,
    recipe: str = "cifar100-224-vit",
    student: str = "DeiT-T",
    image_size: int = 224,
) -> DataSplits:
    """CIFAR-100 upsampled as OFA-KD trains on it: the same files, through an OFA-KD recipe's timm transforms.

    ``recipe`` (``cifar100-224-cnn`` or ``cifar100-224-vit``) chooses the training transform and
    ``student`` the evaluation resize and crop (pinned to timm 0.6.5's defaults of that student,
    :data:`~ldrrld_core.train.ofa_recipes.EVAL_DEFAULTS_TIMM_065`); see
    :func:`~ldrrld_core.train.ofa_recipes.ofa_transforms`. ``image_size`` below 224 shrinks both
    transforms (tests, quick looks), at the same crop fractions. The images are decoded per sample in
    the loader's workers, so the policy is ``"none"``: the transform already augments.
    """
    from ..train.ofa_recipes import ofa_recipe, ofa_transforms

    class_names, superclass_names, superclass_of, (train_pixels, train_fine), (test_pixels, test_fine) = _read_folder(
        Path(root), download
    )
    train, evaluation = ofa_transforms(recipe, student, image_size=image_size)
    statistics = ofa_recipe(recipe)
    return DataSplits(
        name="cifar100-224",
        train=TransformedImages(train_pixels, train_fine, train),
        test=TransformedImages(test_pixels, test_fine, evaluation),
        num_classes=len(class_names),
        input_shape=(3, image_size, image_size),
        class_names=class_names,
        superclass_of=superclass_of,
        superclass_names=superclass_names,
        mean=statistics.mean,
        std=statistics.std,
        augment="none",
    )
