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


#: The most nodes a YAML recipe may expand to, aliases counted at every use: a recipe has a few
#: dozen; an alias bomb of a few hundred bytes expands to hundreds of millions.
MAX_YAML_NODES = 10_000
#: The deepest nesting a recipe file may have (a recipe nests three levels: loss_options).
MAX_DEPTH = 32


def read_recipe_file(path: str | os.PathLike) -> Recipe:
    """The recipe in ``path`` (JSON, or YAML with PyYAML installed), checked like any recipe.

    Every failure is a one-line ``ValueError`` naming the file (and the field or line): a key given
    twice in one mapping (JSON and YAML keep the last silently), a YAML syntax error, YAML that
    expands to more than :data:`MAX_YAML_NODES` nodes through aliases, nesting deeper than
    :data:`MAX_DEPTH`, or an integer too long to read.
    """
    path = Path(path)
    if path.is_dir():
        inside = path / "recipe.json"
        raise IsADirectoryError(
            f"{path} is a folder, not a recipe file; give the JSON or YAML file itself"
            + (
                f", e.g. the run's {inside}"
                if inside.is_file()
                else f" (`ldrrld recipes NAME --json {path}/NAME.json`)"
            )
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such recipe file; write one with `ldrrld recipes NAME --json {path}`"
            " or use a run's recipe.json"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if path.suffix.lower() in _YAML_SUFFIXES:
        values = _read_yaml(path, text)
    else:
        values = _read_json(path, text)
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold one mapping of recipe fields, got {type(values).__name__}")
    try:
        return Recipe.from_dict(values)
    except ValueError as error:  # every field is type-checked before any work: say which file it is in
        raise ValueError(f"{path}: {error}") from None


def _depth(value: object, limit: int) -> int:
    """How deep ``value`` nests (0 for a scalar), counting no further than ``limit + 1``."""
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list):
        items = value
    else:
        return 0
    if limit <= 0:
        return 1
    return 1 + max((_depth(item, limit - 1) for item in items), default=0)


def _read_json(path: Path, text: str) -> object:
    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        seen: dict[str, object] = {}
        for key, value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen[key] = value
        return seen

    try:
        values = json.loads(text, object_pairs_hook=unique)
    except _DuplicateKey as error:
        raise ValueError(
            f"{path}: the key {error.key!r} is given twice in one object; keep one (JSON would use the last silently)"
        ) from None
    except RecursionError:
        raise ValueError(f"{path} nests deeper than a recipe can ({MAX_DEPTH} levels at most)") from None
    except ValueError as error:  # JSONDecodeError, and integers of more digits than Python reads
        raise ValueError(f"{path} is not valid JSON: {' '.join(str(error).split())[:200]}") from None
    if _depth(values, MAX_DEPTH) > MAX_DEPTH:
        raise ValueError(f"{path} nests deeper than a recipe can ({MAX_DEPTH} levels at most)")
    return values


class _Refused(Exception):
    """A refusal with its message, kept apart from the ``ValueError`` of the values themselves."""


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int = 0) -> None:
        super().__init__(key)
        self.key, self.line = key, line


def _read_yaml(path: Path, text: str) -> object:
    try:
        import yaml
    except ImportError:
        raise ValueError(
            f"{path} is YAML, which needs PyYAML (pip install pyyaml); or write the recipe "
            "as JSON: `ldrrld recipes NAME --json recipe.json`"
        ) from None
    try:
        loader = _safe_loader(yaml)(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_size(node, path, yaml)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except _Refused as error:
        raise ValueError(str(error)) from None
    except _DuplicateKey as error:
        raise ValueError(
            f"{path}, line {error.line}: the key {error.key!r} is given twice in one mapping; keep one "
            "(YAML would use the last silently)"
        ) from None
    except RecursionError:
        raise ValueError(f"{path} nests deeper than a recipe can ({MAX_DEPTH} levels at most)") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ValueError(f"{path}{where} is not valid YAML: {' '.join(str(problem).split())}") from None
    except ValueError as error:  # an integer of more digits than Python reads, a date out of range
        raise ValueError(f"{path} holds a value that cannot be read: {' '.join(str(error).split())[:200]}") from None


def _check_size(node, path: Path, yaml) -> None:
    """Refuse a YAML document that nests too deep or expands (aliases counted at every use) too far."""
    sizes: dict[int, int] = {}

    def size(node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _Refused(f"{path} nests deeper than a recipe can ({MAX_DEPTH} levels at most)")
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a node that holds itself (a recursive alias) counts once, then is refused below
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(key, depth + 1) + size(value, depth + 1) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(item, depth + 1) for item in node.value)
        else:
            total = 1
        sizes[id(node)] = total
        if total > MAX_YAML_NODES:
            raise _Refused(
                f"{path} expands to more than {MAX_YAML_NODES:,} values through its aliases (*name); a recipe "
                "holds a few dozen: is it an alias bomb?"
            )
        return total

    size(node, 0)


def _safe_loader(yaml):
    """PyYAML's safe loader (plain data only, never Python objects) refusing a key given twice."""

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:  # an unhashable key: SafeLoader says so itself
                        continue
                    if duplicate:
                        raise _DuplicateKey(key, key_node.start_mark.line + 1)
            return super().construct_mapping(node, deep=deep)

    return Loader


def write_recipe_file(recipe: Recipe, path: str | os.PathLike) -> Path:
    """Write ``recipe`` as JSON (the format ``recipe.json`` of every run has), atomically."""
    return atomic_write_text(json.dumps(recipe.to_dict(), indent=1) + "\n", path)
