"""One trust rule for every cache the toolkit reads back: the CPU kernel's and the teacher outputs'.

A cache holds what the toolkit computed, so reading it back must not read what someone else wrote:

* **Locations are absolute.** A cache variable that is empty or relative (which would put the
  cache in whatever folder the command runs from) is ignored, with a warning when relative: the
  default is used (:func:`cache_base`).
* **Folders are private.** The cache folder is created ``0700``; it must be this user's, and no
  group or other user may write it or any folder above it, up to the user's home folder or a
  root-owned sticky folder such as ``/tmp`` (where others may create entries but not replace
  this user's). Otherwise another user could swap a folder on the way for one of their own
  (:func:`private_folder`, :class:`UntrustedCacheError`).
* **Files are regular files of this user's** that nobody else may write, opened without following
  a link and without blocking: a FIFO or a device where a file is expected is refused, never read
  (:func:`open_private`).

What a cache file holds is then checked against its description by its reader; any failure
costs speed (the value is computed again, the live path runs), never the run.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["UntrustedCacheError", "cache_base", "check_private", "open_private", "private_folder"]

log = logging.getLogger("ldrrld.cache")


class UntrustedCacheError(RuntimeError):
    """A cache folder, a folder above it, or a file in it may have been written by someone else."""


def cache_base() -> Path:
    """The toolkit's cache folder: ``$LDRRLD_CACHE_DIR``, else ``$XDG_CACHE_HOME/ldrrld``, else ``~/.cache/ldrrld``.

    Only absolute values count: an empty variable is unset, a relative one is ignored with a warning.
    """
    for variable, below in (("LDRRLD_CACHE_DIR", ""), ("XDG_CACHE_HOME", "ldrrld")):
        value = absolute_setting(variable)
        if value is not None:
            return value / below if below else value
    return Path.home() / ".cache" / "ldrrld"


def absolute_setting(variable: str) -> Path | None:
    """The absolute path in the environment variable ``variable``; ``None`` when unset, empty or relative."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute():
        log.warning("%s=%r is not an absolute path and is ignored", variable, value)
        return None
    return path


def check_private(path: Path, status: os.stat_result, what: str) -> None:
    """Raise :class:`UntrustedCacheError` unless ``path`` is this user's and no group or other user may write it."""
    if status.st_uid != os.getuid():
        raise UntrustedCacheError(
            f"the cache {what} {path} belongs to another user (uid {status.st_uid}); "
            "set LDRRLD_CACHE_DIR to a folder of your own"
        )
    if status.st_mode & 0o022:
        raise UntrustedCacheError(
            f"the cache {what} {path} may be written by other users (mode {stat.S_IMODE(status.st_mode):o}); "
            f"chmod go-w {path}, or set LDRRLD_CACHE_DIR to a private folder"
        )


def _check_parents(folder: Path) -> None:
    """Refuse a folder above ``folder`` that another user may replace entries of, up to the home
    folder or a root-owned sticky folder (``/tmp``: others may add entries, not replace ours)."""
    home = Path.home().resolve()
    for parent in folder.resolve().parents:
        status = os.stat(parent)
        if parent == home:
            if status.st_uid == os.getuid():
                check_private(parent, status, "home folder")
            return
        sticky = status.st_mode & stat.S_ISVTX
        if sticky and status.st_uid == 0:
            return
        if status.st_uid not in (0, os.getuid()):
            why = f"belongs to another user (uid {status.st_uid})"
        elif status.st_mode & 0o022 and not sticky:
            why = f"may be changed by other users (mode {stat.S_IMODE(status.st_mode):o}, not sticky)"
        else:
            continue
        raise UntrustedCacheError(
            f"the folder {parent} above the cache {folder} {why}: they could swap the cache for a folder "
            "of their own; set LDRRLD_CACHE_DIR to a folder under your home"
        )


def private_folder(folder: Path) -> Path:
    """``folder``, created ``0700`` if missing; refused unless it and the folders above it are safe (module doc)."""
    if not folder.is_absolute():
        raise UntrustedCacheError(f"the cache folder {folder} is not an absolute path")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = os.lstat(folder)
    if not stat.S_ISDIR(status.st_mode):
        raise UntrustedCacheError(f"the cache folder {folder} is not a folder (a link or a file)")
    check_private(folder, status, "folder")
    _check_parents(folder)
    return folder


def open_private(path: Path, what: str) -> int | None:
    """A read-only descriptor on the regular file ``path`` of this user's; ``None`` when there is none.

    Opened without following a link and without blocking, then checked on the open file: a FIFO or
    a device is refused (:class:`UntrustedCacheError`) before a byte is read. The caller closes it.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:  # a link (ELOOP with O_NOFOLLOW), no permission
        raise UntrustedCacheError(f"the cache {what} {path} cannot be opened safely ({error.strerror})") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise UntrustedCacheError(f"the cache {what} {path} is not a regular file (a FIFO, device or socket)")
        check_private(path, status, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor
