"""One run per out-dir: a lock file that a second run finds, and that a dead run leaves breakable.

:func:`fit` holds ``<out_dir>/.lock`` (:data:`LOCK`) from its start to its end. The file is
created atomically (``O_CREAT | O_EXCL``: of two runs starting at once, exactly one gets it) and
records who holds it: process id, host name, start time and a random token. A second run in the
same folder is refused with a message naming the holder, before it touches any file there, so it
can neither overwrite the first run's checkpoints nor delete its temporary files.

A lock whose process is gone (same host, process id no longer alive: a run killed with SIGKILL
or a lost power supply) is stale: the next run removes it with a warning and proceeds; so is a
lock file still empty a minute after it was made (its run died between creating and writing it). A lock
from another host cannot be checked this way; if that run is really gone, break the lock with
``ldrrld ... --break-lock``, :func:`break_run_lock`, or by deleting the file.

A run that a batch engine executes as a task (:mod:`ldrrld_core.study.executors`: Ray) records the
task's id (environment variable :data:`TASK_ENV`) in its lock. Ray retries a task only after its
attempt failed (its node died), and the retry has the same id: a lock with the id of the task
asking for it is therefore the dead attempt's, and the retry takes it over, on any host.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "LOCK",
    "TASK_ENV",
    "RunLockedError",
    "run_lock",
    "acquire_run_lock",
    "release_run_lock",
    "break_run_lock",
    "make_run_folder",
]

log = logging.getLogger("ldrrld.train")

#: The lock file's name inside a run's out-dir.
LOCK = ".lock"
#: Environment variable holding the id of the batch task a run belongs to (the same on the task's retries).
TASK_ENV = "LDRRLD_TASK"
#: Seconds after which a lock file without a readable record counts as stale.
_UNWRITTEN_AFTER = 60.0


class RunLockedError(ValueError):
    """Another run holds the out-dir's lock."""


def make_run_folder(out_dir: Path) -> Path:
    """Create the run folder ``out_dir`` (and its parents), or say in one sentence why it cannot be.

    Raises:
        ValueError: ``out_dir`` (or a parent) is a file, or the folder cannot be created or
            written (read-only file system, no permission, disk full).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(
            f"out_dir {out_dir} is a file, not a folder; choose another out_dir (--out-dir) or move the file away"
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(
            f"cannot create the run folder {out_dir}: a part of its path is a file, not a "
            "folder; choose another out_dir (--out-dir)"
        ) from None
    except OSError as error:
        raise _unwritable(out_dir, error) from None
    return out_dir


def _unwritable(out_dir: Path, error: OSError) -> ValueError:
    reason = error.strerror or type(error).__name__
    hint = "free some space" if error.errno == errno.ENOSPC else "choose a writable out_dir (--out-dir)"
    return ValueError(f"cannot write to the run folder {out_dir}: {reason}; {hint}")


def acquire_run_lock(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Create ``out_dir`` if needed and take its lock; return the record written into the lock file.

    A stale lock (its process dead on this host) is removed with a warning and taken over.

    Raises:
        RunLockedError: a live run (or one on another host) holds the lock; the message names
            it and says how to break the lock if that run is gone.
        ValueError: the folder cannot be created or written (see :func:`make_run_folder`).
    """
    folder = make_run_folder(Path(out_dir))
    lock = folder / LOCK
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "token": uuid.uuid4().hex,
    }
    if os.environ.get(TASK_ENV):
        record["task"] = os.environ[TASK_ENV]
    for _ in range(3):  # a stale lock removed, then retried; three tries bound a race with other starters
        try:
            descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _read_lock(lock)
            if _is_stale(holder, lock) and _remove_if_unchanged(lock, holder):
                log.warning("removed the stale lock %s of %s, which is no longer running", lock, _holder(holder))
                continue
            raise RunLockedError(_locked_message(folder, holder)) from None
        except OSError as error:
            raise _unwritable(folder, error) from None
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                json.dump(record, stream)
        except BaseException as error:  # a full disk or Ctrl-C: leave no half-made lock behind
            lock.unlink(missing_ok=True)
            if isinstance(error, OSError):
                raise _unwritable(folder, error) from None
            raise
        return record
    raise RunLockedError(_locked_message(folder, _read_lock(lock)))


def release_run_lock(out_dir: str | os.PathLike, record: dict[str, Any]) -> None:
    """Remove the lock of ``out_dir`` if it is still the one ``record`` describes (never another run's)."""
    lock = Path(out_dir) / LOCK
    holder = _read_lock(lock)
    if holder is not None and holder.get("token") == record.get("token"):
        lock.unlink(missing_ok=True)


def break_run_lock(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Delete the lock of ``out_dir`` whoever holds it; return the holder's record (``None``: no lock).

    Only for a run you know is gone (e.g. on another host): two runs in one folder overwrite each
    other's checkpoints.
    """
    lock = Path(out_dir) / LOCK
    if not lock.exists():
        return None
    holder = _read_lock(lock)
    lock.unlink(missing_ok=True)
    log.warning("broke the lock %s of %s", lock, _holder(holder))
    return holder or {}


@contextmanager
def run_lock(out_dir: str | os.PathLike | None) -> Iterator[dict[str, Any] | None]:
    """Hold the lock of ``out_dir`` inside the ``with`` block (nothing at all for ``None``)."""
    if out_dir is None:
        yield None
        return
    record = acquire_run_lock(out_dir)
    try:
        yield record
    finally:
        release_run_lock(out_dir, record)


def _read_lock(lock: Path) -> dict[str, Any] | None:
    """The lock's record; ``None`` when it is gone, empty (being written) or unreadable."""
    try:
        record = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _is_stale(holder: dict[str, Any] | None, lock: Path) -> bool:
    """Whether the holder is a process of this host that no longer runs (or never wrote its record), or
    an earlier attempt of this very task (:data:`TASK_ENV`), which its batch engine retries only when it failed."""
    if holder is not None and holder.get("task") and holder.get("task") == os.environ.get(TASK_ENV):
        return True
    if holder is None:
        try:
            return time.time() - lock.stat().st_mtime > _UNWRITTEN_AFTER
        except OSError:
            return False
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or os.name != "posix":
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # it exists but belongs to another user
        return False
    return False


def _remove_if_unchanged(lock: Path, holder: dict[str, Any]) -> bool:
    """Remove the stale lock, unless another starter replaced it meanwhile; ``True`` if removed.

    The lock is first renamed to a private name (one atomic step, which only one starter wins),
    then checked to be the stale one read before; a fresh lock taken by a competing starter in
    between is put back.
    """
    aside = lock.with_name(f"{LOCK}.stale-{uuid.uuid4().hex[:12]}")
    try:
        os.rename(lock, aside)
    except OSError:
        return False
    if _read_lock(aside) == holder:
        aside.unlink(missing_ok=True)
        return True
    try:
        os.link(aside, lock)  # put the live lock back (fails only if yet another lock exists now)
    except OSError:
        pass
    aside.unlink(missing_ok=True)
    return False


def _holder(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "a run whose lock record cannot be read (it never wrote it)"
    return f"process {holder.get('pid')} on {holder.get('host')} (started {holder.get('started')})"


def _locked_message(folder: Path, holder: dict[str, Any] | None) -> str:
    return (
        f"out_dir {folder} is in use by {_holder(holder)}: two runs in one folder would overwrite each other's "
        f"checkpoints. Choose another out_dir (--out-dir), wait for that run to end, or, if it is gone, "
        f"break the lock with --break-lock (or delete {folder / LOCK})."
    )
