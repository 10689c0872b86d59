"""Tables as text: one markdown formatter, one fixed-width formatter and one ``mean ± std`` cell.

Every report of the toolkit (study, sweep, reproduction kit, ``runs table``, a history, a comparison)
writes its tables through these, so they look alike and a change of style is made once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["markdown_table", "text_table", "mean_std"]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub markdown table: a header row, a ``|---|`` rule and one line per row of cells.

    Cells are written with ``str``; a row must have as many cells as the header.
    """
    header = [str(cell) for cell in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(cell) for cell in row]
        if len(cells) != len(header):
            raise ValueError(f"a table row has {len(cells)} cells but the header has {len(header)}: {cells}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def text_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, left: int = 0) -> str:
    """A fixed-width table for terminals: columns padded to their widest cell, two spaces apart.

    The first ``left`` columns (names) are left-aligned, the rest (numbers) right-aligned.
    """
    header = [str(cell) for cell in header]
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(header)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([line(header), *(line(row) for row in cells)])


def mean_std(mean: float | None, std: float | None = None, digits: int = 2, missing: str = "") -> str:
    """``"mean ± std"`` with ``digits`` decimals; ``mean`` alone without a ``std``; ``missing`` for none."""
    if mean is None:
        return missing
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")
