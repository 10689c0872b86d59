"""A two-node Ray cluster on loopback: a study across it, a node killed mid-run, Ctrl-C, a dead head.

``tests/test_cluster.py`` runs this file as the first process of new network, PID, mount and
(for the worker node) UTS namespaces::

    unshare --net --pid --fork --mount --mount-proc python tests/cluster_scenario.py WORK_DIR

(or, with ``launch``, only a network namespace for two ``torchrun`` launchers) so every address
Ray uses is this namespace's loopback, ``ray stop`` sees only this cluster, and
every process it started dies with it. The worker node runs under another host name, as on a real
cluster, so the run it holds is taken over through the task id in its lock, not through a
process id check. What happened goes to ``WORK_DIR/report.json``; the test asserts on it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

PORT = 6390
RAY = str(Path(sys.executable).parent / "ray")
#: The study of the test: ``--quick`` with two methods (8 runs of 3 epochs), one thread per run.
STUDY = ["study", "--quick", "--methods", "ce", "kd", "--threads", "1", "--no-progress"]
#: A node that stops answering is declared dead after about a second, not the default 30 s or so.
FAST_FAILURE = {
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "2",
    "RAY_USAGE_STATS_ENABLED": "0",
}
#: The quick study's student epochs.
EPOCHS = 3
NODE = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=80000000"]


def loopback_up() -> None:
    """``ip link set lo up`` without iproute2: set IFF_UP on ``lo`` (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    get_flags, set_flags, up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0).ljust(40, b"\0")
        flags = struct.unpack("16sH", fcntl.ioctl(sock, get_flags, request)[:18])[1]
        fcntl.ioctl(sock, set_flags, struct.pack("16sH", b"lo", flags | up).ljust(40, b"\0"))


def processes() -> set[int]:
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


def parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:  # gone meanwhile
        return ""


