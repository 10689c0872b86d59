"""Small models for the 8x8 digits: a CNN teacher and a weaker MLP student that train in seconds.

Inputs are ``(B, 1, 8, 8)`` images (scikit-learn's handwritten digits); ten classes by default.
On two CPU cores ten epochs of SGD (a few seconds) bring the CNN to about 98-99 % test accuracy
and the MLP, which sees the pixels only as a flat vector through a 16-unit hidden layer, to about
94-96 %: a teacher/student gap for distillation to close without any download.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from .base import FeatureClassifier
from .catalog import register_model
from .layers import conv_bn, global_avg_pool, kaiming_init

__all__ = ["DigitsCNN", "DigitsMLP"]


class DigitsCNN(FeatureClassifier):
    """Three 3x3 conv-BN-ReLU stages with one 2x2 max-pool, for ``(B, 1, 8, 8)`` digits.

    Args:
        num_classes: size of the output.
        width: channels of the first stage (the next two have twice and four times as many).

    ``forward_stages`` gives ``(B, width, 8, 8)``, ``(B, 2 width, 4, 4)``,
    ``(B, 4 width, 4, 4)`` and the pooled ``(B, 4 width)``.
    """

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__(num_classes, 4 * width)
        self.stage1 = nn.Sequential(*conv_bn(1, width))
        self.stage2 = nn.Sequential(*conv_bn(width, 2 * width), nn.MaxPool2d(2))
        self.stage3 = nn.Sequential(*conv_bn(2 * width, 4 * width))
        self.fc = nn.Linear(4 * width, num_classes)
        kaiming_init(self)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        stage1 = self.stage1(x)
        stage2 = self.stage2(stage1)
        stage3 = self.stage3(stage2)
        return [stage1, stage2, stage3, global_avg_pool(stage3)]

    def get_classifier(self) -> nn.Module:
        return self.fc


class DigitsMLP(FeatureClassifier):
    """One hidden ReLU layer on the flattened pixels: ``(B, 1, 8, 8)`` or ``(B, 64)`` inputs.

    Args:
        num_classes: size of the output.
        hidden: width of the hidden layer (the penultimate feature).
        in_features: number of input pixels.

    ``forward_stages`` gives the single hidden activation ``(B, hidden)``; there is no feature map.
    """

    has_feature_map = False

    def __init__(self, num_classes: int = 10, hidden: int = 16, in_features: int = 64) -> None:
        super().__init__(num_classes, hidden)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, num_classes)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        return [self.hidden(x)]

    def get_classifier(self) -> nn.Module:
        return self.fc


register_model("digits_cnn", family="digits")(DigitsCNN)
register_model("digits_cnn_small", family="digits")(partial(DigitsCNN, width=2))
register_model("digits_mlp", family="digits")(DigitsMLP)
