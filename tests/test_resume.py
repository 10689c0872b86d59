"""A run killed with SIGKILL, then resumed, ends bitwise where an uninterrupted run ends.

Every run here is the real command line (``ldrrld distill`` on the offline digits, LDRRLD, two
epochs, CPU, one thread, deterministic kernels); the interrupted ones run in processes of their own, started
through a small launcher that can, on request, stop the process at a chosen moment and wait there to be killed:

* ``HOLD_AT_STEP=n``: right after the n-th optimiser step (a global step post-hook of torch),
  i.e. in the middle of an epoch;
* ``HOLD_IN_SAVE_OF_EPOCH=e``: while ``latest.pth`` of epoch ``e`` is being written, after half
  of its bytes reached the temporary file (``torch.save`` wrapped);
* ``HOLD_AFTER_LATEST=n``: right after the n-th ``latest.pth`` was renamed into place, before
  ``student.pth`` and the history follow it (``os.replace`` wrapped).

The trainer itself has no test hooks: the launcher only uses public torch APIs. A second test
uses no instrumentation at all and kills the process at random moments.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ldrrld_core.cli import main
from ldrrld_core.data import load_dataset, make_loader
from ldrrld_core.io import CHECKSUMS, ChecksumMismatchError, CorruptCheckpointError, atomic_save, load_file, sha256_file
from ldrrld_core.models import create_model
from ldrrld_core.train import LATEST, STUDENT, History, Recipe, Run, fit, get_recipe, load_training_state
from ldrrld_core.train.run_state import RESUME_FIELDS, RESUME_FREE_FIELDS
from ldrrld_core.train.runlock import LOCK, RunLockedError, break_run_lock
from ldrrld_core.train.runlock import run_lock as acquire

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

hold_after = int(os.environ.get("HOLD_AFTER_LATEST", "0"))
if hold_after:
    real_replace, replaced = os.replace, [0]
    def replace(source, target, *args, **kwargs):
        result = real_replace(source, target, *args, **kwargs)
        if str(target).endswith("latest.pth"):
            replaced[0] += 1
            if replaced[0] == hold_after:
                hold(f"HOLD after latest.pth {replaced[0]}")
        return result
    os.replace = replace

from ldrrld_core.cli import main
sys.exit(main(sys.argv[1:]))
"""


# ------------------------------------------------------------------------------------ helpers
def arguments(out_dir: Path, teacher_file: Path, *, resume: bool) -> list[str]:
    """The ``ldrrld`` arguments of every run in this file (only ``--resume`` differs)."""
    argv = [
        "distill",
        "--recipe",
        "digits",
        "--loss",
        "ldrrld",
        "--teacher",
        TEACHER,
        "--teacher-checkpoint",
        str(teacher_file),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        str(BATCH),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--out-dir",
        str(out_dir),
        "--no-progress",
        "--quiet",
    ]
    return argv + (["--resume"] if resume else [])


