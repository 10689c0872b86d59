"""Regenerate ``notebooks/*.ipynb`` from their ``py:percent`` twins and execute them in place.

The ``.py`` twin is what people edit and review; the ``.ipynb`` keeps the executed outputs that
``pytest --nbval`` compares against. Usage::

    python tools/build_notebooks.py                                # every notebook (`make notebooks`)
    python tools/build_notebooks.py notebooks/01_dense_relations.py

Progress bars show while a notebook runs; the saved notebook drops them (:func:`drop_progress_bars`).
It keeps no live widget either (:func:`drop_widget_views`): a saved slider has no kernel behind it, so
it would move without effect. Each widget output keeps its fallbacks instead (the weight panel's still
picture and its "run this cell" caption), which JupyterLab shows, trusted or not, until the cell runs.
Cells tagged ``nbval-ignore-output`` (``# %% tags=["nbval-ignore-output"]`` in the twin) hold
results of training; nbval runs them and their asserts but does not compare their printed output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def build(twin: Path, timeout: int = 600) -> float:
    """Write ``twin``'s notebook next to it, execute it with ``LDRRLD_FAST=1``; return seconds taken."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    notebook = jupytext.read(twin)
    for number, cell in enumerate(notebook.cells):  # stable ids: rebuilds give small diffs
        cell.id = f"cell-{number:03d}"
    notebook.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    os.environ["LDRRLD_FAST"] = "1"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(twin.parent)}},
    ).execute()
    drop_progress_bars(notebook)
    drop_widget_views(notebook)
    nbformat.write(notebook, twin.with_suffix(".ipynb"))
    return time.perf_counter() - start


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def drop_progress_bars(notebook) -> int:
    """Remove the progress bars (tqdm's notebook widgets) from an executed notebook, with their widget
    state; return how many. A bar reports progress to the person watching a run; saved, it would
    show as a frozen "0%" wherever no kernel runs (GitHub, the documentation site)."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})

    def references(value) -> set[str]:
        if isinstance(value, str):
            return {value.removeprefix("IPY_MODEL_")} if value.startswith("IPY_MODEL_") else set()
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        return set().union(*(references(item) for item in items)) if items else set()

    def tree(model: str) -> set[str]:
        found, todo = set(), [model]
        while todo:
            current = todo.pop()
            if current in state and current not in found:
                found.add(current)
                todo += references(state[current].get("state", {}))
        return found

    def is_bar(model: str) -> bool:
        return any(state[m]["model_name"] in ("FloatProgressModel", "IntProgressModel") for m in tree(model))

    dropped = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view and view.get("model_id") in state and is_bar(view["model_id"]):
                for model in tree(view["model_id"]):
                    state.pop(model, None)
                dropped += 1
            else:
                kept.append(output)
        cell.outputs = kept
    if not state and "widgets" in notebook.metadata:
        del notebook.metadata["widgets"]
    return dropped


def drop_widget_views(notebook) -> int:
    """Remove every live widget from an executed notebook: the widget-view data of each output and
    the saved widget state; return how many views went. Opened trusted (as `make lab` opens our
    notebooks), JupyterLab would draw a saved view from its saved state: controls that move and
    redraw nothing, as no kernel holds them (or "Error displaying widget: model not found"). What
    stays is what the output carries for places without a kernel (a still picture and its caption,
    a line of text); an output left with nothing goes."""
    dropped = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                dropped += 1
                if not data:
                    continue
            kept.append(output)
        cell.outputs = kept
    notebook.metadata.pop("widgets", None)
    return dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("twins", nargs="*", type=Path, help="py:percent files (default: notebooks/[0-9]*.py)")
    args = parser.parse_args(argv)
    twins = args.twins or sorted(NOTEBOOKS.glob("[0-9]*.py"))
    for twin in twins:
        print(f"executing {twin} ...", flush=True)
        print(f"  wrote {twin.with_suffix('.ipynb')} in {build(twin.resolve()):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
