"""Where a batch of independent runs executes: processes on this machine, or a Ray cluster.

The study, the sweep and the reproduction kit each hand a list of runs to an executor's
:meth:`~LocalExecutor.run_each`: ``finished(item, function(*arguments(item)))`` for every item,
each result handed over as soon as it exists (in any order), so a caller that saves it makes an
interrupted batch resumable. Two executors do this:

* :class:`LocalExecutor` (the default): in this process, or ``jobs`` spawned processes.
* :class:`RayExecutor`: one Ray task per run on a Ray cluster (``pip install -e ".[ray]"`` in a checkout).
  Each task declares what it needs (``num_cpus`` = the run's torch threads, one GPU when the
  device is CUDA) and Ray places it on any node with that free. Ray is imported only here, and
  only when a Ray executor runs.

On a cluster every run writes into the output folder the driver names, so that folder must be one
that every node sees at the same path (NFS, Lustre, a cloud file system): a run retried on
another node continues from the checkpoint its first attempt left there, and the driver reads the
results from it. When a node dies, Ray retries its tasks elsewhere (``max_retries`` times); the
retried attempt carries the same task id (:data:`~ldrrld_core.train.runlock.TASK_ENV`), which
lets it take over the run folder's lock that the dead attempt left. Ctrl-C on the driver cancels
the outstanding tasks; a cluster that cannot be reached is a :class:`ClusterUnreachableError`.
See ``docs/cluster.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Protocol

from ..train.runlock import TASK_ENV

__all__ = [
    "EXECUTORS",
    "add_executor_options",
    "executor_from",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "ClusterUnreachableError",
    "ClusterError",
    "WorkerDiedError",
    "HeadWatch",
    "connect",
    "make_executor",
    "ready_executor",
    "run_each",
]

log = logging.getLogger("ldrrld.study")

#: The names ``--executor`` accepts.
EXECUTORS = ("local", "ray")

#: Seconds the driver waits for a cluster's address to accept a connection before giving up.
CONNECT_TIMEOUT = 10.0
#: Seconds the driver waits, after Ctrl-C, for cancelled tasks to stop (and release their run folders).
CANCEL_GRACE = 10.0
#: Seconds the head node may stay silent while the driver waits for results before the batch ends
#: with a :class:`ClusterError`: well within the 60 s after which Ray's own driver process would
#: abort with pages of log (``gcs_rpc_server_reconnect_timeout_s``).
HEAD_TIMEOUT = 15.0
#: Seconds between the driver's looks at the head node (a TCP connection to its address).
HEAD_CHECK_EVERY = 2.0


class ClusterUnreachableError(ValueError):
    """The Ray cluster's address does not answer (exit status 2 on the command line)."""


class ClusterError(OSError):
    """The cluster lost a run for good (its node died more often than Ray retries), or its head node
    stopped answering for :data:`HEAD_TIMEOUT` s; exit status 1."""


class WorkerDiedError(OSError):
    """A ``--jobs`` worker process died during a batch (killed, out of memory, crashed); exit status 1.

    Its message names the run the worker had, and says that a rerun continues from the stored runs."""


class Executor(Protocol):
    """What runs a batch: :meth:`run_each`."""

    def run_each(
        self,
        function: Callable[..., Any],
        todo: Iterable[Any],
        arguments: Callable[[Any], tuple],
        finished: Callable[[Any, Any], None],
        *,
        threads: int = 1,
        device: str = "cpu",
    ) -> None: ...


