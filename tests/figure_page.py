"""Figures drawn by plotly.js in headless Chromium, outside JupyterLab: a page that holds each figure
in an output area of a given width, as a notebook does, for :mod:`page_layout`'s checks.

Offline: plotly.js comes from the ``plotly`` Python package. Needs Debian's ``chromium`` and the
``playwright`` package, like ``tests/test_browser.py``.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from test_browser import CHROMIUM, CHROMIUM_ARGS  # one browser set-up for every page test


def plotly_js() -> str:
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()


def figure_page(figures: list, width: int) -> str:
    """An HTML page with each plotly figure in an output area ``width`` px wide."""
    blocks, scripts = [], []
    for i, figure in enumerate(figures):
        spec = json.loads(figure.to_json())
        blocks.append(
            f'<div class="jp-OutputArea" style="width:{width}px"><div class="jp-OutputArea-output">'
            f'<div id="fig{i}"></div></div></div>'
        )
        scripts.append(
            f"Plotly.newPlot('fig{i}', {json.dumps(spec['data'])}, {json.dumps(spec['layout'])}, "
            "{responsive: true, displaylogo: false});"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<style>body{margin:8px;font-family:sans-serif}</style></head><body>"
        + "".join(blocks)
        + f"<script>{plotly_js()}</script><script>{''.join(scripts)}</script></body></html>"
    )


@contextlib.contextmanager
def browser_page(viewport=(1280, 800)):
    """A headless Chromium page; skips the calling test without Chromium or Playwright."""
    import pytest

    if not Path(CHROMIUM).exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM} (install Debian's `chromium`)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the `playwright` package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def show(page, figures: list, width: int, tmp: Path) -> None:
    """Load ``figures`` into ``page`` at ``width`` and wait until plotly has drawn them all."""
    path = tmp / f"figures-{width}.html"
    path.write_text(figure_page(figures, width))
    page.goto(path.as_uri())
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(figures)}")
    page.wait_for_timeout(300)
