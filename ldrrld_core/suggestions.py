"""The "did you mean" hint that errors about unknown names share."""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" Did you mean 'a', 'b'?"`` for up to three close matches of ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=3)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""
