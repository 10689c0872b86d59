"""End to end in a real browser: JupyterLab runs notebook 02, and the depth slider redraws the panel;
it runs notebook 04, and its class-relation figures fit JupyterLab's default width.

Starts its own JupyterLab on 127.0.0.1 (free port, random token, settings and runtime files in a
temporary folder), drives it with headless Chromium through Playwright, and always stops the
server. Works on output-free copies of the notebooks, so the committed ones are never touched.
The browser window is 1280 x 800, a common laptop screen. Screenshots and the server log go to
``test-artifacts/browser/`` (the ones in ``docs/img/`` are copies of a run, looked at by eye).

Needs Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) and the
``playwright`` Python package; without either the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "02_adaptive_decay_weights.ipynb"
RELATIONS_NOTEBOOK = ROOT / "notebooks" / "04_relation_analysis.ipynb"
VIEWPORT = {"width": 1280, "height": 800}
SAVED_COPY = "02_as_committed.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("LDRRLD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SERVER_START_S = 90  # JupyterLab answering its API
PAGE_S = 90  # the notebook page and its kernel ready
RUN_ALL_S = 360  # every cell executed (notebook 04 trains five models and draws t-SNE maps)
REDRAW_S = 30  # the panel redrawn after a slider move


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and its kernels (its own process group): politely, then for sure."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def _unexecuted_copy(folder: Path, source: Path = NOTEBOOK) -> Path:
    """The notebook without outputs, execution counts or saved widget state."""
    notebook = json.loads(source.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    copy = folder / source.name
    copy.write_text(json.dumps(notebook, indent=1))
    return copy


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server of its own: ``(base_url, token, notebook_name)``; always stopped."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"headless Chromium not found at {CHROMIUM} (install Debian's `chromium`, "
            "as .ci/run does, or set LDRRLD_CHROMIUM)"
        )
    pytest.importorskip("playwright.sync_api", reason="the `playwright` Python package is not installed")
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed")
    home = tmp_path_factory.mktemp("lab")
    work, settings = home / "work", home / "settings"
    work.mkdir()
    notebook = _unexecuted_copy(work)
    _unexecuted_copy(work, RELATIONS_NOTEBOOK)
    shutil.copy(NOTEBOOK, work / SAVED_COPY)  # with its committed outputs, as a fresh clone has it
    # No news or update checks (no network here); they would also pop up a notification.
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # Every cell stays in the page (no windowing), so figures above the fold can be found and measured.
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "LDRRLD_FAST": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "jupyterlab.log", "w")
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--ServerApp.allow_root=True",
    ]
    process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {process.returncode} before answering; "
                    f"see {ARTIFACTS / 'jupyterlab.log'}"
                )
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"JupyterLab did not answer on {base} within {SERVER_START_S} s; see {ARTIFACTS / 'jupyterlab.log'}"
                )
            time.sleep(0.5)
        yield base, token, notebook.name
    finally:
        _stop(process)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _url(base: str, notebook: str, token: str) -> str:
    """The notebook alone in a fresh workspace (``reset``): no tabs left open by an earlier test."""
    return f"{base}/lab/tree/{notebook}?reset&token={token}"


# JavaScript run in the page, through the app instance JupyterLab exposes.
NOTEBOOK_READY = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return !!(kernel && kernel.status === 'idle' && panel.content.widgets.length > 0);
}"""
ALL_EXECUTED = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = Array.from(panel.content.model.cells);
    const kernel = panel.sessionContext.session.kernel;
    return kernel.status === 'idle'
        && cells.every(c => c.type !== 'code' || !c.sharedModel.source.trim() || c.executionCount > 0);
}"""
FAILED_CELLS = """() => Array.from(document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .map(e => e.innerText).filter(t => /Error|Traceback/.test(t))"""


@contextlib.contextmanager
def _page():
    """A fresh headless Chromium page at :data:`VIEWPORT`, closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def test_depth_slider_redraws_the_panel(lab):
    base, token, name = lab
    with _page() as page:
        console = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        try:
            _run_notebook_and_move_slider(page, _url(base, name, token))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            (ARTIFACTS / "console.log").write_text("\n".join(console))


def _open_and_run_all(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded", timeout=PAGE_S * 1000)
    page.wait_for_function(NOTEBOOK_READY, timeout=PAGE_S * 1000, polling=500)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(ALL_EXECUTED, timeout=RUN_ALL_S * 1000, polling=500)
    assert page.evaluate(FAILED_CELLS) == [], "a notebook cell raised in JupyterLab"


def _run_notebook_and_move_slider(page, url: str) -> None:
    _open_and_run_all(page, url)

    # Both renderers work: the plotly mimetype renderer and the ipywidgets manager.
    widget = page.locator(".ldrrld-weight-panel").first  # section 8 shows a second panel, with the sweep view
    widget.scroll_into_view_if_needed(timeout=REDRAW_S * 1000)
    summary = widget.locator(".ldrrld-summary")
    title = widget.locator(".js-plotly-plot .gtitle")
    summary.wait_for(timeout=REDRAW_S * 1000)
    title.wait_for(timeout=REDRAW_S * 1000)
    assert page.locator(".jp-OutputArea .js-plotly-plot").count() >= 6
    before = (summary.inner_text(), title.text_content())
    assert before[0].startswith("d = 7: 21 pairs") and "d = 7" in before[1], before
    widget.screenshot(path=str(ARTIFACTS / "panel-before.png"))

    handle = widget.locator(".widget-slider").first.locator(".noUi-handle")
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        """() => { const s = document.querySelector('.ldrrld-weight-panel .ldrrld-summary');
                   return s && s.innerText.startsWith('d = 8:'); }""",
        timeout=REDRAW_S * 1000,
        polling=250,
    )
    page.wait_for_function(
        """() => { const t = document.querySelector('.ldrrld-weight-panel .js-plotly-plot .gtitle');
                   return t && t.textContent.includes('d = 8'); }""",
        timeout=REDRAW_S * 1000,
        polling=250,
    )
    after = (summary.inner_text(), title.text_content())
    widget.screenshot(path=str(ARTIFACTS / "panel-after.png"))
    assert after != before and after[0].startswith("d = 8: 28 pairs"), after
    page.screenshot(path=str(ARTIFACTS / "notebook.png"), full_page=False)
    for sidebar in SIDEBARS:
        _set_sidebar(page, sidebar)
        figure = widget.locator(".js-plotly-plot")
        figure.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"02-panel-{sidebar}.png"))
        _check_fits(figure, f"02 panel, {sidebar}", panels=6)
    _move_the_measured_panel(page)


