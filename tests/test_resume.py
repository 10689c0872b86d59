"""A run killed with SIGKILL, then resumed, ends bitwise where an uninterrupted run ends.

Every run here is the real command line (``ldrrld distill`` on the offline digits, LDRRLD, two
epochs, CPU, one thread, deterministic kernels); the interrupted ones run in processes of their own, started
through a small launcher that can, on request, stop the process at a chosen moment and wait there to be killed:

* ``HOLD_AT_STEP=n``: right after the n-th optimiser step (a global step post-hook of torch),
  i.e. in the middle of an epoch;
* ``HOLD_IN_SAVE_OF_EPOCH=e``: while ``latest.pth`` of epoch ``e`` is being written, after half
  of its bytes reached the temporary file (``torch.save`` wrapped).

The trainer itself has no test hooks: the launcher only uses public torch APIs. A second test
uses no instrumentation at all and kills the process at random moments.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ldrrld_core.cli import main
from ldrrld_core.data import load_dataset, make_loader
from ldrrld_core.io import CorruptCheckpointError, atomic_save, load_file
from ldrrld_core.models import create_model
from ldrrld_core.train import LATEST, STUDENT, History, get_recipe, load_training_state

EPOCHS = 2
TEACHER = "digits_mlp"  # the digits CNN would triple the run time; any teacher exercises the same path
BATCH = 128
READ_TIMEOUT = 120.0  # seconds a child may take to reach its hold point on a loaded machine

LAUNCHER = r"""
import io, os, sys, time
import torch

def hold(message):
    print(message, flush=True)
    time.sleep(600)  # the test kills the process here

hold_step = int(os.environ.get("HOLD_AT_STEP", "0"))
if hold_step:
    from torch.optim.optimizer import register_optimizer_step_post_hook
    steps = [0]
    def after_step(optimizer, args, kwargs):
        steps[0] += 1
        if steps[0] == hold_step:
            hold(f"HOLD step {steps[0]}")
    register_optimizer_step_post_hook(after_step)

