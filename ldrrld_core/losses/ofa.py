"""OFA (Hao et al., NeurIPS 2023, "One-for-All: bridge the gap between heterogeneous architectures in KD").

The student's final logits and the logits of a projector head after each of its stages are all
pulled towards the teacher's final prediction by the OFA term (their Eq. 4, teacher temperature 1):

    ofa(z, z_t, y) = mean_i sum_c -((p_t,ic + 1[c = y_i])^eps - 1[c = y_i]) log softmax(z)_ic

With ``eps = 1`` it is cross-entropy to the teacher's distribution plus nothing on the target
(``(p_t + 1)^1 - 1 = p_t``); ``eps > 1`` raises the target's weight where the teacher is confident.
The loss is ``ce_weight * CE(z_s, y) + kd_weight * sum_{k in heads and final} ofa(z_k, z_t, y)``,
defaults ``ce_weight 1``, ``kd_weight 0.1`` (the authors' weight for CNN students), ``eps 1``.

The projector heads are parameters of the loss, so the trainer optimises, saves and resumes them
with the student. They are built for one student architecture (``student=`` its registry name; the
stage shapes are read from the architecture on the meta device, without computing anything), and
:meth:`OFALoss.model_outputs` gives the trainer, for that student, a view that returns
``(B, 1 + K, C)``: the final logits, then those of the ``K`` stage heads; the teacher is read as
plain logits (so cached teacher outputs still serve). Each head is a 1x1 convolution to ``width``
channels, batch norm, ReLU,
global average pooling and a linear classifier: a lighter stand-in for the authors' projectors
(depthwise-separable stacks down to the last stage's resolution for CNN stages, transformer blocks
for ViT ones), stated as such in ``docs/method.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..relations import compute_dtype, full_precision, upcast
from .base import DistillationLoss, cross_entropy
from .checks import as_labels, check_logit_pair, check_positive, check_target, check_weights

__all__ = ["OFALoss", "OFAStudentView", "ofa_term", "stage_head"]


def ofa_term(student_logits: Tensor, teacher_logits: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """``mean_i sum_c -((p_t + 1[y])^eps - 1[y]) log softmax(z_s)``: ``(B, C), (B, C), (B,) -> ()``.

    In at least float32 (float64 if either input is); the teacher's logits never receive gradient.
    """
    dtype = compute_dtype(student_logits, teacher_logits)
    with full_precision(student_logits.device):
        log_p_s = F.log_softmax(upcast(student_logits, dtype), dim=1)
        p_t = F.softmax(upcast(teacher_logits.detach(), dtype), dim=1)
        mask = F.one_hot(as_labels(target), p_t.shape[1]).to(dtype)
        weight = (p_t + mask).pow(eps) - mask
        return -(weight * log_p_s).sum(1).mean()


def stage_head(channels: int, num_classes: int, width: int = 256) -> nn.Sequential:
    """A projector from a stage's ``(B, channels, H, W)`` map to ``(B, num_classes)`` logits."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
        nn.Linear(width, num_classes),
    )


class OFAStudentView(nn.Module):
    """The student as OFA reads it: ``forward(x) -> (B, 1 + K, C)``, the final logits then ``head_k(stage_k(x))``.

    One forward pass; one tensor (as SDD's region logits), so the trainer handles it as it does logits.

    The heads belong to the loss (they are not registered here, so a data-parallel wrapper of this
    view sees only the student's parameters; the trainer averages the loss's own gradients).
    """

    def __init__(self, model: nn.Module, heads: nn.ModuleList) -> None:
        super().__init__()
        self.model = model
        object.__setattr__(self, "_heads", heads)

    def forward(self, images: Tensor) -> Tensor:
        stages = self.model.forward_stages(images)
        logits = self.model.get_classifier()(stages[-1])
        return torch.stack([logits, *(head(stage) for head, stage in zip(self._heads, stages[:-1]))], 1)


