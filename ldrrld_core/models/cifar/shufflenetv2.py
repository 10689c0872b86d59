"""ShuffleNet V2 for CIFAR (Ma et al., 2018): ``ShuffleV2``, width 1.0, stages 116/232/464.

A 1x1 stem to 24 channels at full resolution, three stages each opened by a down-sampling unit
and followed by 3, 7 and 3 channel-split units, then a 1x1 convolution to 1024 channels and a
linear head. Layer names follow the distillation literature's checkpoints: ``conv1``, ``bn1``,
``layer1..3.<i>.{conv1..conv5,bn1..bn5}``, ``conv2``, ``bn2``, ``linear``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..base import FeatureClassifier
from ..catalog import register_model
from ..layers import channel_shuffle, global_avg_pool

__all__ = ["DownUnit", "ShuffleNetV2", "SplitUnit"]


class SplitUnit(nn.Module):
    """Keep half the channels, send the other half through 1x1, depthwise 3x3, 1x1; shuffle.

    ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.conv1 = nn.Conv2d(half, half, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, half, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        kept, branch = x.chunk(2, dim=1)
        branch = self.relu(self.bn1(self.conv1(branch)))
        branch = self.bn2(self.conv2(branch))
        branch = self.relu(self.bn3(self.conv3(branch)))
        return channel_shuffle(torch.cat([kept, branch], 1), 2)


class DownUnit(nn.Module):
    """Two strided branches, concatenated and shuffled: ``(B, C_in, H, W) -> (B, C_out, H/2, W/2)``.

    Left: depthwise 3x3 stride 2, then 1x1 (``conv1``, ``conv2``). Right: 1x1, depthwise 3x3
    stride 2, 1x1 (``conv3``, ``conv4``, ``conv5``). Each branch gives ``C_out / 2`` channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 2, padding=1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, half, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(in_channels, half, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)
        self.conv4 = nn.Conv2d(half, half, 3, 2, padding=1, groups=half, bias=False)
        self.bn4 = nn.BatchNorm2d(half)
        self.conv5 = nn.Conv2d(half, half, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(half)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        left = self.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = self.relu(self.bn3(self.conv3(x)))
        right = self.relu(self.bn5(self.conv5(self.bn4(self.conv4(right)))))
        return channel_shuffle(torch.cat([left, right], 1), 2)


class ShuffleNetV2(FeatureClassifier):
    """ShuffleNet V2 for 32x32 inputs.

    Args:
        num_classes: size of the output.
        stage_channels: output channels of the three stages and of the last 1x1 convolution.
        stage_units: channel-split units per stage (after its down-sampling unit).

    ``forward_stages`` on ``(B, 3, 32, 32)`` gives the stem ``(B, 24, 32, 32)``, the stages
    ``(B, 116, 16, 16)``, ``(B, 232, 8, 8)``, ``(B, 464, 4, 4)`` and the pooled ``(B, 1024)``
    taken after the last 1x1 convolution.
    """

    def __init__(
        self,
        num_classes: int = 100,
        stage_channels: tuple[int, int, int, int] = (116, 232, 464, 1024),
        stage_units: tuple[int, int, int] = (3, 7, 3),
    ) -> None:
        super().__init__(num_classes, stage_channels[3])
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        self.relu = nn.ReLU(inplace=True)
        in_channels = 24
        for index, (channels, count) in enumerate(zip(stage_channels[:3], stage_units)):
            units = [DownUnit(in_channels, channels)] + [SplitUnit(channels) for _ in range(count)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*units))
            in_channels = channels
        self.conv2 = nn.Conv2d(in_channels, stage_channels[3], 1, bias=False)
        self.bn2 = nn.BatchNorm2d(stage_channels[3])
        self.linear = nn.Linear(stage_channels[3], num_classes)

    def _stage_maps(self, x: Tensor) -> list[Tensor]:
        features = [self.relu(self.bn1(self.conv1(x)))]
        for stage in (self.layer1, self.layer2, self.layer3):
            features.append(stage(features[-1]))
        return features

    def _head(self, last_stage: Tensor) -> Tensor:
        return self.relu(self.bn2(self.conv2(last_stage)))

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = self._stage_maps(x)
        return features + [global_avg_pool(self._head(features[-1]))]

    def forward_features(self, x: Tensor) -> Tensor:
        return self._head(self._stage_maps(x)[-1])

    def get_classifier(self) -> nn.Module:
        return self.linear


@register_model("ShuffleV2", family="cifar")
def shufflev2(num_classes: int = 100) -> ShuffleNetV2:
    """The literature's CIFAR ``ShuffleV2``: width 1.0 (1.36 M parameters)."""
    return ShuffleNetV2(num_classes)
