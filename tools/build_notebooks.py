"""Regenerate ``notebooks/*.ipynb`` from their ``py:percent`` twins and execute them in place.

The ``.py`` twin is what people edit and review; the ``.ipynb`` keeps the executed outputs that
``pytest --nbval`` compares against. Usage::

    python tools/build_notebooks.py                                # every notebook (`make notebooks`)
    python tools/build_notebooks.py notebooks/01_dense_relations.py

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
    nbformat.write(notebook, twin.with_suffix(".ipynb"))
    return time.perf_counter() - start


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
