"""OFA (Hao et al., NeurIPS 2023, "One-for-All: bridge the gap between heterogeneous architectures in KD").

The student's final logits and the logits of a projector head after each of its stages are all
pulled towards the teacher's final prediction by the OFA term (their Eq. 4, teacher temperature 1):

    ofa(z, z_t, y) = mean_i sum_c -((p_t,ic + 1[c = y_i])^eps - 1[c = y_i]) log softmax(z)_ic

With ``eps = 1`` it is cross-entropy to the teacher's distribution plus nothing on the target
(``(p_t + 1)^1 - 1 = p_t``); ``eps > 1`` raises the target's weight where the teacher is confident.
The loss is ``ce_weight * CE(z_s, y) + kd_weight * ofa(z_s) + stage_weight * sum_k ofa(head_k)``,
defaults ``ce_weight 1``, ``kd_weight = stage_weight = 0.1`` (the authors' weight for CNN
students), ``eps 1``; the authors' code keeps the final term's and the heads' weights apart
(``kd-loss-weight`` and ``ofa-loss-weight``), and so does this loss.

The projector heads are parameters of the loss, so the trainer optimises, saves and resumes them
with the student. They are built for one student architecture (``student=`` its registry name, and
optionally ``teacher=``; the stage shapes are read on the meta device, without computing anything),
and :meth:`OFALoss.model_outputs` gives the trainer, for that student, a view that returns
``(B, 1 + K, C)``: the final logits, then those of the ``K`` stage heads; the teacher is read as
plain logits (so cached teacher outputs still serve). The heads follow the paper's design: for a
convolutional stage ``k`` of ``K``, ``K - k`` depthwise-separable blocks that halve the resolution
(a 1x1 convolution for the last stage), ending at the larger of the student's and the teacher's
feature sizes, then pooling and a linear classifier; for a transformer or MLP stage (tokens laid
on the patch grid), patch merging down to 7 x 7, ``max(K - k, 1)`` ViT blocks, the mean token and a
linear classifier. Two differences from the authors' code: a ViT student's class token is not
passed to its heads (the mean token stands in), and a 1x1 projection is added where the grid is
already 7 x 7 but the widths differ.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..relations import compute_dtype, full_precision, upcast
from .base import DistillationLoss, cross_entropy
from .checks import as_labels, check_logit_pair, check_positive, check_target, check_weights

__all__ = ["OFALoss", "OFAStudentView", "conv_stage_head", "ofa_term", "stage_heads"]


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


def _separable_down(channels_in: int, channels_out: int) -> nn.Sequential:
    """A depthwise-separable block that halves the resolution: (dw 3x3 /2, pw, BN, ReLU) then (dw 3x3, pw, BN, ReLU)."""
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_in, 3, 2, 1, groups=channels_in, bias=False),
        nn.Conv2d(channels_in, channels_in, 1, bias=False),
        nn.BatchNorm2d(channels_in),
        nn.ReLU(),
        nn.Conv2d(channels_in, channels_in, 3, 1, 1, groups=channels_in, bias=False),
        nn.Conv2d(channels_in, channels_out, 1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    )


def conv_stage_head(channels: int, stages_after: int, width: int, num_classes: int) -> nn.Sequential:
    """OFA's projector for a convolutional stage: one separable down-sampling block per later stage
    (channels doubling, the last one to ``width``; a 1x1 convolution for the last stage itself),
    global average pooling and a linear classifier. ``(B, channels, H, W) -> (B, num_classes)``."""
    if stages_after == 0:
        blocks = [nn.Conv2d(channels, width, 1)]
    else:
        blocks = []
        for i in range(stages_after):
            out = width if i == stages_after - 1 else channels * 2
            blocks.append(_separable_down(channels, out))
            channels *= 2
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(width, num_classes))


class _PatchMerge(nn.Module):
    """2 x 2 neighbouring tokens concatenated, normalised and projected: ``(B, C, H, W) -> (B, out, H/2, W/2)``."""

    def __init__(self, channels: int, out: int, activation: bool) -> None:
        super().__init__()
        self.norm, self.reduction = nn.LayerNorm(4 * channels), nn.Linear(4 * channels, out, bias=False)
        self.act = nn.GELU() if activation else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], 1)
        return self.act(self.reduction(self.norm(x.permute(0, 2, 3, 1)))).permute(0, 3, 1, 2)


class _TokenHead(nn.Module):
    """OFA's projector for a transformer stage: patch merging down to a 7 x 7 grid (projecting to the
    student's feature width), ViT blocks (4 heads), the mean token and a linear classifier."""

    def __init__(self, channels: int, grid: int, blocks: int, width: int, num_classes: int) -> None:
        super().__init__()
        from timm.models.vision_transformer import Block

        merges = max(int(math.log2(grid / 7)), 0)
        layers, dim = [], channels
        for i in range(merges):
            layers.append(_PatchMerge(dim, width, activation=i != merges - 1))
            dim = width
        if merges == 0 and channels != width:
            layers.append(nn.Conv2d(channels, width, 1))
        self.merge = nn.Sequential(*layers)
        self.blocks = nn.Sequential(*(Block(dim=width, num_heads=4) for _ in range(blocks)))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.merge(x).flatten(2).transpose(1, 2)  # (B, L, width)
        return self.fc(self.blocks(tokens).mean(1))


