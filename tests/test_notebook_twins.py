"""Every notebook has a py:percent twin with the same cells (what people review is what runs)."""

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NUMBERED = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))


def _cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def test_there_are_notebooks():
    assert NUMBERED, f"no numbered notebooks found in {NOTEBOOKS}"


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_twin_in_sync(path):
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{path.name} has no py:percent twin; run `make notebooks`"
    executed = nbformat.read(path, as_version=4)
    assert _cells(jupytext.read(twin)) == _cells(executed), (
        f"{path.name} and {twin.name} differ; edit the .py and run `make notebooks`")


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_committed_executed(path):
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and c.source.strip()]
    assert code and all(c.execution_count is not None for c in code), (
        f"{path.name} has unexecuted code cells; run `make notebooks` and commit the outputs")
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{path.name} was not executed top to bottom in one kernel")
