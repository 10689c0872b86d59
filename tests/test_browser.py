"""End to end in a real browser: JupyterLab runs every notebook, and every figure, table and printed
line reads at 1280 x 800, with the file browser open and closed, and at both ends of every slider.

What a person sees is measured in the page (``tests/page_layout.py``): no two texts of a figure
overlap, no text is under 10 px, 100-class matrices are at least 250 px wide, nothing is wider than
its output area or shrunk, and no output line breaks a word. Saving a notebook in Lab leaves its
``.py`` twin byte-identical to the committed one.

The notebooks open as `make lab` opens them: copies of the committed notebooks, saved outputs and
all, trusted with ``jupyter trust``. Before anything runs, no output shows a control (a saved widget
has no kernel behind it: it would move and redraw nothing); each weight panel shows its still
picture and its "run this cell" caption. After the run every slider moves and redraws its panel.

Starts its own JupyterLab on 127.0.0.1 (free port, random token; settings, runtime files, the trust
database and IPython's files in a temporary folder, so the person's own Jupyter state is neither
read nor changed), drives it with headless Chromium through Playwright, and always stops the
server. Works on copies of the notebooks, so the committed ones are never touched.
Screenshots and the server log go to ``test-artifacts/browser/`` (the ones in ``docs/img/`` are
copies of a run, looked at by eye).

Needs Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) and the
``playwright`` Python package; without either the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import difflib
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
from page_layout import layout_faults

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOK = ROOT / "notebooks" / "02_adaptive_decay_weights.ipynb"
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


def _user_trust_database() -> tuple | None:
    """The person's own trust database (``nbsignatures.db`` in their Jupyter data folder): size and
    modification time, or ``None`` where there is none. The tests must leave it as it is."""
    from jupyter_core.paths import jupyter_data_dir

    database = Path(jupyter_data_dir()) / "nbsignatures.db"
    return (database.stat().st_size, database.stat().st_mtime_ns) if database.exists() else None


def _trust(paths: list[Path], env: dict) -> None:
    """``jupyter trust`` as `make lab` runs it, into the trust database ``env`` names; then checked."""
    import nbformat
    from nbformat.sign import NotebookNotary

    jupyter = Path(sys.executable).parent / "jupyter"
    command = [str(jupyter)] if jupyter.exists() else [sys.executable, "-m", "jupyter"]
    done = subprocess.run([*command, "trust", *map(str, paths)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"jupyter trust failed:\n{done.stdout}{done.stderr}"
    notary = NotebookNotary(data_dir=env["JUPYTER_DATA_DIR"])
    try:
        untrusted = [p.name for p in paths if not notary.check_signature(nbformat.read(p, as_version=4))]
    finally:
        notary.store.close()
    assert not untrusted, f"not trusted after `jupyter trust`: {untrusted}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server of its own: ``(base_url, token, work folder)``; always stopped."""
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
    user_trust = _user_trust_database()
    for source in NOTEBOOKS:  # with their committed outputs, as a fresh clone has them
        shutil.copy(source, work)
    shutil.copy(NOTEBOOK, work / SAVED_COPY)  # never run: what a learner sees on opening it
    time.sleep(1.1)  # the twins after their notebooks: jupytext reads inputs from the newer twin
    for source in NOTEBOOKS:
        shutil.copy(source.with_suffix(".py"), work)
    shutil.copy(ROOT / "jupytext.toml", work)  # how Lab writes twins, as `make lab` finds it
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
        "JUPYTER_DATA_DIR": str(home / "data"),  # the trust database (nbsignatures.db) of this test alone
        "IPYTHONDIR": str(home / "ipython"),  # the kernels' history and profile
        "LDRRLD_FAST": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    # Trusted as `make lab` trusts them: Lab shows their saved outputs as they are, HTML included.
    _trust(sorted(work.glob("[0-9][0-9]_*.ipynb")), env)
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
    process = subprocess.Popen(
        command,
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # _stop's SIGINT stops it even where the shell ignores SIGINT (a background `make test &`).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
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
        yield base, token, work
    finally:
        _stop(process)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
    assert _user_trust_database() == user_trust, "the tests changed the person's own trust database"


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
# The notebooks open with their saved execution counts: the run is over when Lab's run-all says so.
RUN_ALL = """() => {
    window.ldrrldRunAllDone = false;
    window.jupyterapp.commands.execute('notebook:run-all-cells').finally(() => { window.ldrrldRunAllDone = true; });
}"""
ALL_EXECUTED = """() => {
    if (!window.ldrrldRunAllDone) return false;
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


# Opened trusted: every code cell with saved outputs shows them as trusted (HTML and all).
OUTPUTS_TRUSTED = """() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
    .filter(c => c.type === 'code' && c.outputs.length > 0).every(c => c.trusted)"""
# Widgets in outputs: controls, and the widget renderer's messages (no model, still loading).
WIDGETS_SHOWN = """() => ({
    controls: Array.from(document.querySelectorAll('.jp-OutputArea .jupyter-widgets, .jp-OutputArea .widget-slider'))
        .length,
    messages: Array.from(document.querySelectorAll('.jp-OutputArea-output'))
        .map(e => e.textContent).filter(t => /Error displaying widget|Loading widget/.test(t)),
})"""
PANEL_CELL = "viz.weight_panel("
CAPTION = "run this cell for live sliders"


def _open(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded", timeout=PAGE_S * 1000)
    page.wait_for_function(NOTEBOOK_READY, timeout=PAGE_S * 1000, polling=500)


def _before_running(page) -> list[str]:
    """What the open notebook shows before any cell runs, as `make lab` opens it: trusted; no
    control (none could act: no kernel holds it) and no widget message; every weight panel shows its
    still picture with its "run this cell" caption. Returns the faults."""
    faults = [] if page.evaluate(OUTPUTS_TRUSTED) else ["not opened trusted, as `make lab` opens it"]
    cells = page.locator(".jp-CodeCell", has_text=PANEL_CELL)
    for index in range(cells.count()):
        cell = cells.nth(index)
        cell.scroll_into_view_if_needed()
        picture = cell.locator(".jp-OutputArea-output img")
        try:
            picture.first.wait_for(timeout=REDRAW_S * 1000)
        except Exception:  # noqa: BLE001 - the fault says what the page showed instead
            text = cell.locator(".jp-OutputArea").first.inner_text()[:200]
            faults.append(f"panel {index + 1} shows no still picture before it runs; it shows: {text!r}")
            continue
        if picture.first.evaluate("img => img.naturalWidth") <= 300:
            faults.append(f"panel {index + 1}'s still picture is under 300 px wide")
        if cell.locator(".jp-OutputArea-output", has_text=CAPTION).count() != 1:
            faults.append(f"panel {index + 1}'s still picture does not say how to make it live ({CAPTION!r})")
    page.wait_for_timeout(1000)  # a widget view would show by now (restored from saved state)
    shown = page.evaluate(WIDGETS_SHOWN)
    if shown["controls"]:
        faults.append(f"{shown['controls']} widget controls show before any cell ran: they would move without effect")
    faults += [f"before any cell ran, an output says {message!r}" for message in shown["messages"]]
    return faults


def _open_and_run_all(page, url: str) -> None:
    _open(page, url)
    faults = _before_running(page)
    assert not faults, "opened as `make lab` opens it, before running:\n" + "\n".join(faults)
    page.evaluate(RUN_ALL)
    page.wait_for_function(ALL_EXECUTED, timeout=RUN_ALL_S * 1000, polling=500)
    assert page.evaluate(FAILED_CELLS) == [], "a notebook cell raised in JupyterLab"


SIDEBARS = ("with-file-browser", "without-file-browser")


def _set_sidebar(page, sidebar: str) -> None:
    """Open or close JupyterLab's left area (the file browser), then let plotly follow the width."""
    page.evaluate("() => window.jupyterapp.shell.%s()" % ("expandLeft" if sidebar == SIDEBARS[0] else "collapseLeft"))
    page.wait_for_timeout(1500)


FIGURES_DRAWN = """() => Array.from(document.querySelectorAll('.jp-OutputArea .js-plotly-plot'))
    .every(p => p.querySelector('.main-svg'))
    && Array.from(document.querySelectorAll('.jp-OutputArea img')).every(i => i.complete)"""


@pytest.mark.parametrize("notebook", [path.name for path in NOTEBOOKS])
def test_every_notebook_reads_at_1280x800(lab, notebook):
    """Run the notebook in Lab; every output reads with the file browser open and closed (and, in
    notebook 02, at both ends of every slider); saving it leaves its .py twin as committed."""
    base, token, work = lab
    stem = notebook.removesuffix(".ipynb")
    with _page() as page:
        console = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        try:
            _open_and_run_all(page, _url(base, notebook, token))
            page.wait_for_function(FIGURES_DRAWN, timeout=REDRAW_S * 1000, polling=500)
            faults = []
            for sidebar in SIDEBARS:
                _set_sidebar(page, sidebar)
                faults += [f"{sidebar}: {fault}" for fault in layout_faults(page)]
            if stem.startswith("02"):
                faults += _sliders_to_both_ends(page)
            faults += [f"after the run, an output says {m!r}" for m in page.evaluate(WIDGETS_SHOWN)["messages"]]
            if stem.startswith("04"):
                _relation_screenshots(page)
            assert not faults, f"{notebook} at 1280 x 800:\n" + "\n".join(faults[:40])
            _save_and_compare_twin(page, work, stem)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"failure-{stem}.png"))
            raise
        finally:
            (ARTIFACTS / f"console-{stem}.log").write_text("\n".join(console))


