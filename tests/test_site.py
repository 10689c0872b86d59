"""The documentation site: ``mkdocs build --strict`` builds it, a broken link fails that build, every
notebook's figures are on its page, and a real browser shows the pages without console errors.

The site is built once per module into a temporary folder, the way ``make docs`` builds it
(``mkdocs.yml``, ``tools/docs_site.py``). The browser tests serve that folder on 127.0.0.1 and open
it in headless Chromium with no network beyond the local server, so anything the pages fetched from
a CDN would fail them. One opens the pages that draw something at 1280 x 800 and checks they draw
it; the other opens every page at 1280 x 800 and at 1024 x 800 and runs the page checks of
``tests/page_layout.py`` on it, the ones the notebooks pass in JupyterLab and more: no text
overlaps, no word broken across lines, no picture shrunk, every column of every table and every
line of printed output in view without scrolling sideways, no text under 10 px, no raw Sphinx role
and no nbval tag. Screenshots go to ``test-artifacts/site/``; the one in
``docs/img/site_01_dense_relations.png`` is a copy of a run.

Needs the ``docs`` extra (``pip install -e ".[docs]"``; ``make test`` installs it). Without it the
tests are skipped with the reason, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts" / "site"
BUILD_S = 300
PLOTLY = "application/vnd.plotly.v1+json"


def _need_mkdocs() -> None:
    missing = [name for name in ("mkdocs", "material", "mkdocs_jupyter", "mkdocstrings_handlers") if not _has(name)]
    if missing:
        reason = f"the docs extra is not installed (missing {', '.join(missing)}): pip install -e '.[docs]'"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def build(root: Path, out: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of the site whose ``mkdocs.yml`` is in ``root``, into ``out``."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(root / "mkdocs.yml")]
        + ["--site-dir", str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=BUILD_S,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _need_mkdocs()
    out = tmp_path_factory.mktemp("site")
    result = build(ROOT, out)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
    return out


def _page_html(site: Path, notebook: Path) -> str:
    return (site / "notebooks" / notebook.stem / "index.html").read_text(encoding="utf-8")


def _outputs(notebook: Path) -> list[dict]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [output.get("data", {}) for cell in cells if cell["cell_type"] == "code" for output in cell["outputs"]]


# ----------------------------------------------------------------------------- the build
@pytest.mark.slow
def test_site_has_every_page(site):
    pages = ["index.html", "api/core/index.html", "api/viz/index.html", "benchmarks/index.html"]
    guide = ("glossary", "method", "models", "data", "training", "viz", "bad_inputs")
    pages += [f"{name}/index.html" for name in guide]
    pages += [f"{name}/index.html" for name in ("results", "sweep", "reproduce")]
    pages += [f"notebooks/{notebook.stem}/index.html" for notebook in NOTEBOOKS]
    assert len(NOTEBOOKS) >= 5
    assert [page for page in pages if not (site / page).is_file()] == []
    api = (site / "api" / "core" / "index.html").read_text(encoding="utf-8")
    assert "ldrrld_core.LDRRLDLoss" in api and "ldrrld_core.models.create_model" in api
    assert "teacher_logits" in api  # the parameters come from the docstrings


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_figure_is_on_its_page(site, notebook):
    """Each saved picture is an image of the page, each plotly figure a plotly.js plot, each widget
    its saved picture with the line that says what the live one does."""
    outputs, html = _outputs(notebook), _page_html(site, notebook)
    pictures = sum("image/png" in data for data in outputs)
    figures = sum(PLOTLY in data for data in outputs)
    widgets = sum(_docs_site().is_saved_widget(data) for data in outputs)
    assert html.count('src="data:image/png;base64,') == pictures
    assert html.count('class="plotly-graph-div"') == html.count("Plotly.newPlot(") == figures
    assert html.count("A picture of the live panel as the notebook saved it") == widgets
    if figures:
        assert '<script src="../../assets/javascripts/plotly.min.js"></script>' in html.split("</head>")[0]
    assert "widget-state+json" not in html and "unpkg" not in html  # no widget manager from a CDN


@pytest.mark.slow
def test_no_page_reaches_for_the_network(site):
    """Scripts, styles and fonts all come from the site itself (the browser test checks the rest)."""
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in html, page
        assert 'src="http' not in html and "LDRRLD_MATHJAX_URL" not in html, page
    assert (site / "assets" / "javascripts" / "plotly.min.js").stat().st_size > 1_000_000
    assert (site / "assets" / "mathjax" / "MathJax.js").is_file()


@pytest.mark.slow
def test_a_broken_link_fails_the_build(tmp_path):
    """A link to a file that does not exist, in or out of docs/, fails --strict; a GitHub-style
    link to a notebook (``../notebooks/NN.ipynb``) becomes a link to its page."""
    _need_mkdocs()
    for name in ("mkdocs.yml", "docs", "notebooks", "tools"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    for package in ("ldrrld_core", "ldrrld_viz"):
        (tmp_path / package).symlink_to(ROOT / package)
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text() + "\n[gone](../notebooks/99_gone.ipynb) and [also gone](nowhere.md)\n")
    result = build(tmp_path, tmp_path / "site")
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    assert "'../notebooks/99_gone.ipynb'" in log and "'nowhere.md'" in log, log[-3000:]


#: A Sphinx cross-reference role as a docstring writes it (``:func:`name```), raw or half-rendered.
RAW_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const):(?:`|<code>)")


@pytest.mark.slow
def test_api_reference_links_its_cross_references(site):
    """The docstrings' Sphinx roles become links to the objects' entries (code where an object has
    no entry, as ``torch.load``), and the names the package tops export lazily have their entries."""
    api = {name: (site / "api" / name / "index.html").read_text(encoding="utf-8") for name in ("core", "viz")}
    for name, html in api.items():
        assert RAW_ROLE.findall(html) == [], f"api/{name}: raw Sphinx roles"
        assert "<autoref" not in html and "&lt;autoref" not in html, f"api/{name}: an unfixed cross-reference"
    core = api["core"]
    for name in ("LDRRLDLoss", "ldrrld_loss", "rank_pairs"):  # exported lazily by ldrrld_core (PEP 562)
        assert f'id="ldrrld_core.{name}"' in core
    assert 'id="ldrrld_core.study.run_study"' in core  # ... and by ldrrld_core.study
    # LDRRLDLoss's docstring names :class:`LDRRLDTerms` and :func:`ldrrld_loss`; both are links.
    assert 'href="#ldrrld_core.LDRRLDTerms"' in core and 'href="#ldrrld_core.ldrrld_loss"' in core
    assert core.count("autorefs-internal") > 100


@pytest.mark.slow
def test_glossary_defines_every_term_and_links_into_the_site(site):
    """Every term the notebooks and README use before they define it has a line, and every link of
    the glossary lands on a page of the site and on a heading there."""
    html = (site / "glossary" / "index.html").read_text(encoding="utf-8")
    article = html.split("<article", 1)[1].split("</article>", 1)[0]
    terms = re.findall(r"<li><strong>(.*?)</strong>", article)
    wanted = ["ADW", "IRW", "ERD", "RNTK", "Holm", "Paired interval", "Resolved", "Kendall tau", "Top-d agreement"]
    wanted += ["Depth", "Decay", "TCKD / NCKD", "DIST", "LSKD", "WTTM", "CTKD", "TeKAP", "SDD"]
    assert [term for term in wanted if not any(t.startswith(term) for t in terms)] == []
    links = re.findall(r'href="([^"#]*)#([^"]+)"', article)
    assert len({target for target, _ in links if target}) >= 6
    for target, anchor in links:
        page = (site / "glossary" / target / "index.html").resolve() if target else site / "glossary" / "index.html"
        assert page.is_file(), target
        assert f'id="{anchor}"' in page.read_text(encoding="utf-8"), f"{target}#{anchor}: no such heading"
    assert 'href="../glossary/"' in (site / "method" / "index.html").read_text(encoding="utf-8")  # in the navigation


# ----------------------------------------------------------------------------- the notebook pass
def _docs_site():
    _need_mkdocs()
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import docs_site
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return docs_site


def _notebook(*outputs: dict, markdown: str = "text") -> dict:
    code = {"cell_type": "code", "source": "x", "metadata": {}, "outputs": list(outputs), "execution_count": 1}
    cells = [{"cell_type": "markdown", "source": markdown, "metadata": {}}, code]
    return {"cells": cells, "metadata": {"widgets": {"state": {}}}, "nbformat": 4, "nbformat_minor": 5}


def _display(data: dict) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": data}


def test_site_notebook_draws_plotly_and_shows_widgets_as_pictures():
    docs_site = _docs_site()
    figure = {"data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}], "layout": {"height": 300}}
    widget = {docs_site.WIDGET_TYPE: {"model_id": "m"}, "image/png": "iVBORw0KGgo=", "text/plain": "WeightPanel(d=7)"}
    source = _notebook(_display({docs_site.PLOTLY_TYPE: figure}), _display(widget))
    shown = docs_site.site_notebook(source, "test.ipynb")
    plot, picture, note = shown["cells"][1]["outputs"]
    assert "Plotly.newPlot(" in plot["data"]["text/html"] and '"y":[3,4]' in plot["data"]["text/html"]
    assert set(picture["data"]) == {"image/png", "text/plain"}  # the widget view is gone, its picture stays
    assert note["data"]["text/markdown"] == f"*{docs_site.WIDGET_NOTES['WeightPanel']}*"
    assert "widgets" not in shown["metadata"] and docs_site.WIDGET_TYPE in source["cells"][1]["outputs"][1]["data"]


def test_site_notebook_leaves_out_the_test_tags():
    """nbval's tags steer the tests; the page shows no badge for them, and keeps any other tag."""
    docs_site = _docs_site()
    source = _notebook()
    source["cells"][1]["metadata"]["tags"] = ["nbval-ignore-output"]
    source["cells"][0]["metadata"]["tags"] = ["nbval-check-output", "keep-me"]
    shown = docs_site.site_notebook(source, "t.ipynb")
    assert "tags" not in shown["cells"][1]["metadata"] and shown["cells"][0]["metadata"]["tags"] == ["keep-me"]
    assert source["cells"][1]["metadata"]["tags"] == ["nbval-ignore-output"]  # the notebook itself is untouched