class OFALoss(DistillationLoss):
    """OFA: the OFA term on the final logits and on projector heads after every stage of the student.

    Args:
        student: the student's registry name (e.g. ``"timm:ResNet18"``); the heads are shaped for it.
            ``None`` (with ``num_classes`` ``None``): no heads, the OFA term on the final logits only.
        num_classes: the number of classes (the heads' output size).
        ce_weight, kd_weight: weights of the cross-entropy and of the summed OFA terms.
        eps: the OFA exponent (``>= 1`` in the paper; 1 by default).
        width: channels of every head's hidden layer.
        model_options: the student's ``create_model`` options, if any change its stages.
    """

    def __init__(
        self,
        student: str | None = None,
        num_classes: int | None = None,
        *,
        ce_weight: float = 1.0,
        kd_weight: float = 0.1,
        eps: float = 1.0,
        width: int = 256,
        model_options: dict | None = None,
        validate: bool = True,
    ) -> None:
        super().__init__()
        check_weights(ce_weight=ce_weight, kd_weight=kd_weight)
        check_positive("eps", eps)
        check_positive("width", width)
        if (student is None) != (num_classes is None):
            raise ValueError(
                "OFA's stage heads need both student= (the student's model name) and num_classes=; "
                "give both, or neither for the OFA term on the final logits alone"
            )
        self.student = None if student is None else str(student)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.ce_weight, self.kd_weight, self.eps, self.width = (
            float(ce_weight),
            float(kd_weight),
            float(eps),
            int(width),
        )
        self.validate = validate
        channels = [] if student is None else _stage_channels(self.student, self.num_classes, dict(model_options or {}))
        self.heads = nn.ModuleList(stage_head(c, self.num_classes, self.width) for c in channels)
        self._bound: nn.Module | None = None

    def model_outputs(self, model: nn.Module) -> nn.Module:
        """The student (the first model of the loss's ``student`` architecture offered): the view with heads;
        any other model (the teacher): itself, plain logits."""
        if self.student is not None and self._bound is None and getattr(model, "arch", None) == self.student:
            object.__setattr__(self, "_bound", model)
        if model is self._bound:
            return OFAStudentView(model, self.heads)
        return model

    def logits_of(self, outputs: Tensor) -> Tensor:
        return outputs[:, 0] if outputs.dim() == 3 else outputs

    def forward(self, student_outputs: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        """``student_outputs``: the view's ``(B, 1 + K, C)`` (final logits first), or bare ``(B, C)`` logits."""
        if student_outputs.dim() == 3:
            logits, stage_logits = student_outputs[:, 0], student_outputs[:, 1:].unbind(1)
        else:
            logits, stage_logits = student_outputs, ()
        if self.validate:
            check_logit_pair(logits, teacher_logits)
            check_target(target, *logits.shape, device=logits.device)
        ce = cross_entropy(logits, target)
        terms = {"ofa_final": ofa_term(logits, teacher_logits, target, self.eps)}
        for k, stage in enumerate(stage_logits, 1):
            terms[f"ofa_stage{k}"] = ofa_term(stage, teacher_logits, target, self.eps)
        ofa = torch.stack(list(terms.values())).sum()
        total = self.ce_weight * ce + self.kd_weight * ofa
        return self._record(total, ce=ce, ofa=ofa, **terms)

    def hparams(self) -> dict[str, object]:
        return dict(
            student=self.student,
            num_classes=self.num_classes,
            ce_weight=self.ce_weight,
            kd_weight=self.kd_weight,
            eps=self.eps,
            width=self.width,
        )


def _stage_channels(student: str, num_classes: int, options: dict) -> list[int]:
    """The channel counts of the student's stage maps, read on the meta device (nothing computed)."""
    from ..models import create_model, model_info

    shape = model_info(student).input_shape
    with torch.device("meta"):
        model = create_model(student, num_classes=num_classes, **options)
        stages = model.forward_stages(torch.empty(1, *shape))
    maps = stages[:-1]
    if any(stage.dim() != 4 for stage in maps):
        raise ValueError(
            f"OFA's heads read (B, C, H, W) stage maps, and {student}'s forward_stages gives "
            f"{[tuple(stage.shape) for stage in maps]}"
        )
    return [int(stage.shape[1]) for stage in maps]