@dataclass(frozen=True)
class LocalExecutor:
    """This machine: the calls run in this process (``jobs`` 1) or in ``jobs`` spawned processes."""

    jobs: int = 1

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {self.jobs}")

    def run_each(self, function, todo, arguments, finished, *, threads: int = 1, device: str = "cpu") -> None:
        """Call ``finished(item, function(*arguments(item)))`` for every item of ``todo``.

        With ``jobs > 1`` the calls run in that many fresh (spawned) processes and finish in any
        order; ``function`` must then be importable at module level. ``threads`` and ``device``
        are the runs' own business here (the function sets them). Each result is handed over as
        soon as it exists, so a caller that saves it makes an interrupted batch resumable. Ctrl-C
        reaches the calling process alone, which stops the workers at once and raises
        ``KeyboardInterrupt`` (one line, exit 130 in the CLI; no worker tracebacks).
        """
        if self.jobs <= 1:
            for item in todo:
                finished(item, function(*arguments(item)))
            return
        spawn = get_context("spawn")
        started = spawn.SimpleQueue()  # (worker pid, item number) as each call starts
        pool = ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=spawn, initializer=_worker_setup, initargs=(started,)
        )
        items, done = list(todo), set()
        with pool:
            try:
                futures = {
                    pool.submit(_announced, number, function, *arguments(item)): number
                    for number, item in enumerate(items)
                }
                for future in as_completed(futures):
                    finished(items[futures[future]], future.result())
                    done.add(futures[future])
            except BaseException as error:  # Ctrl-C (or a failed run): stop every worker now, not after its run
                processes = dict(getattr(pool, "_processes", None) or {})
                for process in processes.values():
                    process.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                if isinstance(error, BrokenProcessPool):
                    raise WorkerDiedError(_worker_death(processes, started, items, done)) from None
                raise


#: In a worker of :meth:`LocalExecutor.run_each`: where it says which call it starts.
_STARTED = None


def _worker_setup(started) -> None:
    """A worker's initializer: note where to announce each call, and leave Ctrl-C to the parent."""
    global _STARTED
    _STARTED = started
    _leave_interrupts_to_the_parent()


def _announced(number: int, function: Callable[..., Any], *arguments: Any) -> Any:
    """``function(*arguments)`` in a worker, after saying which item (``number``) this process runs."""
    if _STARTED is not None:
        _STARTED.put((os.getpid(), number))
    return function(*arguments)


def _worker_death(processes: dict, started, items: list, done: set) -> str:
    """One line for a pool broken by a dead worker: which worker, how it ended, the run it had, what to do."""
    running: dict[int, int] = {}
    idle = "between runs"
    try:
        while not started.empty():
            pid, number = started.get()
            running[pid] = number
    except (OSError, EOFError, ValueError):  # a worker killed halfway through its note: name what is known
        pass
    for process in processes.values():
        process.join(timeout=5)
    # The dead worker ended before the pool terminated the others (SIGTERM): prefer any other ending.
    ended = [p for p in processes.values() if p.exitcode is not None and p.exitcode != -signal.SIGTERM]
    dead = ended or [p for p in processes.values() if p.exitcode is not None]
    if not dead:
        who, runs = "a --jobs worker process", [n for n in running.values() if n not in done]
    else:
        process = dead[0]
        code = process.exitcode
        signalled = code < 0 and -code in signal.valid_signals()
        how = f"killed by {signal.Signals(-code).name}" if signalled else f"exit status {code}"
        if code == -signal.SIGKILL:
            how += ", perhaps for lack of memory"
        who = f"the --jobs worker process {process.pid} ({how})"
        number = running.get(process.pid)
        runs = [] if number is None or number in done else [number]
        if number is None:
            idle = "before it started a run"
    what = f"while it ran the run {', '.join(_label(items[n]) for n in runs)}" if runs else idle
    return (
        f"{who} died {what}; the finished runs are stored and interrupted ones keep their checkpoints: "
        "rerun the same command to continue from them"
    )


def _label(item: Any) -> str:
    """An item of a batch as a person reads it: a tuple as ``(kd, preset, 0.05, 0)``, else ``str(item)``."""
    if isinstance(item, tuple):
        return "(" + ", ".join(f"{part:g}" if isinstance(part, float) else str(part) for part in item) + ")"
    return str(item)


