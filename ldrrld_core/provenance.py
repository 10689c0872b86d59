"""Which code is running: the toolkit's version and, in a git checkout, its commit.

``ldrrld --version`` prints :func:`version_line`; the study and the sweep record
:func:`source_commit` and :func:`numbers_fingerprint` in their results, so a test can tell when a
committed result was produced by other code than the current one. :func:`numeric_environment`
says what of the machine decides a run's last bits (threads, the CPU kernels' instruction set,
the environment variables that change numerics); it is provenance, not identity: no run is
matched or trained again by it. Only the standard library is imported at the top (torch only
inside :func:`numeric_environment`).
"""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
from pathlib import Path

__all__ = [
    "source_commit",
    "version_line",
    "numbers_fingerprint",
    "numeric_environment",
    "NUMBER_SOURCES",
    "SWEEP_SOURCES",
    "NUMERIC_VARIABLES",
]

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


#: Environment variables that change a run's numbers when set, and why. Threads change the order
#: of parallel reductions; an instruction set changes which vectorised kernel sums (and rounds) how;
#: the rest choose other algorithms or precisions. Left out because they change speed or memory but
#: not numbers: ``PYTORCH_CUDA_ALLOC_CONF`` (the allocator), ``CUDA_LAUNCH_BLOCKING`` (synchronisation),
#: ``KMP_AFFINITY`` and ``OMP_PROC_BIND`` (thread placement).
NUMERIC_VARIABLES: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "the instruction set of ATen's vectorised CPU kernels (default, avx2, avx512)",
    "OMP_NUM_THREADS": "OpenMP threads: torch's default intra-op thread count and the order of its reductions",
    "MKL_NUM_THREADS": "MKL's threads: how its BLAS and FFT kernels split (and sum) a product",
    "MKL_CBWR": "MKL's conditional numerical reproducibility: which code path MKL takes",
    "MKL_ENABLE_INSTRUCTIONS": "the highest instruction set MKL may use",
    "ONEDNN_MAX_CPU_ISA": "the highest instruction set of oneDNN's CPU convolutions",
    "DNNL_MAX_CPU_ISA": "the same, under oneDNN's older name",
    "ONEDNN_DEFAULT_FPMATH_MODE": "whether oneDNN may compute float32 in bf16 or tf32",
    "CUBLAS_WORKSPACE_CONFIG": "cuBLAS's workspace: required for deterministic cuBLAS, it changes its algorithms",
    "NVIDIA_TF32_OVERRIDE": "0 forbids TF32 in every CUDA library, whatever torch allows",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1 lets float32 matrix products run in TF32",
}


def numeric_environment() -> dict[str, object]:
    """What of this process decides a run's last bits, as plain JSON values.

    ``threads`` and ``interop_threads`` (torch's), ``cpu_capability`` (the instruction set ATen's
    CPU kernels run, ``torch.backends.cpu.get_cpu_capability()``) and every variable of
    :data:`NUMERIC_VARIABLES` (its value, ``None`` when unset). Two runs of the same recipe and
    code that differ here may differ bitwise; runs are never matched by it.
    """
    import torch

    return {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        **{name: os.environ.get(name) for name in NUMERIC_VARIABLES},
    }
