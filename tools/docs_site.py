"""MkDocs hook of the documentation site (``mkdocs.yml`` names it; ``make docs`` builds the site).

It does four things MkDocs and mkdocs-jupyter do not do by themselves:

* **Notebooks.** ``notebooks/NN_*.ipynb`` become the pages ``notebooks/NN_*/``, rendered from their
  committed outputs (nothing runs). Before mkdocs-jupyter renders one, :func:`site_notebook` gives
  every plotly figure an HTML form that draws it with plotly.js (nbconvert has no renderer for
  plotly's own output type), replaces each live widget by the static picture it saved with a line
  saying what the live version does, and points relative links at the site's pages.
* **JavaScript, offline.** plotly.js and MathJax come from the local copies their Python packages
  ship (``plotly``, ``jupyter-server-mathjax``), never from a CDN, so the site works without a
  network; plotly.js is loaded only by pages that draw a plotly figure.
* **Links.** ``docs/*.md`` link the way GitHub reads them (``../notebooks/01_dense_relations.ipynb``);
  a link that leaves ``docs/`` for a file the site renders is pointed at that page. Any other link
  out of ``docs/`` is left alone, so ``mkdocs build --strict`` reports it as broken.
* **Widgets need a kernel.** :data:`WIDGET_NOTES` says, for each widget class a notebook shows,
  what it does live; a widget without a note stops the build.
* **Sphinx roles in docstrings.** The docstrings cross-reference the Sphinx way
  (``:func:`ldrrld_loss```); :class:`SphinxRoles`, a Griffe extension that ``mkdocs.yml`` gives
  mkdocstrings, turns each role into a link to the object's entry in the API reference (or into
  plain code where the object has no entry, as for ``torch.load``).
* **Lazy exports.** A package top that exports lazily (PEP 562: ``_EXPORTS`` built with
  ``exports_of(".submodule", names)``, see ``ldrrld_core/lazy.py``) imports nothing a static reader
  can follow; :class:`LazyExports` reads its export table, so the reference documents
  ``ldrrld_core.LDRRLDLoss`` where a user imports it.
* **What Lab does not show.** nbval's cell tags (``nbval-ignore-output``) are for the tests, so the
  pages leave them out. (The layout, tables and printed output included, is ``mkdocs.yml``'s theme
  settings and ``docs/stylesheets/site.css``.)
"""

from __future__ import annotations

import ast
import copy
import html
import json
import posixpath
import re
import shutil
import tempfile
from pathlib import Path

import griffe
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: Where the site keeps plotly.js and MathJax.
PLOTLY_JS = "assets/javascripts/plotly.min.js"
MATHJAX_DIR = "assets/mathjax"
MATHJAX_QUERY = "MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
#: ``mkdocs.yml`` gives mkdocs-jupyter this as MathJax's URL; each page gets its relative path instead.
MATHJAX_PLACEHOLDER = "LDRRLD_MATHJAX_URL"
#: The packaged MathJax has the STIX-Web fonts only (as the classic Jupyter Notebook uses it). Its
#: placeholder font ``MathJax_Blank`` loads from ``about:blank``, which Chromium refuses with a console
#: error; a ``local()`` source fetches nothing.
MATHJAX_CONFIG = (
    '<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], '
    'webFont: "STIX-Web", imageFont: null, styles: {"@font-face": {"font-family": "MathJax_Blank", '
    "src: \"local('MathJax_Blank')\"}}}});</script>"
)

PLOTLY_TYPE = "application/vnd.plotly.v1+json"
WIDGET_TYPE = "application/vnd.jupyter.widget-view+json"
#: What each widget does with a kernel behind it, keyed by the class name its ``text/plain`` starts with.
WIDGET_NOTES = {
    "WeightPanel": (
        "A picture of the live panel as the notebook saved it. Run the notebook (`make lab`) and its "
        "sliders move the depth `d`, the decay `gamma` and the temperature `T`: the weight grids, the "
        "pair shares and this sample's pair KLs and contributions redraw (with `sweep=True`, the measured "
        "accuracy and Kendall tau at that `d` and `gamma` too)."
    ),
}
_LINK = re.compile(r"(\]\()([^)\s]+)(\))")
#: Cell tags that only steer the tests (nbval); the pages leave them out.
TEST_TAGS = re.compile(r"nbval-")


