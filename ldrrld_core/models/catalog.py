"""The catalogue of model names: what each registered name is and who builds it.

Each architecture file registers its builders with the :func:`register_model` decorator; nothing
here names a model, and nothing here builds or loads one (:mod:`.registry` does), so checkpoint
code can ask which names exist without importing the builders. Names are the literature's, case
included: the CIFAR ``ResNet50`` (a bottleneck ResNet for 32x32 inputs) and torchvision's ImageNet
``resnet50`` are different models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..registry import Registry
from .base import FeatureClassifier

__all__ = ["FAMILIES", "MODELS", "ModelInfo", "list_models", "model_info", "register_model"]

#: Per family: the input shape ``(C, H, W)`` the architectures are built for and the usual number
#: of classes (CIFAR-100, ImageNet-1k, the ten digits).
FAMILIES: dict[str, tuple[tuple[int, int, int], int]] = {
    "cifar": ((3, 32, 32), 100),
    "imagenet": ((3, 224, 224), 1000),
    "digits": ((1, 8, 8), 10),
    "timm": ((3, 224, 224), 1000),  # timm's architectures (models/timm_models.py), OFA's heterogeneous setting
}


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model name.

    Attributes:
        name: the registry name.
        family: ``"cifar"``, ``"imagenet"``, ``"digits"`` or ``"timm"`` (a key of :data:`FAMILIES`).
        input_shape: ``(C, H, W)`` of the images the architecture is designed for.
        default_num_classes: what ``create_model`` uses when ``num_classes`` is not given.
        builder: ``builder(num_classes=..., **kwargs) -> FeatureClassifier``.
    """

    name: str
    family: str
    input_shape: tuple[int, int, int]
    default_num_classes: int
    builder: Callable[..., FeatureClassifier]


#: Every registered model by name (names are case-sensitive: ``ResNet50`` is not ``resnet50``).
MODELS: Registry[ModelInfo] = Registry(
    "model",
    note="Names are case-sensitive (the CIFAR 'ResNet50' and the ImageNet 'resnet50' are different models);",
    listing="list_models() gives all {count} names.",
)

Builder = TypeVar("Builder", bound=Callable[..., FeatureClassifier])


def register_model(name: str, *, family: str) -> Callable[[Builder], Builder]:
    """Decorator that makes a builder available to :func:`create_model` under ``name``.

    The builder must accept ``num_classes`` as a keyword and return a :class:`FeatureClassifier`.
    Registering the same name twice is an error (it would silently shadow a model).
    """
    _check_family(family)

    def decorator(builder: Builder) -> Builder:
        input_shape, default_num_classes = FAMILIES[family]
        first_line = (builder.__doc__ or "").strip().splitlines()[:1]
        MODELS.add(
            name,
            ModelInfo(name, family, input_shape, default_num_classes, builder),
            first_line[0] if first_line else f"a {family} model",
        )
        return builder

    return decorator


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"Unknown model family {family!r}; use one of {sorted(FAMILIES)}.")


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, sorted case-insensitively; one family's if ``family`` is given."""
    if family is not None:
        _check_family(family)
    names = [info.name for info in MODELS.values() if family in (None, info.family)]
    return sorted(names, key=str.lower)


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered name; a ``ValueError`` with suggestions otherwise."""
    return MODELS[name]