hold_epoch = int(os.environ.get("HOLD_IN_SAVE_OF_EPOCH", "0"))
if hold_epoch:
    real_save = torch.save
    def save(obj, stream, *args, **kwargs):
        if isinstance(obj, dict) and "optimizer" in obj and obj.get("epoch") == hold_epoch:
            whole = io.BytesIO()
            real_save(obj, whole, *args, **kwargs)
            data = whole.getvalue()
            stream.write(data[: len(data) // 2])
            stream.flush()
            os.fsync(stream.fileno())
            hold(f"HOLD writing epoch {hold_epoch}")
        return real_save(obj, stream, *args, **kwargs)
    torch.save = save

from ldrrld_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


# ------------------------------------------------------------------------------------ helpers
def arguments(out_dir: Path, teacher_file: Path, *, resume: bool) -> list[str]:
    """The ``ldrrld`` arguments of every run in this file (only ``--resume`` differs)."""
    argv = ["distill", "--recipe", "digits", "--loss", "ldrrld", "--teacher", TEACHER,
            "--teacher-checkpoint", str(teacher_file), "--epochs", str(EPOCHS), "--batch-size", str(BATCH),
            "--device", "cpu", "--threads", "1", "--out-dir", str(out_dir), "--no-progress", "--quiet"]
    return argv + (["--resume"] if resume else [])


def start(out_dir: Path, teacher_file: Path, *, resume: bool, **hold: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0", **{name: str(value) for name, value in hold.items()}}
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, *arguments(out_dir, teacher_file, resume=resume)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen) -> None:
    """Wait for a child that should run to the end; fail with its stderr otherwise."""
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, f"the run failed (exit {process.returncode}):\n{errors[-3000:]}"


def wait_for_line(process: subprocess.Popen, prefix: str, timeout: float = READ_TIMEOUT) -> str:
    """Read the child's stdout until a line starts with ``prefix``; fail if it exits or times out."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.5):
                continue
            line = process.stdout.readline()
            if line.startswith(prefix):
                return line.strip()
            if not line and process.poll() is not None:
                errors = process.stderr.read()[-3000:]
                pytest.fail(f"the child exited ({process.returncode}) before {prefix!r}:\n{errors}")
    process.kill()
    pytest.fail(f"no {prefix!r} from the child within {timeout:.0f} s")


def sigkill(process: subprocess.Popen) -> bool:
    """SIGKILL the child; return whether it was still running (so the kill interrupted it)."""
    alive = process.poll() is None
    if alive:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    if alive:
        assert process.returncode == -signal.SIGKILL
    return alive


def final_state(out_dir: Path) -> dict:
    """What must be identical between runs: weights, optimiser state, history (timings dropped)."""
    latest = load_training_state(out_dir)
    history = History.load(out_dir)
    return {"student": load_file(out_dir / STUDENT)["model"], "latest_model": latest["model"],
            "momentum": [s["momentum_buffer"] for s in latest["optimizer"]["state"].values()],
            "epoch": latest["epoch"], "history": history.without("seconds").rows,
            "seconds": sum(history.column("seconds"))}


def assert_same_run(resumed: dict, reference: dict) -> None:
    assert resumed["epoch"] == reference["epoch"] == EPOCHS
    assert resumed["history"] == reference["history"], "history rows differ from the uninterrupted run"
    for key in ("student", "latest_model"):
        assert resumed[key].keys() == reference[key].keys()
        different = [name for name in reference[key] if not torch.equal(resumed[key][name], reference[key][name])]
        assert not different, f"{key}: tensors differ bitwise from the uninterrupted run: {different}"
    assert all(torch.equal(a, b) for a, b in zip(resumed["momentum"], reference["momentum"], strict=True))


def assert_checkpoints_readable(out_dir: Path) -> int:
    """Every file the run points at loads; return the epoch ``latest.pth`` holds (0 if none yet)."""
    if not (out_dir / LATEST).exists():
        assert not (out_dir / STUDENT).exists(), "student.pth is written after latest.pth"
        return 0
    state = load_training_state(out_dir)
    student = load_file(out_dir / STUDENT)
    assert student["epoch"] in (state["epoch"], state["epoch"] - 1), "student.pth lags latest.pth by one save at most"
    logged = History.load(out_dir).column("epoch") if (out_dir / History.JSON_NAME).exists() else [0]
    assert logged[-1] in (state["epoch"], state["epoch"] - 1), "history.json lags latest.pth by one save at most"
    return state["epoch"]


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory) -> Path:
    """An (untrained) teacher in the literature's checkpoint layout: only its logits matter here."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / f"{TEACHER}.pth"
    atomic_save({"model": create_model(TEACHER).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def steps_per_epoch() -> int:
    return len(make_loader(load_dataset("digits", seed=get_recipe("digits").data_seed).train, BATCH, train=True))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, teacher_file) -> dict:
    """The uninterrupted run: the same command, run in this process (it saves a start-up)."""
    out_dir, threads = tmp_path_factory.mktemp("reference"), torch.get_num_threads()
    try:
        assert main(arguments(out_dir, teacher_file, resume=False)) == 0
    finally:
        torch.set_num_threads(threads)  # --threads 1 is for these runs only
    return final_state(out_dir)


# --------------------------------------------------------------------------------------- tests
def test_killed_mid_epoch_and_during_a_checkpoint_write_resumes_bitwise(tmp_path, teacher_file, steps_per_epoch,
                                                                        reference):
    # 1. SIGKILL in the middle of epoch 2: latest.pth holds epoch 1 and loads.
    middle = steps_per_epoch + steps_per_epoch // 2
    process = start(tmp_path, teacher_file, resume=False, HOLD_AT_STEP=middle)
    assert wait_for_line(process, "HOLD") == f"HOLD step {middle}"
    assert sigkill(process)
    assert assert_checkpoints_readable(tmp_path) == 1

    # 2. Resume, and SIGKILL again while latest.pth of epoch 2 is half written.
    process = start(tmp_path, teacher_file, resume=True, HOLD_IN_SAVE_OF_EPOCH=2)
    wait_for_line(process, "HOLD writing epoch 2")
    assert sigkill(process)
    partial = list(tmp_path.glob(f".{LATEST}.*.tmp"))
    assert len(partial) == 1, "the half-written file must be the temporary one"
    with pytest.raises(CorruptCheckpointError):
        load_file(partial[0])
    assert assert_checkpoints_readable(tmp_path) == 1, "latest.pth must still be the good epoch-1 file"

    # 3. Resume to the end: the same weights, optimiser state and history as the straight run.
    finish(start(tmp_path, teacher_file, resume=True))
    assert_same_run(final_state(tmp_path), reference)
    assert json.loads((tmp_path / "summary.json").read_text())["epochs"] == EPOCHS


def test_killed_at_random_moments_always_leaves_a_loadable_checkpoint(tmp_path, teacher_file, reference):
    """No instrumentation: kill whenever, check what is on disk, resume; repeat until the run ends."""
    chooser = random.Random(6)
    recipe_file = tmp_path / "recipe.json"
    interrupted, finished = 0, False
    for attempt in range(2):
        previous = recipe_file.stat().st_ino if recipe_file.exists() else None
        process = start(tmp_path, teacher_file, resume=attempt > 0)
        # fit() rewrites recipe.json (a new file, renamed into place) once set up: training starts now.
        deadline = time.monotonic() + READ_TIMEOUT
        while (not recipe_file.exists() or recipe_file.stat().st_ino == previous) and process.poll() is None:
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.02)
        time.sleep(chooser.uniform(0.05, 0.6) * reference["seconds"])  # within the run's training time
        if not sigkill(process):
            assert process.returncode == 0, process.stderr
            finished = True
            break
        interrupted += 1
        assert_checkpoints_readable(tmp_path)
    if not finished:
        finish(start(tmp_path, teacher_file, resume=True))
    assert interrupted >= 1, "no kill landed while the run was training; the machine is too fast for these delays"
    assert_same_run(final_state(tmp_path), reference)
