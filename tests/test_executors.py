"""Executors of batches of runs (local pool, Ray), the lock a retried task takes over, resumable run folders."""

from __future__ import annotations

import json
import socket
import sys

import pytest
import torch

from ldrrld_core.study.executors import (
    ClusterUnreachableError,
    LocalExecutor,
    RayExecutor,
    WorkerDiedError,
    connect,
    executor_from,
    make_executor,
    ready_executor,
)
from ldrrld_core.study.run_folder import checkpoint_folder, fit_in_folder
from ldrrld_core.train import fit, get_recipe, loop
from ldrrld_core.train.runlock import LOCK, TASK_ENV, RunLockedError, acquire_run_lock


def _square(x: int) -> int:
    return x * x


def _note_pid_and_wait(folder: str, name: str, seconds: float) -> str:
    """A run that says which process has it (``folder/name.pid``), then takes ``seconds``."""
    import os
    import time
    from pathlib import Path

    Path(folder, f"{name}.pid").write_text(str(os.getpid()))
    time.sleep(seconds)
    return name


def test_a_killed_jobs_worker_is_one_line_naming_its_run(tmp_path, capsys):
    """A worker of ``--jobs`` killed mid-run (SIGKILL, as the OOM killer does) broke the pool with
    concurrent.futures' BrokenProcessPool, which the CLI showed as an internal error to "please report";
    now it is one line naming the run that worker had and saying that a rerun continues."""
    import os
    import signal
    import threading
    import time

    got: dict = {}
    items = [("kd", "preset", 0.05, 0), ("dkd", "preset", 0.05, 1)]

    def kill_the_first_run():
        pid_file = tmp_path / "kd.pid"
        deadline = time.monotonic() + 120
        while not (pid_file.exists() and pid_file.read_text() and items[1] in got) and time.monotonic() < deadline:
            time.sleep(0.05)  # the first run under way, the second one finished and handed over
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_the_first_run, daemon=True)
    killer.start()
    start = time.monotonic()
    with pytest.raises(WorkerDiedError) as caught:
        LocalExecutor(2).run_each(
            _note_pid_and_wait,
            items,
            lambda item: (str(tmp_path), item[0], 30.0 if item[0] == "kd" else 0.1),
            got.__setitem__,
        )
    killer.join()
    message = str(caught.value)
    assert "\n" not in message and "please report" not in message
    assert "killed by SIGKILL" in message and "while it ran the run (kd, preset, 0.05, 0)" in message
    assert "dkd" not in message  # the other worker's run finished: it is stored, not named
    assert "rerun the same command to continue" in message
    assert got == {items[1]: "dkd"} and time.monotonic() - start < 25  # the killed run was not waited for
    from argparse import Namespace

    from ldrrld_core.cli.main import _report

    assert _report(Namespace(command="study", debug=False), caught.value) == 1
    assert capsys.readouterr().err == f"ldrrld study: error: {message}\n"


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_executor_hands_over_every_result(jobs):
    got = {}
    LocalExecutor(jobs).run_each(_square, [1, 2, 3], lambda x: (x,), got.__setitem__)
    assert got == {1: 1, 2: 4, 3: 9}


def test_make_executor_reads_the_options():
    assert make_executor("local", jobs=3) == LocalExecutor(3)
    assert make_executor("ray", address="10.0.0.1:6379", gpus_per_run=0.5) == RayExecutor("10.0.0.1:6379", 0.5)
    assert ready_executor(None, jobs=2) == LocalExecutor(2)
    with pytest.raises(ValueError, match="--executor ray"):
        make_executor("local", address="10.0.0.1:6379")
    with pytest.raises(ValueError, match="one of local, ray"):
        make_executor("slurm")
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        make_executor("local", jobs=0)
    with pytest.raises(ValueError, match="--gpus-per-run must be positive"):
        make_executor("ray", gpus_per_run=0)