def start(out_dir: Path, teacher_file: Path, *, resume: bool, **hold: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0", **{name: str(value) for name, value in hold.items()}}
    return subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, *arguments(out_dir, teacher_file, resume=resume)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


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
    return {
        "student": load_file(out_dir / STUDENT)["model"],
        "latest_model": latest["model"],
        "momentum": [s["momentum_buffer"] for s in latest["optimizer"]["state"].values()],
        "epoch": latest["epoch"],
        "history": history.without("seconds").rows,
        "seconds": sum(history.column("seconds")),
    }


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
    # Killed between the two saves of epoch 1, the run has a latest.pth but no student.pth yet.
    student_epoch = load_file(out_dir / STUDENT)["epoch"] if (out_dir / STUDENT).exists() else 0
    assert student_epoch in (state["epoch"], state["epoch"] - 1), "student.pth lags latest.pth by one save at most"
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
def test_killed_mid_epoch_and_during_a_checkpoint_write_resumes_bitwise(
    tmp_path, teacher_file, steps_per_epoch, reference
):
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


def test_killed_between_the_last_checkpoint_and_its_outputs_writes_them_on_resume(tmp_path, teacher_file, reference):
    """SIGKILL right after the final latest.pth is in place: student.pth and the history still hold
    epoch 1. A resume has no epoch left to train, yet it must leave them equal to latest.pth's."""
    process = start(tmp_path, teacher_file, resume=False, HOLD_AFTER_LATEST=EPOCHS)
    assert wait_for_line(process, "HOLD") == f"HOLD after latest.pth {EPOCHS}"
    assert sigkill(process)
    assert load_training_state(tmp_path)["epoch"] == EPOCHS
    assert len(History.load(tmp_path).rows) == EPOCHS - 1, "the kill landed before the history was written"
    assert load_file(tmp_path / STUDENT)["epoch"] == EPOCHS - 1

    finish(start(tmp_path, teacher_file, resume=True))
    assert_same_run(final_state(tmp_path), reference)


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


# ------------------------------------------------------------ a run continues only with what it started with
def test_every_recipe_field_is_either_compared_or_free_on_resume():
    """A new recipe field must be classified: does changing it change what a resumed run computes?"""
    fields = {item.name for item in dataclasses.fields(Recipe)}
    assert set(RESUME_FIELDS) | set(RESUME_FREE_FIELDS) == fields
    assert not set(RESUME_FIELDS) & set(RESUME_FREE_FIELDS)


def short_run(out_dir: Path, teacher: Path, *, epochs: int, **overrides) -> Run:
    settings = dict(
        loss="kd",
        teacher=TEACHER,
        teacher_checkpoint=str(teacher),
        epochs=epochs,
        warmup_epochs=0,
        decay_epochs=(),
        batch_size=BATCH,
        out_dir=str(out_dir),
    )
    recipe = get_recipe("digits", **{**settings, **overrides})
    return fit(recipe, device="cpu", resume=epochs > 1, progress=False)


def test_resume_with_another_teacher_is_refused_and_the_recipe_kept(tmp_path, teacher_file):
    out_dir = tmp_path / "run"
    first = short_run(out_dir, teacher_file, epochs=1)
    assert first.summary["teacher_sha256"] == sha256_file(teacher_file)
    recipe_text = (out_dir / "recipe.json").read_text()
    torch.manual_seed(1)
    other = atomic_save({"model": create_model(TEACHER).state_dict()}, tmp_path / "other.pth")
    with pytest.raises(
        ValueError,
        match=r"teacher weights: sha256 \w{12}\.\.\. \(from .*digits_mlp.pth\) "
        r"in the checkpoint, sha256 \w{12}\.\.\. \(from .*other.pth\) now",
    ):
        short_run(out_dir, other, epochs=2)
    assert (out_dir / "recipe.json").read_text() == recipe_text, "a refused resume must keep the recipe"
    with pytest.raises(ValueError, match="amp: 'auto' in the checkpoint, 'bf16' now"):
        short_run(out_dir, teacher_file, epochs=2, amp="bf16")
    # The same teacher from another path (the path is free, the weights are compared) resumes.
    moved = tmp_path / "moved" / "teacher.pth"
    moved.parent.mkdir()
    shutil.copy(teacher_file, moved)
    assert short_run(out_dir, moved, epochs=2).summary["epochs"] == 2


def test_resume_and_teacher_load_check_the_recorded_hashes(tmp_path, teacher_file):
    out_dir = tmp_path / "run"
    short_run(out_dir, teacher_file, epochs=1)
    recorded = json.loads((out_dir / CHECKSUMS).read_text())
    assert recorded == {LATEST: sha256_file(out_dir / LATEST), STUDENT: sha256_file(out_dir / STUDENT)}
    student = out_dir / STUDENT
    weights = load_file(student)["model"]["hidden.1.weight"]
    data = bytearray(student.read_bytes())
    at = bytes(data).find(weights.numpy().tobytes())
    data[at + 3] ^= 0x10  # one flipped bit inside a weight
    student.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="student.pth has SHA-256"):
        create_model("digits_mlp", num_classes=10, checkpoint=student)
    latest = out_dir / LATEST
    latest.write_bytes(latest.read_bytes()[:-40] + bytes(40))
    with pytest.raises(ChecksumMismatchError, match="latest.pth has SHA-256"):
        short_run(out_dir, teacher_file, epochs=2)


