"""Which code is running: the toolkit's version and, in a git checkout, its commit.

``ldrrld --version`` prints :func:`version_line`; the study and the sweep record
:func:`source_commit` in their results. Only the standard library is imported here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["source_commit", "version_line"]

#: The toolkit's checkout (the folder holding ``ldrrld_core``), when it runs from one.
_ROOT = Path(__file__).resolve().parent.parent


def source_commit(short: bool = False) -> str | None:
    """The git commit of this source tree (``+dirty`` when tracked files differ from it), or ``None``.

    Only the toolkit's own checkout counts: a copy installed inside some other repository (a
    virtual environment in a project folder) has no commit of its own. ``short`` abbreviates the
    hash as ``git rev-parse --short`` does.
    """
    if not (_ROOT / ".git").exists():
        return None
    try:

        def git(*arguments: str) -> subprocess.CompletedProcess:
            return subprocess.run(["git", *arguments], cwd=_ROOT, capture_output=True, text=True, timeout=10)

        head = git("rev-parse", *(["--short"] if short else []), "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def version_line() -> str:
    """``ldrrld <version>``, followed by `` (commit <short hash>[+dirty])`` when run from a checkout."""
    from . import __version__

    commit = source_commit(short=True)
    return f"ldrrld {__version__}" + (f" (commit {commit})" if commit else "")