# ----------------------------------------------------------------------------- notebooks
def plotly_html(figure: dict) -> str:
    """The ``<div>`` and ``<script>`` that draw a saved plotly figure (``{"data": ..., "layout": ...}``)
    with the page's plotly.js, as JupyterLab draws it: responsive, hover and zoom included."""
    import plotly.io

    return plotly.io.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        validate=False,
        default_width="100%",
        config={"responsive": True, "displaylogo": False},
    )


def _widget_name(data: dict) -> str:
    """The class name a widget's ``text/plain`` starts with (``"WeightPanel"``), or ``""``."""
    text = data.get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else text
    return re.match(r"\w*", text).group()


def is_saved_widget(data: dict) -> bool:
    """Whether an output is a widget: its live view, or the still a saved notebook keeps of a known panel
    (the notebooks are saved without widget views, so Lab shows the picture until the cell runs)."""
    return WIDGET_TYPE in data or (_widget_name(data) in WIDGET_NOTES and "image/png" in data)


def _widget_note(data: dict, where: str) -> str:
    name = _widget_name(data)
    if name not in WIDGET_NOTES:
        raise PluginError(
            f"{where}: a widget {name or data.get('text/plain')!r} has no note in tools/docs_site.py WIDGET_NOTES; "
            "add one line saying what the live widget does"
        )
    if "image/png" not in data:
        raise PluginError(f"{where}: the widget {name} saved no static picture (image/png); give it one")
    return WIDGET_NOTES[name]


def _site_outputs(outputs: list, where: str) -> list:
    """Outputs the site can show: plotly figures drawn by plotly.js, widgets as their picture + a note."""
    shown = []
    for output in outputs:
        data = output.get("data", {})
        if PLOTLY_TYPE in data and "text/html" not in data:
            output["data"]["text/html"] = plotly_html(data[PLOTLY_TYPE])
        if is_saved_widget(data):
            note = _widget_note(data, where)
            data.pop(WIDGET_TYPE, None)
            shown += [output, {"output_type": "display_data", "metadata": {}, "data": {"text/markdown": f"*{note}*"}}]
            continue
        shown.append(output)
    return shown


def _site_links(text: str, link_url) -> str:
    """``text`` (a markdown cell) with each relative link replaced by ``link_url(target)``."""

    def replace(match: re.Match) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return match.group(0)
        return match.group(1) + link_url(target) + match.group(3)

    return _LINK.sub(replace, text)


