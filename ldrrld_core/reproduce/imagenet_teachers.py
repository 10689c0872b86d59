"""The ImageNet teacher check: is this torchvision file the teacher of the seed's Table 3?

Table 3 distils from torchvision's ResNet34 and ResNet50. ``check_imagenet_teacher(file,
val_dir=...)`` hashes the file, loads it into the zoo's model (torchvision's parameter names),
measures top-1 and top-5 on an ImageNet validation folder with torchvision's evaluation transform,
and compares top-1 with the number torchvision publishes for those weights. ``ldrrld teacher check
FILE --model resnet34 --imagenet-val DIR`` runs it and exits with status 1 outside the tolerance.

**The evaluation transform is pinned** (:func:`imagenet_eval_transform`): resize the shorter side
to 256 with bilinear interpolation, centre crop 224, ImageNet's mean and std. These are the
settings of torchvision's published numbers (its ``IMAGENET1K_V1`` weights' transforms); the data
sets' own transform takes torchvision's defaults, which could change under it.

**The tolerance is two-sided, 0.3 points by default** (:data:`IMAGENET_MARGIN`), 150 of the
50,000 validation images. With the same weights and transform, what is left to differ from
torchvision's own measurement is image decoding (Pillow and libjpeg versions), resize rounding and
the order of sums on the device, which move top-1 by hundredths of a point, about a tenth at most.
The seed's own quote of ResNet50, 76.16 against torchvision's 76.13, is such a difference. The
errors the check is for move more than that: another file (torchvision's newer ``IMAGENET1K_V2``
ResNet50 weights measure 80.86, a better teacher than the seed's, hence the upper bound), another
normalisation or crop, or a validation folder whose class folders are not the 1000 WordNet ids in
sorted order (then the labels are wrong and top-1 is near 0).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.folders import open_rgb, scan_class_folders
from ..io import atomic_write_text, load_file, sha256_file
from ..models import create_model
from ..runtime import default_device

__all__ = [
    "EVAL_RESIZE",
    "EVAL_CROP",
    "EVAL_INTERPOLATION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGENET_MARGIN",
    "PublishedImageNetTeacher",
    "IMAGENET_TEACHERS",
    "ImageNetTeacherCheck",
    "imagenet_eval_transform",
    "imagenet_arch_of",
    "check_imagenet_teacher",
]

#: torchvision's evaluation transform of its published ImageNet numbers, pinned here.
EVAL_RESIZE = 256
EVAL_CROP = 224
EVAL_INTERPOLATION = "bilinear"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Points top-1 may differ from the published value either way (see the module's docstring).
IMAGENET_MARGIN = 0.3


@dataclass(frozen=True)
class PublishedImageNetTeacher:
    """torchvision's published accuracy of a Table 3 teacher, and what the seed quotes."""

    arch: str
    top1: float
    top5: float
    seed_top1: float
    weights: str  # torchvision's name for the weights
    file: str  # the file name torchvision downloads them as

    @property
    def source(self) -> str:
        return f"torchvision {self.weights} ({self.file}); the seed quotes {self.seed_top1:.2f}"


#: Table 3's teachers: torchvision's published top-1 / top-5 of the weights, the seed's quote beside.
IMAGENET_TEACHERS: dict[str, PublishedImageNetTeacher] = {
    "resnet34": PublishedImageNetTeacher(
        "resnet34", 73.31, 91.42, 73.31, "ResNet34_Weights.IMAGENET1K_V1", "resnet34-b627a593.pth"
    ),
    "resnet50": PublishedImageNetTeacher(
        "resnet50", 76.13, 92.86, 76.16, "ResNet50_Weights.IMAGENET1K_V1", "resnet50-0676ba61.pth"
    ),
}


