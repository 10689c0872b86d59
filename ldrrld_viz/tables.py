"""Plain-text tables of row dictionaries for notebooks and logs (drawn by :func:`ldrrld_core.tables.text_table`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ldrrld_core.tables import text_table

__all__ = ["format_table"]


def format_table(
    rows: Sequence[Mapping[str, object]], *, digits: int = 3, headers: Mapping[str, str] | None = None
) -> str:
    """Rows of dictionaries as an aligned text table; floats with ``digits`` decimals.

    Columns are the keys of the first row, in order; text is left-aligned, numbers right-aligned.
    ``headers`` gives some columns a name for people (``{"kendall_tau_all": "tau, all classes"}``,
    e.g. :data:`ldrrld_core.analysis.FIDELITY_HEADERS`); the others are headed by their key.
    """
    if not rows:
        raise ValueError("no rows to format")
    columns = list(rows[0])
    missing = [i for i, row in enumerate(rows) if list(row) != columns]
    if missing:
        raise ValueError(f"row(s) {missing} have other columns than the first row {columns}")

    def cell(value: object) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    numeric = [all(isinstance(row[c], (int, float)) for row in rows) for c in columns]
    names = [str((headers or {}).get(c, c)) for c in columns]
    return text_table(names, [[cell(row[c]) for c in columns] for row in rows], right=numeric, rule=True)