def test_sphinx_roles_become_cross_references():
    """A role becomes an optional autorefs cross-reference to the object it names, read in the scope
    of the docstring's object as Sphinx reads it; an object outside the documented packages is code."""
    docs_site = _docs_site()
    import griffe

    loader = griffe.GriffeLoader(search_paths=[str(ROOT)], extensions=griffe.load_extensions(docs_site.LazyExports))
    package = loader.load("ldrrld_core")
    losses = package["losses.ldrrld"]
    assert docs_site.role_html(losses, "ldrrld_loss") == (
        '<autoref identifier="ldrrld_core.losses.ldrrld.ldrrld_loss" optional><code>ldrrld_loss</code></autoref>'
    )
    assert docs_site.role_html(losses, "~ldrrld_core.relations.rank_pairs") == (
        '<autoref identifier="ldrrld_core.relations.rank_pairs" optional><code>rank_pairs</code></autoref>'
    )
    assert 'identifier="ldrrld_core.relations"' in docs_site.role_html(losses, ".relations")  # up from the module
    assert docs_site.role_html(losses, "torch.load") == "<code>torch.load</code>"
    assert docs_site.role_html(losses, "the loss <ldrrld_loss>").endswith("><code>the loss</code></autoref>")
    assert package["LDRRLDLoss"].target_path == "ldrrld_core.losses.LDRRLDLoss"  # a lazy export, as an import
    assert "LDRRLDLoss" in package.exports and "_EXPORTS" not in map(str, package.exports)


