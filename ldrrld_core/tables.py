"""Tables as text: one markdown formatter, one fixed-width formatter, and the cells they hold most
(``mean ± std``, a ``[low, high]`` interval, a paired difference with its interval).

Every report of the toolkit (study, sweep, reproduction kit, ``runs table``, a history, a comparison)
writes its tables through these, so they look alike and a change of style is made once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["markdown_table", "text_table", "TextTable", "wrap", "mean_std", "interval", "difference"]


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


def wrap(text: str, width: int, *, indent: str = "") -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken at spaces only (a word longer than a
    line keeps its own line), continuation lines starting with ``indent``: text that a terminal or a
    notebook page never has to break inside a word."""
    import textwrap

    return textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def text_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, right: Sequence[bool] | None = None, rule: bool = False
) -> str:
    """A fixed-width table for terminals and notebooks: columns padded to their widest cell, two spaces apart.

    Args:
        header: the column names.
        rows: the cells, written with ``str``.
        right: per column, whether to right-align it (numbers) rather than left-align it (names);
            default every column right-aligned.
        rule: draw a line of dashes under the header.
    """
    header = [str(cell) for cell in header]
    cells = [[str(cell) for cell in row] for row in rows]
    right = [True] * len(header) if right is None else list(right)
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(header)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(row, widths, right)).rstrip()

    text = "\n".join([line(header), *([line(["-" * w for w in widths])] if rule else []), *map(line, cells)])
    return TextTable(text, header, cells, right)


class TextTable(str):
    """A text table that a notebook shows as an HTML table (so it never wraps like printed text).

    It is the table's text (``print`` it, compare it, split its lines); in Jupyter, a cell that
    ends with one, or ``display(table)``, shows ``_repr_html_``: the same cells in an HTML table,
    numbers right-aligned.
    """

    def __new__(cls, text: str, header: Sequence[str], cells: Sequence[Sequence[str]], right: Sequence[bool]):
        table = super().__new__(cls, text)
        table.header, table.cells, table.right = list(header), [list(row) for row in cells], list(right)
        return table

    def __repr__(self) -> str:  # the text itself, as a notebook's plain-text view shows it
        return str(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        from html import escape

        def row(cells: Sequence[str], tag: str) -> str:
            return (
                "<tr>"
                + "".join(
                    f'<{tag} style="text-align:{"right" if r else "left"}">{escape(c)}</{tag}>'
                    for c, r in zip(cells, self.right)
                )
                + "</tr>"
            )

        body = "".join(row(cells, "td") for cells in self.cells)
        return f'<table class="ldrrld-table"><thead>{row(self.header, "th")}</thead><tbody>{body}</tbody></table>'


def mean_std(mean: float | None, std: float | None = None, digits: int = 2, missing: str = "") -> str:
    """``"mean ± std"`` with ``digits`` decimals; ``mean`` alone without a ``std``; ``missing`` for none."""
    if mean is None:
        return missing
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def interval(bounds: Sequence[float], *, signed: bool = False, digits: int = 2) -> str:
    """``"[low, high]"`` with ``digits`` decimals; with ``signed``, each bound carries its sign (differences)."""
    low, high = bounds
    sign = "+" if signed else ""
    return f"[{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def difference(mean: float, bounds: Sequence[float], digits: int = 2) -> str:
    """A paired difference and its interval, signs shown: ``"+1.23 [+0.45, +2.01]"``."""
    return f"{mean:+.{digits}f} {interval(bounds, signed=True, digits=digits)}"
