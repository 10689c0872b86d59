"""Model names to constructors: ``create_model("resnet32x4")`` instead of an import per family.

The names and their builders are catalogued in :mod:`.catalog` (architecture files register
there with :func:`register_model`); this module builds a model and loads its checkpoint.
Names are the literature's, case included: the CIFAR ``ResNet50`` (a bottleneck ResNet for
32x32 inputs) and torchvision's ImageNet ``resnet50`` are different models.
"""

from __future__ import annotations

import os

from .base import FeatureClassifier
from .catalog import FAMILIES, ModelInfo, list_models, model_info, register_model
from .checkpoint import load_checkpoint

__all__ = ["FAMILIES", "ModelInfo", "create_model", "list_models", "model_info", "register_model"]


def create_model(
    name: str,
    num_classes: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    *,
    trusted: bool = False,
    sha256: str | None = None,
    **kwargs,
) -> FeatureClassifier:
    """Build a registered model, optionally loading a checkpoint strictly.

    Args:
        name: a registry name, e.g. ``"resnet32x4"``, ``"wrn_40_2"``, ``"digits_cnn"``,
            ``"resnet18"`` (see :func:`list_models`).
        num_classes: size of the output; ``None`` uses the family's usual number (100 for the
            CIFAR zoo, 1000 for ImageNet models, 10 for the digits models).
        checkpoint: optional file to load: ``{'model': state_dict, ...}`` (the literature's
            format), ``{'state_dict': ...}`` or a raw state dict, with ``module.``-style wrapper
            prefixes removed; see :func:`ldrrld_core.models.checkpoint.load_checkpoint`.
        trusted: allow full unpickling of ``checkpoint`` (runs code; only for trusted files).
        sha256: the checkpoint's expected SHA-256 (64 hex digits), e.g. as published with it;
            a different file is refused before it is unpickled.
        **kwargs: passed on to the architecture (e.g. ``hidden=64`` for ``digits_mlp``).

    Returns:
        The model, in training mode, on the CPU; move it with ``.to(device)``.
    """
    info = model_info(name)
    size = info.default_num_classes if num_classes is None else num_classes
    model = info.builder(num_classes=size, **kwargs)
    model.arch = info.name
    if checkpoint is not None:
        # A model that reads its files its own way (timm's: raw or EMA weights, chosen) says so.
        loader = getattr(model, "load_checkpoint_file", None)
        if loader is not None:
            loader(checkpoint, trusted=trusted, sha256=sha256)
        else:
            load_checkpoint(model, checkpoint, trusted=trusted, sha256=sha256)
    elif sha256 is not None:
        raise ValueError("sha256= checks a checkpoint file, but no checkpoint= was given")
    return model
