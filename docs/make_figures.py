"""Copy the README's pictures out of the executed notebooks (so they are exactly what users see).

    python docs/make_figures.py          # after `make notebooks`

Each picture is the PNG output of the notebook cell that calls the named figure function.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {  # output file: (notebook, text that identifies the cell)
    "one_sample.png": ("01_dense_relations.ipynb", "viz.local_distributions("),
    "gradients.png": ("01_dense_relations.ipynb", "viz.gradient_bars("),
    "sweep.png": ("02_adaptive_decay_weights.ipynb", "picture = sweep_view("),
}


def cell_png(notebook: Path, marker: str) -> bytes:
    cells = json.loads(notebook.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] == "code" and marker in "".join(cell["source"]):
            for output in cell.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                if png:
                    return base64.b64decode(png if isinstance(png, str) else "".join(png))
            raise ValueError(f"the cell with {marker!r} in {notebook.name} has no picture; run `make notebooks`")
    raise ValueError(f"no cell with {marker!r} in {notebook.name}")


def main() -> int:
    for name, (notebook, marker) in FIGURES.items():
        target = ROOT / "docs" / "img" / name
        target.write_bytes(cell_png(ROOT / "notebooks" / notebook, marker))
        print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
