"""Safe checkpoint files: atomic writes, recorded checksums and loads that never run code from the file.

Every checkpoint the toolkit writes goes through :func:`atomic_save`, and every file it reads goes
through :func:`load_file`:

* :func:`atomic_save` writes to a temporary file beside the target, flushes it to disk and then
  renames it over the target in one step, so a crash, a full disk or Ctrl-C never leaves a
  half-written file where a good one was (:func:`atomic_write_text` does the same for text files
  such as histories, :func:`atomic_write` for any writer). With ``record=True`` it also records
  the file's SHA-256 in ``checksums.json`` beside it (:data:`CHECKSUMS`).
* :func:`load_file` unpickles with ``torch.load(..., weights_only=True)``: only tensors, numbers,
  strings, plain containers and the few harmless objects of :data:`SAFE_GLOBALS` (the
  ``argparse.Namespace`` of options and the NumPy scalars that the literature's checkpoints
  pickle) can come out of the file, and no code inside it ever runs. A file that needs more (any
  other pickled class or function) is refused with :class:`UnsafeCheckpointError` unless the
  caller passes ``trusted=True``. Before unpickling, the file's SHA-256 is compared with the one
  the caller gives (``sha256=``) or, failing that, with the one recorded in ``checksums.json``
  beside it, so flipped bytes in a recorded checkpoint are caught even inside tensor data.

All failures are subclasses of :class:`CheckpointError`, itself a ``ValueError``, and their
messages name the file and say what to do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import pickle
import re
import stat
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

__all__ = [
    "CHECKSUMS",
    "SAFE_GLOBALS",
    "CheckpointError",
    "CheckpointNotFoundError",
    "ChecksumMismatchError",
    "CorruptCheckpointError",
    "UnsafeCheckpointError",
    "atomic_save",
    "atomic_write",
    "atomic_write_text",
    "check_sha256",
    "output_destination",
    "load_file",
    "read_json",
    "recorded_sha256",
    "remove_stale_temporaries",
    "sha256_file",
]

#: The file beside recorded checkpoints that maps each file name to its SHA-256.
CHECKSUMS = "checksums.json"

_MULTIARRAY = (np._core if hasattr(np, "_core") else np.core).multiarray

#: Objects besides tensors that :func:`load_file` builds: none of them can run code when unpickled.
#: RepDistiller/LDRLD ``*_last.pth`` and torchdistill files pickle their command-line options as an
#: ``argparse.Namespace``; some files hold NumPy scalars (``numpy.float64(71.2)``), which unpickle
#: through ``numpy.dtype`` (a numeric dtype class for its state) and ``multiarray.scalar`` (also
#: under NumPy 1's module name). Object and structured dtypes, arrays and anything else stay refused.
SAFE_GLOBALS: list = [
    argparse.Namespace,
    np.dtype,
    _MULTIARRAY.scalar,
    (_MULTIARRAY.scalar, "numpy.core.multiarray.scalar"),
    *sorted({type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"}, key=lambda kind: kind.__name__),
]

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint file could not be read or does not fit what it is loaded into."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint path does not exist or is not a regular file."""


class CorruptCheckpointError(CheckpointError):
    """The file exists but is not a complete ``torch.save`` file (truncated, damaged, or other)."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds pickled Python objects that only a full, code-running unpickler can build."""


class ChecksumMismatchError(CorruptCheckpointError):
    """The file's SHA-256 differs from the one given or recorded: its bytes changed."""


