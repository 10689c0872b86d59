"""The fused LDRRLD forward and the top-d search as one compiled C function each, for a CPU; TeKAP and DIST too.

At small ``C`` the torch form of :func:`~ldrrld_core.losses.fused.fused_ldrrld` is some seventy
small operations, each a few microseconds of dispatch, and ``torch.topk`` alone costs about one
KD. ``cpu_ldrrld.c`` does the top-d search in one call and the rest of the forward in another:
the remaining classes in vectorised passes over each row (tempered logits, maxima, ``exp``,
sums, then the KL and ``q - p``), the dense pairs and the top-d term of sixteen samples side by
side, one per vector lane. Results equal the torch form to round-off (``tests/test_cpu_kernel.py``;
the formulas are in the C file's header and ``docs/method.md``).

Two baselines whose torch forms are many small calls take the same road: :func:`tekap_rows`
computes TeKAP's five softmaxes (the student's, the teacher's and three noisy teachers'), their KLs
and the gradient row by row, and :func:`dist_forward` / :func:`dist_backward` DIST's softmaxes,
the correlations of every sample's row and every class's column (sums in float64) and the
gradient. At ``C = 100`` they bring both from about 1.5x to about 1.0-1.2x ``F.kl_div`` KD
(``docs/benchmarks.md``).

The source is compiled at first use with the system's C compiler (``$CC``, else ``cc``, ``gcc``
or ``clang``; about a second, given up after :data:`BUILD_TIMEOUT` seconds, a warning after a
few) into ``$LDRRLD_CACHE_DIR``, ``$XDG_CACHE_HOME/ldrrld`` or ``~/.cache/ldrrld`` (absolute
paths only) under a name that hashes the source, the compiler and the CPU's features, then
loaded with :mod:`ctypes`. The cache is trusted only as far as it is private
(:mod:`ldrrld_core.cache_trust`, the rule the teacher-output cache follows too): the folder is
created ``0700`` and refused if it belongs to another user or others may write it or any folder
above it (up to the home folder or a root-owned sticky folder), files are opened without
following links or blocking (a FIFO at the build record is refused, not read), and a library is
loaded only if its SHA-256 equals the one recorded (``<name>.sha256``, beside it) when this
installation built it, from a private copy of the very descriptor that was hashed; a truncated
or replaced library is built again before any of it runs.
Groups of 16 rows are shared among ``torch.get_num_threads()`` OpenMP threads when the batch is
large enough: built with ``-fopenmp`` next to torch, that is torch's own thread pool (the loader
finds torch's ``libgomp.so.1`` already loaded), so the kernel never competes with torch's threads.

Used by default on a CPU for float32 and float64 arithmetic. The torch form stays the fallback
(whatever fails, a missing or hanging compiler, garbled compiler output, a library without the
entry points, an untrusted cache: one warning, then the torch form, for the rest of the process)
and the switch: ``LDRRLD_CPU_KERNEL=0`` in the environment, or :data:`ENABLED` set to ``False``.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import sysconfig
import threading
import time
import uuid
from pathlib import Path

import torch
from torch import Tensor

from ..cache_trust import UntrustedCacheError, cache_base, check_private, open_private, private_folder

__all__ = [
    "ENABLED",
    "MAX_DEPTH",
    "BUILD_TIMEOUT",
    "UntrustedCacheError",
    "available",
    "top_classes",
    "ldrrld_rows",
    "tekap_rows",
    "dist_forward",
    "dist_backward",
    "library_path",
    "record_path",
]

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
    """The folder of the compiled libraries: ``$LDRRLD_CACHE_DIR``, else ``$XDG_CACHE_HOME/ldrrld``, else
    ``~/.cache/ldrrld``. A relative path in either variable is ignored (the XDG spec calls it invalid;
    it would put the cache in whatever folder the process runs in): :func:`~ldrrld_core.cache_trust.cache_base`."""
    return cache_base()


def _private_folder(folder: Path) -> Path:
    """``folder``, created ``0700``; refused unless it and the folders above it are safe (:mod:`..cache_trust`)."""
    return private_folder(folder)


def _check_private(path: Path, status: os.stat_result, what: str) -> None:
    check_private(path, status, what)


def _cpu_features() -> str:
    """The CPU's feature flags (``-march=native`` code must not run on a CPU with fewer)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _build_key(dtype: torch.dtype, compiler: str) -> str:
    """A name that changes with whatever the library depends on: the source, the compiler, the CPU and ``dtype``."""
    key = hashlib.sha256()
    for part in (_SOURCE.read_bytes(), compiler.encode(), str(os.stat(compiler).st_mtime_ns).encode()):
        key.update(part)
    key.update(f"{platform.machine()} {_cpu_features()} {_REALS[dtype][1]}".encode())
    return f"cpu_ldrrld_{_REALS[dtype][1]}_{key.hexdigest()[:16]}"


