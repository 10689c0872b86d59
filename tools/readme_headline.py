"""Write the README's first table from the committed evidence (``docs/results.json``).

The table sits between the markers ``<!-- headline:start -->`` and ``<!-- headline:end -->``;
``tests/test_docs.py`` fails when it differs from what this script writes. Usage::

    python tools/readme_headline.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- headline:start -->", "<!-- headline:end -->"


def headline_block() -> str:
    """The table with its markers, as the README must hold it."""
    from ldrrld_core.study.evidence_report import headline_markdown

    evidence = json.loads((ROOT / "docs" / "results.json").read_text(encoding="utf-8"))
    return f"{START}\n{headline_markdown(evidence)}\n{END}"


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(before + headline_block() + after, encoding="utf-8")
    print(f"wrote the headline table into {readme}")


if __name__ == "__main__":
    main()