def _init_head(module: nn.Module) -> None:
    """OFA's initialisation of its projectors: Kaiming (fan-out) convolutions, unit BN, small linears."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def stage_heads(student: str, num_classes: int, *, teacher: str | None = None, options: dict | None = None):
    """OFA's projector heads for every stage map of ``student`` (a registry name), as an ``nn.ModuleList``.

    Convolutional students get :func:`conv_stage_head` s, transformer and MLP students (``token_stages``)
    token heads with ``max(K - k, 1)`` ViT blocks for stage ``k`` of ``K``. The width is the larger of
    the student's and the teacher's feature sizes (the student's alone without ``teacher``).
    """
    student_info = _stage_shapes(student, num_classes, dict(options or {}))
    maps, feature_dim, tokens = student_info
    width = feature_dim if teacher is None else max(feature_dim, _stage_shapes(teacher, num_classes, {})[1])
    count = len(maps)
    heads = nn.ModuleList()
    for k, (channels, grid) in enumerate(maps, 1):
        if tokens:
            head = _TokenHead(channels, grid, max(count - k, 1), feature_dim, num_classes)
        else:
            head = conv_stage_head(channels, count - k, width, num_classes)
        _init_head(head)
        heads.append(head)
    return heads


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

    ``ce_weight * CE(z_s, y) + kd_weight * ofa(z_s) + stage_weight * sum_k ofa(head_k(stage_k))``.

    Args:
        student: the student's registry name (e.g. ``"timm:ResNet18"``); the heads are shaped for it.
            ``None`` (with ``num_classes`` ``None``): no heads, the OFA term on the final logits only.
        num_classes: the number of classes (the heads' output size).
        teacher: the teacher's registry name: the convolutional heads end at the larger of the two
            models' feature sizes, as the authors' do (the student's alone when ``None``).
        ce_weight: weight of the cross-entropy on the final logits.
        kd_weight: weight of the OFA term on the final logits (0.1: the authors' weight for CNN students).
        stage_weight: weight of the heads' summed OFA terms; ``None``: ``kd_weight``.
        eps: the OFA exponent (``>= 1`` in the paper; 1 by default).
        model_options: the student's ``create_model`` options, if any change its stages.
    """

    def __init__(
        self,
        student: str | None = None,
        num_classes: int | None = None,
        *,
        teacher: str | None = None,
        ce_weight: float = 1.0,
        kd_weight: float = 0.1,
        stage_weight: float | None = None,
        eps: float = 1.0,
        model_options: dict | None = None,
        validate: bool = True,
    ) -> None:
        super().__init__()
        stage_weight = kd_weight if stage_weight is None else stage_weight
        check_weights(ce_weight=ce_weight, kd_weight=kd_weight, stage_weight=stage_weight)
        check_positive("eps", eps)
        if (student is None) != (num_classes is None):
            raise ValueError(
                "OFA's stage heads need both student= (the student's model name) and num_classes=; "
                "give both, or neither for the OFA term on the final logits alone"
            )
        self.student = None if student is None else str(student)
        self.teacher = None if teacher is None else str(teacher)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.ce_weight, self.kd_weight, self.stage_weight = float(ce_weight), float(kd_weight), float(stage_weight)
        self.eps = float(eps)
        self.validate = validate
        self.heads = (
            nn.ModuleList()
            if student is None
            else stage_heads(self.student, self.num_classes, teacher=self.teacher, options=model_options)
        )
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
            check_target(target, *logits.shape, device=logits.device, soft=True)
        ce = cross_entropy(logits, target)
        final = ofa_term(logits, teacher_logits, target, self.eps)
        terms = {f"ofa_stage{k}": ofa_term(z, teacher_logits, target, self.eps) for k, z in enumerate(stage_logits, 1)}
        stages = torch.stack(list(terms.values())).sum() if terms else torch.zeros_like(final)
        total = self.ce_weight * ce + self.kd_weight * final + self.stage_weight * stages
        return self._record(total, ce=ce, ofa_final=final, ofa_stages=stages, **terms)

    def hparams(self) -> dict[str, object]:
        return dict(
            student=self.student,
            num_classes=self.num_classes,
            teacher=self.teacher,
            ce_weight=self.ce_weight,
            kd_weight=self.kd_weight,
            stage_weight=self.stage_weight,
            eps=self.eps,
        )


def _stage_shapes(name: str, num_classes: int, options: dict) -> tuple[list[tuple[int, int]], int, bool]:
    """``([(channels, grid side) per stage map], feature_dim, token_stages)`` of a model, read on the meta device."""
    from ..models import create_model, model_info

    shape = model_info(name).input_shape
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, **options)
        stages = model.forward_stages(torch.empty(1, *shape))
    maps = stages[:-1]
    if any(stage.dim() != 4 for stage in maps):
        raise ValueError(
            f"OFA's heads read (B, C, H, W) stage maps, and {name}'s forward_stages gives "
            f"{[tuple(stage.shape) for stage in maps]}"
        )
    sizes = [(int(stage.shape[1]), int(stage.shape[2])) for stage in maps]
    return sizes, int(model.feature_dim), bool(getattr(model, "token_stages", False))