def site_notebook(notebook: dict, name: str, link_url=lambda target: target) -> dict:
    """A copy of ``notebook`` (nbformat 4 JSON) ready for the site: see the module docstring.

    ``link_url(target)`` maps a relative link of a markdown cell to the URL the page should use (it
    raises for a target the site does not have).
    """
    notebook = copy.deepcopy(notebook)
    notebook["metadata"].pop("widgets", None)  # no widget manager (from a CDN) on a page without a kernel
    for index, cell in enumerate(notebook["cells"]):
        tags = [tag for tag in cell.get("metadata", {}).get("tags", []) if not TEST_TAGS.match(tag)]
        if tags:
            cell["metadata"]["tags"] = tags
        else:
            cell.get("metadata", {}).pop("tags", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = _site_outputs(cell.get("outputs", []), f"{name} cell {index}")
        elif cell["cell_type"] == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = _site_links(source, link_url)
    return notebook


# ----------------------------------------------------------------------------- docstrings
#: A Sphinx cross-reference role: ``:func:`name```, ``:class:`~pkg.Name```, ``:meth:`title <target>```.
SPHINX_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const):`(?P<text>[^`]+)`")
#: The packages the API reference documents: a role naming anything else (``torch.load``) is code.
DOCUMENTED = ("ldrrld_core", "ldrrld_viz")


def _object_at(collection, path: str):
    try:
        return collection[path]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def role_target(obj, target: str) -> str | None:
    """The full path a Sphinx role's ``target`` names, read in the scope of ``obj`` (the object whose
    docstring has the role), as Sphinx reads it; ``None`` for an object outside :data:`DOCUMENTED`.

    ``.name`` is looked up in the module of ``obj`` and then in each package above it; ``name`` is a
    member of ``obj``, of its parents, or a name its module imports; ``pkg.name`` is a full path.
    """
    collection = obj.modules_collection
    if target.startswith("."):
        rest = target.lstrip(".")
        scope = obj.module
        while scope is not None:
            if _object_at(collection, f"{scope.path}.{rest}") is not None:
                return f"{scope.path}.{rest}"
            scope = scope.parent
        return None
    first, _, rest = target.partition(".")
    if first in DOCUMENTED:
        return target
    try:
        path = obj.resolve(first)
    except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
        return None
    path = f"{path}.{rest}" if rest else path
    return path if path.split(".", 1)[0] in DOCUMENTED else None


def role_html(obj, text: str) -> str:
    """The HTML a Sphinx role's text becomes: a cross-reference that autorefs turns into a link to the
    object's entry in the API reference, or, for an object the site has no entry for, its code."""
    explicit = re.fullmatch(r"(.+?)\s*<([^<>]+)>", text.strip())  # :func:`the title <target>`
    title, target = explicit.groups() if explicit else (None, text.strip())
    if title is None:
        shown = target.lstrip("~.")
        title = shown.rsplit(".", 1)[-1] if target.startswith("~") else shown
    path = role_target(obj, target.lstrip("~"))
    code = f"<code>{html.escape(title)}</code>"
    # `optional`: an object the reference does not render (private, or not collected) stays code.
    return code if path is None else f'<autoref identifier="{path}" optional>{code}</autoref>'


class SphinxRoles(griffe.Extension):
    """Griffe extension: every Sphinx role in a docstring of the loaded package becomes a cross-reference
    (:func:`role_html`), resolved in the scope of the object whose docstring it is."""

    def on_package(self, *, pkg, **kwargs) -> None:
        for obj in _documented_objects(pkg):
            if obj.docstring is not None and SPHINX_ROLE.search(obj.docstring.value):
                obj.docstring.value = SPHINX_ROLE.sub(lambda m: role_html(obj, m["text"]), obj.docstring.value)


class LazyExports(griffe.Extension):
    """Griffe extension: the names a package exports through ``ldrrld_core.lazy`` (its ``_EXPORTS``
    table of ``exports_of(".submodule", names)`` entries) become members of the package, as an import
    would have made them, and its exports (``__all__``), in the table's order."""

    def on_module(self, *, mod, **kwargs) -> None:
        table = lazy_export_table(mod)
        if not table:
            return
        for name, (submodule, lineno) in table.items():
            target = f"{mod.path}.{submodule.lstrip('.')}" if submodule.startswith(".") else submodule
            mod.set_member(name, griffe.Alias(name, f"{target}.{name}", lineno=lineno, endlineno=lineno, parent=mod))
        # `__all__ = [*_EXPORTS]` reads, statically, as the one name `_EXPORTS`: the table's names instead.
        kept = [name for name in mod.exports or [] if str(name) not in ("_EXPORTS", *table)]
        mod.exports = [*kept, *table]


def lazy_export_table(mod) -> dict[str, tuple[str, int]]:
    """``{name: (submodule, line)}`` of the ``_EXPORTS = {**exports_of(submodule, (names...)), ...}``
    assignment in ``mod``'s source; empty where it has none."""
    if "_EXPORTS" not in mod.members or not isinstance(mod.filepath, Path):
        return {}
    tree = ast.parse(mod.filepath.read_text(encoding="utf-8"))
    table = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["_EXPORTS"]:
            for value in getattr(node.value, "values", []):
                if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "exports_of":
                    submodule, names = (ast.literal_eval(arg) for arg in value.args)
                    table.update((name, (submodule, value.lineno)) for name in names)
    return table


def _documented_objects(obj):
    """``obj`` and every object defined under it (not the names it imports)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _documented_objects(member)


# ----------------------------------------------------------------------------- MkDocs events
_state: dict = {}


def _repo_path(target: str, source: Path) -> str | None:
    """The repository-relative path a relative link from ``source`` points at (``None`` if outside)."""
    path = target.split("#", 1)[0]
    resolved = Path(posixpath.normpath((source.parent / path).as_posix()))
    try:
        return resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return None


def _notebook_link_url(notebook: Path, page_file: File, by_repo_path: dict):
    def link_url(target: str) -> str:
        anchor = "#" + target.split("#", 1)[1] if "#" in target else ""
        found = by_repo_path.get(_repo_path(target, notebook))
        if found is None:
            raise PluginError(f"{notebook.name} links to {target!r}, which is not a page or file of the site")
        return get_relative_url(found.url, page_file.url) + anchor

    return link_url


def _static(config, src_uri: str, path: Path) -> File:
    return File.generated(config, src_uri, abs_src_path=str(path))


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns the notebooks into pages
def on_files(files: Files, config) -> Files:
    import jupyter_server_mathjax
    import plotly

    scratch = Path(tempfile.mkdtemp(prefix="ldrrld-site-"))
    _state["scratch"] = scratch
    docs = Path(config.docs_dir)
    by_repo_path = {(docs / f.src_uri).relative_to(ROOT).as_posix(): f for f in files if f.abs_src_path}
    notebooks = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        # A file under a real source folder (not File.generated): mkdocs-jupyter's wrapper needs one.
        page_file = File(f"notebooks/{path.name}", str(scratch), config.site_dir, config.use_directory_urls)
        notebooks[path] = by_repo_path[f"notebooks/{path.name}"] = page_file
    (scratch / "notebooks").mkdir()
    for path, page_file in notebooks.items():
        link_url = _notebook_link_url(path, page_file, by_repo_path)
        notebook = site_notebook(json.loads(path.read_text(encoding="utf-8")), path.name, link_url)
        Path(page_file.abs_src_path).write_text(json.dumps(notebook), encoding="utf-8")
        files.append(page_file)
    _state["site_paths"] = {repo: f for repo, f in by_repo_path.items() if not repo.startswith("docs/")}
    files.append(_static(config, PLOTLY_JS, Path(plotly.__file__).parent / "package_data" / "plotly.min.js"))
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    for path in sorted(p for p in mathjax.rglob("*") if p.is_file()):
        files.append(_static(config, f"{MATHJAX_DIR}/{path.relative_to(mathjax).as_posix()}", path))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    """Point links that leave ``docs/`` for a page the site renders (a notebook) at that page."""
    source = Path(page.file.abs_src_path)

    def link_url(target: str) -> str:
        repo_path = _repo_path(target, source)
        found = _state["site_paths"].get(repo_path) if repo_path else None
        if found is None:
            return target  # inside docs/ (MkDocs checks it), or broken: --strict reports it
        anchor = "#" + target.split("#", 1)[1] if "#" in target else ""
        return posixpath.relpath(found.src_uri, posixpath.dirname(page.file.src_uri) or ".") + anchor

    return _site_links(markdown, link_url)


def on_post_page(output: str, page, config) -> str:
    """MathJax's URL relative to this page; plotly.js in the head of the pages that draw a figure."""
    head = []
    if MATHJAX_PLACEHOLDER in output:
        output = output.replace(MATHJAX_PLACEHOLDER, get_relative_url(f"{MATHJAX_DIR}/{MATHJAX_QUERY}", page.url))
        head.append(MATHJAX_CONFIG)
    if 'class="plotly-graph-div"' in output:
        head.append(f'<script src="{get_relative_url(PLOTLY_JS, page.url)}"></script>')
    return output.replace("</head>", "\n".join(head + ["</head>"]), 1)


def on_post_build(config) -> None:
    scratch = _state.pop("scratch", None)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


def on_build_error(error) -> None:
    on_post_build(None)


def on_shutdown() -> None:  # after a build that --strict aborted
    on_post_build(None)
