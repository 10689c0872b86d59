"""ShuffleNet V1 for CIFAR (Zhang et al., 2018): ``ShuffleV1``, 3 groups, stages 240/480/960.

A 1x1 stem to 24 channels at full resolution, then three stages of grouped bottlenecks (4, 8, 4
blocks). The first block of each stage halves the resolution and concatenates an average-pooled
copy of its input to its output. Layer names follow the distillation literature's checkpoints:
``conv1``, ``bn1``, ``layer1..3.<i>.{conv1,bn1,conv2,bn2,conv3,bn3}``, ``linear``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..base import FeatureClassifier
from ..catalog import register_model
from ..layers import channel_shuffle, global_avg_pool

__all__ = ["ShuffleBottleneck", "ShuffleNetV1"]


class ShuffleBottleneck(nn.Module):
    """Grouped 1x1, channel shuffle, depthwise 3x3 (strided), grouped 1x1; residual or concat.

    With ``stride == 1``: ``(B, C, H, W) -> (B, C, H, W)``, output ``relu(branch + x)``.
    With ``stride == 2``: ``(B, C_in, H, W) -> (B, C_in + out_channels, H/2, W/2)``, output
    ``relu(cat(branch, avgpool3x3(x)))``. The first 1x1 convolution is not grouped when the
    input is the 24-channel stem (too few channels to split).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, groups: int) -> None:
        super().__init__()
        mid_channels = out_channels // 4
        self.stride = stride
        self.first_groups = 1 if in_channels == 24 else groups
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, groups=self.first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride, padding=1, groups=mid_channels, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.first_groups)
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        merged = out + x if self.pool is None else torch.cat([out, self.pool(x)], 1)
        return self.relu(merged)


class ShuffleNetV1(FeatureClassifier):
    """ShuffleNet V1 for 32x32 inputs.

    Args:
        num_classes: size of the output.
        stage_channels: output channels of the three stages.
        stage_blocks: blocks per stage.
        groups: groups of the 1x1 convolutions.

    ``forward_stages`` on ``(B, 3, 32, 32)`` gives the stem ``(B, 24, 32, 32)``, the stages
    ``(B, 240, 16, 16)``, ``(B, 480, 8, 8)``, ``(B, 960, 4, 4)`` and the pooled ``(B, 960)``.
    """

    def __init__(
        self,
        num_classes: int = 100,
        stage_channels: tuple[int, int, int] = (240, 480, 960),
        stage_blocks: tuple[int, int, int] = (4, 8, 4),
        groups: int = 3,
    ) -> None:
        super().__init__(num_classes, stage_channels[-1])
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.relu = nn.ReLU(inplace=True)
        in_channels = 24
        for index, (channels, count) in enumerate(zip(stage_channels, stage_blocks)):
            # The first block concatenates its pooled input, so it only adds the difference.
            blocks = [ShuffleBottleneck(in_channels, channels - in_channels, 2, groups)]
            blocks += [ShuffleBottleneck(channels, channels, 1, groups) for _ in range(count - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
            in_channels = channels
        self.linear = nn.Linear(in_channels, num_classes)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = [self.relu(self.bn1(self.conv1(x)))]
        for stage in (self.layer1, self.layer2, self.layer3):
            features.append(stage(features[-1]))
        features.append(global_avg_pool(features[-1]))
        return features

    def get_classifier(self) -> nn.Module:
        return self.linear


@register_model("ShuffleV1", family="cifar")
def shufflev1(num_classes: int = 100) -> ShuffleNetV1:
    """The literature's CIFAR ``ShuffleV1``: groups 3, stages 240/480/960 (0.95 M parameters)."""
    return ShuffleNetV1(num_classes)