# ------------------------------------------------------------------------------- one run per out-dir
def test_a_second_run_in_a_busy_out_dir_is_refused_until_the_first_is_gone(tmp_path, teacher_file, capsys):
    process = start(tmp_path, teacher_file, resume=False, HOLD_AT_STEP=2)
    wait_for_line(process, "HOLD")
    holder = json.loads((tmp_path / LOCK).read_text())
    assert holder["pid"] == process.pid and holder["host"] == socket.gethostname()
    planted = tmp_path / f".{LATEST}.0123456789ab.tmp"  # as if the first run were writing a checkpoint
    planted.write_bytes(b"half a checkpoint")
    recipe_text = (tmp_path / "recipe.json").read_text()
    assert main(arguments(tmp_path, teacher_file, resume=False)) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"is in use by process {process.pid} on {holder['host']}" in error and "--break-lock" in error
    assert planted.exists(), "the refused run must not clean the live run's temporary files"
    assert (tmp_path / "recipe.json").read_text() == recipe_text, "nor write any file of its own there"
    # Once the first run is gone (killed: its lock stays behind, stale), the next one takes over.
    assert sigkill(process)
    assert (tmp_path / LOCK).exists()
    run = short_run(tmp_path, teacher_file, epochs=1)
    assert run.summary["epochs"] == 1 and not planted.exists() and not (tmp_path / LOCK).exists()


def test_a_lock_from_another_host_is_refused_until_broken(tmp_path, teacher_file, capsys):
    record = {"pid": 1, "host": "elsewhere.example", "started": "2026-01-01T00:00:00+0000", "token": "x"}
    (tmp_path / LOCK).write_text(json.dumps(record))
    with pytest.raises(RunLockedError, match="process 1 on elsewhere.example"):
        short_run(tmp_path, teacher_file, epochs=1)
    assert main(arguments(tmp_path, teacher_file, resume=False) + ["--break-lock"]) == 0
    assert not (tmp_path / LOCK).exists()
    (tmp_path / LOCK).write_text(json.dumps(record))
    assert break_run_lock(tmp_path) == record and break_run_lock(tmp_path) is None


def test_the_lock_is_released_when_a_run_fails(tmp_path, teacher_file):
    with pytest.raises(ValueError, match="depth"):
        short_run(tmp_path, teacher_file, epochs=1, loss="ldrrld", loss_options={"ldrrld": {"depth": 11}})
    assert (tmp_path).is_dir() and not (tmp_path / LOCK).exists()
    with acquire(tmp_path) as record:
        assert json.loads((tmp_path / LOCK).read_text()) == record
        (tmp_path / LOCK).unlink()  # broken by someone else, then retaken
        (tmp_path / LOCK).write_text(json.dumps({**record, "token": "another run"}))
    assert (tmp_path / LOCK).exists(), "releasing must never remove another run's lock"


def test_a_lock_file_left_empty_is_stale_after_a_minute(tmp_path, caplog):
    (tmp_path / LOCK).write_text("")  # a run killed between creating and writing it
    with pytest.raises(RunLockedError, match="whose lock record cannot be read"):
        with acquire(tmp_path):
            pass
    old = time.time() - 120
    os.utime(tmp_path / LOCK, (old, old))
    with acquire(tmp_path) as record:
        assert json.loads((tmp_path / LOCK).read_text()) == record
    assert "it never wrote it" in caplog.text and not (tmp_path / LOCK).exists()


def test_a_full_disk_while_locking_leaves_no_lock(tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", full)
    with pytest.raises(ValueError, match="No space left on device; free some space"):
        with acquire(tmp_path):
            pass
    assert not (tmp_path / LOCK).exists()
