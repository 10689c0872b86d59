"""Plain-text tables for notebooks and logs: aligned columns, fixed digits (stable under nbval)."""

from __future__ import annotations

from typing import Mapping, Sequence

__all__ = ["format_table"]


def format_table(rows: Sequence[Mapping[str, object]], *, digits: int = 3) -> str:
    """Rows of dictionaries as an aligned text table; floats with ``digits`` decimals.

    Columns are the keys of the first row, in order; text is left-aligned, numbers right-aligned.
    """
    if not rows:
        raise ValueError("no rows to format")
    columns = list(rows[0])
    missing = [i for i, row in enumerate(rows) if list(row) != columns]
    if missing:
        raise ValueError(f"row(s) {missing} have other columns than the first row {columns}")

    def cell(value: object) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    cells = [[cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[k]) for r in cells)) for k, c in enumerate(columns)]
    numeric = [all(isinstance(row[c], (int, float)) for row in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])
