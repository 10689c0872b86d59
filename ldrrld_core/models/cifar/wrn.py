"""Wide ResNets (Zagoruyko & Komodakis, 2016) for CIFAR: wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2.

``wrn_<depth>_<k>``: three stages of pre-activation basic blocks, ``(depth - 4) / 6`` per stage,
with ``16k``, ``32k`` and ``64k`` channels at 32x32, 16x16 and 8x8. Layer names follow the
distillation literature's checkpoints: ``block1..3.layer.<i>.{bn1,conv1,bn2,conv2,convShortcut}``
and a final ``bn1`` before the head ``fc``.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from ..base import FeatureClassifier
from ..catalog import register_model
from ..layers import global_avg_pool, kaiming_init

__all__ = ["PreActBlock", "StageBlock", "WideResNet"]


class PreActBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3 (strided), BN-ReLU-(dropout)-conv3x3, plus shortcut.

    ``(B, C_in, H, W) -> (B, C_out, H/s, W/s)``. When the channel count changes, the shortcut is
    a strided 1x1 convolution (``convShortcut``) applied to the pre-activated input.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.convShortcut: nn.Module | None = None  # noqa: N815 (checkpoint key name)
        if in_channels != out_channels:
            self.convShortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        activated = self.relu(self.bn1(x))
        shortcut = x if self.convShortcut is None else self.convShortcut(activated)
        out = self.relu(self.bn2(self.conv1(activated)))
        out = self.conv2(self.dropout(out))
        return out + shortcut


class StageBlock(nn.Module):
    """A stage of ``count`` pre-activation blocks, under ``.layer`` as the checkpoints expect."""

    def __init__(self, count: int, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            *(
                PreActBlock(
                    in_channels if index == 0 else out_channels, out_channels, stride if index == 0 else 1, dropout
                )
                for index in range(count)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)


class WideResNet(FeatureClassifier):
    """Wide ResNet ``WRN-depth-widen`` for 32x32 images.

    Args:
        depth: ``6n + 4`` (16, 22, 28, 40, ...).
        widen: width multiplier ``k``.
        num_classes: size of the output.
        dropout: dropout rate between the two convolutions of each block (0 in the literature's
            CIFAR-100 distillation runs).

    ``forward_stages`` on ``(B, 3, 32, 32)`` gives the stem ``(B, 16, 32, 32)``, the stages
    ``(B, 16k, 32, 32)``, ``(B, 32k, 16, 16)``, ``(B, 64k, 8, 8)`` (block outputs, before the
    final BN-ReLU) and the pooled ``(B, 64k)`` taken after that BN-ReLU.
    """

    def __init__(self, depth: int, widen: int, num_classes: int = 100, dropout: float = 0.0) -> None:
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(
                f"A wide ResNet has depth 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...), got depth={depth}."
            )
        channels = (16, 16 * widen, 32 * widen, 64 * widen)
        super().__init__(num_classes, channels[3])
        count = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, channels[0], 3, padding=1, bias=False)
        self.block1 = StageBlock(count, channels[0], channels[1], 1, dropout)
        self.block2 = StageBlock(count, channels[1], channels[2], 2, dropout)
        self.block3 = StageBlock(count, channels[2], channels[3], 2, dropout)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(channels[3], num_classes)
        kaiming_init(self)
        nn.init.zeros_(self.fc.bias)

    def _stage_maps(self, x: Tensor) -> list[Tensor]:
        stem = self.conv1(x)
        stage1 = self.block1(stem)
        stage2 = self.block2(stage1)
        return [stem, stage1, stage2, self.block3(stage2)]

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = self._stage_maps(x)
        return features + [global_avg_pool(self.relu(self.bn1(features[-1])))]

    def forward_features(self, x: Tensor) -> Tensor:
        """The last map after the final batch norm and ReLU (pre-activation blocks end without them)."""
        return self.relu(self.bn1(self._stage_maps(x)[-1]))

    def get_classifier(self) -> nn.Module:
        return self.fc


for _depth, _widen in [(16, 1), (16, 2), (40, 1), (40, 2)]:
    register_model(f"wrn_{_depth}_{_widen}", family="cifar")(partial(WideResNet, _depth, _widen))
