"""End to end in a real browser: JupyterLab runs notebook 02, and the depth slider redraws the panel.

Starts its own JupyterLab on 127.0.0.1 (free port, random token, settings and runtime files in a
temporary folder), drives it with headless Chromium through Playwright, and always stops the
server. Works on an output-free copy of the notebook, so the committed one is never touched.
Screenshots and the server log go to ``test-artifacts/browser/``.

Needs Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) and the
``playwright`` Python package; without either the test is skipped with the reason.
"""

from __future__ import annotations

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
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("LDRRLD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

SERVER_START_S = 90    # JupyterLab answering its API
PAGE_S = 90            # the notebook page and its kernel ready
RUN_ALL_S = 120        # every cell executed
REDRAW_S = 30          # the panel redrawn after a slider move


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


def _unexecuted_copy(folder: Path) -> Path:
    """The notebook without outputs, execution counts or saved widget state."""
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook["metadata"].pop("widgets", None)
    copy = folder / NOTEBOOK.name
    copy.write_text(json.dumps(notebook, indent=1))
    return copy


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server of its own: ``(base_url, token, notebook_name)``; always stopped."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM} (install Debian's `chromium`, "
                    "as .ci/run does, or set LDRRLD_CHROMIUM)")
    pytest.importorskip("playwright.sync_api", reason="the `playwright` Python package is not installed")
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed")
    home = tmp_path_factory.mktemp("lab")
    work, settings = home / "work", home / "settings"
    work.mkdir()
    notebook = _unexecuted_copy(work)
    # No news or update checks (no network here); they would also pop up a notification.
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "LDRRLD_FAST": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "jupyterlab.log", "w")
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
               "--ServerApp.allow_root=True"]
    process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {process.returncode} before answering; "
                                   f"see {ARTIFACTS / 'jupyterlab.log'}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer on {base} within {SERVER_START_S} s; "
                                   f"see {ARTIFACTS / 'jupyterlab.log'}")
            time.sleep(0.5)
        yield base, token, notebook.name
    finally:
        _stop(process)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


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


def test_depth_slider_redraws_the_panel(lab):
    from playwright.sync_api import sync_playwright

    base, token, name = lab
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                                             timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(60_000)
            console = []
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            try:
                _run_notebook_and_move_slider(page, f"{base}/lab/tree/{name}?token={token}")
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
                raise
            finally:
                (ARTIFACTS / "console.log").write_text("\n".join(console))
        finally:
            browser.close()


def _run_notebook_and_move_slider(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded", timeout=PAGE_S * 1000)
    page.wait_for_function(NOTEBOOK_READY, timeout=PAGE_S * 1000, polling=500)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(ALL_EXECUTED, timeout=RUN_ALL_S * 1000, polling=500)
    assert page.evaluate(FAILED_CELLS) == [], "a notebook cell raised in JupyterLab"

    # Both renderers work: the plotly mimetype renderer and the ipywidgets manager.
    widget = page.locator(".ldrrld-weight-panel")
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
                   return s && s.innerText.startsWith('d = 8:'); }""", timeout=REDRAW_S * 1000, polling=250)
    page.wait_for_function(
        """() => { const t = document.querySelector('.ldrrld-weight-panel .js-plotly-plot .gtitle');
                   return t && t.textContent.includes('d = 8'); }""", timeout=REDRAW_S * 1000, polling=250)
    after = (summary.inner_text(), title.text_content())
    widget.screenshot(path=str(ARTIFACTS / "panel-after.png"))
    assert after != before and after[0].startswith("d = 8: 28 pairs"), after
    page.screenshot(path=str(ARTIFACTS / "notebook.png"), full_page=False)
