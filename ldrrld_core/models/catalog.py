"""The catalogue of model names: what each registered name is and who builds it.

Each architecture file registers its builders with the :func:`register_model` decorator; nothing
here names a model, and nothing here builds or loads one (:mod:`.registry` does), so checkpoint
code can ask which names exist without importing the builders. Names are the literature's, case included: the CIFAR ``ResNet50`` (a
bottleneck ResNet for 32x32 inputs) and torchvision's ImageNet ``resnet50`` are different models.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .base import FeatureClassifier

__all__ = ["FAMILIES", "ModelInfo", "list_models", "model_info", "register_model"]

#: Per family: the input shape ``(C, H, W)`` the architectures are built for and the usual number
#: of classes (CIFAR-100, ImageNet-1k, the ten digits).
FAMILIES: dict[str, tuple[tuple[int, int, int], int]] = {
    "cifar": ((3, 32, 32), 100),
    "imagenet": ((3, 224, 224), 1000),
    "digits": ((1, 8, 8), 10),
}


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model name.

    Attributes:
        name: the registry name.
        family: ``"cifar"``, ``"imagenet"`` or ``"digits"`` (a key of :data:`FAMILIES`).
        input_shape: ``(C, H, W)`` of the images the architecture is designed for.
        default_num_classes: what ``create_model`` uses when ``num_classes`` is not given.
        builder: ``builder(num_classes=..., **kwargs) -> FeatureClassifier``.
    """

    name: str
    family: str
    input_shape: tuple[int, int, int]
    default_num_classes: int
    builder: Callable[..., FeatureClassifier]


_MODELS: dict[str, ModelInfo] = {}

Builder = TypeVar("Builder", bound=Callable[..., FeatureClassifier])


def register_model(name: str, *, family: str) -> Callable[[Builder], Builder]:
    """Decorator that makes a builder available to :func:`create_model` under ``name``.

    The builder must accept ``num_classes`` as a keyword and return a :class:`FeatureClassifier`.
    Registering the same name twice is an error (it would silently shadow a model).
    """
    if family not in FAMILIES:
        raise ValueError(f"Unknown model family {family!r}; use one of {sorted(FAMILIES)}.")

    def decorator(builder: Builder) -> Builder:
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered "
                             f"(by {_owner(_MODELS[name].builder)}); pick another name.")
        input_shape, default_num_classes = FAMILIES[family]
        _MODELS[name] = ModelInfo(name, family, input_shape, default_num_classes, builder)
        return builder

    return decorator


def _owner(builder: Callable) -> str:
    inner = getattr(builder, "func", builder)  # functools.partial keeps the callable in .func
    return f"{getattr(inner, '__module__', '?')}.{getattr(inner, '__qualname__', repr(inner))}"


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, sorted case-insensitively; one family's if ``family`` is given."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"Unknown model family {family!r}; use one of {sorted(FAMILIES)}.")
    names = [info.name for info in _MODELS.values() if family in (None, info.family)]
    return sorted(names, key=str.lower)


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered name; a ``ValueError`` with suggestions otherwise."""
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(_unknown_name_message(name)) from None


def _unknown_name_message(name: object) -> str:
    if not isinstance(name, str):
        return f"A model name must be a string such as 'resnet8', got {name!r}."
    by_lower: dict[str, list[str]] = {}
    for known in _MODELS:
        by_lower.setdefault(known.lower(), []).append(known)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=4, cutoff=0.6)
    suggestions = [known for lowered in close for known in by_lower[lowered]]
    hint = f" Did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
    return (f"Unknown model name {name!r}.{hint} Names are case-sensitive (the CIFAR 'ResNet50' "
            f"and the ImageNet 'resnet50' are different models); list_models() gives all "
            f"{len(_MODELS)} names.")