# The text of an element, read in the page (the handle follows the element through redraws of its text).
TEXT_STARTS = "([element, text]) => element.innerText.startsWith(text) || element.textContent.startsWith(text)"
TEXT_HAS = "([element, text]) => element.textContent.includes(text)"


def _wait_text(page, locator, text: str, *, starts: bool = True) -> None:
    """Wait until ``locator``'s element starts with (or contains) ``text``; a redraw that replaces the
    element is followed by finding it again."""
    deadline = time.monotonic() + REDRAW_S
    while True:
        try:
            page.wait_for_function(
                TEXT_STARTS if starts else TEXT_HAS, arg=[locator.element_handle(), text], timeout=2_000, polling=250
            )
            return
        except Exception:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the element reads {locator.text_content()!r}")


def _move_the_measured_panel(page) -> None:
    """Section 8's panel: one ``d`` slider drives the weights (top) and the measured sweep (below).

    Moving ``d`` from 7 to 8 (not a grid point: the measured view says so and draws a gap) and on to
    10 (a grid point) must redraw both views each time.
    """
    panel = page.locator(".ldrrld-weight-panel", has=page.locator(".ldrrld-sweep-view"))
    assert panel.count() == 1, "notebook 02 should show exactly one panel with a measured view"
    panel.scroll_into_view_if_needed(timeout=REDRAW_S * 1000)
    weights_summary = panel.locator(".ldrrld-summary")
    weights_title = panel.locator(".js-plotly-plot .gtitle").first
    measured_summary = panel.locator(".ldrrld-sweep-summary")
    measured_title = panel.locator(".ldrrld-sweep-view .js-plotly-plot .gtitle")
    for locator in (weights_summary, weights_title, measured_summary, measured_title):
        locator.wait_for(timeout=REDRAW_S * 1000)
    assert weights_summary.inner_text().startswith("d = 7: 21 pairs")
    assert measured_summary.inner_text().startswith("Measured at d = 7, decay = 0.05")
    assert "d = 7" in measured_title.text_content()
    panel.screenshot(path=str(ARTIFACTS / "panel-measured-before.png"))

    handle = panel.locator(".widget-slider").first.locator(".noUi-handle")
    handle.focus()
    page.keyboard.press("ArrowRight")
    _wait_text(page, weights_summary, "d = 8: 28 pairs")
    _wait_text(page, measured_summary, "d = 8, decay = 0.05 is not a grid point")
    _wait_text(page, measured_title, "d = 8", starts=False)
    _wait_text(page, weights_title, "d = 8", starts=False)

    handle.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    _wait_text(page, weights_summary, "d = 10: 45 pairs")
    _wait_text(page, measured_summary, "Measured at d = 10, decay = 0.05")
    _wait_text(page, measured_title, "d = 10", starts=False)
    panel.screenshot(path=str(ARTIFACTS / "panel-measured-after.png"))