def record_path(dtype: torch.dtype, compiler: str) -> Path:
    """The build record of the kernel for ``dtype``: the SHA-256 of the library this installation built.

    Written (atomically) after a build, in the cache folder; a library is loaded only when its
    bytes have this digest. The library itself is :func:`library_path`.
    """
    return _cache_dir() / f"{_build_key(dtype, compiler)}.sha256"


def library_path(dtype: torch.dtype, compiler: str, digest: str) -> Path:
    """The compiled kernel for ``dtype`` whose bytes have the SHA-256 ``digest`` (named by both)."""
    return _cache_dir() / f"{_build_key(dtype, compiler)}-{digest[:16]}.so"


#: Seconds a build may take before it is given up (the torch form then runs), and before it says it is building.
BUILD_TIMEOUT, SLOW_BUILD_NOTICE = 60.0, 3.0


def _run_compiler(command: list[str], deadline: float) -> subprocess.CompletedProcess:
    """Run one compiler command; its output decoded whatever its encoding. Says so when it is slow; killed
    (with whatever it started) at ``deadline`` (a :func:`time.monotonic` time), raising ``TimeoutExpired``."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        try:
            out, err = process.communicate(timeout=min(SLOW_BUILD_NOTICE, max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise
            log.warning(
                "compiling LDRRLD's CPU kernel (once per compiler and CPU; up to %g s, LDRRLD_CPU_KERNEL=0 skips it)",
                BUILD_TIMEOUT,
            )
            out, err = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except BaseException:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    text = (err or out).decode("utf-8", errors="replace")
    return subprocess.CompletedProcess(command, process.returncode, out, text)


def _compile(dtype: torch.dtype, compiler: str) -> tuple[Path, str]:
    """Compile the source for ``dtype`` into the private cache folder; returns the library and its SHA-256.

    Atomic: the library is written under a temporary name and renamed to a name holding its digest,
    then the build record (:func:`record_path`) is replaced; concurrent processes may race safely.
    """
    real = _REALS[dtype][1]
    folder = _private_folder(_cache_dir())
    temporary = folder / f".cpu_ldrrld_{real}.{uuid.uuid4().hex[:12]}.tmp"
    base = [compiler, "-O3", "-std=c11", "-fPIC", "-shared", f"-DREAL={real}"]
    base += [f"-DREAL_IS_DOUBLE={int(real == 'double')}", str(_SOURCE), "-o", str(temporary), "-lm"]
    deadline = time.monotonic() + BUILD_TIMEOUT
    try:
        # Not every compiler knows -march=native or has OpenMP (then the kernel runs on one thread).
        for tuned in (["-march=native", "-fopenmp"], ["-fopenmp"], ["-march=native"], []):
            try:
                done = _run_compiler(base[:1] + tuned + base[1:], deadline)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{compiler} did not finish within {BUILD_TIMEOUT:g} s") from None
            if done.returncode == 0:
                os.chmod(temporary, 0o500)  # whatever the umask: nobody else writes it, nor does a later build
                digest = hashlib.sha256(temporary.read_bytes()).hexdigest()
                library = library_path(dtype, compiler, digest)
                os.replace(temporary, library)
                _write_private(record_path(dtype, compiler), digest + "\n")
                return library, digest
        raise RuntimeError(done.stderr.strip()[-2000:] or f"{compiler} exited with status {done.returncode}")
    finally:
        temporary.unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable and writable by this user alone (mode ``0600``)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _verified(dtype: torch.dtype, compiler: str) -> tuple[Path, str] | None:
    """The cached library and its digest when the build record and the library check out; ``None``: build it.

    Raises :class:`UntrustedCacheError` for a folder or file that someone else may have written.
    """
    record = record_path(dtype, compiler)
    _private_folder(record.parent)
    descriptor = open_private(record, "build record")  # never blocks: a FIFO there is refused, not read
    if descriptor is None:
        return None
    with os.fdopen(descriptor, "rb") as file:
        digest = file.read(200).decode("ascii", errors="replace").strip()
    if len(digest) != 64 or set(digest) - set("0123456789abcdef"):
        log.warning("the kernel's build record %s is damaged; building the kernel again", record)
        return None
    library = library_path(dtype, compiler, digest)
    return (library, digest) if library.exists() else None


def _opened_if_matches(library: Path, digest: str) -> int | None:
    """A descriptor on ``library`` when it is a regular file of this user's, that nobody else may write,
    whose bytes have the SHA-256 ``digest``; ``None`` when not (a truncated or replaced file). The
    library is then loaded from this very descriptor (:func:`_load_descriptor`), not its path again."""
    descriptor = open_private(library, "library")
    if descriptor is None:
        return None
    content = hashlib.sha256()
    os.lseek(descriptor, 0, os.SEEK_SET)
    while block := os.read(descriptor, 1 << 20):
        content.update(block)
    if content.hexdigest() != digest:
        os.close(descriptor)
        return None
    return descriptor


def _matches(library: Path, digest: str) -> bool:
    """Whether ``library`` passes :func:`_opened_if_matches` (the descriptor closed again)."""
    descriptor = _opened_if_matches(library, digest)
    if descriptor is not None:
        os.close(descriptor)
    return descriptor is not None


def _load_descriptor(descriptor: int, library: Path) -> ctypes.CDLL:
    """Load the library from a private copy of the descriptor that was hashed, under a name used once,
    so a file swapped in after the check is never what loads. (Not ``/proc/self/fd/N``: the loader
    knows libraries by name, and a descriptor number used again would give the library loaded before.)"""
    copy = library.with_name(f".{library.name}.{uuid.uuid4().hex[:12]}.load")
    target = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o500)
    try:
        os.lseek(descriptor, 0, os.SEEK_SET)
        while block := os.read(descriptor, 1 << 20):
            os.write(target, block)
        os.close(target)
        return ctypes.CDLL(str(copy))
    finally:
        copy.unlink(missing_ok=True)


def _load(dtype: torch.dtype) -> ctypes.CDLL:
    """Build (or find in the cache) and load the kernel for ``dtype``; raise if it cannot be.

    Only a library whose SHA-256 equals the one recorded when this installation built it is loaded,
    from a folder of this user's that nobody else may write (nor any folder above it), and from the
    open file that was hashed; a library that fails the check (a truncated or replaced file) is
    built again before anything of it runs.
    """
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found (set CC, or install gcc or clang)")
    found = _verified(dtype, compiler)
    descriptor = None if found is None else _opened_if_matches(*found)
    if found is not None and descriptor is None:
        log.warning("the cached kernel %s does not match its build record; building it again", found[0])
    if descriptor is None:
        found = _compile(dtype, compiler)
        descriptor = _opened_if_matches(*found)
        if descriptor is None:
            raise UntrustedCacheError(f"the kernel just built, {found[0]}, changed before it was loaded")
    try:
        return _declare(_load_descriptor(descriptor, found[0]), dtype)
    except (OSError, AttributeError) as error:  # name the library, not its private copy (a name used once)
        copy = re.escape(str(found[0].with_name(f".{found[0].name}"))) + r"\.[0-9a-f]{12}\.load"
        raise type(error)(re.sub(copy, str(found[0]).replace("\\", "\\\\"), str(error))) from None
    finally:
        os.close(descriptor)


def _declare(library: ctypes.CDLL, dtype: torch.dtype) -> ctypes.CDLL:
    """Give the entry points their C signatures (``AttributeError`` if the library lacks one)."""
    pointer, count, number = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int  # pointers: data_ptr() of tensors
    library.ldrrld_top_classes.argtypes = [pointer, count, count, count, number, pointer, number]
    library.ldrrld_rows.argtypes = [pointer, count, pointer, count, count, count, pointer, number, pointer, pointer]
    library.ldrrld_rows.argtypes += [pointer, number, _REALS[dtype][0]] + [pointer] * 6 + [number]  # see cpu_ldrrld.c
    real = _REALS[dtype][0]
    library.tekap_rows.argtypes = [pointer, count, pointer, count, count, count, pointer, count, count, number]
    library.tekap_rows.argtypes += [real] * 4 + [pointer, pointer, number]
    library.dist_forward.argtypes = [pointer, count, pointer, count, count, count, real, ctypes.c_double]
    library.dist_forward.argtypes += [pointer] * 4 + [number]
    library.dist_backward.argtypes = [pointer] * 4 + [count, count, pointer, number]
    entry_points = (library.ldrrld_top_classes, library.ldrrld_rows, library.tekap_rows)
    for function in (*entry_points, library.dist_forward, library.dist_backward):
        function.restype = ctypes.c_int
    return library


def _library(dtype: torch.dtype) -> ctypes.CDLL | None:
    """The loaded kernel for ``dtype``; ``None`` (after one warning, remembered for the process) when it
    cannot be built or loaded, whatever the reason."""
    if dtype not in _libraries:
        with _lock:
            if dtype not in _libraries:
                try:
                    _libraries[dtype] = _load(dtype)
                except Exception as error:  # noqa: BLE001 - every failure means the torch form, see the docstring
                    reason = " ".join(str(error).split()) or type(error).__name__
                    log.warning("LDRRLD's CPU kernel is unavailable, the torch form runs instead: %s", reason)
                    _libraries[dtype] = None
    return _libraries[dtype]


def _pointer(tensor: Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _threads(rows: int, classes: int) -> int:
    return max(1, min(torch.get_num_threads(), rows * classes // ELEMENTS_PER_THREAD))


def _logit_pair(student: Tensor, teacher: Tensor) -> tuple[int, ...]:
    """What every entry point reads first: both logit sets' pointers and row strides, then ``B``, ``C``."""
    return (student.data_ptr(), student.stride(0), teacher.data_ptr(), teacher.stride(0), *student.shape)


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
        *_logit_pair(s, t),
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


