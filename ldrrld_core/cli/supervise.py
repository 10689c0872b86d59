"""A Ray driver runs as a child of the ``ldrrld`` process, so that its death still ends in one line.

A Ray driver is attached to the Ray node of its machine. When that node stops (on the head node's
machine: when the head dies), Ray's core worker ends the driver process at once, from C++, with
exit status 1 and no word, before any Python error handler can run. So ``ldrrld ... --executor
ray`` runs the command in a child process and waits for it. The child tells its parent, through an
inherited pipe, that it ended by its own means (finished, or an error it reported in its one
line). A child that ended without saying so was ended from outside: the parent writes the one
line the documentation promises and exits 1. Everything else (output, exit status, Ctrl-C) passes
through unchanged: the child runs in a process group of its own, and the parent forwards Ctrl-C
and ``SIGTERM`` to it, so it gets each exactly once however it was sent (a terminal's Ctrl-C reaches
only the foreground group, the parent's).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["SUPERVISED", "needs_supervisor", "report_own_exit", "supervise"]

#: The environment variable naming the pipe a supervised child writes to when it ends by its own means.
SUPERVISED = "LDRRLD_SUPERVISED_FD"
_OWN_EXIT = b"1"


def needs_supervisor(argv: Sequence[str]) -> bool:
    """Whether ``argv`` runs a Ray driver (``--executor ray``) outside a supervisor already."""
    if SUPERVISED in os.environ:
        return False
    words = list(argv)
    return "--executor=ray" in words or any(a == "--executor" and b == "ray" for a, b in zip(words, words[1:]))


def report_own_exit() -> None:
    """In a supervised child: tell the parent this process ends by its own means (call just before exit)."""
    descriptor = os.environ.get(SUPERVISED)
    if descriptor is None:
        return
    try:
        os.write(int(descriptor), _OWN_EXIT)
    except (OSError, ValueError):  # no parent listening any more: nothing to tell
        pass


def supervise(argv: Sequence[str], command: Sequence[str] | None = None) -> int:
    """Run ``ldrrld ARGV`` as a child and return its exit status; one line if it was ended from outside.

    ``command`` replaces the child's command line (``python -m ldrrld_core ARGV``), for tests.
    """
    read_end, write_end = os.pipe()
    environment = {**os.environ, SUPERVISED: str(write_end)}
    command = [sys.executable, "-m", "ldrrld_core", *argv] if command is None else list(command)
    child = subprocess.Popen(command, env=environment, pass_fds=(write_end,), process_group=0)
    os.close(write_end)

    def forward(signum, frame):  # noqa: ARG001 - a signal handler's signature
        if child.poll() is None:
            child.send_signal(signum)

    previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    with os.fdopen(read_end, "rb") as pipe:
        own_exit = pipe.read() == _OWN_EXIT
    if status < 0:  # ended by a signal: the shell's convention
        status = 128 - status
    if own_exit:
        return status
    name = next((word for word in argv if not word.startswith("-")), "")
    how = f"killed by signal {status - 128}" if status > 128 else f"exit status {status}"
    print(
        f"ldrrld {name}: the Ray driver process was ended from outside ({how}): Ray ends it when this machine's "
        "Ray node stops, as when the cluster's head node dies (the system does when memory runs out); finished "
        "runs are kept and interrupted ones keep their checkpoints: restart the cluster (`ray start --head`) "
        "and rerun the same command to continue",
        file=sys.stderr,
    )
    return 1