def start_node(arguments: list[str], env: dict, hostname: str | None = None) -> set[int]:
    """``ray start ARGUMENTS`` (under ``hostname`` in its own UTS namespace); the node's daemons' pids."""
    before = processes()
    command = [RAY, "start", *arguments]
    if hostname:
        rename = "import os, socket, sys; socket.sethostname(sys.argv[1]); os.execv(sys.argv[2], sys.argv[2:])"
        command = ["unshare", "--uts", sys.executable, "-c", rename, hostname, *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:  # say why: Ray's own last lines
        raise RuntimeError(f"ray start {' '.join(arguments)} failed: {(done.stdout + done.stderr)[-1500:]}")
    return {pid for pid in processes() - before if parent(pid) is not None}


def driver(arguments: list[str], work: Path, name: str) -> subprocess.Popen:
    """``ldrrld ARGUMENTS`` in ``work``, its output in ``work/<name>.out`` and ``.err``."""
    out, err = (open(work / f"{name}.{kind}", "w") for kind in ("out", "err"))  # noqa: SIM115 - closed at exit
    command = [sys.executable, "-m", "ldrrld_core", *arguments]
    return subprocess.Popen(
        command,
        cwd=work,
        stdout=out,
        stderr=err,
        env=dict(os.environ, **FAST_FAILURE),
        # Ctrl-C acts as in a terminal even where the shell ignores SIGINT (a background `make test &`).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def run_folders(study: Path):
    """Runs in progress, locked and past their first but not their last epoch: ``(folder, lock, epoch)``.

    A run may finish (and its folder go) at any moment, so every file that has gone is skipped.
    """
    import torch

    for lock in study.glob("runs/**/.lock"):
        try:
            holder = json.loads(lock.read_text())
            epoch = torch.load(lock.parent / "latest.pth", map_location="cpu", weights_only=False)["epoch"]
        except (OSError, ValueError, EOFError, RuntimeError, KeyError):
            continue
        if 1 <= epoch < EPOCHS:
            yield lock.parent, holder, epoch


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"no {what} within {timeout:.0f} s")


def main(work: Path) -> dict:
    loopback_up()
    env = dict(os.environ, **FAST_FAILURE)
    started = time.monotonic()
    temp = Path("/tmp") / f"ldrrld-ray-{os.getpid()}-{time.time_ns() % 10**6}"  # short: socket paths
    head = ["--head", f"--port={PORT}", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    try:
        return _scenario(work, env, head, started)
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)  # only this namespace's
        shutil.rmtree(temp, ignore_errors=True)


def _scenario(work: Path, env: dict, head: list[str], started: float) -> dict:
    report: dict = {}
    head_node = start_node(head + NODE, env)
    worker = start_node([f"--address=127.0.0.1:{PORT}", *NODE], env, hostname="worker-node")
    raylet = next(pid for pid in worker if "raylet" in command_line(pid))
    report["cluster_seconds"] = time.monotonic() - started

    # 1. The study across both nodes; the worker node dies while it holds a run with a checkpoint.
    study = work / "ray-study"
    address = ["--executor", "ray", "--address", f"127.0.0.1:{PORT}", "--out-dir", study.name]
    first = driver([*STUDY, *address], work, "study")

    def on_worker():
        return next((found for found in run_folders(study) if parent(found[1]["pid"]) == raylet), None)

    folder, holder, epochs_done = wait_for(on_worker, 300, "run with a checkpoint on the worker node")
    victims = worker | {pid for pid in processes() if parent(pid) == raylet}
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    report["killed"] = {"run": str(folder.relative_to(study)), "holder": holder, "epochs_done": epochs_done}
    report["study"] = {"returncode": first.wait(timeout=600), "seconds": time.monotonic() - started}

    # 2. Ctrl-C: one more seed (the others are reused), interrupted while a run trains on the head. A
    # study of other settings in a finished study's folder is refused unless --overwrite says so.
    second = driver([*STUDY, "--seeds", "3", "--overwrite", *address], work, "cancel")
    wait_for(lambda: next(run_folders(study), None), 300, "run in progress for the Ctrl-C test")
    second.send_signal(signal.SIGINT)
    report["cancel"] = {"returncode": second.wait(timeout=120)}
    time.sleep(3)  # what a run that kept going would need to write its next checkpoint
    report["cancel"]["locks_left"] = [str(p.relative_to(study)) for p in study.glob("runs/**/.lock")]

    # 3. The head node dies while a driver waits: one more seed again, and every process of the head
    # node (its daemons and the workers its raylet started) killed while a run trains there.
    third = driver([*STUDY, "--seeds", "4", "--overwrite", *address], work, "head")
    wait_for(lambda: next(run_folders(study), None), 300, "run in progress for the dead-head test")
    head_raylet = next(pid for pid in head_node if "raylet" in command_line(pid))
    victims = head_node | {pid for pid in processes() if parent(pid) == head_raylet}
    killed_at = time.monotonic()
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        returncode = third.wait(timeout=120)
    except subprocess.TimeoutExpired:
        third.kill()
        returncode = None
    report["head"] = {"returncode": returncode, "seconds": time.monotonic() - killed_at}
    report["seconds"] = time.monotonic() - started
    return report


def launch(commands: list[list[str]]) -> int:
    """Bring up loopback, start ``commands`` side by side, and return the worst exit status."""
    loopback_up()
    started = [subprocess.Popen(command) for command in commands]
    return max(process.wait() for process in started)


if __name__ == "__main__":
    if sys.argv[1] == "launch":  # python tests/cluster_scenario.py launch '[[command], ...]' (torchrun test)
        sys.exit(launch(json.loads(sys.argv[2])))
    work = Path(sys.argv[1]).resolve()
    try:
        result = main(work)
    except Exception as error:  # noqa: BLE001 - the test shows it
        result = {"error": f"{type(error).__name__}: {error}"}
    (work / "report.json").write_text(json.dumps(result, indent=1))