def _save_and_compare_twin(page, work: Path, stem: str) -> None:
    """Save in Lab (jupytext writes the twin) and compare the twin with the committed one, byte for byte."""
    twin = work / f"{stem}.py"
    before = twin.stat().st_mtime_ns
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    deadline = time.monotonic() + REDRAW_S
    while twin.stat().st_mtime_ns == before:
        assert time.monotonic() < deadline, f"saving {stem}.ipynb in Lab did not write its twin {twin.name}"
        time.sleep(0.25)
    time.sleep(0.5)
    written, committed = twin.read_text(), (ROOT / "notebooks" / twin.name).read_text()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), written.splitlines(True), "committed", "lab"))
    assert written == committed, f"running {stem} in Lab rewrote its twin:\n{diff[:3000]}"


def _relation_screenshots(page) -> None:
    """Notebook 04's two class-relation figures, for a person to look at (docs/img has a copy)."""
    for kind in ("class-mean logits", "logit correlation"):
        title = page.locator(".js-plotly-plot .gtitle", has_text=f"Inter-class relations: {kind}")
        figure = title.locator("xpath=ancestor::div[contains(@class, 'js-plotly-plot')]").first
        _whole_screenshot(page, figure, f"04-{kind.split()[0]}.png")


def _whole_screenshot(page, element, name: str) -> None:
    """A screenshot of an element taller than the window: the window grows (same width, so the
    same layout) for the picture alone, then goes back to 1280 x 800."""
    height = int(element.evaluate("e => e.getBoundingClientRect().height")) + 200
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
    try:
        page.wait_for_timeout(1000)
        element.scroll_into_view_if_needed()
        element.screenshot(path=str(ARTIFACTS / name))
    finally:
        page.set_viewport_size(VIEWPORT)
        page.wait_for_timeout(500)


