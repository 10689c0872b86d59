"""Recipes as files: a run's ``recipe.json`` (or one written by ``ldrrld recipes NAME --json``) read back.

JSON always; YAML (``.yaml``/``.yml``) when PyYAML is installed, which the toolkit does not require.
A file holds every :class:`~ldrrld_core.train.recipes.Recipe` field or a subset (the others take
the dataclass defaults); unknown fields are refused with suggestions, and every field must have its
type (``"nesterov": "false"`` is text, not false), the error naming the field and the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..io import atomic_write_text
from .recipes import Recipe

__all__ = ["read_recipe_file", "write_recipe_file"]

_YAML_SUFFIXES = (".yaml", ".yml")


def read_recipe_file(path: str | os.PathLike) -> Recipe:
    """The recipe in ``path`` (JSON, or YAML with PyYAML installed), checked like any recipe."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no recipe file at {path}; write one with `ldrrld recipes NAME --json {path}` or use a run's recipe.json"
        )
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in _YAML_SUFFIXES:
        try:
            import yaml
        except ImportError:
            raise ValueError(
                f"{path} is YAML, which needs PyYAML (pip install pyyaml); or write the recipe "
                "as JSON: `ldrrld recipes NAME --json recipe.json`"
            ) from None
        values = yaml.safe_load(text)
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold one mapping of recipe fields, got {type(values).__name__}")
    try:
        return Recipe.from_dict(values)
    except ValueError as error:  # every field is type-checked before any work: say which file it is in
        raise ValueError(f"{path}: {error}") from None


def write_recipe_file(recipe: Recipe, path: str | os.PathLike) -> Path:
    """Write ``recipe`` as JSON (the format ``recipe.json`` of every run has), atomically."""
    return atomic_write_text(json.dumps(recipe.to_dict(), indent=1) + "\n", path)
