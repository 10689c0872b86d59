"""The fused LDRRLD forward and the top-d search as one compiled C function each, for a CPU.

At small ``C`` the torch form of :func:`~ldrrld_core.losses.fused.fused_ldrrld` is some seventy
small operations, each a few microseconds of dispatch, and ``torch.topk`` alone costs about one
KD. ``cpu_ldrrld.c`` does the top-d search in one call and the rest of the forward in another:
the remaining classes in vectorised passes over each row (tempered logits, maxima, ``exp``,
sums, then the KL and ``q - p``), the dense pairs and the top-d term of sixteen samples side by
side, one per vector lane. Results equal the torch form to round-off (``tests/test_cpu_kernel.py``;
the formulas are in the C file's header and ``docs/method.md``).

The source is compiled at first use with the system's C compiler (``$CC``, else ``cc``, ``gcc``
or ``clang``; about a second) into ``$LDRRLD_CACHE_DIR`` or ``~/.cache/ldrrld`` under a name
that hashes the source, the compiler and the CPU's features, then loaded with :mod:`ctypes`.
Groups of 16 rows are shared among ``torch.get_num_threads()`` OpenMP threads when the batch is
large enough: built with ``-fopenmp`` next to torch, that is torch's own thread pool (the loader
finds torch's ``libgomp.so.1`` already loaded), so the kernel never competes with torch's threads.

Used by default on a CPU for float32 and float64 arithmetic. The torch form stays the fallback
(no compiler: one warning, then the torch form) and the switch: ``LDRRLD_CPU_KERNEL=0`` in the
environment, or :data:`ENABLED` set to ``False``.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sysconfig
import threading
import uuid
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["ENABLED", "MAX_DEPTH", "available", "top_classes", "ldrrld_rows", "library_path"]

log = logging.getLogger(__name__)

#: Set to False to run the torch form everywhere (also: ``LDRRLD_CPU_KERNEL=0`` in the environment).
ENABLED = os.environ.get("LDRRLD_CPU_KERNEL", "1") != "0"
#: The deepest top-d set the kernel handles; deeper ones run in torch.
MAX_DEPTH = 64
#: Logits per thread below which fewer threads share the rows (waking a thread costs more).
ELEMENTS_PER_THREAD = 1 << 13

_SOURCE = Path(__file__).with_name("cpu_ldrrld.c")
_REALS = {torch.float32: (ctypes.c_float, "float"), torch.float64: (ctypes.c_double, "double")}
_libraries: dict[torch.dtype, ctypes.CDLL | None] = {}
_lock = threading.Lock()


def available(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether the kernel runs for logits on ``device`` computed in ``dtype`` (compiles it at first call).

    Never while ``torch.compile`` traces: it cannot see into a C call, so torch's forms run there.
    """
    if not ENABLED or device.type != "cpu" or dtype not in _REALS or torch.compiler.is_compiling():
        return False
    return _library(dtype) is not None


