"""Package exports loaded on first use (PEP 562), so importing a package does not import torch.

A package lists its exports as ``name -> submodule`` and takes its ``__getattr__`` and
``__dir__`` from :func:`lazy_exports`; ``from package import name`` then imports the submodule
that defines ``name`` at that moment, once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports", "exports_of"]


def exports_of(submodule: str, names: Iterable[str]) -> dict[str, str]:
    """``{name: submodule}`` for each of ``names``: one line of a package's export table."""
    return dict.fromkeys(names, submodule)


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` (its ``__name__``) for ``exports``."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