def sha256_file(path: PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes as 64 lowercase hex digits, read in chunks (any file size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_save(obj: Any, path: PathLike, *, record: bool = False) -> Path:
    """Write ``obj`` with :func:`torch.save` so that ``path`` is either the old file or the new one.

    Args:
        obj: anything ``torch.save`` accepts; for files that :func:`load_file` should read back
            without ``trusted=True``, keep to tensors, numbers, strings, lists, tuples and dicts.
        path: the destination file (missing parent folders are created).
        record: also record the new file's SHA-256 in :data:`CHECKSUMS` beside it, which
            :func:`load_file` then checks. The record is updated in two steps (the new hash is
            added before the rename, the old one dropped after it), so a crash at any moment
            leaves a record that accepts whichever file is on disk.

    Returns:
        The destination as a :class:`pathlib.Path`. See :func:`atomic_write` for the guarantees.
    """
    target = Path(path).expanduser()
    if not record or output_destination(target)[1]:  # a device or FIFO has no folder to record in
        return atomic_write(target, lambda stream: torch.save(obj, stream))
    digest = ""

    def add_new_hash(temporary: Path) -> None:
        nonlocal digest
        digest = sha256_file(temporary)
        try:
            old = recorded_sha256(target)
        except CorruptCheckpointError:  # replaced by a new record below
            old = []
        _write_record(target, [*old, digest])

    atomic_write(target, lambda stream: torch.save(obj, stream), before_replace=add_new_hash)
    _write_record(target, [digest])
    return target


def recorded_sha256(path: PathLike) -> list[str]:
    """The SHA-256 digests :data:`CHECKSUMS` beside ``path`` accepts for it (empty: no record).

    Normally one; two while :func:`atomic_save` replaces a recorded file.

    Raises:
        CorruptCheckpointError: the record itself cannot be read.
    """
    target = Path(path).expanduser()
    entry = _read_records(target.parent).get(target.name, [])
    digests = [entry] if isinstance(entry, str) else entry
    if not isinstance(digests, list) or not all(isinstance(digest, str) for digest in digests):
        raise CorruptCheckpointError(
            f"The checksum record {target.parent / CHECKSUMS} holds {entry!r} for "
            f"{target.name}, not SHA-256 digests; it is damaged. Delete it to load "
            "the files beside it unchecked."
        )
    return digests


def _read_records(folder: Path) -> dict[str, Any]:
    record = folder / CHECKSUMS
    if not record.is_file():
        return {}
    try:
        content = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CorruptCheckpointError(
            f"The checksum record {record} cannot be read ({type(error).__name__}: {error}); it is damaged. "
            "Delete it to load the files beside it unchecked."
        ) from error
    if not isinstance(content, dict):
        raise CorruptCheckpointError(
            f"The checksum record {record} holds a {type(content).__name__}, not a "
            "mapping of file names to SHA-256 digests; delete it to load the files "
            "beside it unchecked."
        )
    return content


def _write_record(target: Path, digests: list[str]) -> None:
    try:
        records = _read_records(target.parent)
    except CorruptCheckpointError as error:  # a run must not stop over its record: start a new one
        logging.getLogger("ldrrld.io").warning("%s Starting a new record.", error)
        records = {}
    records[target.name] = digests[0] if len(digests) == 1 else digests
    atomic_write_text(json.dumps(records, indent=1, sort_keys=True) + "\n", target.parent / CHECKSUMS)


def check_sha256(path: PathLike, expected: str | list[str], *, origin: str = "the SHA-256 given") -> str:
    """Raise :class:`ChecksumMismatchError` unless the file's SHA-256 is ``expected`` (or one of them).

    Args:
        path: the file to hash.
        expected: 64 hex digits (upper or lower case), or a list of accepted digests.
        origin: where ``expected`` came from, for the message (e.g. ``"checksums.json"``).

    Returns:
        The file's digest.

    Raises:
        ValueError: an expected digest is not 64 hex digits.
        ChecksumMismatchError: the file's digest is none of them.
    """
    accepted = [expected] if isinstance(expected, str) else list(expected)
    for digest in accepted:
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", digest.strip()):
            raise ValueError(f"a SHA-256 is 64 hex digits (as `sha256sum FILE` prints), got {digest!r}")
    source = Path(path).expanduser()
    actual = sha256_file(source)
    if actual not in {digest.strip().lower() for digest in accepted}:
        raise ChecksumMismatchError(
            f"Checkpoint {source} has SHA-256 {actual}, but {origin} says {accepted[-1].strip().lower()}: "
            "the file was truncated, damaged or replaced since that hash was taken. Use an intact copy "
            "(download "
            "it again, or an earlier checkpoint); if you replaced the file on purpose, give its new hash "
            f"or delete its entry from {CHECKSUMS}."
        )
    return actual


def atomic_write_text(text: str, path: PathLike) -> Path:
    """Write ``text`` as UTF-8 (newlines unchanged) with the guarantees of :func:`atomic_write`."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda stream: stream.write(data))


def read_json(path: PathLike, *, keys: tuple[str, ...] = (), what: str = "a file written by this toolkit") -> Any:
    """The JSON in ``path``; a one-line ``ValueError`` naming the file when it cannot be used.

    Unreadable, not UTF-8, not JSON (cut short, edited), or, with ``keys``, not a JSON object
    holding those keys: the message says which, and what the file should be (``what``).
    """
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(
            f"{path} cannot be read ({type(error).__name__}: {' '.join(str(error).split())}); "
            f"it should be {what}: was it cut short or edited?"
        ) from None
    if keys and not isinstance(content, dict):
        raise ValueError(f"{path} holds a JSON {type(content).__name__}, not an object; it should be {what}")
    missing = [key for key in keys if key not in content]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: it should be {what}")
    return content


def _temporary_name(name: str, tag: str) -> str:
    """The hidden file :func:`atomic_write` writes ``name`` into before renaming: ``.<name>.<tag>.tmp``."""
    return f".{name}.{tag}.tmp"


#: What :func:`_temporary_name` makes with a 12-hex-digit tag.
_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def remove_stale_temporaries(folder: PathLike) -> list[Path]:
    """Delete the temporary files that interrupted :func:`atomic_write` calls left in ``folder``.

    A process killed while writing (SIGKILL, a lost node) cannot remove its temporary file;
    finished files and other names are never touched. Only the process that owns the folder
    (a run's lock holder) should call this. Returns the removed paths.
    """
    stale = sorted(path for path in Path(folder).iterdir() if _TEMPORARY.fullmatch(path.name) and path.is_file())
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write(
    path: PathLike, write: Callable[[BinaryIO], object], *, before_replace: Callable[[Path], object] | None = None
) -> Path:
    """Create or replace the file ``path`` with what ``write(stream)`` writes, all or nothing.

    ``write`` receives a binary stream on a hidden temporary file in the same folder (so the final
    rename never crosses a file system). Once it returns, the data is flushed and fsynced and the
    temporary file replaces ``path`` with :func:`os.replace`, which is atomic. If anything fails
    on the way (an exception in ``write``, a full disk, ``KeyboardInterrupt``), the temporary
    file is removed, the previous content of ``path`` is untouched and the exception propagates.
    Missing parent folders are created; the new file gets the permissions of any new file
    (``0o666`` less the umask). Only a regular file (or nothing) is ever renamed over: a character
    device (``/dev/null``), a FIFO or ``/dev/stdout`` is written into directly (no atomicity, nothing
    to replace), a symbolic link is followed (the file it names is replaced, the link kept), and any
    other special file is refused (:func:`output_destination`). ``before_replace(temporary)``, if
    given, runs on the complete temporary file just before the rename (:func:`atomic_save` records its hash there).

    Returns:
        The destination as a :class:`pathlib.Path`.
    """
    target, direct = output_destination(path)
    if direct:  # a device, a FIFO or the process's own stdout: written into, never replaced
        descriptor = os.open(
            target, os.O_WRONLY | (os.O_APPEND if target.is_file() else 0) | getattr(os, "O_BINARY", 0)
        )
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(_temporary_name(target.name, uuid.uuid4().hex[:12]))
    # os.open with mode 0o666 lets the umask decide the permissions, as for any ordinary new file.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        if before_replace is not None:
            before_replace(temporary)
        # swapped for something else meanwhile? Only a regular file (or nothing) is ever renamed over
        _refuse_special(target, os.lstat(target).st_mode if os.path.lexists(target) else None, links=False)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)
    return target


#: Paths that name the process's own output streams, written into even when they lead to a regular file.
_OWN_STREAMS = re.compile(r"/dev/(stdout|stderr|fd/\d+)|/proc/(self|\d+)/fd/\d+")


def output_destination(path: PathLike) -> tuple[Path, bool]:
    """Where :func:`atomic_write` puts ``path``, and whether it writes into it directly.

    A character device (``/dev/null``, a terminal), a FIFO or one of the process's own streams
    (``/dev/stdout``, ``/dev/fd/N``) is written into as it is (``(path, True)``): renaming a file over
    it would replace the device for every process. A symbolic link is followed, so the file it
    points to is replaced and the link kept. Anything else that exists must be a regular file;
    a folder, a block device or a socket is refused with a one-line ``ValueError``
    (``IsADirectoryError`` for a folder).
    """
    target = Path(path).expanduser()
    if _OWN_STREAMS.fullmatch(str(target)) and os.path.exists(target):
        return target, True
    try:
        mode = os.stat(target).st_mode  # follows links: what a write would reach
    except FileNotFoundError:
        mode = None
    except OSError as error:  # a link loop, a path through a file
        blocking = next((p for p in reversed(target.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise ValueError(
                f"Cannot write to {target}: {blocking} is a file, not a folder; give a path whose folders are "
                "folders (or move that file away)"
            ) from None
        raise ValueError(f"Cannot write to {target}: {error.strerror or error}") from None
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        return target, True
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(
            f"Cannot write to {target}: it is a folder, not a file; give the path of a file to create or replace "
            f"(in that folder, {target / 'NAME'})"
        )
    _refuse_special(target, mode)
    if os.path.islink(target):  # replace what the link points to, not the link
        target = Path(os.path.realpath(target))
    return target, False


def _refuse_special(target: Path, mode: int | None, *, links: bool = True) -> None:
    """Refuse to replace anything but a regular file, nothing or (with ``links``) a symbolic link."""
    if mode is None or stat.S_ISREG(mode) or (links and stat.S_ISLNK(mode)):
        return
    kinds = {
        stat.S_ISBLK: "block device",
        stat.S_ISSOCK: "socket",
        stat.S_ISLNK: "symbolic link",
        stat.S_ISCHR: "character device",
        stat.S_ISFIFO: "FIFO",
        stat.S_ISDIR: "folder",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "special file")
    raise ValueError(
        f"Cannot write to {target}: it is a {kind}, not a regular file; give the path of a file to create "
        "or replace (or a character device or FIFO to write into)"
    )


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows syncing a folder (POSIX)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is still atomic there.
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def load_file(path: PathLike, *, map_location: Any = "cpu", trusted: bool = False, sha256: str | None = None) -> Any:
    """Read a ``torch.save`` file without running any code stored in it.

    Args:
        path: the file to read.
        map_location: where tensors are put, as for :func:`torch.load` (default ``"cpu"``, which
            also reads files saved on a GPU on a machine without one).
        trusted: ``False`` (default) unpickles with ``weights_only=True`` and the harmless extras
            of :data:`SAFE_GLOBALS`. ``True`` uses the full unpickler (``weights_only=False``),
            which can execute arbitrary code hidden in the file: pass it only for files you made
            yourself or got from a source you trust.
        sha256: the file's expected SHA-256 (64 hex digits), e.g. the one its publisher lists.
            ``None`` checks against :data:`CHECKSUMS` beside the file when that records it.

    Returns:
        The unpickled object (for checkpoints usually a dict).

    Raises:
        CheckpointNotFoundError: ``path`` does not exist or is a folder.
        ChecksumMismatchError: the file's SHA-256 is not the one given or recorded.
        UnsafeCheckpointError: the file needs the full unpickler and ``trusted`` is ``False``,
            or is in the legacy (non-zip) or plain-pickle format and holds Python objects.
        CorruptCheckpointError: the file is truncated, damaged or not a ``torch.save`` file.
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise CheckpointNotFoundError(
            f"Checkpoint file not found: {source} (absolute: {source.absolute()}). "
            "Check the path, or train or download the model first."
        )
    if not source.is_file():
        raise CheckpointNotFoundError(
            f"Checkpoint path {source} is a folder, not a file. Pass the file inside it "
            "(for the standard teachers: <name>_vanilla/ckpt_epoch_240.pth)."
        )
    if sha256 is not None:
        check_sha256(source, sha256)
    elif recorded := recorded_sha256(source):
        check_sha256(source, recorded, origin=f"the record in {source.parent / CHECKSUMS}")
    try:
        if trusted:
            return torch.load(source, map_location=map_location, weights_only=False)
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if not trusted and not _truncated(error):
            _refuse_if_unsafe(source, error)
        raise _corrupt(source, error) from error
    except Exception as error:  # noqa: BLE001 - damaged bytes make the unpicklers raise almost anything
        raise _corrupt(source, error) from error


def _truncated(error: BaseException) -> bool:
    return "truncated" in str(error) or "ran out of input" in str(error).lower()


def _corrupt(source: Path, error: BaseException) -> CorruptCheckpointError:
    size = source.stat().st_size
    first_sentence = str(error).splitlines()[0].split(". ")[0] if str(error) else "no details"
    reason = f"{type(error).__name__}: {first_sentence}"
    return CorruptCheckpointError(
        f"Cannot read checkpoint {source} ({size} bytes): it is truncated, damaged or not a file "
        f"written by torch.save ({reason}). If a run was interrupted while writing it, use an "
        "earlier checkpoint or save it again; if it was downloaded, download it again."
    )


#: The dotted names of :data:`SAFE_GLOBALS`, left out when a refusal lists what a file holds.
_SAFE_NAMES = {
    entry[1] if isinstance(entry, tuple) else f"{entry.__module__}.{entry.__qualname__}" for entry in SAFE_GLOBALS
}
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_TRUST_HINT = (
    "If you trust where the file comes from, load it with trusted=True (full unpickling, "
    "weights_only=False); otherwise re-save just its state dict from a trusted environment."
)


def _refuse_if_unsafe(source: Path, error: pickle.UnpicklingError) -> None:
    """Raise :class:`UnsafeCheckpointError` if the refusal was about pickled objects, not damage.

    Zip-format files (the default since PyTorch 1.6) are scanned for globals without unpickling.
    Files that start with a pickle protocol marker are legacy ``torch.save`` files (before 1.6, or
    ``_use_new_zipfile_serialization=False``) or plain ``pickle.dump`` files; the refused name, if
    any, comes from the refusal's message. Anything else is not a checkpoint at all, whatever the
    unpickler made of its bytes, and is left to be reported as damaged.
    """
    if zipfile.is_zipfile(source):
        try:
            found = list(torch.serialization.get_unsafe_globals_in_checkpoint(source))
        except Exception:  # a damaged archive, or a PyTorch without the scanner (< 2.5)
            found = []
        found = [name for name in found or _REFUSED_GLOBAL.findall(str(error)) if name not in _SAFE_NAMES]
        if found:
            raise UnsafeCheckpointError(
                f"Refusing to load {source}: besides tensors it holds pickled Python objects "
                f"({', '.join(sorted(set(found)))}), and unpickling those can run arbitrary code. " + _TRUST_HINT
            ) from error
        return
    with open(source, "rb") as stream:
        legacy = stream.read(1) == pickle.PROTO
    if legacy:
        found = sorted(set(_REFUSED_GLOBAL.findall(str(error))))
        held = f" and holds pickled Python objects ({', '.join(found)})" if found else ""
        raise UnsafeCheckpointError(
            f"Refusing to load {source}: it is in the unsafe legacy format (a non-zip torch.save file from "
            f"before PyTorch 1.6, or a plain pickle){held}, which only the full, code-running unpickler can "
            "read. " + _TRUST_HINT
        ) from error
