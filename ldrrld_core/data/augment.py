"""Augmentation policies: on the device in batches for tensor sets, torchvision for image folders.

A *policy* names a standard recipe; the same names serve both kinds of data set:

* ``"cifar"``: random crop at the native size after zero padding of 4 pixels on every side,
  then a horizontal flip with probability 1/2 (the paper's CIFAR-100 recipe, and torchvision's
  ``RandomCrop(size, padding=4)`` + ``RandomHorizontalFlip()``).
* ``"imagenet"``: random resized crop and horizontal flip for training; resize and centre crop
  for evaluation (torchvision's standard ImageNet recipe). Folder data sets only.
* ``"none"``: the image as it is (folder sets: the evaluation transform).

"Zero padding" means black pixels before normalisation, as in torchvision; for normalised
tensors black is ``-mean / std`` per channel, which is what :func:`random_crop_flip` fills with
when it is given the statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "AUGMENT_POLICIES",
    "CIFAR_PADDING",
    "check_policy",
    "draw_crop_flip",
    "random_crop_flip",
    "folder_transform",
]

#: Every policy name :func:`~ldrrld_core.data.make_loader` understands.
AUGMENT_POLICIES = ("cifar", "imagenet", "none")

#: Pixels of padding on each side before the random crop of the ``"cifar"`` policy.
CIFAR_PADDING = 4


def check_policy(policy: str) -> str:
    """Return ``policy`` if it names an augmentation policy, else raise a ``ValueError``."""
    if policy not in AUGMENT_POLICIES:
        raise ValueError(f"unknown augmentation policy {policy!r}; choose one of {AUGMENT_POLICIES}")
    return policy


def draw_crop_flip(count: int, generator: torch.Generator, padding: int = CIFAR_PADDING) -> tuple[Tensor, Tensor]:
    """Draw the random choices of ``count`` crop-and-flip augmentations.

    Returns ``(offsets, flips)``: ``offsets`` is a ``(count, 2)`` long tensor of (top, left)
    corners in the padded image, each uniform in ``[0, 2 * padding]``, and ``flips`` a
    ``(count,)`` bool tensor, true with probability 1/2. Both live on the generator's device.
    """
    device = generator.device
    offsets = torch.randint(0, 2 * padding + 1, (count, 2), generator=generator, device=device)
    flips = torch.rand(count, generator=generator, device=device) < 0.5
    return offsets, flips


def random_crop_flip(
    images: Tensor,
    offsets: Tensor,
    flips: Tensor,
    *,
    padding: int = CIFAR_PADDING,
    fill: Sequence[float] | Tensor | None = None,
) -> Tensor:
    """Pad, crop and flip a batch of images in two gathers, with no loop over images.

    Args:
        images: ``(B, C, H, W)`` floating batch.
        offsets: ``(B, 2)`` long (top, left) corners of each crop in the padded
            ``(H + 2 padding, W + 2 padding)`` image, in ``[0, 2 * padding]``.
        flips: ``(B,)`` bool, which crops to mirror left-right.
        padding: pixels added on every side before cropping.
        fill: per-channel value of the padding, ``(C,)``; ``None`` pads with 0.

    Returns:
        ``(B, C, H, W)`` batch: image ``b`` is ``padded[b, :, top:top + H, left:left + W]``,
        mirrored when ``flips[b]``.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be a (batch, channels, height, width) tensor, got shape {tuple(images.shape)}")
    batch, channels, height, width = images.shape
    if offsets.shape != (batch, 2) or flips.shape != (batch,):
        raise ValueError(
            f"offsets must have shape ({batch}, 2) and flips ({batch},) for a batch of {batch}, "
            f"got {tuple(offsets.shape)} and {tuple(flips.shape)}"
        )
    device = images.device
    offsets, flips = offsets.to(device), flips.to(device)
    fill_values = (
        torch.zeros(channels, dtype=images.dtype, device=device)
        if fill is None
        else torch.as_tensor(fill, dtype=images.dtype, device=device)
    )
    padded = fill_values.view(1, channels, 1, 1).repeat(1, 1, height + 2 * padding, width + 2 * padding)
    padded = padded.expand(batch, -1, -1, -1).clone()
    padded[:, :, padding : padding + height, padding : padding + width] = images

    rows = offsets[:, :1] + torch.arange(height, device=device)  # (B, H)
    columns = torch.arange(width, device=device).expand(batch, width)
    columns = torch.where(flips[:, None], columns.flip(1), columns) + offsets[:, 1:]  # (B, W)
    cropped = padded.gather(2, rows[:, None, :, None].expand(batch, channels, height, width + 2 * padding))
    return cropped.gather(3, columns[:, None, None, :].expand(batch, channels, height, width))


def folder_transform(policy: str, *, crop_size: int, resize_size: int, mean: Sequence[float], std: Sequence[float]):
    """The torchvision transform of a policy: PIL image in, normalised ``(3, S, S)`` tensor out.

    ``crop_size`` is the side ``S`` the model sees and ``resize_size`` the side an evaluation
    image is resized to before its centre crop (256 and 224 for ImageNet; a data set stored at
    its final size uses ``resize_size == crop_size``). ``"none"`` is the evaluation transform;
    ``"cifar"`` pads, crops and flips the evaluation view, so it suits any stored size.
    """
    from torchvision import transforms

    check_policy(policy)
    evaluation = [transforms.Resize(resize_size), transforms.CenterCrop(crop_size)]
    if policy == "none":
        geometry = evaluation
    elif policy == "cifar":
        geometry = [
            *evaluation,
            transforms.RandomCrop(crop_size, padding=CIFAR_PADDING),
            transforms.RandomHorizontalFlip(),
        ]
    else:
        geometry = [transforms.RandomResizedCrop(crop_size), transforms.RandomHorizontalFlip()]
    return transforms.Compose([*geometry, transforms.ToTensor(), transforms.Normalize(mean, std)])
