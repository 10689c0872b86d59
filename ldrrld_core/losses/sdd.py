"""SDD (Wei et al., CVPR 2024): scale-decoupled distillation over a spatial pyramid of logits.

The last feature map ``(B, D, H, W)`` of each model is average-pooled on grids of ``s x s`` cells
for every scale ``s`` (``1, 2, 4``: 1 + 4 + 16 = 21 regions), and each region's pooled feature goes
through the model's own classifier, giving *region logits* ``(B, R, C)``; region 0 is the whole
map, whose logits are the model's ordinary output. KD then runs on every region. A region where
the teacher's local prediction and its global one differ in correctness (one right, one wrong)
carries *complementary* knowledge and weighs 2; a *consistent* one weighs 1:

    L = T^2 / (B R) * sum_{b, r} w_{b, r} KL(softmax(t_{b, r} / T) || softmax(s_{b, r} / T))

The loss reads region logits instead of plain logits: :meth:`SDDLoss.model_outputs` wraps each
model in :class:`PyramidLogits`, so the trainer asks a model for what this loss declares.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..relations import compute_dtype, full_precision, kl_from_logits, upcast
from .base import DistillationLoss, cross_entropy
from .checks import all_finite, as_labels, check_positive, check_target, check_weights
from .fused import fused_weighted_kd, use_fused

__all__ = ["check_scales", "pyramid_logits", "PyramidLogits", "region_weights", "sdd_loss", "SDDLoss"]


def check_scales(scales: Sequence[int]) -> tuple[int, ...]:
    """Scales must be distinct whole numbers >= 1, starting with 1 (region 0 is the global one)."""
    scales = tuple(scales) if isinstance(scales, (list, tuple)) else scales
    if (
        not isinstance(scales, tuple)
        or not scales
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in scales)
        or len(set(scales)) != len(scales)
        or scales[0] != 1
    ):
        raise ValueError(
            f"scales must be distinct whole numbers >= 1 starting with 1, such as (1, 2, 4); got {scales!r}"
        )
    return scales


def pyramid_logits(model: nn.Module, images: Tensor, scales: Sequence[int] = (1, 2, 4)) -> Tensor:
    """Region logits of ``model`` on ``images``: ``(B, ...) -> (B, R, C)``, ``R = sum s^2``, region 0 global.

    Regions run scale by scale, and within a scale row by row of the ``s x s`` grid. ``model``
    needs ``forward_features(x) -> (B, D, H, W)`` (its last feature map, whose global average is
    the classifier's input) and ``get_classifier()``.
    """
    feature_map = model.forward_features(images)  # (B, D, H, W)
    pooled = torch.cat([F.adaptive_avg_pool2d(feature_map, s).flatten(2) for s in scales], 2)  # (B, D, R)
    return model.get_classifier()(pooled.transpose(1, 2))  # (B, R, C)


class PyramidLogits(nn.Module):
    """A model seen through SDD: ``forward(x) -> (B, R, C)`` region logits (see :func:`pyramid_logits`).

    Refuses, in one line naming the model, a model without a spatial feature map.
    """

    def __init__(self, model: nn.Module, scales: Sequence[int] = (1, 2, 4)) -> None:
        super().__init__()
        name = getattr(model, "arch", type(model).__name__)
        if not (
            callable(getattr(model, "forward_features", None)) and callable(getattr(model, "get_classifier", None))
        ):
            raise ValueError(
                f"SDD needs the last feature map and the classifier of every model, and {name} offers "
                "neither forward_features nor get_classifier; use a convolutional model of the zoo"
            )
        if getattr(model, "has_feature_map", True) is False:
            raise ValueError(
                f"SDD needs a spatial feature map, and model {name} has none (it is not convolutional); "
                "choose a convolutional student and teacher, or another loss"
            )
        self.model, self.scales = model, check_scales(scales)

    def forward(self, images: Tensor) -> Tensor:
        return pyramid_logits(self.model, images, self.scales)


def region_weights(teacher_regions: Tensor, target: Tensor) -> Tensor:
    """SDD's weight of every region: 2 where the teacher is right there and wrong globally or the reverse, else 1.

    ``(B, R, C), (B,) -> (B, R)``; region 0 is the global one (its weight is always 1).
    """
    correct = teacher_regions.argmax(2) == as_labels(target)[:, None]  # (B, R)
    return 1.0 + (correct != correct[:, :1]).to(teacher_regions.dtype)


def sdd_loss(
    student_regions: Tensor,
    teacher_regions: Tensor,
    target: Tensor,
    temperature: float = 4.0,
    *,
    validate: bool = True,
    fused: bool = True,
) -> Tensor:
    """``T^2 / (B R) * sum_{b, r} w_{b, r} KL_{b, r}``: the SDD term. ``(B, R, C) x 2, (B,) -> ()``.

    Region weights from :func:`region_weights`; at least float32, also under autocast. The
    teacher's region logits never receive gradient. ``fused=True`` (the default): one autograd
    node over the ``B R`` rows, gradient ``w (q - p) T / (B R)``
    (:func:`~ldrrld_core.losses.fused.fused_weighted_kd`); ``False``: traced by autograd.
    """
    check_positive("temperature", temperature)
    if validate:
        _check_regions(student_regions, teacher_regions)
        check_target(
            target, student_regions.shape[0], student_regions.shape[2], device=student_regions.device, soft=True
        )
    dtype = compute_dtype(student_regions, teacher_regions)
    teacher_regions = teacher_regions.detach()
    with full_precision(student_regions.device):
        if use_fused(fused):
            shape = student_regions.shape

            def weigh(tempered_teacher: Tensor) -> Tensor:
                return region_weights(tempered_teacher.view(shape), target).flatten()

            rows = (student_regions.reshape(-1, shape[2]), teacher_regions.reshape(-1, shape[2]))
            return fused_weighted_kd(*rows, temperature, weigh, dtype)
        z_s = upcast(student_regions, dtype) / temperature
        z_t = upcast(teacher_regions, dtype) / temperature
        weights = region_weights(z_t, target)  # (B, R)
        return temperature**2 * (weights * kl_from_logits(z_s, z_t)).mean()


def _check_regions(student_regions: Tensor, teacher_regions: Tensor) -> None:
    for name, x in (("student_regions", student_regions), ("teacher_regions", teacher_regions)):
        if not isinstance(x, Tensor) or x.dim() != 3 or not x.is_floating_point():
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{name} must be floating region logits (batch, regions, classes) from PyramidLogits, got {shape}"
            )
    if student_regions.shape != teacher_regions.shape:
        raise ValueError(
            f"student and teacher region logits differ in shape: {tuple(student_regions.shape)} vs "
            f"{tuple(teacher_regions.shape)}; both models need the same classes and the same scales"
        )
    if student_regions.shape[0] == 0:
        raise ValueError("the batch is empty (0 rows); a loss needs at least one sample")
    if student_regions.device != teacher_regions.device:
        raise ValueError("region logits live on different devices; move both models to one device")
    if not all_finite(student_regions, teacher_regions):  # a sum each; the exact test only if one is not finite
        raise ValueError(
            "region logits hold non-finite values (NaN or inf); the model diverged or the input is corrupt"
        )


class SDDLoss(DistillationLoss):
    """``ce_weight * CE(global logits) + kd_weight * sdd_loss``; defaults are the authors' CIFAR-100 KD form.

    (T 4, CE 0.1, KD 0.9, scales 1, 2, 4.) Called with region logits ``(B, R, C)`` from
    :meth:`model_outputs`; the CE term reads region 0, the model's ordinary logits.
    """

    mixup_refusal = (
        "its region weights ask whether the teacher's prediction of each region is the image's label, "
        "and a mixed image has two"
    )

    def __init__(
        self,
        temperature: float = 4.0,
        ce_weight: float = 0.1,
        kd_weight: float = 0.9,
        scales: Sequence[int] = (1, 2, 4),
        validate: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_weights(ce_weight=ce_weight, kd_weight=kd_weight)
        self.temperature, self.ce_weight, self.kd_weight = temperature, ce_weight, kd_weight
        self.scales, self.validate, self.fused = check_scales(scales), validate, fused

    def hparams(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "ce_weight": self.ce_weight,
            "kd_weight": self.kd_weight,
            "scales": list(self.scales),
        }

    def model_outputs(self, model: nn.Module) -> nn.Module:
        return PyramidLogits(model, self.scales)

    def logits_of(self, outputs: Tensor) -> Tensor:
        return outputs[:, 0]

    def forward(self, student_regions: Tensor, teacher_regions: Tensor, target: Tensor) -> Tensor:
        kd = sdd_loss(
            student_regions, teacher_regions, target, self.temperature, validate=self.validate, fused=self.fused
        )
        ce = cross_entropy(student_regions[:, 0], target)
        return self._record(self.ce_weight * ce + self.kd_weight * kd, ce=ce, kd=kd)
