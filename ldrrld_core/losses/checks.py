"""Input checks shared by every loss: each failure is a ``ValueError`` that says what to fix."""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

__all__ = [
    "check_logits",
    "check_logit_pair",
    "check_target",
    "as_labels",
    "check_depth",
    "check_positive",
    "check_non_negative",
    "check_weights",
    "check_flag",
    "all_finite",
]


def _describe(x: Tensor) -> str:
    return f"shape {tuple(x.shape)}, dtype {x.dtype}, device {x.device}"


def _check_logit_shape(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (batch, classes), got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(
            f"{name} must be 2-D (batch, classes), got {_describe(x)}; "
            "flatten extra axes or select the logits output of your model"
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {_describe(x)}")


def all_finite(*tensors: Tensor) -> bool:
    """Whether every value of ``tensors`` is finite, at the cost of a sum in the common case.

    A sum propagates NaN and infinity, so a finite sum (one reduction per tensor, one value read
    back) proves every element finite. A non-finite sum may also come from huge but finite values
    that overflow when added; only then does the exact element-wise test decide.
    """
    sums = [x.detach().sum(dtype=torch.float64 if x.dtype == torch.float64 else torch.float32) for x in tensors]
    if math.isfinite(sums[0] if len(sums) == 1 else sum(sums[1:], sums[0])):
        return True
    return all(bool(torch.isfinite(x).all()) for x in tensors)


def _check_finite(name: str, x: Tensor) -> None:
    if not all_finite(x):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(
            f"{name} holds {bad} non-finite value(s) (NaN or inf); the model "
            "diverged or the input is corrupt, try a lower learning rate"
        )


def check_logits(student_logits: Tensor, *, finite: bool = True) -> None:
    """Student logits alone (a loss without a teacher) must be a non-empty floating ``(B, C)`` tensor."""
    _check_logit_shape("student_logits", student_logits)
    if student_logits.shape[0] == 0:
        raise ValueError("the batch is empty (0 rows); a loss needs at least one sample")
    if finite:
        _check_finite("student_logits", student_logits)


def check_logit_pair(student_logits: Tensor, teacher_logits: Tensor, *, finite: bool = True) -> None:
    """Student and teacher logits must both be floating ``(B, C)`` tensors of equal shape.

    Their dtypes may differ: the losses compute in the wider one (at least float32).
    ``finite=True`` also rejects NaN and infinity; that test reads a value back from the device,
    so training loops on a GPU may switch it off and watch the loss instead.
    """
    for name, x in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        _check_logit_shape(name, x)
    if student_logits.shape[0] != teacher_logits.shape[0]:
        raise ValueError(
            f"batch sizes differ: student_logits has {student_logits.shape[0]} rows, "
            f"teacher_logits has {teacher_logits.shape[0]}; feed both models the same batch"
        )
    if student_logits.shape[1] != teacher_logits.shape[1]:
        raise ValueError(
            f"class counts differ: student_logits has {student_logits.shape[1]} classes, "
            f"teacher_logits has {teacher_logits.shape[1]}; teacher and student must "
            "be built for the same data set"
        )
    if student_logits.shape[0] == 0:
        raise ValueError("the batch is empty (0 rows); a loss needs at least one sample")
    if student_logits.device != teacher_logits.device:
        raise ValueError(
            f"logits live on different devices: student on {student_logits.device}, "
            f"teacher on {teacher_logits.device}; move both to one device"
        )
    if finite and not all_finite(student_logits, teacher_logits):  # one value read back when all is well
        _check_finite("student_logits", student_logits)
        _check_finite("teacher_logits", teacher_logits)


def check_target(
    target: Tensor, batch: int, num_classes: int, device: torch.device | None = None, *, soft: bool = False
) -> None:
    """Labels must be an integer ``(B,)`` tensor with values in ``[0, C)``, on the logits' device.

    Any integer dtype is accepted (int32 labels are common); :func:`as_labels` converts them. With
    ``soft=True`` (the losses), soft targets are accepted too: a floating ``(B, C)`` tensor whose rows
    are class probabilities (label smoothing, mixup, cutmix).
    """
    if soft and isinstance(target, Tensor) and target.dim() == 2 and target.is_floating_point():
        _check_soft_target(target, batch, num_classes, device)
        return
    if not isinstance(target, Tensor) or target.dim() != 1 or target.shape[0] != batch:
        shape = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
        raise ValueError(f"target must be a 1-D tensor of {batch} class indices, got {shape}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer class indices, got dtype {target.dtype}")
    if device is not None and target.device != device:
        raise ValueError(f"target lives on {target.device} but the logits on {device}; move both to one device")
    low, high = (int(bound) for bound in torch.aminmax(target))
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"target labels must lie in [0, {num_classes}), found values from {low} to "
            f"{high}; check that the data set and the model agree on the classes"
        )


def _check_soft_target(target: Tensor, batch: int, num_classes: int, device: torch.device | None) -> None:
    if target.shape != (batch, num_classes):
        raise ValueError(
            f"soft targets must have shape ({batch}, {num_classes}) (one probability per class), "
            f"got {tuple(target.shape)}"
        )
    if device is not None and target.device != device:
        raise ValueError(f"target lives on {target.device} but the logits on {device}; move both to one device")
    sums = target.double().sum(1)
    if not (bool(torch.isfinite(target).all()) and bool((target >= 0).all()) and bool((sums - 1).abs().max() < 1e-3)):
        raise ValueError("soft targets must be finite, non-negative and sum to 1 in every row (class probabilities)")


def as_labels(target: Tensor) -> Tensor:
    """Integer class indices as the ``int64`` tensor torch's indexing and cross-entropy need.

    Soft targets ``(B, C)`` give their most probable class, as OFA-KD's distillers do
    (``label.max(1)[1]``): the label itself under label smoothing, the dominant image's class under
    mixup or cutmix (see :attr:`~ldrrld_core.losses.base.DistillationLoss.mixup_refusal`).
    """
    if target.dim() == 2 and target.is_floating_point():
        return target.argmax(1)
    return target.long()


def check_depth(depth: int, num_classes: int | None = None) -> None:
    """The depth must be an integer with ``2 <= d``, and ``d <= C`` when the class count is known."""
    if isinstance(depth, bool) or not isinstance(depth, int) or (num_classes is None and depth < 2):
        raise ValueError(f"depth must be an integer >= 2, got {depth!r}")
    if num_classes is not None and not 2 <= depth <= num_classes:
        raise ValueError(f"depth must lie in [2, {num_classes}] (2 <= d <= number of classes), got {depth}")


def _check_real(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def check_positive(name: str, value: float) -> None:
    """``value`` must be a finite real number ``> 0`` (a temperature, a scale)."""
    _check_real(name, value)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def check_non_negative(name: str, value: float) -> None:
    """``value`` must be a finite real number ``>= 0`` (a loss weight, a decay rate)."""
    _check_real(name, value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def check_weights(**weights: float) -> None:
    """Every loss weight given by name must be a finite real number ``>= 0``."""
    for name, value in weights.items():
        check_non_negative(name, value)


def check_flag(name: str, value: object) -> None:
    """``value`` must be ``True`` or ``False`` (not a string such as ``"false"``, which is truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
