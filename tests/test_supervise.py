"""The supervisor of a Ray driver: a child ended from outside still ends in one line, all else passes through."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ldrrld_core.cli.supervise import SUPERVISED, needs_supervisor

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "argv,wanted",
    [
        (["study", "--quick", "--executor", "ray"], True),
        (["study", "--executor=ray", "--address", "h:1"], True),
        (["sweep", "--executor", "local"], False),
        (["study", "--quick"], False),
        (["train", "--recipe", "ray"], False),  # "ray" as another option's value
    ],
)
def test_only_a_ray_driver_is_supervised(argv, wanted, monkeypatch):
    monkeypatch.delenv(SUPERVISED, raising=False)
    assert needs_supervisor(argv) is wanted
    monkeypatch.setenv(SUPERVISED, "5")  # the child itself: never a supervisor of its own
    assert needs_supervisor(argv) is False


def supervised(child_code: str, tmp_path: Path, *, interrupt: bool = False) -> subprocess.CompletedProcess:
    """``supervise(["study"], command=python -c CHILD_CODE)`` in a process of its own; SIGINT to it if asked."""
    child = [sys.executable, "-c", textwrap.dedent(child_code)]
    parent_code = (
        "import sys; from ldrrld_core.cli.supervise import supervise; "
        f"sys.exit(supervise(['study', '--executor', 'ray'], command={child!r}))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", parent_code],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # whatever the shell ignored
    )
    if interrupt:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


OWN_EXIT = """
    import sys
    from ldrrld_core.cli.supervise import report_own_exit
    print("child output")
    print("ldrrld study: error: something the child reported", file=sys.stderr)
    report_own_exit()
    sys.exit(2)
"""


def test_a_child_ending_by_its_own_means_passes_through_unchanged(tmp_path):
    done = supervised(OWN_EXIT, tmp_path)
    assert done.returncode == 2
    assert done.stdout == "child output\n"
    assert done.stderr == "ldrrld study: error: something the child reported\n"


@pytest.mark.parametrize("ending,how", [("os._exit(1)", "exit status 1"), ("os.kill(os.getpid(), 9)", "signal 9")])
def test_a_child_ended_from_outside_gets_the_one_line(tmp_path, ending, how):
    # Ray's core worker ends a driver whose node stopped with exit status 1 from C++, no word said.
    done = supervised(f"import os\nprint('working', flush=True)\n{ending}\n", tmp_path)
    assert done.returncode == 1 and done.stdout == "working\n"
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ldrrld study: the Ray driver process was ended from outside")
    assert how in lines[0] and "head node dies" in lines[0] and "rerun the same command" in lines[0]


INTERRUPTIBLE = """
    import signal, sys, time
    from pathlib import Path
    from ldrrld_core.cli.supervise import report_own_exit
    received = []
    signal.signal(signal.SIGINT, lambda *_: received.append(1))
    Path("ready").touch()
    deadline = time.monotonic() + 60
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # a second SIGINT, were one sent, would arrive meanwhile
    print("ldrrld study: interrupted", file=sys.stderr)
    Path("signals").write_text(str(len(received)))
    report_own_exit()
    sys.exit(130)
"""


def test_ctrl_c_reaches_the_child_exactly_once_and_its_status_passes_through(tmp_path):
    done = supervised(INTERRUPTIBLE, tmp_path, interrupt=True)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "ldrrld study: interrupted\n"
    assert (tmp_path / "signals").read_text() == "1"
