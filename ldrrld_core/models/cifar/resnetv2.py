"""``ResNet50`` for CIFAR: the ImageNet bottleneck ResNet-50 with a 3x3 stride-1 stem, no max-pool.

Four stages of bottleneck blocks (3, 4, 6, 3) at 32x32, 16x16, 8x8 and 4x4 with 256, 512, 1024
and 2048 output channels. Layer names follow the distillation literature's checkpoints: the
projection shortcut is called ``shortcut`` and the head ``linear``.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..base import FeatureClassifier
from ..catalog import register_model
from ..layers import global_avg_pool, kaiming_init

__all__ = ["Bottleneck", "BottleneckResNet"]


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, plus a shortcut.

    ``(B, C_in, H, W) -> (B, 4 * width, H/s, W/s)``; the shortcut is a strided 1x1 convolution
    with batch norm when the shape changes and the identity otherwise.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class BottleneckResNet(FeatureClassifier):
    """Bottleneck ResNet for 32x32 inputs.

    Args:
        blocks: bottleneck blocks per stage, ``(3, 4, 6, 3)`` for ResNet50.
        num_classes: size of the output.

    ``forward_stages`` on ``(B, 3, 32, 32)`` gives the stem ``(B, 64, 32, 32)``, the stages
    ``(B, 256, 32, 32)``, ``(B, 512, 16, 16)``, ``(B, 1024, 8, 8)``, ``(B, 2048, 4, 4)`` and the
    pooled ``(B, 2048)``.
    """

    def __init__(self, blocks: tuple[int, int, int, int], num_classes: int = 100) -> None:
        widths = (64, 128, 256, 512)
        super().__init__(num_classes, widths[-1] * Bottleneck.expansion)
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        in_channels = 64
        for index, (count, width) in enumerate(zip(blocks, widths)):
            stride = 1 if index == 0 else 2
            layers = []
            for block in range(count):
                layers.append(Bottleneck(in_channels, width, stride if block == 0 else 1))
                in_channels = width * Bottleneck.expansion
            self.add_module(f"layer{index + 1}", nn.Sequential(*layers))
        self.linear = nn.Linear(self.feature_dim, num_classes)
        kaiming_init(self)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = [self.relu(self.bn1(self.conv1(x)))]
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            features.append(stage(features[-1]))
        features.append(global_avg_pool(features[-1]))
        return features

    def get_classifier(self) -> nn.Module:
        return self.linear


@register_model("ResNet50", family="cifar")
def resnet50_cifar(num_classes: int = 100) -> BottleneckResNet:
    """The literature's CIFAR ``ResNet50`` (23.7 M parameters)."""
    return BottleneckResNet((3, 4, 6, 3), num_classes)
