"""The teacher check: is this file the published teacher it claims to be?

``check_teacher("resnet32x4")`` finds ``<root>/resnet32x4_vanilla/ckpt_epoch_240.pth``, hashes it,
loads it into the zoo's model, measures its top-1 on the test split and compares that with the
published accuracy. A teacher more than ``margin`` points below its published number is the most
common silent cause of a failed reproduction (a different file, another normalisation, another
data set), so the check warns loudly, or refuses with ``strict=True``. ``ldrrld teacher check``
runs it from the command line and the reproduction kit runs it before every distillation.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..data import DataSplits, load_dataset, make_loader
from ..io import atomic_write_text, sha256_file
from ..models import (
    DEFAULT_MARGIN,
    TEACHER_ACCURACY,
    TEACHER_SOURCE,
    TeacherBelowPublishedWarning,
    create_model,
    list_models,
    published_teacher,
    standard_teacher_path,
)
from ..runtime import default_device
from ..tables import markdown_table

__all__ = [
    "DEFAULT_TEACHER_ROOT",
    "DEFAULT_MARGIN",
    "TEACHER_SOURCE",
    "TeacherBelowPublishedWarning",
    "TeacherCheck",
    "published_teacher",
    "resolve_teacher",
    "check_teacher",
]

log = logging.getLogger("ldrrld.reproduce")

#: Where the CIFAR presets and the kit look for ``<name>_vanilla/ckpt_epoch_240.pth`` by default.
#: An mdistiller checkout keeps the same folders in ``download_ckpts/cifar_teachers``.
DEFAULT_TEACHER_ROOT = Path("data/teachers")


@dataclass(frozen=True)
class TeacherCheck:
    """What :func:`check_teacher` found. Accuracies are top-1 in %.

    ``gap`` is published minus measured (positive: the file is worse than published); the
    teacher is ``below`` when the gap exceeds ``margin``.
    """

    name: str
    file: str
    sha256: str
    parameters: int
    data: str
    test_samples: int
    measured_top1: float
    published_top1: float | None
    source: str | None
    margin: float

    @property
    def gap(self) -> float | None:
        return None if self.published_top1 is None else self.published_top1 - self.measured_top1

    @property
    def below(self) -> bool:
        return self.gap is not None and self.gap > self.margin

    @property
    def verdict(self) -> str:
        """``"ok"``, ``"below published"`` or ``"no published accuracy"``."""
        return "no published accuracy" if self.gap is None else "below published" if self.below else "ok"

    def message(self) -> str:
        """One line for a log or a terminal."""
        head = (
            f"teacher {self.name} ({self.file}, sha256 {self.sha256[:12]}..., {self.parameters:,} "
            f"parameters): {self.measured_top1:.2f}% top-1 on {self.test_samples} {self.data} test "
            "images"
        )
        if self.gap is None:
            return f"{head}; no published accuracy to compare with"
        compared = f"published {self.published_top1:.2f}%, gap {self.gap:+.2f} points (margin {self.margin:g})"
        if not self.below:
            return f"{head}; {compared}: ok"
        return (
            f"{head}; {compared}: THE TEACHER IS BELOW ITS PUBLISHED ACCURACY. A different file, another "
            "normalisation or another data set is the usual cause; distilling from it will not reproduce "
            "the paper"
        )

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "gap": self.gap, "verdict": self.verdict}

    def markdown(self) -> str:
        """:meth:`to_dict` as a two-column markdown table."""
        return markdown_table(["field", "value"], self.to_dict().items())

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON, atomically."""
        return atomic_write_text(json.dumps(self.to_dict(), indent=1), path)


def resolve_teacher(
    target: str | os.PathLike, root: str | os.PathLike = DEFAULT_TEACHER_ROOT, arch: str | None = None
) -> tuple[str, Path]:
    """``(architecture, file)`` of a teacher given by CIFAR model name or by file.

    A name finds ``<root>/<name>_vanilla/ckpt_epoch_240.pth``. A file takes its architecture
    from ``arch`` or, failing that, from a ``<name>_vanilla`` parent folder.
    """
    text = os.fspath(target)
    if arch is None and text in list_models("cifar"):
        return text, standard_teacher_path(text, root)
    path = Path(text).expanduser()
    if path.is_dir():
        raise IsADirectoryError(
            f"{text!r} is a folder, not a checkpoint file; give the file inside it "
            "(for the standard teachers: <name>_vanilla/ckpt_epoch_240.pth) or a CIFAR model name of the zoo"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{text!r} is neither a CIFAR model name of the zoo "
            f"({', '.join(TEACHER_ACCURACY)} have published weights) nor an existing "
            "file"
        )
    if arch is None:
        folder = path.parent.name
        arch = folder[: -len("_vanilla")] if folder.endswith("_vanilla") else None
        if arch not in list_models("cifar"):
            raise ValueError(
                f"cannot tell the architecture of {path}: its folder is not <name>_vanilla; "
                "pass the model name (--model NAME, or arch=)"
            )
    return arch, path


def _measure(model: torch.nn.Module, data: DataSplits, device: torch.device, batch_size: int) -> float:
    from ..train.metrics import evaluate

    batches = make_loader(data.test, batch_size, train=False, device=device)
    return evaluate(model.to(device), batches)["test_top1"]


def check_teacher(
    target: str | os.PathLike,
    *,
    root: str | os.PathLike = DEFAULT_TEACHER_ROOT,
    arch: str | None = None,
    data: DataSplits | None = None,
    data_root: str | os.PathLike = "data",
    download: bool = False,
    margin: float = DEFAULT_MARGIN,
    strict: bool = False,
    published: float | None | str = "table",
    device: torch.device | str | None = None,
    batch_size: int = 256,
) -> TeacherCheck:
    """Hash, count, measure and judge a teacher file.

    Args:
        target: a CIFAR model name (the file is found under ``root``) or a checkpoint file.
        root: the folder holding the ``<name>_vanilla`` folders.
        arch: the architecture of a file whose folder does not name it.
        data: the data to measure on (its test split); default CIFAR-100 from ``data_root``.
        download: fetch CIFAR-100 when it is missing.
        margin: points (%) the measured top-1 may lie below the published one.
        strict: raise instead of warning when the teacher is below.
        published: the accuracy to compare with; ``"table"`` looks it up, ``None`` compares nothing
            (stand-in teachers).
        device: where to evaluate (default: CUDA when present).

    Raises:
        ValueError: with ``strict``, a teacher more than ``margin`` below its published accuracy
            (and bad arguments).
    """
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 points, got {margin!r}")
    arch, path = resolve_teacher(target, root, arch)
    if data is None:
        data = load_dataset("cifar100", data_root, download=download)
    device = torch.device(device) if device is not None else default_device()
    model = create_model(arch, num_classes=data.num_classes, checkpoint=path).eval()
    if published == "table":
        reference = published_teacher(arch)
    else:
        reference = (published, "given") if published is not None else None
    check = TeacherCheck(
        name=arch,
        file=str(path),
        sha256=sha256_file(path),
        parameters=sum(p.numel() for p in model.parameters()),
        data=data.name,
        test_samples=len(data.test),
        measured_top1=_measure(model, data, device, batch_size),
        published_top1=reference[0] if reference else None,
        source=reference[1] if reference else None,
        margin=float(margin),
    )
    if check.below:
        if strict:
            raise ValueError(check.message() + ". Refusing (--strict); fix the file or drop --strict.")
        warnings.warn(check.message(), TeacherBelowPublishedWarning, stacklevel=2)
    else:
        log.info("%s", check.message())
    return check