# Per plotly figure in the page: its width, its output area's width, and the boxes of its titles.
FIGURE_BOXES = """(figure) => {
    const area = (figure.closest('.jp-OutputArea-output') || figure.parentElement).getBoundingClientRect();
    const own = figure.getBoundingClientRect();
    const box = e => { const r = e.getBoundingClientRect();
                       return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: e.textContent}; };
    return {width: own.width, area: area.width,
            titles: Array.from(figure.querySelectorAll('.infolayer .annotation-text')).map(box)};
}"""


def _overlaps(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"] - 1
        and b["left"] < a["right"] - 1
        and a["top"] < b["bottom"] - 1
        and b["top"] < a["bottom"] - 1
    )


def test_relation_figures_fit_the_default_lab_width(lab):
    """Notebook 04's class-relation figures at 1280 x 800, with the file browser open and closed:
    each fits its output area and no two panel titles overlap. Screenshots of both."""
    base, token, _ = lab
    with _page() as page:
        try:
            _open_and_run_all(page, _url(base, RELATIONS_NOTEBOOK.name, token))
            for sidebar in SIDEBARS:
                _set_sidebar(page, sidebar)
                for kind in ("class-mean logits", "logit correlation"):
                    title = page.locator(".js-plotly-plot .gtitle", has_text=f"Inter-class relations: {kind}")
                    figure = title.locator("xpath=ancestor::div[contains(@class, 'js-plotly-plot')]").first
                    figure.scroll_into_view_if_needed()
                    figure.screenshot(path=str(ARTIFACTS / f"04-{kind.split()[0]}-{sidebar}.png"))
                    _check_fits(figure, f"04 {kind}, {sidebar}", panels=9)  # teacher, 4 students, 4 gaps
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure-04.png"), full_page=True)
            titles = page.evaluate(
                "() => Array.from(document.querySelectorAll('.js-plotly-plot .gtitle')).map(e => e.textContent)"
            )
            (ARTIFACTS / "failure-04-figures.txt").write_text("\n".join(titles))
            raise


SIDEBARS = ("with-file-browser", "without-file-browser")


def _set_sidebar(page, sidebar: str) -> None:
    """Open or close JupyterLab's left area (the file browser), then let plotly follow the width."""
    page.evaluate("() => window.jupyterapp.shell.%s()" % ("expandLeft" if sidebar == SIDEBARS[0] else "collapseLeft"))
    page.wait_for_timeout(1500)


def _check_fits(figure, name: str, panels: int) -> None:
    """The figure is no wider than its output area, and no two of its panel titles overlap."""
    boxes = figure.evaluate(FIGURE_BOXES)
    assert boxes["width"] <= boxes["area"] + 1, f"{name}: the figure is wider than its output area"
    titles = boxes["titles"]
    assert len(titles) == panels, [t["text"] for t in titles]
    clashes = [(a["text"], b["text"]) for i, a in enumerate(titles) for b in titles[i + 1 :] if _overlaps(a, b)]
    assert not clashes, f"{name}: overlapping titles {clashes}"


def test_saved_panel_shows_a_picture_before_it_runs(lab):
    """Opened as committed, before any cell runs (no kernel state, not trusted), notebook 02's
    panel cell shows its still picture, not only a line of text."""
    base, token, _ = lab
    with _page() as page:
        page.goto(_url(base, SAVED_COPY, token), wait_until="domcontentloaded", timeout=PAGE_S * 1000)
        page.wait_for_function(NOTEBOOK_READY, timeout=PAGE_S * 1000, polling=500)
        cell = page.locator(".jp-CodeCell", has_text="viz.weight_panel(").first
        cell.scroll_into_view_if_needed()
        try:
            picture = cell.locator(".jp-OutputArea-output img")
            picture.wait_for(timeout=REDRAW_S * 1000)
            picture.scroll_into_view_if_needed()
            assert picture.evaluate("img => img.naturalWidth") > 300
        finally:
            page.screenshot(path=str(ARTIFACTS / "02-panel-before-run.png"))
            (ARTIFACTS / "02-panel-before-run.html").write_text(cell.locator(".jp-OutputArea").first.inner_html())
