"""No silent wrong answers: outputs never replace what they name, parsers refuse what they cannot
read, stored results are checked for meaning, caches are trusted only as far as their owner."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from ldrrld_core.io import atomic_save, atomic_write_text, load_file


def _ldrrld(*argv: str) -> tuple[int, str]:
    """Run ``ldrrld ARGV`` in this process: its status and what it printed on stderr."""
    from ldrrld_core.cli import main

    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(argv))
    return status, errors.getvalue()


# ------------------------------------------------------------------ outputs never replace what they name
def _char_device(tmp_path: Path) -> Path:
    """A character device with /dev/null's numbers in ``tmp_path`` (needs root: skipped otherwise)."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError, OSError):
        pytest.skip("making a character device needs root")
    return node


def test_json_into_a_character_device_writes_into_it(tmp_path):
    node = _char_device(tmp_path)
    status, errors = _ldrrld("recipes", "digits", "--json", str(node))
    assert status == 0, errors
    assert stat.S_ISCHR(os.lstat(node).st_mode), "the device was replaced by a regular file"
    assert os.listdir(tmp_path) == ["null"], "no temporary file or checksum record left beside it"


def test_atomic_save_with_record_into_a_character_device(tmp_path):
    node = _char_device(tmp_path)
    atomic_save({"x": 1}, node, record=True)
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert os.listdir(tmp_path) == ["null"]


def test_json_into_a_fifo_writes_into_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    status, errors = _ldrrld("recipes", "digits", "--json", str(fifo))
    reader.join(10)
    assert status == 0, errors
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"
    assert json.loads(received[0])["name"] == "digits"


def test_json_through_a_symlink_replaces_the_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    status, errors = _ldrrld("recipes", "digits", "--json", str(link))
    assert status == 0, errors
    assert link.is_symlink(), "the link was replaced by a regular file"
    assert json.loads(real.read_text())["name"] == "digits"


def test_a_socket_is_refused_in_one_line(tmp_path):
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        status, errors = _ldrrld("recipes", "digits", "--json", str(path))
        assert status == 2, errors
        assert "it is a socket, not a regular file" in errors
        assert len(errors.strip().splitlines()) == 1
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        with pytest.raises(ValueError, match="socket"):
            atomic_write_text("x", path)
    finally:
        server.close()


def test_regular_files_are_still_replaced_atomically(tmp_path):
    target = tmp_path / "a" / "b.pth"
    atomic_save({"x": 2}, target, record=True)
    atomic_save({"x": 3}, target, record=True)
    assert load_file(target) == {"x": 3}
    assert sorted(os.listdir(target.parent)) == ["b.pth", "checksums.json"]


def test_json_to_dev_stdout_writes_into_the_stream(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ldrrld_core", "recipes", "digits", "--json", "/dev/stdout"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "digits"
