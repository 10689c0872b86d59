"""VGG with batch norm for CIFAR (Simonyan & Zisserman, 2015): vgg8, vgg11, vgg13, vgg16, vgg19.

Five blocks of 3x3 convolutions (with bias) + batch norm + ReLU. Max-pooling halves the
resolution after blocks 0, 1 and 2, so on 32x32 inputs blocks 3 and 4 both run at 4x4; the
head is one linear layer on the pooled 512-d feature. Layer names follow the distillation
literature's checkpoints: ``block<i>.<j>`` for the flat conv/BN/ReLU sequence of block ``i``
(the final ReLU of a block is applied outside it) and ``classifier``.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from ..base import FeatureClassifier
from ..catalog import register_model
from ..layers import conv_bn, global_avg_pool, kaiming_init

__all__ = ["VGG", "VGG_CONFIGS"]

#: Output channels of each convolution, per block.
VGG_CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg8": ((64,), (128,), (256,), (512,), (512,)),
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


class VGG(FeatureClassifier):
    """VGG-BN for 32x32 inputs.

    Args:
        config: output channels of each convolution, one tuple per block (see
            :data:`VGG_CONFIGS`).
        num_classes: size of the output.

    ``forward_stages`` on ``(B, 3, 32, 32)`` gives the five block outputs ``(B, 64, 32, 32)``,
    ``(B, 128, 16, 16)``, ``(B, 256, 8, 8)``, ``(B, 512, 4, 4)``, ``(B, 512, 4, 4)`` and the
    pooled ``(B, 512)``.
    """

    def __init__(self, config: tuple[tuple[int, ...], ...], num_classes: int = 100) -> None:
        if len(config) != 5:
            raise ValueError(f"A VGG config has one tuple of channels per block, five in all; got {len(config)}.")
        super().__init__(num_classes, config[-1][-1])
        in_channels = 3
        for index, channels in enumerate(config):
            layers: list[nn.Module] = []
            for out_channels in channels:
                layers += conv_bn(in_channels, out_channels, bias=True)
                in_channels = out_channels
            self.add_module(f"block{index}", nn.Sequential(*layers[:-1]))
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU(inplace=True)
        self.classifier = nn.Linear(in_channels, num_classes)
        kaiming_init(self, linear_std=0.01)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = []
        for index, block in enumerate((self.block0, self.block1, self.block2, self.block3, self.block4)):
            if index in (1, 2, 3):
                x = self.pool(x)
            x = self.relu(block(x))
            features.append(x)
        features.append(global_avg_pool(x))
        return features

    def get_classifier(self) -> nn.Module:
        return self.classifier


for _name, _config in VGG_CONFIGS.items():
    register_model(_name, family="cifar")(partial(VGG, _config))
