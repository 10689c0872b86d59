"""Small building blocks shared by several architectures of the zoo."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = ["channel_shuffle", "collect_stages", "conv_bn", "global_avg_pool", "kaiming_init"]


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    *,
    groups: int = 1,
    bias: bool = False,
    relu: bool = True,
) -> list[nn.Module]:
    """``[Conv2d, BatchNorm2d]`` (plus ``ReLU`` when ``relu``), "same" padding for odd kernels.

    Returned as a list so that callers can splice several into one flat ``nn.Sequential``; the
    literature's checkpoints number the layers of such a sequence consecutively.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, groups=groups, bias=bias),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``x`` ``(B, C, H, W)`` across ``groups`` (ShuffleNet).

    Channel ``g * (C // groups) + i`` moves to position ``i * groups + g``.
    """
    batch, channels, height, width = x.shape
    if groups == 1:
        return x
    return (
        x.view(batch, groups, channels // groups, height, width).transpose(1, 2).reshape(batch, channels, height, width)
    )


def global_avg_pool(x: Tensor) -> Tensor:
    """Average over all spatial positions: ``(B, C, H, W) -> (B, C)``."""
    return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def kaiming_init(model: nn.Module, *, linear_std: float | None = None) -> None:
    """The usual initialisation of the CIFAR zoo.

    Convolutions get He-normal weights (fan-out, ReLU gain) and zero biases; batch norms weight 1,
    bias 0. Linear layers keep PyTorch's default unless ``linear_std`` is given, in which case
    they get ``N(0, linear_std^2)`` weights and zero biases.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear) and linear_std is not None:
            nn.init.normal_(module.weight, 0.0, linear_std)
            nn.init.zeros_(module.bias)


def collect_stages(modules: Iterable[nn.Module], x: Tensor, stage_ends: Iterable[int]) -> list[Tensor]:
    """Run ``x`` through ``modules`` in order and keep the outputs of the modules at ``stage_ends``.

    For networks stored as one long sequence of blocks, where a "stage" ends at the last block
    of each resolution. Indices are 0-based positions in ``modules``.
    """
    ends = set(stage_ends)
    kept = []
    for index, module in enumerate(modules):
        x = module(x)
        if index in ends:
            kept.append(x)
    return kept
