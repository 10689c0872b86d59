"""Safe checkpoint files: atomic writes and loads that never run code from the file.

Every checkpoint the toolkit writes goes through :func:`atomic_save`, and every file it reads goes
through :func:`load_file`:

* :func:`atomic_save` writes to a temporary file beside the target, flushes it to disk and then
  renames it over the target in one step, so a crash, a full disk or Ctrl-C never leaves a
  half-written file where a good one was (:func:`atomic_write_text` does the same for text files
  such as histories, :func:`atomic_write` for any writer).
* :func:`load_file` unpickles with ``torch.load(..., weights_only=True)``: only tensors, numbers,
  strings and plain containers can come out of the file, and no code inside it ever runs. A file
  that needs more (a pickled class, an ``argparse.Namespace`` of options, a numpy scalar) is
  refused with :class:`UnsafeCheckpointError` unless the caller passes ``trusted=True``.

All failures are subclasses of :class:`CheckpointError`, itself a ``ValueError``, and their
messages name the file and say what to do.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

__all__ = [
    "CheckpointError", "CheckpointNotFoundError", "CorruptCheckpointError", "UnsafeCheckpointError",
    "atomic_save", "atomic_write", "atomic_write_text", "load_file", "sha256_file",
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


def sha256_file(path: PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes as 64 lowercase hex digits, read in chunks (any file size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_save(obj: Any, path: PathLike) -> Path:
    """Write ``obj`` with :func:`torch.save` so that ``path`` is either the old file or the new one.

    Args:
        obj: anything ``torch.save`` accepts; for files that :func:`load_file` should read back
            without ``trusted=True``, keep to tensors, numbers, strings, lists, tuples and dicts.
        path: the destination file (missing parent folders are created).

    Returns:
        The destination as a :class:`pathlib.Path`. See :func:`atomic_write` for the guarantees.
    """
    return atomic_write(path, lambda stream: torch.save(obj, stream))


def atomic_write_text(text: str, path: PathLike) -> Path:
    """Write ``text`` as UTF-8 (newlines unchanged) with the guarantees of :func:`atomic_write`."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda stream: stream.write(data))


def atomic_write(path: PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Create or replace the file ``path`` with what ``write(stream)`` writes, all or nothing.

    ``write`` receives a binary stream on a hidden temporary file in the same folder (so the final
    rename never crosses a file system). Once it returns, the data is flushed and fsynced and the
    temporary file replaces ``path`` with :func:`os.replace`, which is atomic. If anything fails
    on the way (an exception in ``write``, a full disk, ``KeyboardInterrupt``), the temporary
    file is removed, the previous content of ``path`` is untouched and the exception propagates.
    Missing parent folders are created; the new file gets the permissions of any new file
    (``0o666`` less the umask).

    Returns:
        The destination as a :class:`pathlib.Path`.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise IsADirectoryError(f"Cannot write to {target}: it is a folder. "
                                f"Pass a file path such as {target / 'checkpoint.pth'}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    # os.open with mode 0o666 lets the umask decide the permissions, as for any ordinary new file.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)
    return target


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


def load_file(path: PathLike, *, map_location: Any = "cpu", trusted: bool = False) -> Any:
    """Read a ``torch.save`` file without running any code stored in it.

    Args:
        path: the file to read.
        map_location: where tensors are put, as for :func:`torch.load` (default ``"cpu"``, which
            also reads files saved on a GPU on a machine without one).
        trusted: ``False`` (default) unpickles with ``weights_only=True``. ``True`` uses the full
            unpickler (``weights_only=False``), which can execute arbitrary code hidden in the file:
            pass it only for files you made yourself or got from a source you trust.

    Returns:
        The unpickled object (for checkpoints usually a dict).

    Raises:
        CheckpointNotFoundError: ``path`` does not exist or is a folder.
        UnsafeCheckpointError: the file needs the full unpickler and ``trusted`` is ``False``.
        CorruptCheckpointError: the file is truncated, damaged or not a ``torch.save`` file.
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise CheckpointNotFoundError(
            f"Checkpoint file not found: {source} (absolute: {source.absolute()}). "
            "Check the path, or train or download the model first.")
    if not source.is_file():
        raise CheckpointNotFoundError(
            f"Checkpoint path {source} is a folder, not a file. Pass the file inside it "
            "(for the standard teachers: <name>_vanilla/ckpt_epoch_240.pth).")
    try:
        return torch.load(source, map_location=map_location, weights_only=not trusted)
    except pickle.UnpicklingError as error:
        unsafe = [] if trusted else _unsafe_globals(source, error)
        if unsafe:
            raise UnsafeCheckpointError(
                f"Refusing to load {source}: besides tensors it holds pickled Python objects "
                f"({', '.join(unsafe)}), and unpickling those can run arbitrary code. If you trust "
                "where the file comes from, load it with trusted=True (full unpickling, "
                "weights_only=False); otherwise re-save just its state dict from a trusted "
                "environment.") from error
        raise _corrupt(source, error) from error
    except (OSError, RuntimeError, EOFError, KeyError, ValueError, UnicodeDecodeError) as error:
        raise _corrupt(source, error) from error


def _corrupt(source: Path, error: BaseException) -> CorruptCheckpointError:
    size = source.stat().st_size
    first_sentence = str(error).splitlines()[0].split(". ")[0] if str(error) else "no details"
    reason = f"{type(error).__name__}: {first_sentence}"
    return CorruptCheckpointError(
        f"Cannot read checkpoint {source} ({size} bytes): it is truncated, damaged or not a file "
        f"written by torch.save ({reason}). If a run was interrupted while writing it, use an "
        "earlier checkpoint or save it again; if it was downloaded, download it again.")


_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _unsafe_globals(source: Path, error: pickle.UnpicklingError) -> list[str]:
    """The Python globals the file refers to that ``weights_only`` refuses (empty if none).

    Zip-format files (the default since PyTorch 1.6) are scanned without unpickling; for legacy
    files, which start with a pickle protocol marker, the name comes from the message of the
    refusal. Anything else is not a checkpoint at all, whatever the unpickler made of its bytes.
    """
    if zipfile.is_zipfile(source):
        try:
            found = list(torch.serialization.get_unsafe_globals_in_checkpoint(source))
        except Exception:  # a damaged archive, or a PyTorch without the scanner (< 2.5)
            found = []
        return found or _UNSUPPORTED_GLOBAL.findall(str(error))
    with open(source, "rb") as stream:
        legacy = stream.read(1) == pickle.PROTO
    return _UNSUPPORTED_GLOBAL.findall(str(error)) if legacy else []