def test_site_notebook_refuses_a_widget_it_cannot_describe():
    docs_site = _docs_site()
    from mkdocs.exceptions import PluginError

    unknown = {docs_site.WIDGET_TYPE: {}, "image/png": "iVBORw0KGgo=", "text/plain": "IntSlider(value=3)"}
    with pytest.raises(PluginError, match="IntSlider.*WIDGET_NOTES"):
        docs_site.site_notebook(_notebook(_display(unknown)), "test.ipynb")
    no_picture = {docs_site.WIDGET_TYPE: {}, "text/plain": "WeightPanel(d=7)"}
    with pytest.raises(PluginError, match="no static picture"):
        docs_site.site_notebook(_notebook(_display(no_picture)), "test.ipynb")


def test_site_notebook_maps_its_links():
    docs_site = _docs_site()
    markdown = "[m](../docs/method.md#notation), [web](https://example.org) and [here](#top)"
    shown = docs_site.site_notebook(_notebook(markdown=markdown), "t.ipynb", lambda target: "MAPPED:" + target)
    assert shown["cells"][0]["source"] == (
        "[m](MAPPED:../docs/method.md#notation), [web](https://example.org) and [here](#top)"
    )


# ----------------------------------------------------------------------------- in a browser
class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def _serve(folder: Path):
    """``folder`` over HTTP on 127.0.0.1 (a free port); yields the base URL, always shuts down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


PLOTS_DRAWN = """(count) => {
    const plots = Array.from(document.querySelectorAll('.plotly-graph-div'));
    return plots.length === count && plots.every(p => p.classList.contains('js-plotly-plot')
        && p.querySelector('.main-svg') && p._fullData && p._fullData.length > 0);
}"""
MATH_TYPESET = """() => document.querySelectorAll('.jp-RenderedMarkdown .MathJax').length > 0
    && document.querySelectorAll('.MathJax_Error, .merror').length === 0
    && !document.body.innerText.includes('$T$')"""
IMAGES_LOADED = """() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"""


@pytest.mark.browser
@pytest.mark.slow
def test_pages_render_in_a_browser(site):
    from test_browser import CHROMIUM, _page

    if not Path(CHROMIUM).exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM} (install Debian's `chromium`, as .ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="the `playwright` Python package is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    plotly_notebook = ROOT / "notebooks" / "04_relation_analysis.ipynb"
    figures = sum(PLOTLY in data for data in _outputs(plotly_notebook))
    with _serve(site) as base, _page() as page:
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        # A request the page itself dropped when the test moved on (net::ERR_ABORTED: MathJax still
        # fetching a font as the next page loads) is no fault of the site; any other failure is.
        page.on(
            "requestfailed",
            lambda request: (
                None
                if "ERR_ABORTED" in (request.failure or "")
                else problems.append(f"request failed: {request.url} ({request.failure})")
            ),
        )

        page.goto(base, wait_until="load")
        assert "LDRRLD" in page.title() or "ldrrld" in page.title()
        page.wait_for_function(IMAGES_LOADED)
        assert page.locator("img[src$='one_sample.png']").count() == 1

        page.goto(f"{base}notebooks/01_dense_relations/", wait_until="load")
        page.wait_for_function(IMAGES_LOADED)
        page.wait_for_function(MATH_TYPESET)
        page.wait_for_load_state("networkidle")  # the fonts MathJax asked for have arrived
        assert page.locator(".jp-OutputArea-output img").count() >= 4
        page.screenshot(path=str(ARTIFACTS / "site_01_dense_relations.png"))

        page.goto(f"{base}notebooks/04_relation_analysis/", wait_until="load")
        page.wait_for_function(PLOTS_DRAWN, arg=figures)
        box = page.locator(".plotly-graph-div").first.bounding_box()
        assert box and 400 < box["width"] <= 1280 and box["height"] > 200, box
        page.locator(".plotly-graph-div").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "site_04_first_plotly_figure.png"))

        page.goto(f"{base}notebooks/02_adaptive_decay_weights/", wait_until="load")
        page.wait_for_function(IMAGES_LOADED)
        assert page.get_by_text("A picture of the live panel as the notebook saved it").count() == 2

        page.goto(f"{base}api/core/", wait_until="load")
        assert page.locator(".doc-object").count() > 20
        assert page.locator("[id='ldrrld_core.LDRRLDLoss']").count() == 1
        assert problems == [], "\n".join(problems)


#: The widths every page is checked at: a laptop's 1280 px, and 1024 px, where Material folds the
#: navigation into a drawer.
WIDTHS = (1280, 1024)
#: A page is ready for the checks when its pictures have loaded, plotly has drawn every figure and
#: MathJax (on the pages that load it) has typeset everything.
PAGE_READY = """() => Array.from(document.images).every(i => i.complete)
    && Array.from(document.querySelectorAll('.plotly-graph-div')).every(p => p.querySelector('.main-svg'))
    && (!document.querySelector('script[src*="MathJax.js"]')
        || (window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.isReady
            && MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running))"""


#: A page with one of each fault the checks must find (they run on it first, in the same browser).
FAULTY_PAGE = """<!doctype html><html><body style="font: 16px sans-serif"><article>
<div style="width: 200px; overflow-x: auto"><table><tr>
  <th style="min-width: 90px">part</th><th style="min-width: 90px">KD - CE</th>
  <th style="min-width: 90px">LDRRLD - CE</th>
