"""Panels into a figure: :func:`draw` picks the backend, the only module that knows both.

:mod:`.panels` holds what a figure shows as plain data; :mod:`.plotly_backend` and
:mod:`.matplotlib_backend` each turn panels into one library's figure. Importing a backend is
deferred to the first figure of its kind, so ``import ldrrld_viz`` stays light.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Union

from .panels import Panel

if TYPE_CHECKING:
    import matplotlib.figure
    import plotly.graph_objects

__all__ = ["BACKENDS", "Figure", "check_backend", "draw", "mime_bundle"]

#: What every figure function returns: a plotly figure (``backend="plotly"``) or a matplotlib one.
Figure = Union["plotly.graph_objects.Figure", "matplotlib.figure.Figure"]

#: The drawing libraries: ``"plotly"`` (interactive, the default) and ``"matplotlib"`` (static).
BACKENDS = ("plotly", "matplotlib")


def check_backend(backend: str) -> None:
    """Raise a ``ValueError`` naming the choices unless ``backend`` is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose 'plotly' (interactive) or 'matplotlib' (static)")


def draw(
    panels: Sequence[Panel | None],
    *,
    title: str = "",
    cols: int | None = None,
    backend: str = "plotly",
    panel_size: tuple[float, float] = (3.6, 3.2),
) -> Figure:
    """Draw panels in a grid (row by row, ``cols`` wide; ``None`` leaves a cell empty).

    Returns a ``plotly.graph_objects.Figure`` or a ``matplotlib.figure.Figure``. ``panel_size``
    is one panel's (width, height) in inches; a plotly figure takes the height (at 110 pixels an
    inch) and fills the width of the page.
    """
    check_backend(backend)
    if not panels:
        raise ValueError("nothing to draw: no panels")
    cols = cols or len(panels)
    if backend == "plotly":
        from .plotly_backend import draw_plotly as render
    else:
        from .matplotlib_backend import draw_matplotlib as render
    return render(list(panels), title=title, cols=cols, panel_size=panel_size)


def mime_bundle(figure) -> dict:
    """A JSON-clean display bundle for a figure, so an Output widget can hold it without a kernel."""
    if hasattr(figure, "to_json"):  # plotly
        return {
            "application/vnd.plotly.v1+json": {**json.loads(figure.to_json()), "config": {"displaylogo": False}},
            "text/plain": "<plotly figure>",
        }
    return {"image/png": base64.b64encode(figure._repr_png_()).decode("ascii"), "text/plain": "<matplotlib figure>"}
