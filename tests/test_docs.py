"""The README and docs point at things that exist, and its pictures come out of the notebooks."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import make_figures  # noqa: E402

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_relative_links_resolve(document):
    text = document.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    if document.name == "README.md":
        assert len(targets) >= 10  # the pattern really finds the README's links
    missing = [t for t in targets if "://" not in t and not (document.parent / t).exists()]
    assert not missing, f"{document.name} links to missing files: {missing}"


def test_readme_has_no_unfilled_placeholders():
    text = (ROOT / "README.md").read_text()
    assert not re.search(r"\b[A-Z]+(_[A-Z]+)+_TABLE\b", text)


@pytest.mark.parametrize("name", sorted(make_figures.FIGURES))
def test_readme_pictures_are_the_notebook_outputs(name):
    notebook, marker = make_figures.FIGURES[name]
    png = make_figures.cell_png(ROOT / "notebooks" / notebook, marker)
    assert png.startswith(b"\x89PNG")
    assert (ROOT / "docs" / "img" / name).read_bytes() == png, "run `python docs/make_figures.py`"


def test_readme_opens_on_the_committed_results_table():
    """The README's first screen shows the headline study, exactly as the committed evidence gives it."""
    sys.path.insert(0, str(ROOT / "tools"))
    import readme_headline

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme_headline.headline_block()
    assert block in text, "the README's results table is stale: run `python tools/readme_headline.py`"
    first_screen = "\n".join(text.splitlines()[:40])
    assert readme_headline.END in first_screen, "the results table must end within the README's first 40 lines"
    for method in ("| CE |", "| KD |", "| DKD |", "| LDRRLD |"):
        assert method in block
    assert "](docs/results.md)" in first_screen and "](docs/glossary.md)" in first_screen
