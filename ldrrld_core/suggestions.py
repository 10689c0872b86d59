"""The "did you mean" hint that every error about an unknown name shares."""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(name: str, choices: Iterable[str], *, count: int = 3) -> str:
    """``" Did you mean 'a', 'b'?"`` for up to ``count`` close matches of ``name``, or ``""``.

    Matching ignores case, so ``Resnet32x4`` finds ``resnet32x4``; the names keep their own case
    (two names that differ only in case, ``ResNet50`` and ``resnet50``, are both offered).
    """
    by_lower: dict[str, list[str]] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), []).append(choice)
    close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=count)
    matches = [choice for lowered in close for choice in by_lower[lowered]][: count + 1]
    return f" Did you mean {', '.join(map(repr, matches))}?" if matches else ""
