"""The thin CIFAR ResNets of He et al. (2016): resnet8 ... resnet110, resnet8x4, resnet32x4.

A 3x3 stem and three stages of basic blocks at 32x32, 16x16 and 8x8; ``depth = 6n + 2`` with
``n`` blocks per stage. The ``x4`` variants widen every stage four times (stem 32, stages 64,
128, 256). Layer names follow the checkpoints of the distillation literature (CRD, mdistiller):
``conv1``, ``bn1``, ``layer1..3.<i>.{conv1,bn1,conv2,bn2,downsample.0,downsample.1}``, ``fc``.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from ..base import FeatureClassifier
from ..catalog import register_model
from ..layers import global_avg_pool, kaiming_init

__all__ = ["BasicBlock", "CifarResNet"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection: ``(B, C_in, H, W) -> (B, C_out, H/s, W/s)``.

    When the shape changes, the shortcut is a strided 1x1 convolution with batch norm
    (``downsample``); otherwise it is the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class CifarResNet(FeatureClassifier):
    """ResNet for 32x32 images with ``(depth - 2) / 6`` basic blocks per stage.

    Args:
        depth: total number of weighted layers, ``6n + 2`` (8, 14, 20, 32, 44, 56, 110, ...).
        widths: channels of the stem and the three stages, e.g. ``(16, 16, 32, 64)``.
        num_classes: size of the output.

    ``forward_stages`` on ``(B, 3, 32, 32)`` gives the stem ``(B, w0, 32, 32)``, the three
    stages ``(B, w1, 32, 32)``, ``(B, w2, 16, 16)``, ``(B, w3, 8, 8)`` and the pooled ``(B, w3)``.
    """

    def __init__(self, depth: int, widths: tuple[int, int, int, int], num_classes: int = 100) -> None:
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"A CIFAR ResNet has depth 6n + 2 with n >= 1 (8, 14, 20, ...), got depth={depth}.")
        super().__init__(num_classes, widths[3])
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(widths[0], widths[1], blocks, stride=1)
        self.layer2 = self._stage(widths[1], widths[2], blocks, stride=2)
        self.layer3 = self._stage(widths[2], widths[3], blocks, stride=2)
        self.fc = nn.Linear(widths[3], num_classes)
        kaiming_init(self)

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            BasicBlock(in_channels, out_channels, stride),
            *(BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)),
        )

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        stage1 = self.layer1(stem)
        stage2 = self.layer2(stage1)
        stage3 = self.layer3(stage2)
        return [stem, stage1, stage2, stage3, global_avg_pool(stage3)]

    def get_classifier(self) -> nn.Module:
        return self.fc


_THIN = (16, 16, 32, 64)
_WIDE = (32, 64, 128, 256)

for _name, _depth, _widths in [
    ("resnet8", 8, _THIN),
    ("resnet14", 14, _THIN),
    ("resnet20", 20, _THIN),
    ("resnet32", 32, _THIN),
    ("resnet44", 44, _THIN),
    ("resnet56", 56, _THIN),
    ("resnet110", 110, _THIN),
    ("resnet8x4", 8, _WIDE),
    ("resnet32x4", 32, _WIDE),
]:
    register_model(_name, family="cifar")(partial(CifarResNet, _depth, _widths))