SLIDER_VALUES = """(panel) => Array.from(panel.querySelectorAll('.widget-slider')).map(s => {
    const r = s.querySelector('.widget-readout'); return r ? (r.value || r.innerText || r.textContent) : ''; })"""


SLIDER_DISABLED = """(s) => s.classList.contains('mod-disabled') || !!s.querySelector('[disabled]')"""


def _sliders_to_both_ends(page) -> list[str]:
    """Move every slider of both panels of notebook 02 to its end and back to its start, through the
    keyboard as a person would, measuring the page at each; then leave it at its end, so the last
    measurement has every slider at its end (d = 20, the largest decay and T). Returns the faults."""
    faults = []
    panels = page.locator(".ldrrld-weight-panel")
    assert panels.count() == 2, "notebook 02 shows the free panel and the measured one"
    for index in range(2):
        panel = panels.nth(index)
        panel.scroll_into_view_if_needed(timeout=REDRAW_S * 1000)
        sliders = panel.locator(".widget-slider")
        # A disabled slider (the temperature of a panel without a sample) does not move, and shows it.
        live = [k for k in range(sliders.count()) if not sliders.nth(k).evaluate(SLIDER_DISABLED)]
        assert live, f"panel {index + 1} has no slider to move"
        for k in live:
            moved = False
            for key in ("Home", "End"):
                moved |= _press(page, panel, sliders.nth(k), key)
                values = panel.evaluate(SLIDER_VALUES)
                faults += [f"panel {index + 1}, sliders at {values}: {f}" for f in layout_faults(page)]
            if not moved:
                faults.append(f"panel {index + 1}, slider {k + 1}: Home and End move nothing (a dead control)")
        _whole_screenshot(page, panel, f"02-panel{index + 1}-at-the-ends.png")
    return faults