</tr></table></div>
<table style="border-spacing: 0"><tr><th style="padding: 0">method</th><th style="padding: 0">model</th></tr></table>
<p style="font-size: 8px">small print</p>
<p style="width: 60px; word-break: break-all">Kendall tau over all classes</p>
<div class="jp-OutputArea-output" style="width: 200px"><pre style="white-space: pre; overflow-x: auto">
a printed line much wider than the two hundred pixels of its output area</pre></div>
<p>:func:`ldrrld_loss` and nbval-ignore-output</p>
</article></body></html>"""


def _site_pages(site: Path) -> list[str]:
    """Every page of the built site, as its URL path (``""``, ``"results/"``, ...)."""
    pages = [page.parent.relative_to(site).as_posix() for page in site.rglob("index.html")]
    return sorted("" if page == "." else page + "/" for page in pages if not page.startswith("assets"))


@pytest.mark.browser
@pytest.mark.slow
def test_every_page_passes_the_page_checks(site):
    """Every page at 1280 x 800 and at 1024 x 800, as legible as JupyterLab shows the notebooks: the
    page checks of ``tests/page_layout.py`` (text overlap, words broken across lines, shrunk
    pictures, tables and printed output that scroll sideways, text under 10 px, cells that run
    together) find nothing, and no page shows a raw Sphinx role or an nbval tag."""
    from page_layout import box_faults, layout_faults
    from test_browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip(f"headless Chromium not found at {CHROMIUM} (install Debian's `chromium`, as .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the `playwright` Python package is not installed")
    from test_browser import CHROMIUM_ARGS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = _site_pages(site)
    assert len(pages) >= 20 and "results/" in pages and "glossary/" in pages
    faults: list[str] = []
    with _serve(site) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_content(FAULTY_PAGE)
            found = "\n".join(layout_faults(page, "article") + box_faults(page, "body"))
            for fault in ('column "LDRRLD - CE" ends', '"method" and "model" run together', '"small print" is 8.0 px'):
                assert fault in found, f"the checks miss a fault ({fault}):\n{found}"
            assert "text breaks a word" in found and "printed output 0" in found, found
            assert RAW_ROLE.search(page.inner_text("body")), "the role pattern misses a raw role"
            page.close()
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.set_default_timeout(60_000)
                for path in pages:
                    page.goto(base + path, wait_until="load")
                    page.wait_for_function(PAGE_READY, polling=200)
                    page.evaluate("document.fonts.ready")
                    found = layout_faults(page, "article", max_chars=400_000) + box_faults(page, "body")
                    text = page.inner_text("body")
                    found += [f"a raw Sphinx role: {m!r}" for m in RAW_ROLE.findall(text)[:3]]
                    found += ["an nbval tag shows"] if "nbval-" in text else []
                    faults += [f"{width} px /{path}: {fault}" for fault in found]
                    if path in ("results/", "notebooks/03_distillation_run/"):
                        name = path.strip("/").replace("/", "_")
                        page.screenshot(path=str(ARTIFACTS / f"site_{name}_{width}.png"))
                page.close()
        finally:
            browser.close()
    assert faults == [], f"{len(faults)} faults:\n" + "\n".join(faults[:60])