def _leave_interrupts_to_the_parent() -> None:
    """In a worker: ignore Ctrl-C, which the terminal sends to every process of the group. The parent
    alone reacts and stops the workers, so no worker prints a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass(frozen=True)
class RayExecutor:
    """A Ray cluster: one task per run, results streamed back as the tasks finish.

    Attributes:
        address: the cluster, ``host:port`` of its head node as ``ray start --head`` prints it
            (``auto``: the cluster started on this machine). ``None``: ``RAY_ADDRESS`` if set,
            else a Ray instance started on this machine for the batch.
        gpus_per_run: GPUs a CUDA run asks for; below 1 several runs share a GPU (``0.25``: four).
        max_retries: how often Ray retries a run whose node died (a run's own error is not retried).
    """

    address: str | None = None
    gpus_per_run: float = 1.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        if not self.gpus_per_run > 0:
            raise ValueError(f"--gpus-per-run must be positive, got {self.gpus_per_run}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be at least 0, got {self.max_retries}")

    def resources(self, threads: int, device: str) -> dict[str, float]:
        """What one run's task declares: ``num_cpus`` (its torch threads) and, on CUDA, ``num_gpus``."""
        kind, _, index = device.partition(":")
        if kind == "cuda" and index:
            raise ValueError(
                f"--device {device}: on Ray give --device cuda; Ray gives every run its own GPU "
                "(it sets CUDA_VISIBLE_DEVICES), so an index would point past it"
            )
        return {"num_cpus": threads, "num_gpus": self.gpus_per_run if kind == "cuda" else 0}

    def run_each(self, function, todo, arguments, finished, *, threads: int = 1, device: str = "cpu") -> None:
        """Submit one task per item; call ``finished(item, result)`` in this process as each task ends.

        A task's own error is raised here (the outstanding tasks are cancelled first); Ctrl-C
        cancels them too and re-raises ``KeyboardInterrupt``.
        """
        todo = list(todo)
        if not todo:
            return
        resources = self.resources(threads, device)
        ray = connect(self.address)
        task = ray.remote(_run_task).options(max_retries=self.max_retries, retry_exceptions=False, **resources)
        folder = os.getcwd()  # relative paths (out-dir, teachers, data) mean the same on every node
        head = HeadWatch(_head_address(ray))
        pending = {task.remote(folder, function, arguments(item)): item for item in todo}
        with _ctrl_c_noted() as interrupted:
            try:
                while pending:
                    try:
                        ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL)
                    except ray.exceptions.RayError:  # a head that went away may make Ray's calls fail
                        head.check(now=True)
                        raise
                    if interrupted:
                        raise KeyboardInterrupt
                    for ref in ready:
                        finished(pending.pop(ref), _result(ray, ref))
                    head.check()
            except BaseException:  # Ctrl-C, a run's error, or the caller's own: stop what is still running
                interrupted.restore()  # a second Ctrl-C while the tasks are cancelled stops at once
                if not head.gone:
                    _cancel(ray, list(pending))
                raise


#: Seconds between the driver's looks for Ctrl-C while it waits for results.
_POLL = 0.5


class _Noted(list):
    """The Ctrl-C presses noted while Ray waits; :meth:`restore` puts the previous handler back."""

    def __init__(self, previous=None, installed: bool = False) -> None:
        super().__init__()
        self.previous, self.installed = previous, installed

    def restore(self) -> None:
        if self.installed:
            previous = self.previous if self.previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
            self.installed = False


@contextmanager
def _ctrl_c_noted():
    """Inside: Ctrl-C is only noted (the list is non-empty), so that it never interrupts Ray's own calls
    halfway; the caller raises ``KeyboardInterrupt`` at a safe point. Outside the main thread: nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield _Noted()
        return
    noted = _Noted(signal.getsignal(signal.SIGINT), installed=True)
    signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield noted
    finally:
        noted.restore()


def _run_task(folder: str, function: Callable[..., Any], arguments: tuple) -> Any:
    """The body of every Ray task: ``function(*arguments)`` in the driver's working folder ``folder``,
    with the task's id in :data:`TASK_ENV` (the same id on every retry of the task, so a retry may
    take over its own run folder's lock)."""
    import ray

    context = ray.get_runtime_context()
    try:
        os.chdir(folder)
    except OSError as error:
        raise ValueError(
            f"the driver's working folder {folder} is not there on node {context.get_node_id()[:12]} "
            f"({error.strerror}): start the driver in a folder every node sees at the same path"
        ) from None
    previous = os.environ.get(TASK_ENV)
    os.environ[TASK_ENV] = context.get_task_id()
    try:
        return function(*arguments)
    finally:
        if previous is None:
            os.environ.pop(TASK_ENV, None)
        else:
            os.environ[TASK_ENV] = previous