def imagenet_eval_transform():
    """torchvision's evaluation transform, every setting explicit: PIL image in, ``(3, 224, 224)`` out."""
    from torchvision import transforms
    from torchvision.transforms import InterpolationMode

    return transforms.Compose(
        [
            transforms.Resize(EVAL_RESIZE, interpolation=InterpolationMode(EVAL_INTERPOLATION), antialias=True),
            transforms.CenterCrop(EVAL_CROP),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def imagenet_arch_of(path: str | os.PathLike, arch: str | None = None) -> str:
    """``arch``, or the architecture a torchvision file name starts with (``resnet34-b627a593.pth``)."""
    if arch is not None:
        return arch
    match = re.match(r"(resnet\d+)-[0-9a-f]+\.pth$", Path(path).name)
    if match is None or match.group(1) not in IMAGENET_TEACHERS:
        raise ValueError(
            f"cannot tell the architecture of {os.fspath(path)}: its name is not torchvision's "
            f"({', '.join(t.file for t in IMAGENET_TEACHERS.values())}); pass --model NAME"
        )
    return match.group(1)


@dataclass(frozen=True)
class ImageNetTeacherCheck:
    """What :func:`check_imagenet_teacher` found. Accuracies in %; ``gap`` is measured minus published."""

    name: str
    file: str
    sha256: str
    parameters: int
    val_dir: str
    images: int
    classes: int
    measured_top1: float
    measured_top5: float
    published_top1: float | None
    seed_top1: float | None
    source: str | None
    margin: float
    transform: str

    @property
    def gap(self) -> float | None:
        return None if self.published_top1 is None else self.measured_top1 - self.published_top1

    @property
    def within(self) -> bool:
        """Within ``margin`` of the published top-1 (or nothing to compare with)."""
        return self.gap is None or abs(self.gap) <= self.margin

    @property
    def verdict(self) -> str:
        """``"ok"``, ``"below published"``, ``"above published"`` or ``"no published accuracy"``."""
        if self.gap is None:
            return "no published accuracy"
        return "ok" if self.within else "below published" if self.gap < 0 else "above published"

    def message(self) -> str:
        """One line for a terminal."""
        head = (
            f"teacher {self.name} ({self.file}, sha256 {self.sha256[:12]}..., {self.parameters:,} parameters): "
            f"{self.measured_top1:.2f}% top-1, {self.measured_top5:.2f}% top-5 on {self.images} images of "
            f"{self.classes} classes"
        )
        if self.gap is None:
            return f"{head}; no published accuracy to compare with"
        compared = (
            f"published {self.published_top1:.2f}% (the seed quotes {self.seed_top1:.2f}), gap {self.gap:+.2f} "
            f"points (tolerance +-{self.margin:g})"
        )
        if self.within:
            return f"{head}; {compared}: ok"
        return (
            f"{head}; {compared}: OUTSIDE THE TOLERANCE. Another weight file, another normalisation or crop, "
            "or a validation folder without the 1000 class folders in WordNet-id order is the usual cause"
        )

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "gap": self.gap, "verdict": self.verdict}

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON, atomically."""
        return atomic_write_text(json.dumps(self.to_dict(), indent=1), path)


class _ValFolder(Dataset):
    """The images of a ``<val_dir>/<class>/<image>`` tree through the pinned transform."""

    def __init__(self, root: Path, paths: list[str], labels: list[int]) -> None:
        self.root, self.paths, self.labels = root, paths, labels
        self.transform = imagenet_eval_transform()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(open_rgb(self.root / self.paths[index])), self.labels[index]


def _head_name(model: nn.Module) -> str:
    """The state-dict prefix of the model's last linear layer (its classifier)."""
    last = [module for module in model.get_classifier().modules() if isinstance(module, nn.Linear)][-1]
    return next(name for name, module in model.named_modules() if module is last)


def _load(arch: str, path: Path, classes: int, val_dir: Path) -> nn.Module:
    """The zoo's ``arch`` holding the file's weights, after checking it classifies into ``classes`` classes."""
    from ..models.checkpoint import extract_state_dict, load_state_dict_strict

    model = create_model(arch, num_classes=classes)
    state = extract_state_dict(load_file(path), source=f"Checkpoint {path}")
    head = state.get(f"{_head_name(model)}.weight")
    if head is not None and head.shape[0] != classes:
        raise ValueError(
            f"{path} classifies into {head.shape[0]} classes but {val_dir} has {classes} class folders; "
            "the labels are the positions of the sorted class folders, so an ImageNet validation folder "
            "must hold all 1000 (one per WordNet id, e.g. n01440764/)"
        )
    return load_state_dict_strict(model, state, source=f"Checkpoint {path}").eval()


def _measure(model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int, workers: int):
    """``(top-1 %, top-5 %)`` of ``model`` on ``dataset`` (the trainer's :func:`evaluate`; top-5 is top-k
    with k = min(5, classes))."""
    from ..train.metrics import evaluate

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    result = evaluate(model.to(device), ((images.to(device), labels.to(device)) for images, labels in loader))
    return result["test_top1"], result["test_top5"]


def check_imagenet_teacher(
    checkpoint: str | os.PathLike,
    *,
    val_dir: str | os.PathLike,
    arch: str | None = None,
    margin: float = IMAGENET_MARGIN,
    device: torch.device | str | None = None,
    batch_size: int = 64,
    workers: int = 0,
) -> ImageNetTeacherCheck:
    """Hash, load and measure an ImageNet teacher file, and judge it against torchvision's top-1.

    Args:
        checkpoint: the weights, a torchvision state dict (or one under ``model``/``state_dict``).
        val_dir: ImageNet's validation folder, one sub-folder of images per class (sorted class
            folders give the labels, torchvision's order).
        arch: the zoo's model name; default: read from torchvision's file name.
        margin: points top-1 may differ from the published value, either way.
        device: where to evaluate (default: CUDA when present).
        batch_size, workers: the loader's batch and worker processes.

    Raises:
        ValueError: bad arguments, an architecture that cannot be told, or a file whose classifier
            does not have one output per class folder.
    """
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 points, got {margin!r}")
    path, folder = Path(checkpoint).expanduser(), Path(val_dir).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file {os.fspath(checkpoint)!r}")
    if not folder.is_dir():
        raise FileNotFoundError(f"no validation folder {os.fspath(val_dir)!r} (ImageNet's val/, one folder a class)")
    arch = imagenet_arch_of(path, arch)
    classes, paths, labels = scan_class_folders(folder)
    model = _load(arch, path, len(classes), folder)
    device = torch.device(device) if device is not None else default_device()
    top1, top5 = _measure(model, _ValFolder(folder, paths, labels), device, batch_size, workers)
    published = IMAGENET_TEACHERS.get(arch)
    return ImageNetTeacherCheck(
        name=arch,
        file=str(path),
        sha256=sha256_file(path),
        parameters=sum(p.numel() for p in model.parameters()),
        val_dir=str(folder),
        images=len(paths),
        classes=len(classes),
        measured_top1=top1,
        measured_top5=top5,
        published_top1=published.top1 if published else None,
        seed_top1=published.seed_top1 if published else None,
        source=published.source if published else None,
        margin=float(margin),
        transform=f"resize {EVAL_RESIZE} {EVAL_INTERPOLATION}, centre crop {EVAL_CROP}, ImageNet mean/std",
    )