def _compiler() -> str | None:
    configured = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "").split(" ")[0]
    for name in (configured, "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_dir() -> Path:
    folder = os.environ.get("LDRRLD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "ldrrld"
    )
    return Path(folder).expanduser()


def _cpu_features() -> str:
    """The CPU's feature flags (``-march=native`` code must not run on a CPU with fewer)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def library_path(dtype: torch.dtype, compiler: str) -> Path:
    """Where the compiled kernel for ``dtype`` lives: a name that changes with whatever it depends on."""
    key = hashlib.sha256()
    for part in (_SOURCE.read_bytes(), compiler.encode(), str(os.stat(compiler).st_mtime_ns).encode()):
        key.update(part)
    key.update(f"{platform.machine()} {_cpu_features()} {_REALS[dtype][1]}".encode())
    return _cache_dir() / f"cpu_ldrrld_{_REALS[dtype][1]}_{key.hexdigest()[:16]}.so"


def _compile(dtype: torch.dtype, compiler: str, target: Path) -> None:
    """Compile the source for ``dtype`` into ``target``, atomically (concurrent processes may race)."""
    real = _REALS[dtype][1]
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    base = [compiler, "-O3", "-std=c11", "-fPIC", "-shared", f"-DREAL={real}"]
    base += [f"-DREAL_IS_DOUBLE={int(real == 'double')}", str(_SOURCE), "-o", str(temporary), "-lm"]
    try:
        # Not every compiler knows -march=native or has OpenMP (then the kernel runs on one thread).
        for tuned in (["-march=native", "-fopenmp"], ["-fopenmp"], ["-march=native"], []):
            done = subprocess.run(base[:1] + tuned + base[1:], capture_output=True, text=True, timeout=120)
            if done.returncode == 0:
                os.replace(temporary, target)
                return
        raise RuntimeError(done.stderr.strip()[-2000:] or f"{compiler} exited with status {done.returncode}")
    finally:
        temporary.unlink(missing_ok=True)


def _load(dtype: torch.dtype) -> ctypes.CDLL:
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found (set CC, or install gcc or clang)")
    path = library_path(dtype, compiler)
    if not path.exists():
        _compile(dtype, compiler, path)
    library = ctypes.CDLL(str(path))
    pointer, count, number = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int  # pointers: data_ptr() of tensors
    library.ldrrld_top_classes.argtypes = [pointer, count, count, count, number, pointer, number]
    library.ldrrld_rows.argtypes = [pointer, count, pointer, count, count, count, pointer, number, pointer, pointer]
    library.ldrrld_rows.argtypes += [pointer, number, _REALS[dtype][0]] + [pointer] * 6 + [number]  # see cpu_ldrrld.c
    for function in (library.ldrrld_top_classes, library.ldrrld_rows):
        function.restype = ctypes.c_int
    return library


def _library(dtype: torch.dtype) -> ctypes.CDLL | None:
    """The loaded kernel for ``dtype``; ``None`` (after one warning) when it cannot be built."""
    if dtype not in _libraries:
        with _lock:
            if dtype not in _libraries:
                try:
                    _libraries[dtype] = _load(dtype)
                except (OSError, RuntimeError, subprocess.SubprocessError) as error:
                    log.warning("LDRRLD's CPU kernel is unavailable, the torch form runs instead: %s", error)
                    _libraries[dtype] = None
    return _libraries[dtype]


def _pointer(tensor: Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _threads(rows: int, classes: int) -> int:
    return max(1, min(torch.get_num_threads(), rows * classes // ELEMENTS_PER_THREAD))


def _rows_of(logits: Tensor, dtype: torch.dtype) -> Tensor:
    """``logits`` in ``dtype`` with unit stride along classes (rows may be strided)."""
    logits = logits.detach().to(dtype)
    return logits if logits.stride(1) == 1 else logits.contiguous()


#: What the C entry points return: 0 done, 1 out of memory (2: arguments outside what they handle).
_DONE, _NO_MEMORY = 0, 1


def _indices(index: Tensor) -> Tensor:
    """``index`` as the contiguous int64 the C code reads (usually already)."""
    return index if index.dtype == torch.int64 and index.is_contiguous() else index.to(torch.int64).contiguous()


def _finished(status: int, what: str) -> bool:
    """True when the kernel did its work; False when the torch form must (arguments it does not handle)."""
    if status == _NO_MEMORY:
        raise MemoryError(f"LDRRLD's CPU kernel ran out of memory in {what}; free memory or use a smaller batch")
    return status == _DONE


def top_classes(logits: Tensor, depth: int) -> Tensor | None:
    """Indices of the ``depth`` largest logits per row, largest first; equal logits: lower class first.

    ``(B, C) -> (B, d)`` int64, or ``None`` when the kernel does not apply (not a CPU tensor,
    not floating point, ``depth > MAX_DEPTH``, no compiler); half precision is searched in float32,
    which keeps the order.
    """
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    if not logits.is_floating_point() or not 1 <= depth <= min(MAX_DEPTH, logits.shape[1]):
        return None
    if not available(logits.device, dtype):  # a CPU tensor, a compiler, not switched off
        return None
    rows = _rows_of(logits, dtype)
    batch, classes = rows.shape
    top = torch.empty(batch, depth, dtype=torch.int64)
    threads = _threads(batch, classes)
    status = _library(dtype).ldrrld_top_classes(
        rows.data_ptr(), rows.stride(0), batch, classes, depth, top.data_ptr(), threads
    )
    return top if _finished(status, "the top-d search") else None


def ldrrld_rows(
    student: Tensor,
    teacher: Tensor,
    top: Tensor,
    weights: Tensor,
    first: Tensor,
    second: Tensor,
    temperature: float,
    dtype: torch.dtype,
) -> tuple[Tensor, ...] | None:
    """What :func:`~ldrrld_core.losses.fused._ldrrld_rows` returns, from one call; ``None`` if it does not apply.

    Shapes: logits ``(B, C)``, ``top`` ``(B, d)``, ``weights``, ``first``, ``second`` ``(P,)``.
    Returns ``(local_kl (B,), rntk_kl (B,), pair_kl (B, P), topd_kl (B,), rest_grad (B, C) or
    None, top_grad (B, d))`` in ``dtype``.
    """
    batch, classes = student.shape
    depth, pairs = top.shape[1], first.shape[0]
    if depth > MAX_DEPTH or not available(student.device, dtype):
        return None
    s, t = _rows_of(student, dtype), _rows_of(teacher, dtype)
    top, first, second = (_indices(x) for x in (top, first, second))
    weights = weights.to(dtype).contiguous()
    local, topd_kl, pair_kl, top_grad = (
        s.new_empty(batch),
        s.new_empty(batch),
        s.new_empty(batch, pairs),
        s.new_empty(batch, depth),
    )
    rest_grad, rntk = (
        (s.new_empty(batch, classes), s.new_empty(batch)) if depth < classes else (None, s.new_zeros(batch))
    )
    status = _library(dtype).ldrrld_rows(
        s.data_ptr(),
        s.stride(0),
        t.data_ptr(),
        t.stride(0),
        batch,
        classes,
        top.data_ptr(),
        depth,
        first.data_ptr(),
        second.data_ptr(),
        weights.data_ptr(),
        pairs,
        temperature,
        *(_pointer(x) for x in (local, rntk, pair_kl, topd_kl, top_grad, rest_grad)),
        _threads(batch, classes),
    )
    if not _finished(status, "the LDRRLD forward"):
        return None
    return local, rntk, pair_kl, topd_kl, rest_grad, top_grad
