"""The bad-input catalogue: every bad input we tried, and the exact error (or warning) it gets.

One table, :data:`CASES`, drives both the tests and ``docs/bad_inputs.md``: each row makes one bad
input from scratch files and says which exception (or logged warning) must come out and a
pattern its message must contain. The table in the doc is generated from the same rows with the
messages the toolkit really gives, and :func:`test_doc_table_is_current` fails when the two drift.
After changing a message or adding a row, regenerate the doc::

    python tests/test_bad_inputs.py          # rewrites the table in docs/bad_inputs.md
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import logging
import pickle
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ldrrld_viz as viz
from ldrrld_core import analysis, create_loss, ldrrld_loss
from ldrrld_core.data import DatasetFormatError, DatasetNotFoundError, load_dataset
from ldrrld_core.io import (
    CheckpointError,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    atomic_save,
    load_file,
)
from ldrrld_core.losses import lskd_loss, tekap_loss, wttm_loss
from ldrrld_core.models import CheckpointMismatchError, create_model, standard_teacher_path
from ldrrld_core.models.checkpoint import NonFiniteWeightsError
from ldrrld_core.train import LATEST, STUDENT, distill, fit, get_recipe, load_training_state, train_teacher
from ldrrld_core.train.runlock import LOCK, RunLockedError

DOC = Path(__file__).resolve().parent.parent / "docs" / "bad_inputs.md"
BEGIN = "<!-- BEGIN generated table: `python tests/test_bad_inputs.py` rewrites it; do not edit by hand -->"
END = "<!-- END generated table -->"


# ------------------------------------------------------------------------------ what comes out
class Warned(Exception):
    """Stands for "no exception, but a warning was logged" in the table."""


class ExitedWith2(Exception):
    """Stands for "the ``ldrrld`` command printed an error and exited with status 2"."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # the exception's class name, "warning", "exit 2" or "nothing"
    message: str  # its message, whitespace collapsed, the scratch folder written <tmp>
    error: Exception | None = field(default=None, compare=False, repr=False)  # what was raised


