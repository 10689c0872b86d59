"""`make lab` as root on a machine without a display: JupyterLab serves the repository, prints one
URL that opens notebook 01, and that URL answers. Runs the real Makefile target (on this
environment, install step skipped), on a free port, with Jupyter's runtime files in a temporary
folder, and always stops the server."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FIRST_NOTEBOOK = "notebooks/01_dense_relations.ipynb"
START_S = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop make, JupyterLab and its kernels (their own process group)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue


def _user_trust_database() -> tuple | None:
    """The person's own trust database: size and modification time, or ``None`` where there is none."""
    from jupyter_core.paths import jupyter_data_dir

    database = Path(jupyter_data_dir()) / "nbsignatures.db"
    return (database.stat().st_size, database.stat().st_mtime_ns) if database.exists() else None


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=20) as reply:
        return reply.status, reply.read()


@pytest.fixture
def headless_lab(tmp_path):
    """``(port, printed output so far as a callable)`` of `make lab` started without a display."""
    if shutil.which("make") is None:
        pytest.skip("`make` is not installed")
    if not (Path(sys.prefix) / "bin" / "jupyter").exists():
        pytest.skip(f"no jupyter in {sys.prefix}/bin (install the dev extras)")
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than pyproject.toml: make skips the install step and uses this environment
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "MAKEFLAGS", "MAKELEVEL")
    }
    env.update(
        {
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
            "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
            "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
            "JUPYTER_DATA_DIR": str(tmp_path / "data"),  # where `jupyter trust` keeps its signatures
        }
    )
    user_trust = _user_trust_database()
    log = tmp_path / "make-lab.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "lab",
                f"VENV={sys.prefix}",
                f"STAMP={stamp}",
                f"LAB_ARGS=--port={port} --ServerApp.port_retries=0",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield port, log.read_text, process, tmp_path
    finally:
        _stop(process)
    # `make lab` trusted the notebooks in this test's data folder, not in the person's own.
    assert _user_trust_database() == user_trust, "the test changed the person's own trust database"


def test_make_lab_headless_prints_one_url_that_opens_notebook_01(headless_lab):
    port, output, process, home = headless_lab
    pattern = re.compile(rf"http://127\.0\.0\.1:{port}/\S+")
    deadline = time.monotonic() + START_S
    while not re.search(r"copy and paste", output()) or not pattern.search(output().split("copy and paste")[-1]):
        assert process.poll() is None, f"make lab exited with code {process.returncode}:\n{output()[-4000:]}"
        assert time.monotonic() < deadline, f"no URL printed within {START_S} s:\n{output()[-4000:]}"
        time.sleep(0.5)
    text = output()
    command = text.splitlines()[0]  # make echoes the command it runs
    assert "--no-browser" in command, command
    if os.geteuid() == 0:
        assert "--allow-root" in command, command
    assert "Running as root is not recommended" not in text
    urls = set(pattern.findall(text))
    assert len(urls) == 1, f"expected one URL, got {urls}"
    url = urls.pop()
    assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/lab/tree/{FIRST_NOTEBOOK}\?token=[0-9a-f]+", url), url
    status, page = _get(url)
    assert status == 200 and b"JupyterLab" in page
    token = url.split("token=")[1]

    # The Lab root is the repository: README and docs are reachable.
    status, body = _get(f"http://127.0.0.1:{port}/api/contents?token={token}")
    root = {item["name"] for item in json.loads(body)["content"]}
    assert {"README.md", "docs", "notebooks"} <= root, root
    # The py:percent twins stay out of the file browser; the notebooks are there.
    status, body = _get(f"http://127.0.0.1:{port}/api/contents/notebooks?token={token}")
    listed = {item["name"] for item in json.loads(body)["content"]}
    assert Path(FIRST_NOTEBOOK).name in listed, listed
    twins = {path.name for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.py")}
    assert twins and not twins & listed, f"twins listed as notebooks: {twins & listed}"

    # No news or update pop-up: the venv's app-level override, not the user's settings.
    status, body = _get(
        f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}"
    )
    defaults = {name: entry.get("default") for name, entry in json.loads(body)["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    assert not (home / "settings" / "@jupyterlab" / "apputils-extension").exists(), "user settings untouched"
    # Our notebooks open trusted: their saved outputs and still pictures show after a reload.
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary(data_dir=str(home / "data"))
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert notary.check_signature(nbformat.read(path, as_version=4)), f"{path.name} is not trusted"