def tekap_rows(
    student: Tensor,
    teacher: Tensor,
    noise: Tensor,
    temperature: float,
    noise_weight: float,
    noise_scale: float,
    scale: float,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor] | None:
    """TeKAP's forward in one call (:func:`~ldrrld_core.losses.fused.fused_tekap`); ``None`` if it does not apply.

    Shapes: logits ``(B, C)``, ``noise`` ``(K, B, C)``. Returns ``(kl (B,), grad (B, C))`` in
    ``dtype``: per row ``sum_k w_k KL(p_k || q)`` (``w_0 = 1``, then ``noise_weight``), and
    ``scale ((sum_k w_k) q - sum_k w_k p_k)``, the gradient in ``z_s / T`` times ``scale``.
    """
    if not available(student.device, dtype):
        return None
    batch, classes = student.shape
    s, t = _rows_of(student, dtype), _rows_of(teacher, dtype)
    noise = noise.detach().to(dtype)
    if noise.stride(2) != 1:
        noise = noise.contiguous()
    kl, grad = s.new_empty(batch), s.new_empty(batch, classes)
    status = _library(dtype).tekap_rows(
        *_logit_pair(s, t),
        noise.data_ptr(),
        noise.stride(0),
        noise.stride(1),
        noise.shape[0],
        temperature,
        noise_weight,
        noise_scale,
        scale,
        kl.data_ptr(),
        grad.data_ptr(),
        _threads(batch, classes),
    )
    return (kl, grad) if _finished(status, "the TeKAP forward") else None