def _press(page, panel, slider, key: str) -> bool:
    """Press ``key`` on the slider's handle and wait until the panel has redrawn; whether it moved (a
    key that moves nothing, at an end already, returns at once). A move without a redraw fails."""
    before = panel.evaluate(SLIDER_VALUES)
    title = panel.locator(".js-plotly-plot .gtitle").first.text_content()
    slider.locator(".noUi-handle").focus()
    page.keyboard.press(key)
    deadline = time.monotonic() + REDRAW_S
    while panel.evaluate(SLIDER_VALUES) == before:
        if time.monotonic() > deadline - REDRAW_S + 3:  # the readout did not change: nothing to redraw
            return False
        page.wait_for_timeout(200)
    while panel.locator(".js-plotly-plot .gtitle").first.text_content() == title:
        assert time.monotonic() < deadline, f"no redraw after {key}: sliders at {panel.evaluate(SLIDER_VALUES)}"
        page.wait_for_timeout(200)
    page.wait_for_function(FIGURES_DRAWN, timeout=REDRAW_S * 1000, polling=250)
    page.wait_for_timeout(300)
    return True


def test_saved_panel_shows_a_picture_before_it_runs(lab):
    """Opened as `make lab` opens it (the committed notebook, trusted), before any cell runs, each of
    notebook 02's panels shows its still picture and its "run this cell" caption, and no control
    shows (one restored from saved widget state would move and redraw nothing)."""
    base, token, _ = lab
    with _page() as page:
        console = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        try:
            _open(page, _url(base, SAVED_COPY, token))
            assert page.locator(".jp-CodeCell", has_text=PANEL_CELL).count() == 2, "notebook 02 has two panels"
            faults = _before_running(page)
            assert not faults, f"{SAVED_COPY} before it runs:\n" + "\n".join(faults)
        finally:
            page.screenshot(path=str(ARTIFACTS / "02-panel-before-run.png"))
            cells = page.locator(".jp-CodeCell", has_text=PANEL_CELL)
            html = [cells.nth(k).locator(".jp-OutputArea").first.inner_html() for k in range(cells.count())]
            (ARTIFACTS / "02-panel-before-run.html").write_text("\n<hr>\n".join(html))
            (ARTIFACTS / "console-02-before-run.log").write_text("\n".join(console))
