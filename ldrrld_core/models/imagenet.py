"""ImageNet-sized models: torchvision's ResNets and MobileNetV2 by name, and MobileNetV1.

The torchvision models are built by torchvision's own constructors with ``weights=None`` (no
download) and keep torchvision's parameter names, so torchvision's published weight files load
with ``create_model("resnet34", checkpoint="resnet34-b627a593.pth")``. MobileNetV1 (Howard et
al., 2017), the usual ImageNet student of the distillation literature, is defined here with the
literature's names: ``model.<i>`` for the 14 convolution blocks and ``fc``.

Every model takes ``(B, 3, H, W)`` images (224x224 in the standard recipe; any size that survives
five halvings works, as the pooling is adaptive).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn

from .base import FeatureClassifier
from .catalog import register_model
from .layers import collect_stages, conv_bn, global_avg_pool

__all__ = ["MobileNetV1", "TorchvisionMobileNetV2", "TorchvisionResNet"]


class _Adopted(FeatureClassifier):
    """Takes over the children of a torchvision model so that its state-dict keys stay unchanged."""

    def __init__(self, network: nn.Module, num_classes: int, feature_dim: int) -> None:
        super().__init__(num_classes, feature_dim)
        for name, child in network.named_children():
            self.add_module(name, child)


class TorchvisionResNet(_Adopted):
    """A torchvision ResNet-family model (``resnet18`` ... ``resnet152``, ``wide_resnet50_2``,
    ``resnext50_32x4d``) with the zoo's feature interface.

    Args:
        arch: the torchvision constructor name.
        num_classes: size of the output.
        **kwargs: passed to the torchvision constructor (e.g. ``zero_init_residual=True``).

    ``forward_stages`` on ``(B, 3, 224, 224)`` gives the stem after max-pooling
    ``(B, 64, 56, 56)``, the four stages at 56, 28, 14 and 7 pixels (64/128/256/512 channels for
    ``resnet18``/``34``, four times that for the bottleneck models) and the pooled feature.
    """

    def __init__(self, arch: str, num_classes: int = 1000, **kwargs) -> None:
        import torchvision  # here, not at the top: it pulls in torch._dynamo (seconds) for every import

        network = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes, **kwargs)
        super().__init__(network, num_classes, network.fc.in_features)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = [self.maxpool(self.relu(self.bn1(self.conv1(x))))]
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            features.append(stage(features[-1]))
        features.append(torch.flatten(self.avgpool(features[-1]), 1))
        return features

    def get_classifier(self) -> nn.Module:
        return self.fc


class TorchvisionMobileNetV2(_Adopted):
    """torchvision's ``mobilenet_v2`` with the zoo's feature interface.

    ``forward_stages`` on ``(B, 3, 224, 224)`` gives the last block output at each resolution,
    ``(B, 16, 112, 112)``, ``(B, 24, 56, 56)``, ``(B, 32, 28, 28)``, ``(B, 96, 14, 14)``,
    ``(B, 1280, 7, 7)``, and the pooled ``(B, 1280)``. The head is torchvision's
    ``classifier`` (dropout, then linear).
    """

    STAGE_ENDS = (1, 3, 6, 13, 18)

    def __init__(self, num_classes: int = 1000, **kwargs) -> None:
        import torchvision

        network = torchvision.models.mobilenet_v2(weights=None, num_classes=num_classes, **kwargs)
        super().__init__(network, num_classes, network.last_channel)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = collect_stages(self.features, x, self.STAGE_ENDS)
        features.append(global_avg_pool(features[-1]))
        return features

    def get_classifier(self) -> nn.Module:
        return self.classifier


class MobileNetV1(FeatureClassifier):
    """MobileNetV1 (width 1.0): a 3x3 stem and 13 depthwise-separable blocks, 4.2 M parameters.

    Args:
        num_classes: size of the output.

    ``forward_stages`` on ``(B, 3, 224, 224)`` gives the last block at each resolution,
    ``(B, 64, 112, 112)``, ``(B, 128, 56, 56)``, ``(B, 256, 28, 28)``, ``(B, 512, 14, 14)``,
    ``(B, 1024, 7, 7)``, and the pooled ``(B, 1024)``.
    """

    #: (output channels, stride) of the depthwise-separable blocks after the stem.
    BLOCKS = (
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (512, 1),
        (1024, 2),
        (1024, 1),
    )
    STAGE_ENDS = (1, 3, 5, 11, 13)

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__(num_classes, self.BLOCKS[-1][0])
        layers = [nn.Sequential(*conv_bn(3, 32, 3, 2))]
        in_channels = 32
        for out_channels, stride in self.BLOCKS:
            layers.append(
                nn.Sequential(
                    *conv_bn(in_channels, in_channels, 3, stride, groups=in_channels),
                    *conv_bn(in_channels, out_channels, 1),
                )
            )
            in_channels = out_channels
        self.model = nn.Sequential(*layers)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        features = collect_stages(self.model, x, self.STAGE_ENDS)
        features.append(global_avg_pool(features[-1]))
        return features

    def get_classifier(self) -> nn.Module:
        return self.fc


for _arch in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2", "resnext50_32x4d"):
    register_model(_arch, family="imagenet")(partial(TorchvisionResNet, _arch))
register_model("mobilenet_v2", family="imagenet")(TorchvisionMobileNetV2)
register_model("mobilenet_v1", family="imagenet")(MobileNetV1)