def _result(ray, ref) -> Any:
    """The task's result; a task's own error is raised as itself, not wrapped in Ray's, and a run the
    cluster lost for good as a :class:`ClusterError`."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise
    except ray.exceptions.RayError as error:  # node or worker gone after every retry, object lost, ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ClusterError(
            f"the Ray cluster lost a run ({type(error).__name__}: {first}); finished runs are kept and "
            "interrupted ones keep their checkpoints: rerun the same command to continue"
        ) from None


def _head_address(ray) -> str | None:
    """``host:port`` of the connected cluster's head node (its GCS), or ``None`` where Ray does not say."""
    try:
        return ray.get_runtime_context().gcs_address or None
    except Exception:  # noqa: BLE001 - an older or stubbed Ray: no watch, Ray's own handling
        return None


def _answers(address: str) -> bool:
    """Whether ``host:port`` takes a TCP connection within :data:`HEAD_CHECK_EVERY` s (at most 2 s)."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=min(HEAD_CHECK_EVERY, 2.0)):
            return True
    except (OSError, ValueError):
        return False


class HeadWatch:
    """Notices a Ray head node that stopped answering while the driver waits for results.

    :meth:`check` looks at the head (``probe(address)``, a TCP connection by default) at most every
    :data:`HEAD_CHECK_EVERY` s and raises a :class:`ClusterError` once it has not answered for
    ``timeout`` s. Ray itself would wait 60 s and then abort the driver with pages of log. A watch
    without an address (Ray does not say) never raises.
    """

    def __init__(
        self,
        address: str | None,
        *,
        timeout: float | None = None,
        every: float | None = None,
        probe: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address, self.clock = address, clock
        self.timeout = HEAD_TIMEOUT if timeout is None else timeout
        self.every = HEAD_CHECK_EVERY if every is None else every
        self.probe = probe or _answers
        self.answered = self.looked = clock()
        self.gone = False  # set when check raised: the cluster's tasks end with it, nothing to cancel

    def check(self, *, now: bool = False) -> None:
        """Look at the head if it is time (``now``: in any case); raise :class:`ClusterError` if it has
        been silent for ``timeout`` s."""
        if self.address is None:
            return
        moment = self.clock()
        if not now and moment - self.looked < self.every:
            return
        self.looked = moment
        if self.probe(self.address):
            self.answered = moment
            return
        silent = moment - self.answered
        if now or silent >= self.timeout:
            self.gone = True
            how_long = f"has not answered for {silent:.0f} s" if silent >= 1 else "does not answer"
            raise ClusterError(
                f"the Ray cluster's head node at {self.address} {how_long} (stopped, or its "
                "machine is gone); finished runs are kept and interrupted ones keep their checkpoints: restart the "
                "cluster (`ray start --head`) and rerun the same command to continue"
            )


def _cancel(ray, refs: list) -> None:
    """Cancel ``refs`` (a running task gets a ``KeyboardInterrupt``, so its run releases its folder)
    and wait a little for them to stop."""
    if not refs:
        return
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001 - already finished or gone: nothing left to cancel
            pass
    try:
        ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE)
    except Exception:  # noqa: BLE001 - the cluster may be going away too; the tasks were cancelled
        pass


def connect(address: str | None):
    """The ``ray`` module, connected to the cluster at ``address`` (see :class:`RayExecutor`).

    Raises:
        ValueError: Ray is not installed.
        ClusterUnreachableError: nothing answers at the address within :data:`CONNECT_TIMEOUT` s.
    """
    try:
        import ray
    except ImportError:
        raise ValueError(
            "--executor ray needs Ray: pip install -e '.[ray]' in your checkout (or pip install ray) on the driver "
            "and every node"
        ) from None
    if ray.is_initialized():
        return ray
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target not in (None, "auto", "local"):
        _check_reachable(target)
    try:
        ray.init(address=target, logging_level=logging.WARNING, configure_logging=True)
    except ConnectionError as error:
        raise ClusterUnreachableError(_unreachable(target, " ".join(str(error).split()))) from None
    return ray


def _check_reachable(address: str) -> None:
    """Raise :class:`ClusterUnreachableError` unless ``host:port`` (``ray://`` allowed) takes a TCP connection
    (``ray.init`` itself would wait for ever on an address where nothing answers)."""
    where = address.split("://", 1)[-1]
    host, sep, port = where.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--address {address!r} is not host:port (e.g. 10.0.0.1:6379, as `ray start --head` prints)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as error:
        raise ClusterUnreachableError(_unreachable(address, error.strerror or str(error) or "timed out")) from None


def _unreachable(address: str | None, reason: str) -> str:
    return (
        f"cannot reach the Ray cluster at {address or 'auto'}: {reason}; start it with `ray start --head` "
        "(and `ray start --address HEAD:PORT` on the other nodes), or fix --address / RAY_ADDRESS"
    )


def make_executor(
    name: str = "local", *, jobs: int = 1, address: str | None = None, gpus_per_run: float = 1.0
) -> LocalExecutor | RayExecutor:
    """The executor ``--executor NAME`` names: ``local`` (``jobs`` processes) or ``ray`` (the cluster at
    ``address``)."""
    if name == "local":
        if address is not None:
            raise ValueError("--address names a Ray cluster; add --executor ray")
        return LocalExecutor(jobs)
    if name == "ray":
        return RayExecutor(address=address, gpus_per_run=gpus_per_run)
    raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}, got {name!r}")


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """``--executor``, ``--address`` and ``--gpus-per-run``: where a batch of runs trains (:func:`executor_from`)."""
    group = parser.add_argument_group("where the runs train")
    group.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: this machine (default); ray: a Ray cluster, one task per run, as its nodes have room "
        "(pip install -e '.[ray]' in a checkout; the output folder must be shared by every node; see docs/cluster.md)",
    )
    group.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="the Ray cluster's head node, as `ray start --head` prints it (default: RAY_ADDRESS, else a "
        "Ray instance started on this machine)",
    )
    group.add_argument(
        "--gpus-per-run",
        type=float,
        default=1.0,
        metavar="N",
        help="GPUs a CUDA run asks Ray for (default 1; 0.25 puts four runs on one GPU)",
    )


def executor_from(args: argparse.Namespace) -> LocalExecutor | RayExecutor:
    """The executor the options of :func:`add_executor_options` (and ``--jobs``, if any) describe."""
    jobs = getattr(args, "jobs", 1)
    if args.executor != "ray" and args.gpus_per_run != 1.0:
        raise ValueError("--gpus-per-run applies to --executor ray")
    if args.executor == "ray" and jobs != 1:
        raise ValueError(
            f"--jobs {jobs} sets the local pool; on Ray the cluster's free CPUs and GPUs decide how many runs "
            "train at once (--threads and --gpus-per-run say what one run takes): leave --jobs out"
        )
    return make_executor(args.executor, jobs=jobs, address=args.address, gpus_per_run=args.gpus_per_run)


def ready_executor(executor: Executor | str | None, jobs: int = 1) -> Executor:
    """``executor`` itself, the one its name names, or (``None``) the local pool of ``jobs`` processes,
    ready to run: a Ray executor is connected to its cluster here, so that a batch fails at once on
    an unreachable cluster rather than after its first steps."""
    if executor is None or isinstance(executor, str):
        executor = make_executor(executor or "local", jobs=jobs)
    if isinstance(executor, RayExecutor):
        connect(executor.address)
    return executor


def run_each(function, todo, arguments, finished, *, jobs: int) -> None:
    """:meth:`LocalExecutor.run_each` with ``jobs`` processes (kept for callers of the first API)."""
    LocalExecutor(jobs).run_each(function, todo, arguments, finished)
