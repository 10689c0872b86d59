"""MobileNetV2 for CIFAR at half width (Sandler et al., 2018), as in the distillation literature.

A stride-2 3x3 stem, seven groups of inverted residual blocks (expansion 6, channels 8, 12, 16,
32, 48, 80, 160 at width 0.5), a 1x1 convolution to 1280 channels and a linear head. Unlike
torchvision's version, the first group keeps its 1x1 expansion convolution (with ratio 1).
Layer names follow the literature's checkpoints: ``conv1``, ``blocks.<g>.<i>.conv.<j>``,
``conv2`` and ``classifier.0``.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..base import FeatureClassifier
from ..catalog import register_model
from ..layers import collect_stages, conv_bn, global_avg_pool, kaiming_init

__all__ = ["InvertedResidual", "MobileNetV2"]


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise (strided), linear 1x1 projection; residual if shapes agree.

    ``(B, C_in, H, W) -> (B, C_out, H/s, W/s)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            *conv_bn(in_channels, hidden, 1),
            *conv_bn(hidden, hidden, 3, stride, groups=hidden),
            *conv_bn(hidden, out_channels, 1, relu=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(FeatureClassifier):
    """MobileNetV2 for 32x32 inputs.

    Args:
        num_classes: size of the output.
        expansion: expansion ratio of the blocks after the first group (6).
        width: channel multiplier (0.5 in the literature's CIFAR zoo).

    ``forward_stages`` on ``(B, 3, 32, 32)`` at width 0.5 gives the stem ``(B, 16, 16, 16)``,
    then ``(B, 12, 16, 16)``, ``(B, 16, 8, 8)``, ``(B, 48, 4, 4)``, ``(B, 160, 2, 2)`` (after
    groups 1, 2, 4 and 6) and the pooled ``(B, 1280)``.
    """

    #: (expansion, channels at width 1, blocks, stride of the first block) per group; an
    #: expansion of ``None`` means "the model's ``expansion``".
    GROUPS = (
        (1, 16, 1, 1),
        (None, 24, 2, 1),
        (None, 32, 3, 2),
        (None, 64, 4, 2),
        (None, 96, 3, 1),
        (None, 160, 3, 2),
        (None, 320, 1, 1),
    )
    #: After which groups (0-based) a stage feature is taken; the last group must be among them.
    STAGE_ENDS = (1, 2, 4, 6)

    def __init__(self, num_classes: int = 100, expansion: int = 6, width: float = 0.5) -> None:
        last_channels = int(1280 * width) if width > 1.0 else 1280
        super().__init__(num_classes, last_channels)
        in_channels = int(32 * width)
        self.conv1 = nn.Sequential(*conv_bn(3, in_channels, 3, 2))
        self.blocks = nn.ModuleList()
        for ratio, channels, count, stride in self.GROUPS:
            out_channels = int(channels * width)
            group = []
            for index in range(count):
                group.append(
                    InvertedResidual(
                        in_channels, out_channels, stride if index == 0 else 1, expansion if ratio is None else ratio
                    )
                )
                in_channels = out_channels
            self.blocks.append(nn.Sequential(*group))
        self.conv2 = nn.Sequential(*conv_bn(in_channels, last_channels, 1))
        self.classifier = nn.Sequential(nn.Linear(last_channels, num_classes))
        kaiming_init(self, linear_std=0.01)

    def _stage_maps(self, x: Tensor) -> list[Tensor]:
        stem = self.conv1(x)
        return [stem] + collect_stages(self.blocks, stem, self.STAGE_ENDS)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = self._stage_maps(x)
        return features + [global_avg_pool(self.conv2(features[-1]))]

    def forward_features(self, x: Tensor) -> Tensor:
        return self.conv2(self._stage_maps(x)[-1])

    def get_classifier(self) -> nn.Module:
        return self.classifier


@register_model("MobileNetV2", family="cifar")
def mobilenetv2_half(num_classes: int = 100) -> MobileNetV2:
    """The literature's CIFAR ``MobileNetV2``: width 0.5, expansion 6 (0.81 M parameters)."""
    return MobileNetV2(num_classes, expansion=6, width=0.5)