def outcome_of(trigger: Callable[[], object], root: Path) -> Outcome:
    """Run ``trigger`` and record what it raised or, failing that, what it logged as a warning."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    loggers = [logging.getLogger(name) for name in ("ldrrld", "ldrrld_core.kernels")]  # the kernels log as modules
    for logger in loggers:
        logger.addHandler(handler)
    try:
        trigger()
    except Exception as error:  # noqa: BLE001 - the point is to record whatever comes out
        kind = "exit 2" if isinstance(error, ExitedWith2) else type(error).__name__
        return Outcome(kind, _normalise(str(error), root), error)
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    if records:
        return Outcome("warning", _normalise(records[0].getMessage(), root))
    return Outcome("nothing", "")


def _normalise(message: str, root: Path) -> str:
    """The message on one line: the scratch folder written <tmp>, this host <host>, SHA-256 digests <sha256>,
    the CPU kernel's build key <key>.

    (A ``latest.pth`` records the run's timings, so its hash differs from run to run.)
    """
    import socket

    for form in {str(root.resolve()), str(root)}:
        message = message.replace(form, "<tmp>")
    message = message.replace(f" on {socket.gethostname()} ", " on <host> ")
    message = re.sub(r"\b[0-9a-f]{64}\b", "<sha256>", " ".join(message.split()))
    return re.sub(r"(cpu_ldrrld_[a-z]+)_[0-9a-f]{16}(-[0-9a-f]{16})?", r"\1_<key>", message)  # compiler path, time


# ---------------------------------------------------------------------------------- materials
@functools.cache
def digits():
    return load_dataset("digits")


def tiny(**overrides):
    """The digits recipe cut to one short epoch (the fields messages quote pinned, whatever the preset says)."""
    pinned = {"epochs": 1, "warmup_epochs": 0, "decay_epochs": (), "lr": 0.05, "batch_size": 64}
    return get_recipe("digits", **{**pinned, **overrides})


def model(name: str = "digits_cnn", **options) -> nn.Module:
    """A freshly initialised model, the same every time (messages quote a teacher's accuracy)."""
    torch.manual_seed(0)
    return create_model(name, **options)


def train(recipe, **options):
    return fit(recipe, data=digits(), progress=False, **options)


def logits(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


S, T, Y = logits(4, 10), logits(4, 10, seed=1), torch.tensor([0, 1, 2, 3])
NAMES = [f"class {c}" for c in range(10)]


def write_checkpoint(path: Path, name: str = "digits_cnn", **options) -> Path:
    return atomic_save({"model": model(name, **options).state_dict()}, path)


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


class _RunsCode:
    """Unpickling this runs Python code that creates the file ``marker``: what a malicious file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _marker(root: Path) -> Path:
    return root / "code-ran"


def write_cifar100(root: Path, *, width: int = 3 * 32 * 32) -> Path:
    """Two-image CIFAR-100 files in the archive's format, with rows of ``width`` bytes."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    meta = {
        b"fine_label_names": [f"c{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"s{i}".encode() for i in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta))
    for split in ("train", "test"):
        content = {b"data": np.zeros((2, width), np.uint8), b"fine_labels": [0, 5], b"coarse_labels": [0, 1]}
        (folder / split).write_bytes(pickle.dumps(content))
    return folder


def write_tiny_imagenet(
    root: Path, *, odd_size: tuple[int, int] | None = None, corrupt: bool = False, empty_class: bool = False
) -> Path:
    """Two classes of one 64x64 image each; optionally one image of another size or undecodable, or an empty class."""
    from PIL import Image

    base = root / "tiny-imagenet-200"
    for split in ("train", "val"):
        for wnid in ("n01", "n02"):
            path = base / split / wnid / "images" / f"{wnid}.png"
            path.parent.mkdir(parents=True)
            Image.new("RGB", (64, 64), (90, 20, 200)).save(path)
    odd = base / "train" / "n02" / "images" / "n02.png"
    if odd_size:
        Image.new("RGB", odd_size).save(odd)
    if corrupt:
        odd.write_bytes(b"\x89PNG not really")
    if empty_class:
        (base / "train" / "n03" / "images").mkdir(parents=True)
    return base


class NaNFromEpoch(nn.Module):
    """A student whose logits turn NaN after ``steps`` training steps: a run that diverges on cue."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.inner, self.steps, self.calls = model("digits_mlp"), steps, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += self.training
        out = self.inner(x)
        return out * float("nan") if self.training and self.calls > self.steps else out


def finished_run(root: Path) -> Path:
    """A finished one-epoch digits run (CE alone) in ``root / 'run'``.

    Trained once into a folder beside ``root`` (the session's scratch folder) and copied from there.
    """
    cache = root.parent / "finished-digits-run"
    if not (cache / "summary.json").exists():
        train(tiny(loss="ce", out_dir=str(cache)))
    shutil.copytree(cache, root / "run")
    return root / "run"


def run_command(*argv: str) -> None:
    """Run ``ldrrld ARGV`` in this process; raise :class:`ExitedWith2` with its error line if it fails."""
    from ldrrld_core.cli import main

    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(argv))
    if status != 0:
        lines = [line for line in errors.getvalue().splitlines() if line.startswith("ldrrld ")]
        raise ExitedWith2(lines[-1] if lines else errors.getvalue())


# ------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    """One bad input: ``make(root)`` builds and uses it inside the scratch folder ``root``."""

    id: str
    area: str
    what: str
    make: Callable[[Path], object]
    error: type[Exception]
    match: str
    after: Callable[[Path], None] | None = None  # what must hold once the error came


def _nan_epoch_2(root: Path):
    steps = len(range(0, len(digits().train), tiny().batch_size))
    train(tiny(loss="ce", epochs=2, out_dir=str(root)), student=NaNFromEpoch(steps))


def _last_good_checkpoint_kept(root: Path) -> None:
    assert load_training_state(root)["epoch"] == 1, "latest.pth must still hold the good epoch 1"
    assert load_file(root / STUDENT)["epoch"] == 1
    assert not list(root.glob(".*.tmp"))


def _no_code_ran(root: Path) -> None:
    assert not _marker(root).exists(), "unpickling must never run code from the file"


def _unsafe_file(root: Path) -> Path:
    path = root / "evil.pth"
    torch.save({"model": model().state_dict(), "x": _RunsCode(_marker(root))}, path)
    return path


def _namespace_with_code(root: Path) -> Path:
    """A literature-style file whose allowed ``argparse.Namespace`` of options hides code."""
    path = root / "ckpt_epoch_240.pth"
    options = argparse.Namespace(lr=0.05, hook=_RunsCode(_marker(root)))
    torch.save({"model": model().state_dict(), "opt": options}, path)
    return path


def _legacy_pickle(root: Path) -> Path:
    path = root / "weights.pkl"
    weights = {key: value.numpy() for key, value in model().state_dict().items()}
    path.write_bytes(pickle.dumps({"model": weights}, protocol=2))
    return path


def _integer_weights(root: Path) -> Path:
    return atomic_save({"model": {key: value.long() for key, value in model().state_dict().items()}}, root / "t.pth")


def _nan_weights(root: Path) -> Path:
    state = model().state_dict()
    state["fc.weight"][0, :3] = float("nan")
    return atomic_save({"model": state}, root / "t.pth")


def _flip_a_weight(path: Path, key: str = "fc.weight") -> Path:
    """Flip one bit inside the stored bytes of tensor ``key``: the file still unpickles, to other weights."""
    data = bytearray(path.read_bytes())
    stored = load_file(path, sha256=sha256_of(path))["model"][key].numpy().tobytes()
    data[bytes(data).find(stored) + 2] ^= 0x04
    path.write_bytes(bytes(data))
    return path


def sha256_of(path: Path) -> str:
    from ldrrld_core.io import sha256_file

    return sha256_file(path)


def _lock(root: Path, **holder) -> Path:
    """``root`` with a lock file of ``holder`` (process 1 of this host by default: always alive)."""
    import json
    import socket

    record = {"pid": 1, "host": socket.gethostname(), "started": "2026-11-30T09:00:00+0000", "token": "t", **holder}
    (root / LOCK).write_text(json.dumps(record))
    return root


def _other_teacher(root: Path) -> Path:
    torch.manual_seed(1)
    return atomic_save({"model": create_model(TEACHER).state_dict()}, root / "other-teacher.pth")


def _teacher_run(root: Path, teacher_file: Path, **overrides):
    """One epoch of KD from ``teacher_file`` into ``root / 'run'``."""
    recipe = tiny(loss="kd", teacher_checkpoint=str(teacher_file), out_dir=str(root / "run"), **overrides)
    return train(recipe, resume=True)


def _resume_with_other_teacher(root: Path):
    _teacher_run(root, write_checkpoint(root / "t.pth"))
    _teacher_run(root, _other_teacher(root), epochs=2)


def _write_cifar_labels(root: Path, labels) -> None:
    folder = write_cifar100(root)
    content = pickle.loads((folder / "train").read_bytes())
    content[b"fine_labels"] = labels
    (folder / "train").write_bytes(pickle.dumps(content))
    load_dataset("cifar100", root=root)


def _garbled_meta_codec(root: Path):
    folder = write_cifar100(root)
    (folder / "meta").write_bytes(
        pickle.dumps(pickle.loads((folder / "meta").read_bytes()), protocol=2).replace(b"latin1", b"lbtin1", 1)
    )
    load_dataset("cifar100", root=root)


def _offline_download(root: Path):
    import urllib.error
    from unittest import mock

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    with mock.patch("torchvision.datasets.CIFAR100", offline):
        load_dataset("cifar100", root=root, download=True)


def _symlink_loop(root: Path):
    base = write_tiny_imagenet(root)
    (base / "train" / "n01" / "images" / "again").symlink_to(base / "train" / "n01", target_is_directory=True)
    load_dataset("tiny-imagenet", root=root)


def _fifo_image(root: Path):
    import os

    base = write_tiny_imagenet(root)
    os.mkfifo(base / "train" / "n01" / "images" / "n01_2.JPEG")
    load_dataset("tiny-imagenet", root=root)


def _repeated_class(root: Path):
    base = write_tiny_imagenet(root)
    (base / "wnids.txt").write_text("n01\nn02\nn01\n")
    load_dataset("tiny-imagenet", root=root)


def _bomb(root: Path):
    from unittest import mock

    from PIL import Image

    write_tiny_imagenet(root)
    with mock.patch.object(Image, "MAX_IMAGE_PIXELS", 1000):  # the 64x64 images are over twice the limit
        load_dataset("tiny-imagenet", root=root, verify=True)


def _bad_image_in_a_worker(root: Path):
    from ldrrld_core.data import make_loader

    write_tiny_imagenet(root, corrupt=True)
    list(make_loader(load_dataset("tiny-imagenet", root=root).train, 2, train=False, num_workers=1))


def _pickled_code_in_cifar(root: Path):
    folder = write_cifar100(root)
    (folder / "meta").write_bytes(pickle.dumps(_RunsCode(_marker(root))))
    load_dataset("cifar100", root=root)


def _junk_cifar(root: Path):
    folder = write_cifar100(root)
    (folder / "train").write_bytes(b"this is not a pickle")
    load_dataset("cifar100", root=root)


def _recipe_file(root: Path, **fields) -> Path:
    """A recipe file of the digits preset with ``fields`` written as JSON values (``"false"`` stays text)."""
    import json

    path = root / "recipe.json"
    path.write_text(json.dumps({**tiny(loss="ce").to_dict(), **fields}))
    return path


def _read_recipe(root: Path, **fields):
    from ldrrld_core.train.recipe_files import read_recipe_file

    return read_recipe_file(_recipe_file(root, **fields))


def _other_run_over_a_finished_one(root: Path):
    run = finished_run(root)
    train(tiny(loss="ce", lr=0.1, out_dir=str(run)))


def _finished_run_kept(root: Path) -> None:
    import json

    assert json.loads((root / "run" / "recipe.json").read_text())["lr"] == 0.05, "the stored run was overwritten"
    assert load_training_state(root / "run")["recipe"]["lr"] == 0.05


def _damaged_summary(root: Path):
    from ldrrld_core.runs.record import load_run

    run = finished_run(root)
    (run / "summary.json").write_text('{"top1": 41.1, "top5": 82.7, "epochs": 1, "seconds": ')  # cut short
    load_run(run)


def _list_summary(root: Path):
    from ldrrld_core.runs.record import load_run

    run = finished_run(root)
    (run / "summary.json").write_text("[1, 2]")
    load_run(run)


def _study_run_file(root: Path, epochs: int, **history_changes):
    """A study folder with one stored run (CE, lr 0.05, seed 0) of ``epochs`` epochs, then the study's check of it."""
    import json

    from ldrrld_core.study.protocol import stored_run

    recipe = tiny(loss="ce", epochs=3)
    rows = [{"epoch": e, "val_top1": 50.0, "test_top1": 50.0} for e in range(1, epochs + 1)]
    for column, value in history_changes.items():
        rows[-1][column] = value
    path = root / "runs" / "ce" / "lr0.05-seed0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"recipe": recipe.to_dict(), "teacher": None, "history": rows}))
    return stored_run(path, recipe.replace(epochs=epochs if history_changes else 3), None, key="history")


def _other_study_in_the_folder(root: Path):
    import json

    from ldrrld_core.study.protocol import stored_run

    recipe = tiny(loss="ce", epochs=3)
    path = root / "runs" / "ce" / "lr0.05-seed0.json"
    path.parent.mkdir(parents=True)
    rows = [{"epoch": e, "val_top1": 50.0} for e in (1, 2, 3)]
    path.write_text(json.dumps({"recipe": recipe.to_dict(), "teacher": None, "history": rows}))
    stored_run(path, recipe.rescheduled(5), None, key="history")


def _collect_without_a_teacher(root: Path):
    from ldrrld_core.study.sweep import QUICK_SWEEP, run_sweep

    run_sweep(QUICK_SWEEP, root / "sweep", lr=0.1, train=False, progress=False)


def _no_teacher_trained(root: Path) -> None:
    assert not (root / "sweep" / "study" / "teachers").exists() or not any(
        (root / "sweep" / "study" / "teachers").rglob("*.pth")
    ), "--collect trained a teacher"


@contextlib.contextmanager
def _kernel_built_with(root: Path, compiler_script: str | None = None, **environment):
    """The CPU kernel loaded afresh in this process with a fake compiler (``compiler_script``) and ``environment``."""
    import os
    from unittest import mock

    from ldrrld_core.kernels import cpu_ldrrld

    env = {"LDRRLD_CACHE_DIR": str(root / "cache"), **environment}
    if compiler_script is not None:
        compiler = root / "cc"
        compiler.write_text("#!/bin/sh\n" + compiler_script)
        compiler.chmod(0o755)
        env["CC"] = str(compiler)
    with mock.patch.dict(os.environ, env), mock.patch.object(cpu_ldrrld, "_libraries", {}):
        yield cpu_ldrrld


def _kernel_available(root: Path, compiler_script: str | None = None, **environment) -> None:
    with _kernel_built_with(root, compiler_script, **environment) as kernel:
        kernel.available(torch.device("cpu"), torch.float32)


def _shared_cache(root: Path) -> None:
    (root / "cache").mkdir(mode=0o700)
    (root / "cache").chmod(0o777)
    _kernel_available(root, "exit 1\n")


def _library_without_entry_points(root: Path) -> None:
    import _ctypes  # any shared library that is not the kernel: Python's own ctypes module

    _kernel_available(root, f'while [ "$1" != -o ]; do shift; done\ncp {_ctypes.__file__} "$2"\n')


def _hanging_compiler(root: Path) -> None:
    from unittest import mock

    from ldrrld_core.kernels import cpu_ldrrld

    with mock.patch.object(cpu_ldrrld, "BUILD_TIMEOUT", 1.0), mock.patch.object(cpu_ldrrld, "SLOW_BUILD_NOTICE", 5.0):
        _kernel_available(root, "sleep 30\n")


def _relative_cache(root: Path) -> None:
    from unittest import mock

    with mock.patch.dict("os.environ", {"XDG_CACHE_HOME": "cache-here", "HOME": str(root)}):
        import os

        os.environ.pop("LDRRLD_CACHE_DIR", None)
        from ldrrld_core.kernels import cpu_ldrrld

        cpu_ldrrld._cache_dir()


TEACHER = "digits_cnn"
CASES: list[Case] = [
    # --- loss arguments -------------------------------------------------------------------
    Case(
        "loss-class-counts",
        "loss",
        "student and teacher logits with different class counts",
        lambda r: ldrrld_loss(S, T[:, :9]),
        ValueError,
        "class counts differ",
    ),
    Case(
        "loss-batch-sizes",
        "loss",
        "student and teacher logits with different batch sizes",
        lambda r: ldrrld_loss(S, T[:3]),
        ValueError,
        "batch sizes differ",
    ),
    Case(
        "loss-1d",
        "loss",
        "1-D logits (one sample without its batch dimension)",
        lambda r: ldrrld_loss(S[0], T[0]),
        ValueError,
        "must be 2-D",
    ),
    Case(
        "loss-integer-logits",
        "loss",
        "integer logits",
        lambda r: ldrrld_loss(S.long(), T),
        ValueError,
        "floating point",
    ),
    Case("loss-empty", "loss", "an empty batch (0 rows)", lambda r: ldrrld_loss(S[:0], T[:0]), ValueError, "empty"),
    Case(
        "loss-depth-1",
        "loss",
        "`depth=1`",
        lambda r: ldrrld_loss(S, T, depth=1),
        ValueError,
        r"depth must lie in \[2, 10\]",
    ),
    Case(
        "loss-depth-above-classes",
        "loss",
        "`depth=11` with 10 classes",
        lambda r: ldrrld_loss(S, T, depth=11),
        ValueError,
        r"depth must lie in \[2, 10\]",
    ),
    Case(
        "loss-depth-float",
        "loss",
        "`depth=3.5`",
        lambda r: ldrrld_loss(S, T, depth=3.5),
        ValueError,
        "depth must be an integer",
    ),
    Case(
        "loss-temperature",
        "loss",
        "`temperature=0`",
        lambda r: ldrrld_loss(S, T, temperature=0.0),
        ValueError,
        "temperature must be > 0",
    ),
    Case(
        "loss-decay", "loss", "`decay=-0.1`", lambda r: ldrrld_loss(S, T, decay=-0.1), ValueError, "decay must be >= 0"
    ),
    Case(
        "loss-rank-by",
        "loss",
        "`rank_by='both'`",
        lambda r: ldrrld_loss(S, T, rank_by="both"),
        ValueError,
        "unknown rank_by",
    ),
    Case(
        "loss-nan-logits",
        "loss",
        "a NaN among the student's logits",
        lambda r: ldrrld_loss(S.where(S > 0, torch.nan), T),
        ValueError,
        "non-finite",
    ),
    Case(
        "loss-label-range",
        "loss",
        "a label outside `[0, C)`",
        lambda r: create_loss("ldrrld")(S, T, torch.tensor([0, 1, 2, 10])),
        ValueError,
        r"lie in \[0, 10\)",
    ),
    Case(
        "loss-float-labels",
        "loss",
        "float labels",
        lambda r: create_loss("kd")(S, T, Y.float()),
        ValueError,
        "integer class indices",
    ),
    Case(
        "loss-negative-weight",
        "loss",
        "a negative loss weight (`alpha=-10`)",
        lambda r: create_loss("ldrrld", alpha=-10),
        ValueError,
        "alpha must be >= 0",
    ),
    Case(
        "loss-nan-weight",
        "loss",
        "a NaN loss weight (DKD `beta=nan`)",
        lambda r: create_loss("dkd", beta=float("nan")),
        ValueError,
        "beta must be a finite number",
    ),
    Case(
        "loss-inf-temperature",
        "loss",
        "`temperature=inf`",
        lambda r: create_loss("kd", temperature=float("inf")),
        ValueError,
        "temperature must be a finite number",
    ),
    Case(
        "loss-text-weight",
        "loss",
        "a loss weight given as text (`kd_weight='0.9'`)",
        lambda r: create_loss("kd", kd_weight="0.9"),
        ValueError,
        "kd_weight must be a real number",
    ),
    Case(
        "loss-ce-empty",
        "loss",
        "an empty batch for the cross-entropy baseline `ce`",
        lambda r: create_loss("ce")(S[:0], None, Y[:0]),
        ValueError,
        "empty",
    ),
    Case(
        "loss-ce-label-range",
        "loss",
        "a label outside `[0, C)` for `ce`",
        lambda r: create_loss("ce")(S, None, torch.tensor([0, 1, 2, 10])),
        ValueError,
        r"lie in \[0, 10\)",
    ),
    Case(
        "loss-unknown-name",
        "loss",
        "an unknown loss name (`ldrld`)",
        lambda r: create_loss("ldrld"),
        ValueError,
        "Did you mean 'ldrrld'",
    ),
    Case(
        "loss-unknown-option",
        "loss",
        "an option the loss does not have (`kd` with `depth`)",
        lambda r: create_loss("kd", depth=3),
        ValueError,
        "does not accept",
    ),
    # --- the baseline losses (DIST, LSKD, WTTM, CTKD, TeKAP, SDD) ----------------------------
    Case(
        "loss-dist-weight",
        "loss",
        "a negative DIST relation weight (`inter_weight=-1`)",
        lambda r: create_loss("dist", inter_weight=-1.0),
        ValueError,
        "inter_weight must be >= 0",
    ),
    Case(
        "loss-lskd-one-class",
        "loss",
        "LSKD on logits of a single class (no standard deviation)",
        lambda r: lskd_loss(S[:, :1], T[:, :1]),
        ValueError,
        "needs at least 2 classes",
    ),
    Case(
        "loss-wttm-nan-teacher",
        "loss",
        "a NaN among the teacher's logits (WTTM)",
        lambda r: wttm_loss(S, T.where(T > 0, torch.nan)),
        ValueError,
        "teacher_logits holds .* non-finite",
    ),
    Case(
        "loss-ctkd-range",
        "loss",
        "a CTKD temperature range upside down (`min_temperature=5, max_temperature=2`)",
        lambda r: create_loss("ctkd", min_temperature=5.0, max_temperature=2.0),
        ValueError,
        r"max_temperature \(2.0\) must exceed min_temperature \(5.0\)",
    ),
    Case(
        "loss-ctkd-epochs",
        "loss",
        "a fractional CTKD curriculum (`reversal_epochs=2.5`)",
        lambda r: create_loss("ctkd", reversal_epochs=2.5),
        ValueError,
        "reversal_epochs must be a whole number of epochs",
    ),
    Case(
        "loss-tekap-noise-shape",
        "loss",
        "TeKAP noise of 9 classes for logits of 10",
        lambda r: tekap_loss(S, T, logits(3, 4, 9)),
        ValueError,
        r"noise must be a \(K, batch, classes\) tensor matching the logits",
    ),
    Case(
        "loss-tekap-noise-scale",
        "loss",
        "a TeKAP noise share above 1 (`noise_scale=1.5`)",
        lambda r: create_loss("tekap", noise_scale=1.5),
        ValueError,
        r"noise_scale must lie in \[0, 1\]",
    ),
    Case(
        "loss-sdd-plain-logits",
        "loss",
        "SDD given plain `(B, C)` logits instead of region logits",
        lambda r: create_loss("sdd")(S, T, Y),
        ValueError,
        r"region logits \(batch, regions, classes\) from PyramidLogits",
    ),
    Case(
        "loss-sdd-region-counts",
        "loss",
        "SDD region logits of student and teacher from different scales",
        lambda r: create_loss("sdd")(logits(4, 21, 10), logits(4, 5, 10), Y),
        ValueError,
        "differ in shape",
    ),
    Case(
        "loss-sdd-scales",
        "loss",
        "SDD scales without the global region (`scales=(2, 4)`)",
        lambda r: create_loss("sdd", scales=(2, 4)),
        ValueError,
        "starting with 1",
    ),
    Case(
        "loss-sdd-no-feature-map",
        "loss",
        "SDD with the MLP `digits_mlp`, which has no spatial feature map",
        lambda r: create_loss("sdd").model_outputs(model("digits_mlp")),
        ValueError,
        "model digits_mlp has none",
    ),
    # --- recipe and configuration ---------------------------------------------------------
    Case(
        "recipe-unknown-preset",
        "recipe",
        "an unknown preset (`cifar10`)",
        lambda r: get_recipe("cifar10"),
        ValueError,
        "unknown recipe 'cifar10'",
    ),
    Case(
        "recipe-unknown-loss",
        "recipe",
        "an unknown loss (`loss='ldrld'`)",
        lambda r: get_recipe("digits", loss="ldrld"),
        ValueError,
        "Did you mean 'ldrrld'",
    ),
    Case(
        "recipe-unknown-model",
        "recipe",
        "an unknown model (`model='resnet8x5'`)",
        lambda r: get_recipe("digits", model="resnet8x5"),
        ValueError,
        "Did you mean 'resnet8x4'",
    ),
    Case(
        "recipe-unknown-teacher",
        "recipe",
        "an unknown teacher (`teacher='digit_cnn'`)",
        lambda r: get_recipe("digits", teacher="digit_cnn"),
        ValueError,
        "'digits_cnn'",
    ),
    Case(
        "recipe-unknown-data",
        "recipe",
        "an unknown data set (`data='cifar10'`)",
        lambda r: get_recipe("digits", data="cifar10"),
        ValueError,
        "cifar10",
    ),
    Case(
        "recipe-negative-epochs",
        "recipe",
        "`epochs=-3`",
        lambda r: get_recipe("digits", epochs=-3),
        ValueError,
        "epochs must be an integer >= 1",
    ),
    Case(
        "recipe-zero-batch",
        "recipe",
        "`batch_size=0`",
        lambda r: get_recipe("digits", batch_size=0),
        ValueError,
        "batch_size must be an integer >= 1",
    ),
    Case("recipe-lr", "recipe", "`lr=0`", lambda r: get_recipe("digits", lr=0.0), ValueError, "lr must be > 0"),
    Case(
        "recipe-momentum",
        "recipe",
        "`momentum=1.0`",
        lambda r: get_recipe("digits", momentum=1.0),
        ValueError,
        r"momentum must lie in \[0, 1\)",
    ),
    Case(
        "recipe-decay-order",
        "recipe",
        "decay epochs out of order (`decay_epochs=(180, 150)`)",
        lambda r: get_recipe("digits", decay_epochs=(180, 150)),
        ValueError,
        "increasing",
    ),
    Case(
        "recipe-amp",
        "recipe",
        "`amp='fp8'`",
        lambda r: get_recipe("digits", amp="fp8"),
        ValueError,
        "amp must be one of",
    ),
    Case(
        "recipe-unknown-field",
        "recipe",
        "a misspelt field (`epoch=3`)",
        lambda r: get_recipe("digits", epoch=3),
        ValueError,
        "Did you mean 'epochs'",
    ),
    Case(
        "recipe-loss-option",
        "recipe",
        "a misspelt loss option (`{'ldrrld': {'dept': 5}}`)",
        lambda r: get_recipe("digits", loss_options={"ldrrld": {"dept": 5}}),
        ValueError,
        "does not accept",
    ),
    Case(
        "recipe-lr-inf",
        "recipe",
        "`lr=inf`",
        lambda r: get_recipe("digits", lr=float("inf")),
        ValueError,
        "lr must be a finite number",
    ),
    Case(
        "recipe-weight-decay-nan",
        "recipe",
        "`weight_decay=nan`",
        lambda r: get_recipe("digits", weight_decay=float("nan")),
        ValueError,
        "weight_decay must be a",
    ),
    Case(
        "recipe-loss-option-inf",
        "recipe",
        "`temperature=Infinity` among the loss options",
        lambda r: get_recipe("digits", loss_options={"ldrrld": {"temperature": float("inf")}}),
        ValueError,
        r"loss_options\['ldrrld'\]\['temperature'\] must be a finite number",
    ),
    Case(
        "recipe-model-option",
        "recipe",
        "a misspelt model option (`model_options={'hiden': 32}`)",
        lambda r: get_recipe("digits", model_options={"hiden": 32}),
        ValueError,
        "Did you mean 'hidden'",
    ),
    Case(
        "fit-model-option-value",
        "recipe",
        "a model option of the wrong type (`{'hidden': 'wide'}`)",
        lambda r: train(tiny(loss="ce", model="digits_mlp", model_options={"hidden": "wide"})),
        ValueError,
        "do not fit model 'digits_mlp'",
    ),
    Case(
        "recipe-data-option",
        "recipe",
        "an option the data set does not take",
        lambda r: get_recipe("digits", data_options={"size": 3}),
        ValueError,
        "does not take",
    ),
    Case(
        "recipe-fp16-cpu",
        "recipe",
        "`amp='fp16'` on a CPU",
        lambda r: train(tiny(loss="ce", amp="fp16"), device="cpu"),
        ValueError,
        "needs a GPU",
    ),
    Case(
        "fit-depth-above-classes",
        "recipe",
        "LDRRLD `depth=11` on the 10-class digits",
        lambda r: train(tiny(loss_options={"ldrrld": {"depth": 11}}), teacher=model(TEACHER)),
        ValueError,
        "depth 11 but data set 'digits' has only 10 classes",
    ),
    Case(
        "teacher-depth-above-classes",
        "recipe",
        "the same, caught before a teacher is trained for it",
        lambda r: train_teacher(tiny(loss_options={"ldrrld": {"depth": 11}}), data=digits(), progress=False),
        ValueError,
        "depth 11 but data set 'digits' has only 10 classes",
    ),
    Case(
        "fit-teacher-classes",
        "recipe",
        "a teacher with 7 classes for the 10-class digits",
        lambda r: train(tiny(), teacher=model(TEACHER, num_classes=7)),
        ValueError,
        "teacher outputs 7 classes but data set 'digits' has 10",
    ),
    Case(
        "fit-student-classes",
        "recipe",
        "a student with 7 classes for the 10-class digits",
        lambda r: train(tiny(loss="ce"), student=model("digits_mlp", num_classes=7)),
        ValueError,
        "student outputs 7 classes",
    ),
    Case(
        "fit-no-teacher",
        "recipe",
        "a distillation loss without a teacher",
        lambda r: train(tiny()),
        ValueError,
        "none was given",
    ),
    Case(
        "distill-ce",
        "recipe",
        "`distill` with the loss `ce`, which reads no teacher",
        lambda r: distill(tiny(loss="ce"), teacher=model(TEACHER)),
        ValueError,
        "does not use a teacher",
    ),
    Case(
        "fit-teacher-file-no-arch",
        "recipe",
        "a teacher file but no teacher architecture",
        lambda r: train(tiny(teacher=None), teacher=write_checkpoint(r / "t.pth")),
        ValueError,
        "names no teacher architecture",
    ),
    Case(
        "fit-resume-no-out-dir",
        "recipe",
        "`resume=True` without an `out_dir`",
        lambda r: train(tiny(loss="ce"), resume=True),
        ValueError,
        "out_dir is None",
    ),
    Case(
        "teacher-near-chance",
        "recipe",
        "an untrained (near-chance) teacher",
        lambda r: train(tiny(), teacher=model(TEACHER)),
        Warned,
        r"chance is 10\.00%",
    ),
    Case(
        "cli-no-teacher",
        "recipe",
        "`ldrrld distill` without a teacher",
        lambda r: run_command("distill", "--recipe", "digits", "--out-dir", "none"),
        ExitedWith2,
        "pass --teacher-checkpoint FILE",
    ),
    Case(
        "cli-two-teachers",
        "recipe",
        "`ldrrld distill` with both `--train-teacher` and a teacher file",
        lambda r: run_command("distill", "--train-teacher", "--teacher-checkpoint", "t.pth", "--out-dir", "none"),
        ExitedWith2,
        "not both",
    ),
    Case(
        "cli-unknown-field",
        "recipe",
        "`ldrrld train --set epoch=3`",
        lambda r: run_command("train", "--set", "epoch=3", "--out-dir", "none"),
        ExitedWith2,
        "Did you mean 'epochs'",
    ),
    Case(
        "file-bool-as-text",
        "recipe",
        'a recipe file with `"nesterov": "false"` (text, which would switch Nesterov on)',
        lambda r: _read_recipe(r, nesterov="false"),
        ValueError,
        r"^<tmp>/recipe.json: nesterov must be true or false, got 'false' \(str\)",
    ),
    Case(
        "file-lr-bool",
        "recipe",
        'a recipe file with `"lr": true`',
        lambda r: _read_recipe(r, lr=True),
        ValueError,
        r"^<tmp>/recipe.json: lr must be a number, got True \(bool\)",
    ),
    Case(
        "file-lr-text",
        "recipe",
        'a recipe file with `"lr": "0.1"`',
        lambda r: _read_recipe(r, lr="0.1"),
        ValueError,
        r"^<tmp>/recipe.json: lr must be a number, got '0.1' \(str\)",
    ),
    Case(
        "file-null",
        "recipe",
        'a recipe file with `"epochs": null`',
        lambda r: _read_recipe(r, epochs=None),
        ValueError,
        r"^<tmp>/recipe.json: epochs must be an integer, got None",
    ),
    Case(
        "recipe-name-path",
        "recipe",
        "a recipe `name` that climbs out of `runs/` (`'../../etc'`)",
        lambda r: tiny().replace(name="../../etc"),
        ValueError,
        "name must be a plain label",
    ),
    Case(
        "recipe-zero-width",
        "recipe",
        "a zero-width model (`model_options={'hidden': 0}`)",
        lambda r: tiny(model_options={"hidden": 0}),
        ValueError,
        r"model_options\['hidden'\] of model 'digits_mlp' must be at least 1",
    ),
    Case(
        "recipe-denormal-lr",
        "recipe",
        "a denormal learning rate (`lr=1e-310`)",
        lambda r: tiny(lr=1e-310),
        ValueError,
        "below 1.17549e-38, the smallest normal float32",
    ),
    Case(
        "recipe-huge-seed",
        "recipe",
        "a seed beyond 64 bits (`seed=2**64`)",
        lambda r: tiny(seed=2**64),
        ValueError,
        r"seed must be an integer in \[0, 9223372036854775807\]",
    ),
    Case(
        "recipe-million-workers",
        "recipe",
        "a million loader workers",
        lambda r: tiny(num_workers=10**6),
        ValueError,
        r"num_workers must be an integer in \[0, 256\]",
    ),
    Case(
        "recipe-endless-warmup",
        "recipe",
        "a warm-up longer than the run (`warmup_epochs=3`, `epochs=1`)",
        lambda r: train(tiny(loss="ce", warmup_epochs=3)),
        Warned,
        "the learning rate never reaches",
    ),
    Case(
        "recipe-late-decay",
        "recipe",
        "a rate decay after the last epoch (`decay_epochs=(5,)`, `epochs=1`)",
        lambda r: train(tiny(loss="ce", decay_epochs=(5,))),
        Warned,
        r"decay_epochs \[5\] come at or after the last epoch",
    ),
    Case(
        "cli-set-fixed-field",
        "recipe",
        "`ldrrld train --set loss=kd` (train always trains with `ce`)",
        lambda r: run_command("train", "--set", "loss=kd", "--out-dir", "none"),
        ExitedWith2,
        "sets loss='ce' itself",
    ),
    Case(
        "cli-set-and-option",
        "recipe",
        "`--set lr=0.1` and `--lr 0.2` together",
        lambda r: run_command("train", "--set", "lr=0.1", "--lr", "0.2", "--out-dir", "none"),
        ExitedWith2,
        "disagree",
    ),
    # --- data ------------------------------------------------------------------------------
    Case(
        "data-unknown-option",
        "data",
        "an option the data set does not take (`load_dataset`)",
        lambda r: load_dataset("digits", size=3),
        ValueError,
        "size",
    ),
    Case(
        "data-missing-folder",
        "data",
        "CIFAR-100 folder missing",
        lambda r: load_dataset("cifar100", root=r / "nowhere"),
        DatasetNotFoundError,
        "download=True",
    ),
    Case(
        "data-cifar-junk",
        "data",
        "a CIFAR-100 file that is not a pickle",
        _junk_cifar,
        DatasetFormatError,
        "is not a valid CIFAR pickle",
    ),
    Case(
        "data-cifar-code",
        "data",
        "a CIFAR-100 pickle that would run code",
        _pickled_code_in_cifar,
        DatasetFormatError,
        "refusing to load",
        _no_code_ran,
    ),
    Case(
        "data-cifar-size",
        "data",
        "CIFAR-100 rows of 16x16 instead of 32x32 pixels",
        lambda r: (write_cifar100(r, width=3 * 16 * 16), load_dataset("cifar100", root=r)),
        DatasetFormatError,
        r"\(N, 3072\) uint8",
    ),
    Case(
        "data-folder-missing",
        "data",
        "ImageNet folder missing",
        lambda r: load_dataset("imagenet", root=r),
        DatasetNotFoundError,
        "imagenet",
    ),
    Case(
        "data-folder-download",
        "data",
        "`download=True` for a set that cannot be downloaded",
        lambda r: load_dataset("tiny-imagenet", root=r, download=True),
        DatasetNotFoundError,
        "not offered",
    ),
    Case(
        "data-folder-empty-class",
        "data",
        "a class folder without images",
        lambda r: (write_tiny_imagenet(r, empty_class=True), load_dataset("tiny-imagenet", root=r)),
        DatasetFormatError,
        "no images",
    ),
    Case(
        "data-folder-corrupt-image",
        "data",
        "an image file that does not decode",
        lambda r: (write_tiny_imagenet(r, corrupt=True), load_dataset("tiny-imagenet", root=r, verify=True)),
        DatasetFormatError,
        "cannot decode image",
    ),
    Case(
        "data-folder-image-size",
        "data",
        "a 32x32 image among 64x64 Tiny-ImageNet images",
        lambda r: (write_tiny_imagenet(r, odd_size=(32, 32)), load_dataset("tiny-imagenet", root=r, verify=True)),
        DatasetFormatError,
        "is 32x32 pixels",
    ),
    Case(
        "data-cifar-float-labels",
        "data",
        "CIFAR-100 labels stored as floats that are not whole (`5.5`)",
        lambda r: _write_cifar_labels(r, [0.0, 5.5]),
        DatasetFormatError,
        "not whole numbers",
    ),
    Case(
        "data-cifar-meta-codec",
        "data",
        "CIFAR-100 `meta` with flipped bytes in a codec name",
        _garbled_meta_codec,
        DatasetFormatError,
        "LookupError",
    ),
    Case(
        "data-cifar-offline",
        "data",
        "`download=True` without a network",
        _offline_download,
        DatasetNotFoundError,
        "download .* failed",
    ),
    Case(
        "data-folder-symlink-loop",
        "data",
        "a symbolic link loop inside a class folder",
        _symlink_loop,
        DatasetFormatError,
        "symbolic link loop",
    ),
    Case(
        "data-folder-fifo",
        "data",
        "a FIFO named like an image (`n01_2.JPEG`)",
        _fifo_image,
        DatasetFormatError,
        "not a regular file",
    ),
    Case(
        "data-folder-repeated-class",
        "data",
        "a class listed twice in `wnids.txt`",
        _repeated_class,
        DatasetFormatError,
        "more than once",
    ),
    Case(
        "data-folder-bomb",
        "data",
        "an image over PIL's decompression-bomb limit",
        _bomb,
        DatasetFormatError,
        "too large to decode safely",
    ),
    Case(
        "data-folder-worker-image",
        "data",
        "an undecodable image read by a loader worker process",
        _bad_image_in_a_worker,
        DatasetFormatError,
        "^cannot decode image <tmp>/tiny-imagenet-200/",
    ),
    Case(
        "fit-image-size",
        "data",
        "images the model cannot take (8x8 digits into the CIFAR `resnet8`)",
        lambda r: train(tiny(model="resnet8", loss="ce")),
        ValueError,
        "cannot take the images of data set 'digits'",
    ),
    # --- checkpoints -----------------------------------------------------------------------
    Case(
        "ckpt-missing",
        "checkpoint",
        "teacher checkpoint missing",
        lambda r: train(tiny(), teacher=r / "missing.pth"),
        CheckpointNotFoundError,
        "not found",
    ),
    Case(
        "ckpt-folder",
        "checkpoint",
        "a folder given as the teacher checkpoint",
        lambda r: train(tiny(), teacher=r),
        CheckpointNotFoundError,
        "is a folder",
    ),
    Case(
        "ckpt-truncated",
        "checkpoint",
        "teacher checkpoint truncated to half its bytes",
        lambda r: train(tiny(), teacher=truncate(write_checkpoint(r / "t.pth"))),
        CorruptCheckpointError,
        "truncated, damaged",
    ),
    Case(
        "ckpt-not-torch",
        "checkpoint",
        "a text file given as the teacher checkpoint",
        lambda r: (r.joinpath("t.pth").write_text("weights"), train(tiny(), teacher=r / "t.pth")),
        CorruptCheckpointError,
        "not a file written by torch.save",
    ),
    Case(
        "ckpt-architecture",
        "checkpoint",
        "teacher checkpoint of another model (`digits_mlp` for `digits_cnn`)",
        lambda r: train(tiny(), teacher=write_checkpoint(r / "t.pth", "digits_mlp")),
        CheckpointMismatchError,
        "digits_cnn",
    ),
    Case(
        "ckpt-classes",
        "checkpoint",
        "teacher checkpoint with 7 classes",
        lambda r: train(tiny(), teacher=write_checkpoint(r / "t.pth", num_classes=7)),
        CheckpointMismatchError,
        "num_classes=7",
    ),
    Case(
        "ckpt-unsafe",
        "checkpoint",
        "a checkpoint holding a pickled object that runs code",
        lambda r: train(tiny(), teacher=_unsafe_file(r)),
        UnsafeCheckpointError,
        "can run arbitrary code",
        _no_code_ran,
    ),
    Case(
        "ckpt-namespace-code",
        "checkpoint",
        "a literature checkpoint whose `argparse` options hide code (plain options load)",
        lambda r: train(tiny(), teacher=_namespace_with_code(r)),
        UnsafeCheckpointError,
        "builtins.exec",
        _no_code_ran,
    ),
    Case(
        "ckpt-legacy-pickle",
        "checkpoint",
        "a plain `pickle.dump` file of NumPy weights",
        lambda r: train(tiny(), teacher=_legacy_pickle(r)),
        UnsafeCheckpointError,
        "unsafe legacy format",
    ),
    Case(
        "ckpt-nan-weights",
        "checkpoint",
        "a teacher checkpoint with NaN weights",
        lambda r: train(tiny(), teacher=_nan_weights(r)),
        NonFiniteWeightsError,
        r"fc.weight \(3 NaN",
    ),
    Case(
        "ckpt-other-arch",
        "checkpoint",
        "a run's `student.pth` of `digits_mlp` loaded as a `digits_cnn`",
        lambda r: create_model(TEACHER, checkpoint=finished_run(r) / STUDENT),
        CheckpointMismatchError,
        "saved from the model 'digits_mlp'",
    ),
    Case(
        "ckpt-integer-weights",
        "checkpoint",
        "integer tensors where the model has weights",
        lambda r: train(tiny(), teacher=_integer_weights(r)),
        CheckpointMismatchError,
        "another kind",
    ),
    Case(
        "ckpt-wrong-sha256",
        "checkpoint",
        "a checkpoint that is not the file its published SHA-256 names",
        lambda r: create_model(TEACHER, checkpoint=write_checkpoint(r / "t.pth"), sha256="ab" * 32),
        ChecksumMismatchError,
        "but the SHA-256 given says <sha256>",
    ),
    Case(
        "ckpt-flipped-bit",
        "checkpoint",
        "one flipped bit in the weights of a run's `student.pth`",
        lambda r: create_model("digits_mlp", checkpoint=_flip_a_weight(finished_run(r) / STUDENT)),
        ChecksumMismatchError,
        "checksums.json says",
    ),
    Case(
        "resume-flipped-bit",
        "checkpoint",
        "`resume=` a `latest.pth` with one flipped bit in its weights",
        lambda r: train(tiny(loss="ce", epochs=2), resume=_flip_a_weight(finished_run(r) / LATEST)),
        ChecksumMismatchError,
        "truncated, damaged or replaced",
    ),
    Case(
        "ckpt-standard-missing",
        "checkpoint",
        "a standard teacher not under the teacher root",
        lambda r: standard_teacher_path("resnet32x4", r),
        CheckpointNotFoundError,
        "resnet32x4_vanilla",
    ),
    Case(
        "ckpt-standard-name",
        "checkpoint",
        "a standard teacher name outside the CIFAR zoo",
        lambda r: standard_teacher_path("resnet18", r),
        ValueError,
        "not a CIFAR model",
    ),
    Case(
        "resume-missing",
        "checkpoint",
        "`resume=` a file that does not exist",
        lambda r: train(tiny(loss="ce"), resume=r / LATEST),
        CheckpointNotFoundError,
        "not found",
    ),
    Case(
        "resume-student-file",
        "checkpoint",
        "`resume=` the weights-only `student.pth`",
        lambda r: train(tiny(loss="ce", epochs=2), resume=finished_run(r) / STUDENT),
        CheckpointError,
        "not a training checkpoint",
    ),
    Case(
        "resume-truncated",
        "checkpoint",
        "`resume=` a truncated `latest.pth`",
        lambda r: train(tiny(loss="ce", epochs=2), resume=truncate(finished_run(r) / LATEST)),
        CorruptCheckpointError,
        "truncated, damaged",
    ),
    Case(
        "resume-other-recipe",
        "checkpoint",
        "resuming with another learning rate",
        lambda r: train(tiny(loss="ce", lr=0.1, epochs=2), resume=finished_run(r)),
        ValueError,
        "lr: 0.05 in the checkpoint, 0.1 now",
    ),
    Case(
        "resume-other-teacher",
        "checkpoint",
        "resuming a KD run with another teacher file",
        _resume_with_other_teacher,
        ValueError,
        r"teacher weights: sha256 \w{12}\.\.\. \(from <tmp>/t",
    ),
    Case(
        "resume-other-amp",
        "checkpoint",
        "resuming with another precision (`amp='none'`)",
        lambda r: train(tiny(loss="ce", amp="none", epochs=2), resume=finished_run(r)),
        ValueError,
        "amp: 'auto' in the checkpoint, 'none' now",
    ),
    # --- runs and out-dirs -----------------------------------------------------------------
    Case(
        "run-overwrite-finished",
        "run",
        "a run of other settings (`lr=0.1`) into the folder of a finished one",
        _other_run_over_a_finished_one,
        ValueError,
        r"holds a run of other settings \(lr: 0.05 in <tmp>/run, 0.1 now\).*--overwrite",
        after=_finished_run_kept,
    ),
    Case(
        "run-damaged-summary",
        "run",
        "a run's `summary.json` cut short (`ldrrld runs`)",
        _damaged_summary,
        ValueError,
        r"^<tmp>/run/summary.json cannot be read \(JSONDecodeError",
    ),
    Case(
        "run-summary-not-object",
        "run",
        "a run's `summary.json` holding a list",
        _list_summary,
        ValueError,
        r"^<tmp>/run/summary.json holds a JSON list, not an object",
    ),
    Case(
        "study-short-history",
        "run",
        "a stored study run with 2 of its 3 epochs",
        lambda r: _study_run_file(r, 2),
        ValueError,
        r"lr0.05-seed0.json holds 2 history rows where the recipe trains epochs 1 .. 3",
    ),
    Case(
        "study-nan-history",
        "run",
        "a stored study run with NaN in its history",
        lambda r: _study_run_file(r, 3, val_top1=float("nan")),
        ValueError,
        r"holds val_top1 = nan in epoch 3, not a finite number",
    ),
    Case(
        "study-other-settings",
        "run",
        "a study of other settings (5 epochs) in a finished study's folder",
        _other_study_in_the_folder,
        ValueError,
        r"holds a run of other settings \(epochs: 3 there, 5 now\).*--overwrite",
    ),
    Case(
        "sweep-collect-no-teacher",
        "run",
        "`ldrrld sweep --collect` where no teacher was trained",
        _collect_without_a_teacher,
        ValueError,
        "this call trains nothing",
        after=_no_teacher_trained,
    ),
    # --- the compiled CPU kernel (each: one warning, then the torch form) -----------------------
    Case(
        "kernel-shared-cache",
        "kernel",
        "a kernel cache folder others may write (mode 777)",
        _shared_cache,
        Warned,
        "may be written by other users",
    ),
    Case(
        "kernel-not-utf8",
        "kernel",
        "a compiler that prints text that is not UTF-8",
        lambda r: _kernel_available(r, "printf 'erreur \\377\\376' >&2\nexit 1\n"),
        Warned,
        "unavailable, the torch form runs instead: erreur",
    ),
    Case(
        "kernel-no-entry-points",
        "kernel",
        "a built library without the kernel's entry points",
        _library_without_entry_points,
        Warned,
        "undefined symbol: ldrrld_top_classes",
    ),
    Case(
        "kernel-hanging-compiler",
        "kernel",
        "a compiler that hangs (`BUILD_TIMEOUT` set to 1 s)",
        _hanging_compiler,
        Warned,
        "did not finish within 1 s",
    ),
    Case(
        "kernel-relative-cache",
        "kernel",
        "a relative `XDG_CACHE_HOME`",
        _relative_cache,
        Warned,
        "XDG_CACHE_HOME='cache-here' is not an absolute path and is ignored",
    ),
    Case(
        "run-busy-out-dir",
        "run",
        "a second run in an out-dir a live run is using",
        lambda r: train(tiny(loss="ce", out_dir=str(_lock(r)))),
        RunLockedError,
        "--break-lock",
    ),
    Case(
        "run-remote-lock",
        "run",
        "an out-dir locked by a run on another host",
        lambda r: train(tiny(loss="ce", out_dir=str(_lock(r, host="gpu-node-7", pid=4242)))),
        RunLockedError,
        "process 4242 on gpu-node-7",
    ),
    Case(
        "run-out-dir-file",
        "run",
        "an out-dir that is a file",
        lambda r: (r.joinpath("f").write_text("x"), train(tiny(loss="ce", out_dir=str(r / "f")))),
        ValueError,
        "is a file, not a folder",
    ),
    Case(
        "cli-unknown-recipe",
        "run",
        "`ldrrld recipes cifar10`",
        lambda r: run_command("recipes", "cifar10"),
        ExitedWith2,
        "Did you mean 'cifar100'",
    ),
    Case(
        "cli-infinite-lr",
        "run",
        "`ldrrld train --lr inf`",
        lambda r: run_command("train", "--lr", "inf", "--out-dir", "none"),
        ExitedWith2,
        "finite number",
    ),
    Case(
        "cli-bad-device",
        "run",
        "`ldrrld train --device gpu`",
        lambda r: run_command("train", "--device", "gpu", "--out-dir", "none"),
        ExitedWith2,
        "not a device",
    ),
    # --- training --------------------------------------------------------------------------
    Case(
        "train-nan",
        "training",
        "the loss turns NaN in epoch 2",
        _nan_epoch_2,
        FloatingPointError,
        "NaN or infinite in epoch 2",
        _last_good_checkpoint_kept,
    ),
    # --- analysis and figures: arguments that do not fit together ---------------------------
    Case(
        "viz-label-minus-one",
        "viz",
        "a label of -1 in a t-SNE map (it used to be drawn as the last class)",
        lambda r: viz.tsne_scatter({"m": torch.zeros(4, 2)}, torch.tensor([0, 1, 2, -1]), class_names=NAMES),
        ValueError,
        r"lie in \[0, 10\), found values from -1",
    ),
    Case(
        "viz-label-above",
        "viz",
        "a label past the last class (class-mean logits)",
        lambda r: analysis.class_mean_logits(T, torch.tensor([0, 1, 2, 10])),
        ValueError,
        r"lie in \[0, 10\)",
    ),
    Case(
        "viz-float-labels",
        "viz",
        "float labels (class-mean logits)",
        lambda r: analysis.class_mean_logits(T, Y.float()),
        ValueError,
        "integer class indices",
    ),
    Case(
        "viz-labels-length",
        "viz",
        "3 labels for logits of 4 samples",
        lambda r: viz.class_mean_gaps({"s": S}, T, Y[:3]),
        ValueError,
        "1-D tensor of 4 class indices",
    ),
    Case(
        "viz-superclass-short",
        "viz",
        "`superclass_of` one class short",
        lambda r: viz.correlation_gaps({"s": S}, T, superclass_of=torch.arange(9) % 3),
        ValueError,
        "superclass_of lists 9 classes but there are 10",
    ),
    Case(
        "viz-superclass-long",
        "viz",
        "`superclass_of` one class too many (t-SNE map)",
        lambda r: viz.tsne_scatter({"m": torch.zeros(4, 2)}, Y, class_names=NAMES, superclass_of=torch.arange(11) % 3),
        ValueError,
        "superclass_of lists 11 classes but there are 10",
    ),
    Case(
        "viz-class-names",
        "viz",
        "9 class names for 10 classes",
        lambda r: viz.correlation_gaps({"s": S}, T, class_names=NAMES[:9]),
        ValueError,
        "class_names has 9 names but there are 10 classes",
    ),
    Case(
        "viz-student-classes",
        "viz",
        "a student with another class count than the teacher",
        lambda r: analysis.compare_fidelity({"s": S[:, :9]}, T),
        ValueError,
        "student 's' has 9 classes but the teacher has 10",
    ),
    Case(
        "viz-student-samples",
        "viz",
        "a student evaluated on other samples than the teacher",
        lambda r: viz.correlation_gaps({"s": S[:3]}, T),
        ValueError,
        "student 's' has logits of 3 samples but the teacher of 4",
    ),
    Case(
        "viz-swapped-mapping",
        "viz",
        "teacher and students in the old order `(teacher_logits, students)`",
        lambda r: analysis.relation_gaps(T, {"s": S}, kind="correlation"),
        ValueError,
        "arguments are swapped",
    ),
    Case(
        "viz-positional-pair",
        "viz",
        "student and teacher logits of one shape passed by position",
        lambda r: analysis.relation_fidelity(S, T),
        TypeError,
        "takes 0 positional arguments",
    ),
    Case(
        "viz-target",
        "viz",
        "`target=-1` for a sample's logit gradients",
        lambda r: analysis.logit_gradients(student_logits=S[0], teacher_logits=T[0], target=-1),
        ValueError,
        r"target must be a class index in \[0, 10\)",
    ),
    Case(
        "viz-gradient-length",
        "viz",
        "a gradient of 9 classes drawn for a 10-class sample",
        lambda r: viz.gradient_bars({"KD": torch.zeros(9)}, S[0]),
        ValueError,
        r"has shape \(9,\) but the sample has 10 classes",
    ),
    Case(
        "viz-batch-labels",
        "viz",
        "a batch of 4 inputs with 3 labels (`collect_outputs`)",
        lambda r: analysis.collect_outputs(nn.Linear(3, 2), [(torch.zeros(4, 3), torch.zeros(3))]),
        ValueError,
        "a batch holds 4 inputs but labels of shape",
    ),
    Case(
        "viz-fidelity-temperatures",
        "viz",
        "pair KL maps of students measured at different temperatures",
        lambda r: viz.fidelity_heatmaps(
            {
                f"T={t}": analysis.relation_fidelity(student_logits=S, teacher_logits=T, temperature=t)
                for t in (1.0, 4.0)
            },
            measure="pair_kl",
        ),
        ValueError,
        "different temperatures",
    ),
    Case(
        "viz-gap-definition",
        "viz",
        "an unknown class-mean gap definition (`'mdistiler'`)",
        lambda r: analysis.relation_gaps({"s": S}, T, labels=Y, definition="mdistiler"),
        ValueError,
        "unknown gap definition 'mdistiler'",
    ),
    Case(
        "viz-gradient-nan",
        "viz",
        "a NaN gradient (`gradient_bars`)",
        lambda r: viz.gradient_bars({"KD": torch.full((10,), float("nan"))}, S[0]),
        ValueError,
        r"the gradient 'KD' holds 10 non-finite value\(s\)",
    ),
    Case(
        "viz-correlation-wide",
        "viz",
        "10,000 classes for `correlation_gaps`",
        lambda r: viz.correlation_gaps({"s": logits(4, 10000)}, logits(4, 10000, seed=1)),
        ValueError,
        r"draws 10000 x 10000 = 100,000,000 cells per matrix; it draws at most 256 classes",
    ),
    # --- output files and parsers (tests/test_trust.py holds the fuller checks) -----------------
    Case(
        "cli-json-socket",
        "run",
        "`ldrrld recipes NAME --json` given a socket",
        lambda r: _with_socket(r / "s.sock", lambda path: run_command("recipes", "digits", "--json", str(path))),
        ExitedWith2,
        "it is a socket, not a regular file",
    ),
    Case(
        "file-duplicate-json",
        "recipe",
        "a key given twice in a JSON recipe file (`lr` 0.1, then 5.0)",
        lambda r: run_command("train", "--recipe-file", str(_write(r / "r.json", '{"lr": 0.1, "lr": 5.0}'))),
        ExitedWith2,
        "the key 'lr' is given twice",
    ),
    Case(
        "file-duplicate-yaml",
        "recipe",
        "a key given twice in a YAML recipe file",
        lambda r: run_command("train", "--recipe-file", str(_write(r / "r.yaml", "lr: 0.1\nlr: 5.0\n"))),
        ExitedWith2,
        "line 2: the key 'lr' is given twice",
    ),
    Case(
        "file-yaml-syntax",
        "recipe",
        "a YAML recipe file cut short (`a: [`)",
        lambda r: run_command("train", "--recipe-file", str(_write(r / "r.yaml", "a: [\n"))),
        ExitedWith2,
        "is not valid YAML",
    ),
    Case(
        "file-yaml-alias-bomb",
        "recipe",
        "a YAML alias bomb of 396 bytes (nine levels of nine aliases)",
        lambda r: run_command("train", "--recipe-file", str(_write(r / "r.yaml", _ALIAS_BOMB))),
        ExitedWith2,
        "expands to more than 10,000 values through its aliases",
    ),
    Case(
        "file-deep-json",
        "recipe",
        "a JSON recipe file nested 100,000 levels deep",
        lambda r: run_command("train", "--recipe-file", str(_write(r / "r.json", "[" * 100_000 + "]" * 100_000))),
        ExitedWith2,
        "nests deeper than a recipe can",
    ),
    Case(
        "file-data-option-text",
        "recipe",
        "text where a number belongs in `data_options`",
        lambda r: run_command(
            "train", "--recipe-file", str(_write(r / "r.json", '{"data_options": {"test_size": "a"}}'))
        ),
        ExitedWith2,
        r"data_options\['test_size'\] must be an integer",
    ),
    Case(
        "cli-huge-lr",
        "recipe",
        "`ldrrld train --lr 1e300`",
        lambda r: run_command("train", "--lr", "1e300", "--out-dir", "none"),
        ExitedWith2,
        r"lr 1e\+300 is above 1000",
    ),
    Case(
        "cli-many-threads",
        "run",
        "`ldrrld train --threads 100000`",
        lambda r: run_command("train", "--threads", "100000", "--out-dir", "none"),
        ExitedWith2,
        r"--threads must lie in \[1, 1024\]",
    ),
    # --- caches and stored results ------------------------------------------------------------
    Case(
        "kernel-fifo-record",
        "kernel",
        "a FIFO at the kernel's build-record path",
        lambda r: _kernel_with_fifo_record(r),
        Warned,
        "is not a regular file",
    ),
    Case(
        "kernel-shared-parent",
        "kernel",
        "a private kernel cache inside a folder others may write (mode 777, not sticky)",
        lambda r: _kernel_under_shared_parent(r),
        Warned,
        "above the cache .* may be changed by other users",
    ),
    Case(
        "teacher-cache-shared",
        "training",
        "a teacher-output cache folder inside a folder others may write",
        lambda r: _teacher_cache_under_shared_parent(r),
        Warned,
        "not caching the teacher's outputs",
    ),
    Case(
        "study-run-accuracy-1000",
        "run",
        "`val_top1 = 1000` in a study's stored run file",
        lambda r: _stored_accuracy_1000(r),
        ValueError,
        r"holds val_top1 = 1000.0 in epoch 1, outside \[0, 100\]",
    ),
    Case(
        "viz-weights-wide",
        "viz",
        "10,000 ranks for `weight_heatmaps`",
        lambda r: viz.weight_heatmaps(10000),
        ValueError,
        r"draws 10000 x 10000 = 100,000,000 pair weights; it draws at most 256 ranks",
    ),
    Case(
        "viz-class-means-wide",
        "viz",
        "10,000 classes for `class_mean_logits` (or `logit_correlation`, `relation_gaps`) without `classes=`",
        lambda r: analysis.class_mean_logits(logits(40, 10000), torch.arange(40) % 20),
        ValueError,
        r"would build 10000 x 10000 matrices .* at most 2048 classes at once .* pass classes=",
    ),
    Case(
        "analysis-grid-deep",
        "viz",
        "a rank grid 10,000 deep: `weight_maps(10000)` (or `pair_matrix`, `sample_relations`)",
        lambda r: analysis.weight_maps(10000),
        ValueError,
        r"weight_maps builds a 10000 x 10000 rank grid .* at most 2048",
    ),
    Case(
        "viz-tsne-wide",
        "viz",
        "10,000 classes coloured apart by `tsne_scatter`, without superclasses",
        lambda r: viz.tsne_scatter({"t": logits(100, 2)}, torch.arange(100) * 100, class_names=[""] * 10000),
        ValueError,
        r"would colour 10000 classes apart .* at most 256 .* pass superclass_of=",
    ),
    Case(
        "viz-fidelity-deep",
        "viz",
        "relation fidelity measured at 10,000 ranks, drawn by `fidelity_heatmaps`",
        lambda r: _fidelity_at_depth(10000),
        ValueError,
        r"fidelity_heatmaps draws 10000 x 10000 = 100,000,000 cells per student; it draws at most 256 ranks",
    ),
    Case(
        "jobs-worker-killed",
        "run",
        "a `--jobs` worker process killed (SIGKILL, as the OOM killer does) during a run",
        lambda r: _kill_a_jobs_worker(r),
        OSError,
        r"died while it ran the run \(kd, preset, 0.05, 0\); .* rerun the same command to continue",
    ),
    Case(
        "ray-head-silent",
        "run",
        "the Ray head node silent for 15 s while the driver waits for results",
        lambda r: _silent_head(),
        OSError,
        r"head node at 10.0.0.1:6379 has not answered for 15 s .* rerun the same command to continue",
    ),
    Case(
        "cli-json-folder",
        "run",
        "`ldrrld recipes NAME --json` given a folder",
        lambda r: run_command("recipes", "digits", "--json", str(r)),
        ExitedWith2,
        r"--json <tmp> is a folder, not a file; give --json the path of a file, such as <tmp>/digits.json",
    ),
    Case(
        "cli-recipe-file-folder",
        "recipe",
        "`ldrrld train --recipe-file` given a run's folder",
        lambda r: _recipe_file_folder(r),
        ExitedWith2,
        r"--recipe-file <tmp> is a folder, not a recipe file; .* the run's <tmp>/recipe.json",
    ),
    Case(
        "cli-resume-folder",
        "run",
        "`ldrrld train --resume` given a folder without a `latest.pth`",
        lambda r: run_command("train", "--resume", str(r), "--out-dir", "none", "--epochs", "1"),
        ExitedWith2,
        r"--resume <tmp> is a folder without a latest.pth; give a run's latest.pth or its folder",
    ),
    Case(
        "cli-out-dir-file",
        "run",
        "`ldrrld study --out-dir` given a file",
        lambda r: _file_as_out_dir(r),
        ExitedWith2,
        r"--out-dir <tmp>/a-file is a file, not a folder; give --out-dir a folder",
    ),
]


def _fidelity_at_depth(depth: int):
    import dataclasses

    fidelity = analysis.relation_fidelity(student_logits=S, teacher_logits=T, depth=4)
    return viz.fidelity_heatmaps({"s": dataclasses.replace(fidelity, depth=depth)})


def _kill_a_jobs_worker(root: Path) -> None:
    """Two runs on ``--jobs 2``; the first one's worker is killed once the second has finished.

    The worker's process number changes from run to run: the message is kept with ``<pid>`` for it."""
    import os
    import signal
    import threading
    import time

    from test_executors import _note_pid_and_wait

    from ldrrld_core.study.executors import LocalExecutor, WorkerDiedError

    items, got = [("kd", "preset", 0.05, 0), ("dkd", "preset", 0.05, 1)], {}

    def kill():
        pid_file, deadline = root / "kd.pid", time.monotonic() + 120
        while not (pid_file.exists() and pid_file.read_text() and items[1] in got) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    threading.Thread(target=kill, daemon=True).start()
    try:
        LocalExecutor(2).run_each(
            _note_pid_and_wait,
            items,
            lambda item: (str(root), item[0], 30.0 if item[0] == "kd" else 0.1),
            got.__setitem__,
        )
    except WorkerDiedError as error:
        raise WorkerDiedError(re.sub(r"process \d+", "process <pid>", str(error))) from None


def _silent_head() -> None:
    from ldrrld_core.study.executors import HeadWatch

    moment = [0.0]
    watch = HeadWatch("10.0.0.1:6379", probe=lambda address: False, clock=lambda: moment[0])
    moment[0] = 15.0
    watch.check()


def _recipe_file_folder(root: Path) -> None:
    (root / "recipe.json").write_text("{}")
    run_command("train", "--recipe-file", str(root), "--out-dir", "none")


def _file_as_out_dir(root: Path) -> None:
    (root / "a-file").write_text("not a folder")
    run_command("study", "--quick", "--out-dir", str(root / "a-file"), "--no-progress")


def _kernel_with_fifo_record(root: Path) -> None:
    import os

    (root / "cache").mkdir(mode=0o700)
    with _kernel_built_with(root, "exit 1\n") as kernel:
        os.mkfifo(kernel.record_path(torch.float32, kernel._compiler()))
        kernel.available(torch.device("cpu"), torch.float32)


def _kernel_under_shared_parent(root: Path) -> None:
    (root / "shared").mkdir()
    (root / "shared").chmod(0o777)
    (root / "shared" / "cache").mkdir(mode=0o700)
    _kernel_available(root, "exit 1\n", LDRRLD_CACHE_DIR=str(root / "shared" / "cache"))


def _teacher_cache_under_shared_parent(root: Path) -> None:
    import os
    from unittest import mock

    (root / "shared").mkdir()
    (root / "shared").chmod(0o777)
    with mock.patch.dict(os.environ, {"LDRRLD_TEACHER_OUTPUTS": str(root / "shared" / "outputs")}):
        train(tiny(loss="kd", augment="none"), teacher=model(TEACHER))


def _stored_accuracy_1000(root: Path) -> None:
    import json

    from ldrrld_core.study.protocol import stored_run

    recipe = tiny(loss="kd")
    row = {"epoch": 1, "lr": 0.05, "train_loss": 1.0, "val_top1": 1000.0, "test_top1": 50.0}
    path = root / "lr0.05-seed0.json"
    path.write_text(json.dumps({"recipe": recipe.to_dict(), "teacher": None, "history": [row], "diverged": False}))
    stored_run(path, recipe, None, key="history")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _with_socket(path: Path, use: Callable[[Path], object]) -> object:
    import socket

    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        return use(path)
    finally:
        server.close()


_ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n" for previous, name in zip("abcdefgh", "bcdefghi")
)


# --------------------------------------------------------------------------------------- tests
OUTCOMES: dict[str, Outcome] = {}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_its_error(case: Case, tmp_path):
    outcome = outcome_of(lambda: case.make(tmp_path), tmp_path)
    if case.error is Warned:
        assert outcome.kind == "warning", outcome
    else:
        assert isinstance(outcome.error, case.error), f"expected {case.error.__name__}, got {outcome}"
    assert re.search(case.match, outcome.message), f"{case.id}: {case.match!r} not in {outcome.message!r}"
    if case.after is not None:
        case.after(tmp_path)
    OUTCOMES[case.id] = outcome


def test_case_ids_are_unique_and_areas_known():
    assert len({case.id for case in CASES}) == len(CASES)
    areas = {"loss", "recipe", "data", "checkpoint", "run", "kernel", "training", "viz"}
    assert {case.area for case in CASES} == areas


def test_doc_table_is_current(tmp_path):
    """docs/bad_inputs.md holds exactly the table these rows produce (run this file to regenerate it)."""
    outcomes = {case.id: OUTCOMES.get(case.id) or _fresh_outcome(case, tmp_path / case.id) for case in CASES}
    assert _doc_table() == render_table(outcomes), (
        "docs/bad_inputs.md is out of date with the CASES table; run `python tests/test_bad_inputs.py`"
    )


# ---------------------------------------------------------------------------------- the doc table
def _fresh_outcome(case: Case, root: Path) -> Outcome:
    root.mkdir(parents=True, exist_ok=True)
    return outcome_of(lambda: case.make(root), root)


def markdown_text(text: str) -> str:
    """``text`` as literal markdown in a table cell: ``|`` would end the cell; outside code spans
    ``[a][b]`` is a link reference (the site's cross-reference plugin fails ``mkdocs build --strict``
    on it) and ``<name>`` a tag."""
    parts = re.split(r"(`[^`]*`)", text.replace("|", "\\|"))
    for index in range(0, len(parts), 2):  # the even parts lie outside code spans
        parts[index] = re.sub(r"([\[\]]|<(?=[A-Za-z/!?]))", r"\\\1", parts[index])
    return "".join(parts)


def render_table(outcomes: dict[str, Outcome]) -> str:
    """The markdown table of every case, in table order, with the message each really produced."""
    lines = ["| # | area | bad input | what you get | message |", "|---|---|---|---|---|"]
    for number, case in enumerate(CASES, 1):
        outcome = outcomes[case.id]
        kind = {"warning": "warning (logged), run continues", "exit 2": "`ldrrld` exits with status 2"}.get(
            outcome.kind, f"`{outcome.kind}`"
        )
        message = markdown_text(outcome.message)
        lines.append(f"| {number} | {case.area} | {case.what} | {kind} | {message} |")
    return "\n".join(lines)


def _doc_table() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC} lacks the generated-table markers"
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def write_doc() -> None:
    """Rewrite the generated table in docs/bad_inputs.md from fresh outcomes of every case."""
    with tempfile.TemporaryDirectory() as scratch:
        outcomes = {case.id: _fresh_outcome(case, Path(scratch) / case.id) for case in CASES}
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{BEGIN}\n{render_table(outcomes)}\n{END}{tail}", encoding="utf-8")
    print(f"wrote {len(CASES)} rows to {DOC}")


if __name__ == "__main__":
    logging.getLogger("ldrrld").propagate = False
    sys.exit(write_doc())