def test_executor_options_on_the_command_line():
    from ldrrld_core.cli import build_parser

    def executor(*flags):
        return executor_from(build_parser().parse_args(["study", *flags]))

    assert executor() == LocalExecutor(1) and executor("--jobs", "2") == LocalExecutor(2)
    assert executor("--executor", "ray", "--address", "h:1", "--gpus-per-run", "0.5") == RayExecutor("h:1", 0.5)
    with pytest.raises(ValueError, match="--jobs 2 sets the local pool"):
        executor("--executor", "ray", "--jobs", "2")
    with pytest.raises(ValueError, match="--gpus-per-run applies to --executor ray"):
        executor("--gpus-per-run", "0.5")
    with pytest.raises(ValueError, match="add --executor ray"):
        executor("--address", "h:1")


def test_a_ray_task_declares_threads_and_one_gpu_on_cuda():
    assert RayExecutor().resources(4, "cpu") == {"num_cpus": 4, "num_gpus": 0}
    assert RayExecutor().resources(1, "cuda") == {"num_cpus": 1, "num_gpus": 1.0}
    assert RayExecutor(gpus_per_run=0.25).resources(2, "cuda") == {"num_cpus": 2, "num_gpus": 0.25}
    with pytest.raises(ValueError, match="give --device cuda"):
        RayExecutor().resources(1, "cuda:1")


def test_ray_missing_is_one_sentence_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(ValueError, match=r"pip install -e '\.\[ray\]'"):
        connect("127.0.0.1:6379")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_address_where_nothing_answers_fails_at_once():
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")
    address = f"127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterUnreachableError, match=f"cannot reach the Ray cluster at {address}.*ray start --head"):
        ready_executor(RayExecutor(address))
    with pytest.raises(ValueError, match="is not host:port"):
        connect("headnode")


