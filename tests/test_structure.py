"""The shape of the code: no import circle of any length among the modules, and no function is long.

The import graph is built from the source (``ast``): an edge ``a -> b`` for every ``import b``
or ``from b import name`` in ``a``, at the top or inside a function. Imports inside functions
count too: a deferred import that closes a circle still ties its modules into one unit that can
only be read, tested and changed together; deferring only hides the circle from the import
machinery. ``from package import module`` is an edge to that module, not to the package, and
the implicit import of a module's parent packages is no edge (every module would otherwise
reach its package's ``__init__``, and through its re-exports, itself). A circle is a strongly
connected component of more than one module, found with Tarjan's algorithm.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ldrrld_core", "ldrrld_viz")
MAX_FUNCTION_LINES = 80


def _modules(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``, by dotted name (a package by its ``__init__``)."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imported(module: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """Every module of ``known`` that ``module`` imports, at the top or inside a function."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = (
                ".".join(package[: len(package) - node.level + 1] + [node.module or ""]).strip(".")
                if node.level
                else node.module
            )
            # `from package import module` imports the module; `from module import name`, the module.
            names |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name in known and name != module}


def import_graph(known: Mapping[str, Path]) -> dict[str, set[str]]:
    """``module -> the modules it imports``, for every module of ``known``."""
    return {module: _imported(module, path, known) for module, path in known.items()}


def import_circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The circles of ``graph``: its strongly connected components of two or more modules, sorted.

    Tarjan's algorithm, iterative so that a deep graph cannot exhaust Python's recursion limit.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return sorted(circles)


def _describe(circles: list[list[str]]) -> str:
    return "; ".join(" <-> ".join(circle) for circle in circles)


def test_no_import_circle_of_any_length():
    circles = import_circles(import_graph(_modules()))
    assert not circles, (
        f"modules in an import circle (break each so the dependency points one way): {_describe(circles)}"
    )


def test_nothing_in_the_library_imports_the_command_line():
    """Commands sit on top: only ``python -m ldrrld_core`` imports ``ldrrld_core.cli`` (the kit runs the Python API)."""

    def in_cli(module: str) -> bool:
        return module == "ldrrld_core.cli" or module.startswith("ldrrld_core.cli.")

    graph = import_graph(_modules())
    users = sorted(m for m, targets in graph.items() if not in_cli(m) and any(map(in_cli, targets)))
    assert users == ["ldrrld_core.__main__"], f"modules that import the command line: {users}"


def test_the_circle_check_finds_a_circle_of_three_through_a_deferred_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .a import x\n")
    (package / "a.py").write_text("from .b import y\n\ndef x():\n    return y()\n")
    (package / "b.py").write_text("from . import c\n\ndef y():\n    return c.z()\n")
    (package / "c.py").write_text("def z():\n    from .a import x  # deferred: still a circle\n")
    (package / "d.py").write_text("from .a import x\nfrom .c import z\n")  # reaches the circle, is not in it
    known = _modules(tmp_path, ("pkg",))
    graph = import_graph(known)
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.c"},
        "pkg.c": {"pkg.a"},
        "pkg.d": {"pkg.a", "pkg.c"},
    }
    circles = import_circles(graph)
    assert circles == [["pkg.a", "pkg.b", "pkg.c"]]
    assert _describe(circles) == "pkg.a <-> pkg.b <-> pkg.c"
    (package / "c.py").write_text("def z():\n    return 0\n")  # the circle broken: nothing to report
    assert import_circles(import_graph(known)) == []


def test_the_circle_check_agrees_with_a_naive_search_on_random_graphs():
    """Tarjan's components equal the naive definition: modules that reach each other, by breadth-first search."""
    import random

    def reachable(graph, start):
        seen, frontier = set(), [start]
        while frontier:
            for target in graph[frontier.pop()]:
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
        return seen

    generator = random.Random(0)
    for _ in range(200):
        nodes = [f"m{i}" for i in range(generator.randint(1, 12))]
        graph = {node: {t for t in nodes if t != node and generator.random() < 0.15} for node in nodes}
        reach = {node: reachable(graph, node) for node in nodes}
        naive = {tuple(sorted({node} | {o for o in nodes if o in reach[node] and node in reach[o]})) for node in nodes}
        assert import_circles(graph) == sorted(list(group) for group in naive if len(group) > 1)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_is_longer_than_80_lines(package):
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, "split these into named steps: " + "; ".join(long)
