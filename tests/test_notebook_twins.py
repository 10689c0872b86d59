"""Every notebook has a py:percent twin with the same cells (what people review is what runs)."""

import re
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
        f"{path.name} and {twin.name} differ; edit the .py and run `make notebooks`"
    )


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_committed_executed(path):
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and c.source.strip()]
    assert code and all(c.execution_count is not None for c in code), (
        f"{path.name} has unexecuted code cells; run `make notebooks` and commit the outputs"
    )
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{path.name} was not executed top to bottom in one kernel"
    )


TRAINS = re.compile(r"\b(fit|train_teacher|compare|distill)\(")


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_training_output_is_not_compared(path):
    """A cell that trains prints numbers that differ from machine to machine: nbval must not
    compare them (tag ``nbval-ignore-output``), and its asserts check them instead. A cell that
    trains but prints only what is fixed by construction (file names, epoch numbers) says so with
    the tag ``nbval-check-output``."""
    compared = [
        cell.source.splitlines()[0]
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "code"
        and TRAINS.search(cell.source)
        and cell.get("outputs")
        and not {"nbval-ignore-output", "nbval-check-output"} & set(cell.metadata.get("tags", []))
        and "# NBVAL_IGNORE_OUTPUT" not in cell.source
    ]
    assert not compared, (
        f"{path.name}: cells that train and print without the nbval-ignore-output tag "
        f'(add `tags=["nbval-ignore-output"]` to their `# %%` line): {compared}'
    )


PRINT_WIDTH = 100  # characters JupyterLab's output area holds at 1280 x 800 (about 110), with room


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_printed_lines_fit_the_output_area(path):
    """Lab breaks a longer line anywhere, even inside a word: print with ldrrld_viz.notebook.say."""

    def shown_as_text(output) -> str:
        if output.get("output_type") == "stream":
            return output["text"]
        data = output.get("data", {})
        return data.get("text/plain", "") if set(data) == {"text/plain"} else ""  # else a richer view shows

    long = [
        (number, line[:60])
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells)
        for output in cell.get("outputs", [])
        for line in shown_as_text(output).splitlines()
        if len(line) > PRINT_WIDTH
    ]
    assert not long, f"{path.name}: printed lines over {PRINT_WIDTH} characters (cell, start): {long}"


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_committed_notebooks_keep_no_progress_bars(path):
    """A saved bar would show a frozen 0% wherever no kernel runs."""
    notebook = nbformat.read(path, as_version=4)
    views = [
        output["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    assert not [m for m in state.values() if m["model_name"] == "FloatProgressModel"]
    assert all(view in state for view in views), "every widget shown has its saved state"


def test_drop_progress_bars_keeps_other_widgets():
    import sys

    sys.path.insert(0, str(NOTEBOOKS.parent / "tools"))
    from build_notebooks import drop_progress_bars

    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}

    state = {
        "bar": model("HBoxModel", children=["IPY_MODEL_label", "IPY_MODEL_progress"], layout="IPY_MODEL_bar_layout"),
        "label": model("HTMLModel", value="kd seed 0"),
        "progress": model("FloatProgressModel", value=1.0, layout="IPY_MODEL_progress_layout"),
        "bar_layout": model("LayoutModel"),
        "progress_layout": model("LayoutModel"),
        "panel": model("VBoxModel", children=["IPY_MODEL_slider"]),
        "slider": model("IntSliderModel", value=7),
    }

    def view(model_id):
        data = {"application/vnd.jupyter.widget-view+json": {"model_id": model_id, "version_major": 2}}
        return nbformat.v4.new_output("display_data", data={**data, "text/plain": model_id})

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("train()")
    cell.outputs = [view("bar"), nbformat.v4.new_output("stream", name="stdout", text="done\n"), view("panel")]
    notebook.cells = [cell]
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2}}
    assert drop_progress_bars(notebook) == 1
    assert [o.get("text") or o["data"]["text/plain"] for o in cell.outputs] == ["done\n", "panel"]
    kept = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert set(kept) == {"panel", "slider"}, "the bar's models go, the panel's stay"


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_headings_are_markdown_and_sections_are_numbered_without_gaps(path):
    """A heading written in a code cell is a comment a reader never sees as a section; a numbering gap
    (6 then 8) is the usual sign of one."""
    cells = nbformat.read(path, as_version=4).cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "code":
            headings = [line for line in cell.source.splitlines() if re.match(r"#\s*#{1,6}\s", line)]
            assert not headings, f"{path.name}, cell {index}: a heading inside a code cell: {headings[0]!r}"
    numbers = [
        int(match.group(1))
        for cell in cells
        if cell.cell_type == "markdown"
        for match in re.finditer(r"^##\s+(\d+)\.", cell.source, flags=re.MULTILINE)
    ]
    assert numbers == list(range(1, len(numbers) + 1)), f"{path.name}: sections numbered {numbers}"


@pytest.mark.parametrize("path", NUMBERED, ids=lambda p: p.name)
def test_each_notebook_ends_with_a_link_to_the_next(path):
    """The last cell links on (the last notebook back to the first), and every relative link resolves."""
    last = nbformat.read(path, as_version=4).cells[-1]
    assert last.cell_type == "markdown", f"{path.name} should end with a markdown cell that links on"
    following = NUMBERED[NUMBERED.index(path) + 1] if path != NUMBERED[-1] else NUMBERED[0]
    assert f"]({following.name})" in last.source, f"{path.name}'s last cell does not link to {following.name}"
    text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    missing = [t for t in targets if "://" not in t and not (path.parent / t).exists()]
    assert not missing, f"{path.name} links to missing files: {missing}"