# ----------------------------------------------------------------------------- lock takeover
def _foreign_lock(folder, task: str | None) -> None:
    """A lock as a run on another host (whose process cannot be checked) leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"pid": 1, "host": "another-host", "started": "2026-01-01T00:00:00", "token": "t"}
    if task:
        record["task"] = task
    (folder / LOCK).write_text(json.dumps(record))


def test_a_retried_task_takes_over_its_own_lock_from_another_host(tmp_path, monkeypatch):
    _foreign_lock(tmp_path / "run", task="task-a")
    monkeypatch.setenv(TASK_ENV, "task-a")  # the retry of the task that died with its node
    record = acquire_run_lock(tmp_path / "run")
    assert record["task"] == "task-a" and json.loads((tmp_path / "run" / LOCK).read_text()) == record


@pytest.mark.parametrize("task", [None, "task-b"])
def test_another_task_or_a_plain_run_respects_the_lock(tmp_path, monkeypatch, task):
    _foreign_lock(tmp_path / "run", task="task-a")
    if task is None:
        monkeypatch.delenv(TASK_ENV, raising=False)
    else:
        monkeypatch.setenv(TASK_ENV, task)
    with pytest.raises(RunLockedError, match="another-host"):
        acquire_run_lock(tmp_path / "run")


def test_a_plain_lock_is_never_taken_over_by_a_task(tmp_path, monkeypatch):
    _foreign_lock(tmp_path / "run", task=None)
    monkeypatch.setenv(TASK_ENV, "task-a")
    with pytest.raises(RunLockedError):
        acquire_run_lock(tmp_path / "run")


# ------------------------------------------------------------------------ resumable run folders
def _digits():
    return get_recipe("digits", model="digits_mlp", loss="ce", epochs=2, warmup_epochs=0, decay_epochs=())


def test_a_run_folder_continues_an_interrupted_run_to_the_uninterrupted_result(tmp_path, monkeypatch):
    recipe = _digits()
    whole = fit(recipe, device="cpu", progress=False)
    folder = checkpoint_folder(tmp_path / "runs" / "ce" / "lr0.1-seed0.json")
    assert folder == tmp_path / "runs" / "ce" / "lr0.1-seed0"

    train_epoch = loop._train_epoch

    def stop_before_second(run, recipe, epoch, bar):  # Ctrl-C (or a dead node) after epoch 1
        if epoch == 2:
            raise KeyboardInterrupt
        return train_epoch(run, recipe, epoch, bar)

    monkeypatch.setattr(loop, "_train_epoch", stop_before_second)
    with pytest.raises(KeyboardInterrupt):
        fit_in_folder(recipe, folder, device="cpu", progress=False)
    assert torch.load(folder / "latest.pth", weights_only=False)["epoch"] == 1
    trained = []

    def count(run, recipe, epoch, bar):
        trained.append(epoch)
        return train_epoch(run, recipe, epoch, bar)

    monkeypatch.setattr(loop, "_train_epoch", count)
    resumed = fit_in_folder(recipe, folder, device="cpu", progress=False)
    assert trained == [2], "the second start continues after the checkpoint, it does not start over"
    assert resumed.history.without("seconds").rows == whole.history.without("seconds").rows
    weights, expected = resumed.model.state_dict(), whole.model.state_dict()
    assert all(torch.equal(weights[name], expected[name]) for name in expected)


def test_a_run_folder_of_another_recipe_is_started_afresh(tmp_path):
    folder = tmp_path / "run"
    fit_in_folder(_digits().replace(lr=0.05), folder, device="cpu", progress=False)
    run = fit_in_folder(_digits(), folder, device="cpu", progress=False)  # fit alone refuses another lr's checkpoint
    assert run.recipe.lr == _digits().lr and [row["epoch"] for row in run.history.rows] == [1, 2]
    assert json.loads((folder / "recipe.json").read_text())["lr"] == _digits().lr


# ------------------------------------------------------------------------- the reproduction kit
class _Recording(LocalExecutor):
    """The local executor, noting what each batch asked for."""

    def run_each(self, function, todo, arguments, finished, **resources):
        self.__dict__.setdefault("calls", []).append((function, list(todo), resources))
        super().run_each(function, todo, arguments, finished, **resources)


def test_the_kit_hands_every_cell_to_its_executor(tmp_path, monkeypatch):
    from ldrrld_core.reproduce import kit

    ran = []
    monkeypatch.setattr(kit, "_train", lambda recipe, threads: ran.append(recipe) or {"top1": 50.0})
    settings = kit.Settings.for_fast(tmp_path, teacher_epochs=0)  # random stand-in teachers: no training
    pairs = kit.select_pairs(None, fast=True)
    executor = _Recording()
    summaries = kit.run(settings, pairs, log=lambda line: None, executor=executor)
    ((function, todo, resources),) = executor.calls
    assert todo == kit.cells(settings, pairs) and resources == {"threads": 1, "device": "cpu"}
    assert ran == [cell.recipe(settings) for cell in todo] and summaries == [{"top1": 50.0}] * len(todo)


def test_a_run_error_comes_back_as_itself_and_a_lost_run_as_one_line():
    from ldrrld_core.study.executors import ClusterError, _result

    class RayError(Exception):
        pass

    class RayTaskError(RayError):
        def __init__(self, cause):
            super().__init__(f"wrapped: {cause}")
            self.cause = cause

    class FakeRay:
        exceptions = type("exceptions", (), {"RayError": RayError, "RayTaskError": RayTaskError})

        def __init__(self, error):
            self.error = error

        def get(self, ref):
            raise self.error

    with pytest.raises(ValueError, match="^lr must be positive$"):
        _result(FakeRay(RayTaskError(ValueError("lr must be positive"))), None)
    with pytest.raises(ClusterError, match=r"lost a run \(RayError: node died\); .*rerun the same command") as lost:
        _result(FakeRay(RayError("node died\nand more lines")), None)
    assert "\n" not in str(lost.value)


def test_ctrl_c_while_ray_waits_is_noted_then_the_handler_is_back():
    import os
    import signal

    from ldrrld_core.study.executors import _ctrl_c_noted

    # Ctrl-C as in a terminal, even where the shell ignores SIGINT (a background `make test &`).
    outside = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = signal.getsignal(signal.SIGINT)
        with _ctrl_c_noted() as interrupted:
            os.kill(os.getpid(), signal.SIGINT)  # noted, not raised inside whatever Ray was doing
            assert interrupted == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is before
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, outside)


# ------------------------------------------------------------------------- a dead head node
def test_the_head_watch_raises_once_the_head_is_silent_for_its_timeout():
    from ldrrld_core.study.executors import ClusterError, HeadWatch

    moment, answers, looks = [0.0], [True], []

    def probe(address):
        looks.append(address)
        return answers[0]

    watch = HeadWatch("10.0.0.1:6379", timeout=15.0, every=2.0, probe=probe, clock=lambda: moment[0])
    for moment[0] in (1.0, 2.5, 3.0, 10.0):
        watch.check()
    assert len(looks) == 2  # at most one look per 2 s
    answers[0] = False
    for moment[0] in (12.0, 20.0, 24.9):  # silent since 10.0: within the 15 s
        watch.check()
    moment[0] = 25.0  # past the timeout, but looked 0.1 s ago
    watch.check()
    moment[0] = 27.0
    with pytest.raises(ClusterError) as caught:
        watch.check()
    message = str(caught.value)
    assert message.startswith("the Ray cluster's head node at 10.0.0.1:6379 has not answered for 17 s")
    assert "rerun the same command to continue" in message and "\n" not in message and watch.gone
    HeadWatch(None, probe=lambda address: False).check(now=True)  # Ray did not say: no watch


class _FakeRay:
    """Enough of ``ray`` for :meth:`RayExecutor.run_each`: tasks that never finish, a head at ``head``."""

    class RayError(Exception):
        pass

    def __init__(self, head: str) -> None:
        self.head, self.cancelled, self.waits = head, [], 0
        self.exceptions = type("exceptions", (), {"RayError": self.RayError, "RayTaskError": self.RayError})

    def get_runtime_context(self):
        return type("Context", (), {"gcs_address": self.head})()

    def remote(self, function):
        fake = self

        class Task:
            def options(self, **options):
                return self

            def remote(self, *arguments):
                return object()

        return Task() if fake else None

    def wait(self, refs, num_returns, timeout):
        self.waits += 1
        return [], refs

    def cancel(self, ref):
        self.cancelled.append(ref)


def test_a_dead_head_ends_the_ray_driver_with_one_line_within_its_timeout(monkeypatch):
    """The real path: run_each watches the head's address as Ray gives it, by TCP connections to it.
    The head listens on loopback; it stops; the driver ends with one ClusterError line within
    HEAD_TIMEOUT, without cancelling tasks on a cluster that is gone (Ray alone would wait 60 s, then
    abort the driver with pages of log)."""
    import threading
    import time

    from ldrrld_core.study import executors

    monkeypatch.setattr(executors, "HEAD_TIMEOUT", 1.0)
    monkeypatch.setattr(executors, "HEAD_CHECK_EVERY", 0.1)
    monkeypatch.setattr(executors, "_POLL", 0.01)
    head = socket.socket()
    head.bind(("127.0.0.1", 0))
    head.listen()
    address = "127.0.0.1:%d" % head.getsockname()[1]
    ray = _FakeRay(address)
    monkeypatch.setattr(executors, "connect", lambda address: ray)

    def head_dies():
        while ray.waits < 50:  # a while of answering first
            time.sleep(0.01)
        head.close()

    threading.Thread(target=head_dies, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(executors.ClusterError, match=rf"head node at {address} has not answered for 1 s"):
        RayExecutor().run_each(_square, [1, 2], lambda x: (x,), lambda item, result: None)
    assert ray.waits >= 50 and time.monotonic() - start < 10 and ray.cancelled == []
