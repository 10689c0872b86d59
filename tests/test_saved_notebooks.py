"""The committed notebooks carry no live widget: no saved widget state, no widget views.

`make lab` opens our notebooks trusted, and trusted JupyterLab draws a saved widget view from the
notebook's saved widget state: sliders that move with no kernel behind them, redrawing nothing (or
"Error displaying widget: model not found"). Saved without views, each widget output shows what it
carries for places without a kernel (the weight panel's still picture and its "run this cell"
caption) until its cell runs. ``tools/build_notebooks.py`` strips them (:func:`drop_widget_views`).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CAPTION = "run this cell for live sliders"


def _build_tool():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _live_widget_faults(notebook: dict, name: str) -> list[str]:
    """What in ``notebook`` would draw a control without a kernel, and panels without their still."""
    faults = []
    if "widgets" in notebook.get("metadata", {}):
        faults.append(f"{name}: saved widget state in the notebook's metadata")
    for number, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                faults.append(f"{name}, cell {number}: a widget view ({data.get('text/plain', '')!s:.60})")
            text = "".join(data.get("text/plain", ""))
            if text.startswith("WeightPanel("):
                html = "".join(data.get("text/html", ""))
                if "image/png" not in data or "<img" not in html or CAPTION not in html:
                    faults.append(f"{name}, cell {number}: the panel has no still picture with its caption")
    return faults


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_committed_notebook_saves_no_live_widget(path):
    assert _live_widget_faults(json.loads(path.read_text()), path.name) == []


def test_committed_notebook_02_shows_both_panels_as_stills():
    notebook = json.loads((ROOT / "notebooks" / "02_adaptive_decay_weights.ipynb").read_text())
    panels = [
        output
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "".join(output.get("data", {}).get("text/plain", "")).startswith("WeightPanel(")
    ]
    assert len(panels) == 2, "notebook 02 shows the free panel and the measured one"


def test_build_drops_widget_views_and_state_and_keeps_the_still():
    import nbformat

    tool = _build_tool()
    notebook = nbformat.v4.new_notebook()
    state = {
        "bar": {"model_name": "FloatProgressModel", "state": {}},
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider"]}},
        "slider": {"model_name": "IntSliderModel", "state": {}},
    }
    notebook.metadata["widgets"] = {WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    still = {
        WIDGET_VIEW: {"model_id": "box", "version_major": 2, "version_minor": 0},
        "image/png": "iVBORw0KGgo=",
        "text/html": f'<div><img src="data:image/png;base64,iVBORw0KGgo="/><p><em>{CAPTION}.</em></p></div>',
        "text/plain": "WeightPanel(depth=7, decay=0.05, temperature=4)",
    }
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "panel",
            outputs=[
                nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "bar"}, "text/plain": "0%"}),
                nbformat.v4.new_output("execute_result", data=dict(still), execution_count=1),
                nbformat.v4.new_output("display_data", data={WIDGET_VIEW: {"model_id": "gone"}}),
            ],
        )
    ]
    assert tool.drop_progress_bars(notebook) == 1
    assert tool.drop_widget_views(notebook) == 2
    assert _live_widget_faults(json.loads(nbformat.writes(notebook)), "built") == []
    (kept,) = notebook.cells[0].outputs
    assert dict(kept.data) == {key: value for key, value in still.items() if key != WIDGET_VIEW}


def test_the_committed_notebook_02_without_its_views_keeps_both_stills():
    """Stripped the way the build strips it, notebook 02 keeps a still and caption for each panel."""
    import nbformat

    notebook = nbformat.read(ROOT / "notebooks" / "02_adaptive_decay_weights.ipynb", as_version=4)
    _build_tool().drop_widget_views(notebook)
    assert _live_widget_faults(json.loads(nbformat.writes(notebook)), "02 rebuilt") == []
