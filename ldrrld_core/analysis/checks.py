"""Argument checks shared by the analysis functions and the figures drawn from them.

Each failure is a ``ValueError`` that says what is wrong and how to fix it: arguments that do not
fit together (a label of -1, a superclass list one class short, a student on other samples than
the teacher) must never turn into a plausible picture.
"""

from __future__ import annotations

import operator
from typing import Mapping, Sequence

import torch
from torch import Tensor

from ..losses.checks import check_target

__all__ = [
    "check_class_index",
    "check_logits",
    "check_students",
    "check_labels",
    "check_class_names",
    "check_superclass_of",
]


def _describe(x: object) -> str:
    return f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__


def check_class_index(name: str, value: object, num_classes: int) -> int:
    """``value`` as an ``int`` in ``[0, C)``; a Python or NumPy integer or a one-element integer tensor."""
    try:
        index = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        index = None
    if index is None or not 0 <= index < num_classes:
        raise ValueError(f"{name} must be a class index in [0, {num_classes}), got {value!r}")
    return index


def check_logits(name: str, logits: Tensor, *, min_samples: int = 1) -> None:
    """``logits`` must be a floating, finite ``(N, C)`` tensor with ``N >= min_samples``."""
    if not isinstance(logits, Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (samples, classes), got {_describe(logits)}")
    if logits.shape[0] < min_samples:
        raise ValueError(f"{name} has {logits.shape[0]} samples; at least {min_samples} are needed")
    if not bool(torch.isfinite(logits).all()):
        bad = int((~torch.isfinite(logits)).sum())
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN or inf); evaluate a model that has not diverged")


def check_students(students: Mapping[str, Tensor], teacher_logits: Tensor) -> None:
    """``students`` maps names to logits of the teacher's shape ``(N, C)``: same samples, same classes.

    Catches the arguments given in the old order ``(teacher_logits, students)``.
    """
    if isinstance(students, Tensor) and isinstance(teacher_logits, Mapping):
        raise ValueError(
            "the arguments are swapped: pass the students first, then the teacher, "
            "e.g. (students={'kd': logits}, teacher_logits=teacher)"
        )
    if not isinstance(students, Mapping):
        raise ValueError(f"students must be a mapping {{name: (N, C) logits}}, got {type(students).__name__}")
    if not students:
        raise ValueError("give at least one student to compare with the teacher: {name: (N, C) logits}")
    check_logits("teacher_logits", teacher_logits)
    for name, logits in students.items():
        check_logits(f"student {name!r}", logits)
        if logits.shape[1] != teacher_logits.shape[1]:
            raise ValueError(
                f"student {name!r} has {logits.shape[1]} classes but the teacher has "
                f"{teacher_logits.shape[1]}; both must be built for the same data set"
            )
        if logits.shape[0] != teacher_logits.shape[0]:
            raise ValueError(
                f"student {name!r} has logits of {logits.shape[0]} samples but the teacher of "
                f"{teacher_logits.shape[0]}; evaluate every model on the same samples"
            )


def check_labels(labels: Tensor, num_samples: int, num_classes: int) -> None:
    """``labels`` must be ``(N,)`` integer class indices in ``[0, C)``: no -1, nothing past the last class."""
    check_target(labels, num_samples, num_classes)


def check_class_names(class_names: Sequence[str] | None, num_classes: int) -> None:
    """``class_names``, when given, names each of the ``C`` classes once."""
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"class_names has {len(class_names)} names but there are {num_classes} classes; "
            "give one name per class, in class order"
        )


def check_superclass_of(superclass_of: Tensor | None, num_classes: int) -> None:
    """``superclass_of``, when given, is a ``(C,)`` integer tensor of non-negative superclass indices."""
    if superclass_of is None:
        return
    if (
        not isinstance(superclass_of, Tensor)
        or superclass_of.dim() != 1
        or superclass_of.is_floating_point()
        or superclass_of.dtype == torch.bool
    ):
        raise ValueError(
            f"superclass_of must be a 1-D integer tensor (the superclass of each class), got {_describe(superclass_of)}"
        )
    if superclass_of.shape[0] != num_classes:
        raise ValueError(
            f"superclass_of lists {superclass_of.shape[0]} classes but there are {num_classes}; "
            "give the superclass of every class, in class order"
        )
    if num_classes and int(superclass_of.min()) < 0:
        raise ValueError(
            f"superclass_of holds the negative superclass {int(superclass_of.min())}; superclasses are numbered from 0"
        )
