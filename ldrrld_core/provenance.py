"""Which code is running: the toolkit's version and, in a git checkout, its commit.

``ldrrld --version`` prints :func:`version_line`; the study and the sweep record
:func:`source_commit` and :func:`numbers_fingerprint` in their results, so a test can tell when a
committed result was produced by other code than the current one. Only the standard library is
imported here.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
from pathlib import Path

__all__ = ["source_commit", "version_line", "numbers_fingerprint", "NUMBER_SOURCES", "SWEEP_SOURCES"]

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


#: The sources whose code decides a trained number (relative to the package folder): data, models,
#: losses and kernels, the trainer, and the study's and sweep's protocols. Reporting, plotting and
#: the command line are not among them: changing how a number is shown does not change it.
NUMBER_SOURCES = (
    "data",
    "models",
    "losses",
    "kernels",
    "train",
    "relations.py",
    "runtime.py",
    "study/protocol.py",
    "study/teacher.py",
    "study/tuning.py",
    "study/evidence.py",
    "study/executors.py",
    "study/run_folder.py",
)

#: What decides the sweep's numbers beyond :data:`NUMBER_SOURCES`.
SWEEP_SOURCES = ("study/sweep.py", "study/sweep_plan.py")


def _code_of(path: Path) -> bytes:
    """What of a source file can change a number: a Python module's syntax tree without its
    docstrings (comments, formatting and prose do not count), any other file's bytes."""
    if path.suffix != ".py":
        return path.read_bytes()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False).encode()


def numbers_fingerprint(*extra: str, package: str | Path | None = None) -> str:
    """SHA-256 (16 hex digits) of the code that decides trained numbers: :data:`NUMBER_SOURCES`
    and the ``extra`` sources (e.g. :data:`SWEEP_SOURCES` for the sweep).

    Equal fingerprints mean the same code up to docstrings, comments and formatting, so a result
    recorded with one fingerprint reproduces from any tree with the same one (on the same torch
    and device). ``package`` is the ``ldrrld_core`` folder (default: this one).
    """
    root = Path(package) if package is not None else Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for entry in (*NUMBER_SOURCES, *extra):
        target = root / entry
        files = sorted(target.rglob("*")) if target.is_dir() else [target]
        for path in files:
            if path.is_file() and path.suffix in (".py", ".c") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + _code_of(path) + b"\0")
    return digest.hexdigest()[:16]