def dist_forward(
    student: Tensor, teacher: Tensor, temperature: float, eps: float, dtype: torch.dtype
) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """DIST's forward in one call (:func:`~ldrrld_core.losses.fused.fused_dist`); ``None`` if it does not apply.

    ``(B, C) x 2 -> (y (2, B, C), means (2, C), rho (B + C,), coefficients (2, B + C))`` in
    ``dtype``: both softmaxes at ``T``, their means over the batch, the correlations of every
    sample then of every class, and ``(-beta, alpha)`` of each (``_pearson`` in the fused module).
    """
    if not available(student.device, dtype):
        return None
    batch, classes = student.shape
    s, t = _rows_of(student, dtype), _rows_of(teacher, dtype)
    y, means = s.new_empty(2, batch, classes), s.new_empty(2, classes)
    rho, coefficients = s.new_empty(batch + classes), s.new_empty(2, batch + classes)
    status = _library(dtype).dist_forward(
        *_logit_pair(s, t),
        temperature,
        eps,
        *(x.data_ptr() for x in (y, means, rho, coefficients)),
        _threads(batch, classes),
    )
    return (y, means, rho, coefficients) if _finished(status, "the DIST forward") else None


def dist_backward(y: Tensor, means: Tensor, coefficients: Tensor, scale: Tensor) -> Tensor | None:
    """DIST's gradient in the student's logits ``(B, C)`` from what :func:`dist_forward` returned.

    ``scale`` ``(B + C,)`` is ``dL/d rho`` over ``T``. ``None`` if the kernel does not apply.
    """
    dtype = y.dtype
    if not available(y.device, dtype):
        return None
    _, batch, classes = y.shape
    scale = scale.to(dtype).contiguous()
    grad = y.new_empty(batch, classes)
    pointers = (x.data_ptr() for x in (y, means, coefficients, scale))
    status = _library(dtype).dist_backward(*pointers, batch, classes, grad.data_ptr(), _threads(batch, classes))
    return grad if _finished(status, "the DIST backward") else None
