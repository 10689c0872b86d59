"""The literature's pretrained CIFAR-100 teachers: where the files go and how good they are.

The distillation literature (CRD, then mdistiller and LDRRLD) shares one set of teacher
checkpoints, each ``<name>_vanilla/ckpt_epoch_240.pth`` holding ``{'model': state_dict, ...}``.
Put the folders under one root, e.g.::

    data/teachers/
        resnet32x4_vanilla/ckpt_epoch_240.pth
        vgg13_vanilla/ckpt_epoch_240.pth
        ...

and load one with ``load_standard_teacher("resnet32x4", "data/teachers")``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..io import CheckpointNotFoundError
from .base import FeatureClassifier
from .registry import create_model, list_models

__all__ = [
    "TEACHER_ACCURACY",
    "TEACHER_SOURCE",
    "TEACHER_CHECKPOINT",
    "DEFAULT_MARGIN",
    "TeacherBelowPublishedWarning",
    "published_teacher",
    "load_standard_teacher",
    "standard_teacher_path",
]

#: CIFAR-100 top-1 accuracy (%) reported for the standard teacher checkpoints.
TEACHER_ACCURACY: dict[str, float] = {
    "resnet56": 72.34,
    "resnet110": 74.31,
    "resnet32x4": 79.42,
    "wrn_40_2": 75.61,
    "vgg13": 74.64,
    "ResNet50": 79.34,
}

#: Where the published teacher accuracies come from.
TEACHER_SOURCE = (
    "CRD paper (Tian et al., ICLR 2020), Tables 1 and 2, for the teachers of "
    "HobbitLong/RepDistiller; the DKD paper and mdistiller's README quote the same numbers"
)

#: How many points (%) below its published top-1 a teacher may measure before a check complains.
#: The published files measure within about 0.1 point of their numbers; 1 point leaves room for
#: another GPU or library version, and is far below what a wrong file or normalisation costs.
DEFAULT_MARGIN = 1.0


class TeacherBelowPublishedWarning(UserWarning):
    """A teacher measured more than the margin below its published accuracy."""


def published_teacher(name: str) -> tuple[float, str] | None:
    """``(published CIFAR-100 top-1 %, source)`` of a standard teacher, or ``None`` if none was published."""
    return (TEACHER_ACCURACY[name], TEACHER_SOURCE) if name in TEACHER_ACCURACY else None


#: Where a teacher's file sits below the root folder; ``{name}`` is the model name.
TEACHER_CHECKPOINT = "{name}_vanilla/ckpt_epoch_240.pth"

_WHERE_TO_GET_THEM = (
    "The standard teachers are published by the mdistiller project (megvii-research/mdistiller, "
    "release 'checkpoints', file cifar_teachers.tar) and by CRD (HobbitLong/"
    "RepDistiller, scripts/fetch_pretrained_teachers.sh). Unpack them so that the folder "
    "<name>_vanilla sits directly in the root you pass, or train your own teacher and save it "
    "there in the same layout."
)


def standard_teacher_path(name: str, root: str | os.PathLike) -> Path:
    """The file of the standard teacher ``name``: ``<root>/<name>_vanilla/ckpt_epoch_240.pth``.

    Args:
        name: a CIFAR model name, e.g. ``"resnet32x4"`` (see :data:`TEACHER_ACCURACY` for the
            published ones; any CIFAR architecture saved in the same layout works too).
        root: the folder that holds the ``<name>_vanilla`` folders.

    Raises:
        ValueError: ``name`` is not a CIFAR model of the zoo.
        CheckpointNotFoundError: the file is not there; the message says where it was looked for
            and how to obtain it.
    """
    if name not in list_models("cifar"):
        raise ValueError(
            f"{name!r} is not a CIFAR model of the zoo; teachers with published "
            f"checkpoints are {', '.join(TEACHER_ACCURACY)}."
        )
    path = Path(root).expanduser() / TEACHER_CHECKPOINT.format(name=name)
    if not path.is_file():
        folder = path.parents[1]
        found = sorted(child.name for child in folder.glob("*_vanilla")) if folder.is_dir() else []
        present = (
            f"{folder} holds the teacher folders {', '.join(found)}."
            if found
            else f"{folder} holds no <name>_vanilla folders."
            if folder.is_dir()
            else f"The folder {folder} does not exist."
        )
        raise CheckpointNotFoundError(
            f"No checkpoint for the teacher {name!r}: expected the file {path} "
            f"(absolute: {path.absolute()}). {present} {_WHERE_TO_GET_THEM}"
        )
    return path


def load_standard_teacher(name: str, root: str | os.PathLike, num_classes: int = 100) -> FeatureClassifier:
    """Build the CIFAR model ``name``, load its standard checkpoint from ``root``, set eval mode."""
    return create_model(name, num_classes, checkpoint=standard_teacher_path(name, root)).eval()
