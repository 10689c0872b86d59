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


# ------------------------------------------------------------------ parsers: one line, exit 2, file and field
ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n" for previous, name in zip("abcdefgh", "bcdefghi")
)


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("dup.json", '{"lr": 0.1, "lr": 5.0}', r"dup\.json: the key 'lr' is given twice"),
        ("dup.yaml", "lr: 0.1\nepochs: 2\nlr: 5.0\n", r"dup\.yaml, line 3: the key 'lr' is given twice"),
        ("nested.json", '{"loss": "kd", "loss_options": {"kd": {"temperature": 4, "temperature": 8}}}', "twice"),
        ("bad.yaml", "a: [\n", r"bad\.yaml, line 2 column 1 is not valid YAML"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, r"deep\.json nests deeper than a recipe can"),
        ("deep.yaml", "a: " + "[" * 5000 + "]" * 5000, r"deep\.yaml nests deeper than a recipe can"),
        ("bomb.yaml", ALIAS_BOMB, r"bomb\.yaml expands to more than 10,000 values through its aliases"),
        (
            "huge.json",
            '{"seed": 1' + "0" * 400 + "}",
            r"huge\.json: seed must be an integer in \[0, 9223372036854775807\], got an integer of 401 digits",
        ),
        ("long.json", '{"seed": 1' + "0" * 5000 + "}", r"long\.json is not valid JSON: .*4300 digits"),
        ("long.yaml", "seed: 1" + "0" * 5000 + "\n", r"long\.yaml holds a value that cannot be read"),
        ("lr.json", '{"lr": 1e300}', r"lr\.json: lr 1e\+300 is above 1000"),
        ("options.yaml", "data_options: {test_size: abc}\n", r"data_options\['test_size'\] must be an integer"),
        ("options.json", '{"data_options": {"test_size": 1e300}}', r"data_options\['test_size'\] must be an integer"),
    ],
)
def test_recipe_files_are_refused_in_one_line_naming_the_file(tmp_path, name, text, pattern):
    import re
    import time

    path = tmp_path / name
    path.write_text(text)
    started = time.perf_counter()
    status, errors = _ldrrld("train", "--recipe-file", str(path), "--out-dir", "none")
    assert time.perf_counter() - started < 5, "refused too slowly"
    assert status == 2, errors
    assert len(errors.strip().splitlines()) == 1, errors
    assert errors.startswith("ldrrld train: error: "), errors
    assert re.search(pattern, errors), errors
    assert len(errors) < 400, errors


def test_an_alias_bomb_is_refused_in_well_under_a_second(tmp_path):
    import time

    from ldrrld_core.train.recipe_files import read_recipe_file

    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 400
    started = time.perf_counter()
    with pytest.raises(ValueError, match="alias"):
        read_recipe_file(path)
    assert time.perf_counter() - started < 0.5


def test_yaml_aliases_and_merges_of_a_normal_size_still_read(tmp_path):
    from ldrrld_core.train.recipe_files import read_recipe_file

    path = tmp_path / "ok.yaml"
    path.write_text("lr: 0.1\ndecay_epochs: &d [2, 3]\nepochs: 4\nloss: kd\nloss_options: {kd: {temperature: 4}}\n")
    recipe = read_recipe_file(path)
    assert recipe.lr == 0.1 and recipe.decay_epochs == (2, 3)


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (("--lr", "1e300"), r"lr 1e\+300 is above 1000"),
        (("--set", "lr=1e300"), r"lr 1e\+300 is above 1000"),
        (("--set", "seed=1" + "0" * 400), r"seed must be an integer in .*, got an integer of 401 digits"),
        (("--set", "epochs=1" + "0" * 5000), r"cannot read epochs='1000.*\(5003 characters\) as int"),
        (("--set", "epochs=2000000"), r"epochs must be an integer in \[1, 1000000\]"),
        (("--set", "warmup_epochs=1" + "0" * 30), r"warmup_epochs must fit in 64 bits"),
        (("--threads", "100000"), r"--threads must lie in \[1, 1024\]"),
        (("--set", "name=bad/name"), r"name must be a plain label"),
        (("--set", 'data_options={"test_size": "abc"}'), r"data_options\['test_size'\] must be an integer"),
    ],
)
def test_numbers_are_checked_for_range_after_conversion(argv, pattern):
    import re

    status, errors = _ldrrld("train", *argv, "--out-dir", "none")
    assert status == 2, errors
    assert len(errors.strip().splitlines()) == 1, errors
    assert re.search(pattern, errors), errors
    assert len(errors) < 400, errors


def test_set_name_works(tmp_path):
    from argparse import Namespace

    from ldrrld_core.cli.options import recipe_from
    from ldrrld_core.train import get_recipe

    assert get_recipe("digits", name="mine").name == "mine"
    args = Namespace(
        set=["name=mine"], model=None, data=None, data_root=None, download=None, epochs=None, batch_size=None,
        lr=None, seed=None, amp=None, compile=None, out_dir="none", recipe=None, recipe_file=None, resume=None,
        command="train",
    )  # fmt: skip
    assert recipe_from(args).name == "mine"


def test_jobs_has_a_maximum():
    from argparse import Namespace

    from ldrrld_core.cli.options import check_jobs

    with pytest.raises(ValueError, match=r"--jobs must lie in \[1, 1024\]"):
        check_jobs(Namespace(jobs=100000))


# ------------------------------------------------------------------ stored results checked for meaning
def _rows(epochs: int, **changes) -> list[dict]:
    rows = [
        {"epoch": e, "lr": 0.1, "train_loss": 1.0, "val_top1": 50.0, "test_top1": 50.0, "test_loss": 1.2}
        for e in range(1, epochs + 1)
    ]
    for key, value in changes.items():  # column_epoch=value
        column, epoch = key.rsplit("_", 1)
        if value is None:
            del rows[int(epoch) - 1][column]
        else:
            rows[int(epoch) - 1][column] = value
    return rows


def _run_file(tmp_path, recipe, rows, **content):
    path = tmp_path / "lr0.05-seed0.json"
    path.write_text(json.dumps({"recipe": recipe.to_dict(), "teacher": "a" * 64, "history": rows, **content}))
    return path


@pytest.mark.parametrize(
    ("rows", "content", "message"),
    [
        (_rows(3, val_top1_2=1000.0), {}, r"holds val_top1 = 1000.0 in epoch 2, outside \[0, 100\]"),
        (_rows(3, test_top1_3=-1.0), {}, r"holds test_top1 = -1.0 in epoch 3, outside \[0, 100\]"),
        (_rows(3, train_loss_1=-0.5), {}, r"holds train_loss = -0.5 in epoch 1, below 0"),
        (_rows(3, test_loss_2=float("inf")), {}, r"holds test_loss = inf in epoch 2, not a finite number"),
        (_rows(3, test_loss_2=None), {}, r"holds epoch 2 with other columns than epoch 1 \(test_loss\)"),
        (_rows(3, val_top1_1=True), {}, r"holds val_top1 = True in epoch 1, not a finite number"),
        ([], {"diverged": False}, r"holds an empty history but records no divergence"),
        (_rows(3), {"diverged": True}, r"records a divergence but holds history rows"),
    ],
)
def test_a_stored_run_that_means_nothing_is_refused_naming_file_and_field(tmp_path, rows, content, message):
    from ldrrld_core.study.protocol import stored_run
    from ldrrld_core.train import get_recipe

    recipe = get_recipe("digits", loss="kd", epochs=3)
    path = _run_file(tmp_path, recipe, rows, **content)
    with pytest.raises(ValueError, match=r"lr0\.05-seed0\.json " + message + ".*delete it to train that run again"):
        stored_run(path, recipe, "a" * 64, key="history")


def test_a_stored_run_lacking_the_column_the_study_reads_is_refused(tmp_path):
    from ldrrld_core.study.protocol import stored_run
    from ldrrld_core.train import get_recipe

    recipe = get_recipe("digits", loss="kd", epochs=2, validation_fraction=0.1)
    rows = [{key: value for key, value in row.items() if key != "val_top1"} for row in _rows(2)]
    with pytest.raises(ValueError, match=r"lacks the column\(s\) val_top1 in its history"):
        stored_run(_run_file(tmp_path, recipe, rows), recipe, "a" * 64, key="history")


def test_a_recorded_divergence_and_a_sound_run_are_reused(tmp_path):
    from ldrrld_core.study.protocol import stored_run
    from ldrrld_core.train import get_recipe

    recipe = get_recipe("digits", loss="kd", epochs=3)
    assert stored_run(_run_file(tmp_path, recipe, [], diverged=True), recipe, "a" * 64, key="history") == []
    assert stored_run(_run_file(tmp_path, recipe, _rows(3)), recipe, "a" * 64, key="history") == _rows(3)


def test_a_sweep_result_with_an_accuracy_of_1000_is_refused(tmp_path):
    from ldrrld_core.study.protocol import stored_run
    from ldrrld_core.train import get_recipe

    recipe = get_recipe("digits", loss="kd", epochs=2)
    path = tmp_path / "run.json"
    result = {"history": _rows(2, val_top1_2=1000.0), "seconds": 1.0, "measures": {}}
    path.write_text(json.dumps({"recipe": recipe.to_dict(), "teacher": "a" * 64, "result": result}))
    with pytest.raises(ValueError, match=r"run\.json holds val_top1 = 1000.0 in epoch 2, outside \[0, 100\]"):
        stored_run(path, recipe, "a" * 64, key="result")


# ------------------------------------------------------------------ one trust rule for every cache
def _kernel_fresh(monkeypatch, cache: Path):
    from ldrrld_core.kernels import cpu_ldrrld

    monkeypatch.setenv("LDRRLD_CACHE_DIR", str(cache))
    monkeypatch.setattr(cpu_ldrrld, "_libraries", {})
    return cpu_ldrrld


def test_a_fifo_at_the_kernels_build_record_is_refused_without_blocking(tmp_path, monkeypatch, caplog):
    import logging
    import time

    import torch

    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    kernel = _kernel_fresh(monkeypatch, cache)
    compiler = kernel._compiler()
    if compiler is None:
        pytest.skip("no C compiler")
    os.mkfifo(kernel.record_path(torch.float32, compiler))
    monkeypatch.setattr(kernel, "_compile", lambda *a: pytest.fail("built over a FIFO"))
    outcome: list[bool] = []
    worker = threading.Thread(
        target=lambda: outcome.append(kernel.available(torch.device("cpu"), torch.float32)), daemon=True
    )
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING):
        worker.start()
        worker.join(20)
    assert not worker.is_alive(), "the first kernel call blocks on the FIFO"
    assert outcome == [False] and time.perf_counter() - started < 20
    assert "is not a regular file" in caplog.text


def test_a_cache_under_a_folder_others_may_write_is_refused(tmp_path, monkeypatch, caplog):
    import logging

    import torch

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not sticky: another user could rename our cache away and put theirs in its place
    cache = shared / "cache"
    cache.mkdir(mode=0o700)
    kernel = _kernel_fresh(monkeypatch, cache)
    monkeypatch.setattr(kernel, "_compile", lambda *a: pytest.fail("built under a shared folder"))
    with caplog.at_level(logging.WARNING):
        assert not kernel.available(torch.device("cpu"), torch.float32)
    assert f"the folder {shared} above the cache" in caplog.text


def test_a_sticky_root_folder_like_tmp_ends_the_parent_check(tmp_path, monkeypatch):
    from ldrrld_core.cache_trust import private_folder

    if os.getuid() != 0:
        pytest.skip("a root-owned sticky folder made here needs root")
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    assert private_folder(sticky / "mine") == sticky / "mine"


def test_the_kernel_loads_from_the_hashed_file_not_the_path(tmp_path, monkeypatch):
    import torch

    cache = tmp_path / "cache"
    kernel = _kernel_fresh(monkeypatch, cache)
    if kernel._compiler() is None:
        pytest.skip("no C compiler")
    loaded: list[str] = []
    real = kernel.ctypes.CDLL

    def spy(name, *args, **kwargs):
        loaded.append(str(name))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(kernel.ctypes, "CDLL", spy)
    assert kernel.available(torch.device("cpu"), torch.float32)
    library = next(cache.glob("cpu_ldrrld_float_*.so"))
    assert loaded and all(name != str(library) and name.endswith(".load") for name in loaded)
    assert not list(cache.glob("*.load")), "the private copy is removed once loaded"


# ------------------------------------------------------------------ the teacher-output cache under the same rule
@pytest.fixture(scope="module")
def _digits():
    from ldrrld_core.data import load_dataset

    return load_dataset("digits")


def _teacher():
    import torch

    from ldrrld_core.models import create_model

    torch.manual_seed(0)
    return create_model("digits_cnn", num_classes=10).eval()


def _fit(data, teacher):
    from ldrrld_core.train import fit, get_recipe

    recipe = get_recipe("digits", epochs=1, warmup_epochs=0, decay_epochs=(), loss="kd")
    return fit(recipe, teacher=teacher, data=data, progress=False)


@pytest.fixture()
def teacher_cache(tmp_path, monkeypatch):
    from ldrrld_core.train.teacher_outputs import ENV_FOLDER

    folder = tmp_path / "outputs"
    monkeypatch.setenv(ENV_FOLDER, str(folder))
    return folder


@pytest.mark.parametrize("value", ["", "relative/outputs", "."])
def test_an_empty_or_relative_teacher_cache_variable_means_the_default(monkeypatch, tmp_path, value):
    from ldrrld_core.cache_trust import cache_base
    from ldrrld_core.train.teacher_outputs import ENV_FOLDER, cache_folder

    monkeypatch.setenv("LDRRLD_CACHE_DIR", str(tmp_path / "base"))
    monkeypatch.setenv(ENV_FOLDER, value)
    assert cache_folder() == cache_base() / "teacher_outputs" == tmp_path / "base" / "teacher_outputs"
    monkeypatch.setenv("LDRRLD_CACHE_DIR", "")
    assert cache_folder().is_absolute()


def test_a_teacher_cache_others_may_write_is_not_used(tmp_path, monkeypatch, caplog, _digits):
    import logging

    from ldrrld_core.train.teacher_outputs import ENV_FOLDER

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(ENV_FOLDER, str(shared / "outputs"))
    with caplog.at_level(logging.WARNING, logger="ldrrld.train"):
        _fit(_digits, _teacher())
    assert "not caching the teacher's outputs" in caplog.text
    assert not list(shared.rglob("*.pt"))


def _rewrite(path: Path, change) -> None:
    from ldrrld_core.io import atomic_save
    from ldrrld_core.train.teacher_outputs import _tensor_sha256

    record = load_file(path)
    record["logits"] = change(record["logits"])
    record["logits_sha256"] = _tensor_sha256(record["logits"])  # consistent with itself, as a forger makes it
    atomic_save(record, path)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda logits: logits.double(), "torch.float64 of 10 classes"),
        (lambda logits: logits[:, :9].contiguous(), "of 9 classes"),
        (lambda logits: logits.index_fill(0, __import__("torch").tensor([100]), float("nan")), "NaN or infinite"),
        (lambda logits: logits + 1.0, "first batch differs"),
    ],
)
def test_a_consistent_but_wrong_teacher_output_file_is_not_used(teacher_cache, caplog, _digits, change, reason):
    import logging

    teacher = _teacher()
    first = _fit(_digits, teacher)
    (path,) = teacher_cache.glob("*.pt")
    _rewrite(path, change)
    with caplog.at_level(logging.WARNING, logger="ldrrld.train"):
        again = _fit(_digits, teacher)
    assert "are unusable" in caplog.text and reason in caplog.text, caplog.text
    assert again.history.rows[-1]["test_top1"] == first.history.rows[-1]["test_top1"]


def test_a_teacher_whose_computation_changed_does_not_read_its_old_outputs(teacher_cache, caplog, _digits):
    import logging

    teacher = _teacher()
    _fit(_digits, teacher)
    teacher.register_forward_hook(lambda module, inputs, output: output * 2.0)  # same weights, other logits
    with caplog.at_level(logging.INFO, logger="ldrrld.train"):
        _fit(_digits, teacher)
    # its logits on the probe batch are part of the key: another file, the old one neither read nor replaced
    assert "read from" not in caplog.text and len(list(teacher_cache.glob("*.pt"))) == 2


@pytest.mark.parametrize("error", [RuntimeError("[enforce fail at inline_container.cc] No space left"), MemoryError()])
def test_any_failure_to_write_the_teacher_cache_costs_speed_not_the_run(
    teacher_cache, monkeypatch, caplog, _digits, error
):
    import logging

    from ldrrld_core.train import teacher_outputs

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(teacher_outputs, "atomic_save", fail)
    with caplog.at_level(logging.WARNING, logger="ldrrld.train"):
        run = _fit(_digits, _teacher())
    assert len(run.history.rows) == 1
    assert "could not cache the teacher's outputs" in caplog.text and type(error).__name__ in caplog.text


def test_a_fifo_at_the_teacher_cache_path_neither_blocks_nor_is_replaced(teacher_cache, caplog, _digits):
    import logging

    teacher = _teacher()
    _fit(_digits, teacher)
    (path,) = teacher_cache.glob("*.pt")
    path.unlink()
    os.mkfifo(path)
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(_fit(_digits, teacher)), daemon=True)
    with caplog.at_level(logging.WARNING, logger="ldrrld.train"):
        worker.start()
        worker.join(60)
    assert not worker.is_alive(), "the run blocks on the FIFO"
    assert done and stat.S_ISFIFO(os.lstat(path).st_mode)
    assert "is not a regular file" in caplog.text


def test_a_teacher_output_file_of_another_user_is_not_read(teacher_cache, caplog, _digits):
    import logging

    if os.getuid() != 0:
        pytest.skip("changing a file's owner needs root")
    teacher = _teacher()
    _fit(_digits, teacher)
    (path,) = teacher_cache.glob("*.pt")
    os.chown(path, 12345, 12345)
    with caplog.at_level(logging.WARNING, logger="ldrrld.train"):
        _fit(_digits, teacher)
    assert "belongs to another user (uid 12345)" in caplog.text


# ------------------------------------------------------------------ a run folder's summary and history
def _run_folder(tmp_path: Path, summary: dict, rows: list | None = None) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "recipe.json").write_text(json.dumps({"model": "digits_mlp", "loss": "kd", "seed": 0}))
    (folder / "summary.json").write_text(json.dumps(summary))
    if rows is not None:
        (folder / "history.json").write_text(json.dumps(rows))
    return folder


@pytest.mark.parametrize(
    ("summary", "rows", "message"),
    [
        ({"top1": True}, None, r"summary\.json holds top1 = true, not an accuracy in \[0, 100\]"),
        ({"top1": 71.2, "top1_best": 1000}, None, r"holds top1_best = 1000, not an accuracy"),
        ({"top1": "71.2"}, None, r"holds top1 = \"71.2\", not an accuracy"),
        ({"top1": 50.0}, [{"epoch": 1, "test_top1": 50.0}, {"epoch": 2}], r"history\.json holds epoch 2 with other"),
        ({"top1": 50.0}, [{"epoch": 1, "test_top1": 500.0}], r"holds test_top1 = 500.0 in epoch 1, outside"),
    ],
)
def test_a_run_folder_whose_numbers_mean_nothing_is_refused(tmp_path, summary, rows, message):
    from ldrrld_core.runs.record import load_run

    folder = _run_folder(tmp_path, summary, rows)
    with pytest.raises(ValueError, match=message):
        load_run(folder)
    status, errors = _ldrrld("runs", "table", str(folder))
    assert status == 2 and len(errors.strip().splitlines()) == 1, errors


def test_a_sound_run_folder_still_loads(tmp_path):
    from ldrrld_core.runs.record import load_run

    folder = _run_folder(tmp_path, {"top1": 50.0, "top1_best": 60}, [{"epoch": 1, "test_top1": 60.0}])
    assert load_run(folder).top1_best == 60


@pytest.mark.parametrize(
    ("measures", "seconds", "message"),
    [
        (
            {"kendall_tau": float("nan"), "kl_all": 0.1, "topd_pair_agreement": 0.7},
            1.0,
            "kendall_tau = nan, not a finite",
        ),
        ({"kl_all": 0.1, "topd_pair_agreement": 0.7}, 1.0, r"lacks the measure\(s\) kendall_tau"),
        ({"kendall_tau": 3.0, "kl_all": 0.1, "topd_pair_agreement": 0.7}, 1.0, r"kendall_tau = 3.0, outside \[-1, 1\]"),
        ({"kendall_tau": 0.3, "kl_all": -1.0, "topd_pair_agreement": 0.7}, 1.0, "kl_all = -1.0, below 0"),
        ({"kendall_tau": 0.3, "kl_all": 0.1, "topd_pair_agreement": 0.7}, None, "seconds = None, not a finite"),
    ],
)
def test_a_sweep_result_with_a_nan_or_missing_measure_is_refused(tmp_path, measures, seconds, message):
    from ldrrld_core.study.protocol import stored_run
    from ldrrld_core.study.sweep import RUN_MEASURES
    from ldrrld_core.train import get_recipe

    recipe = get_recipe("digits", loss="kd", epochs=2)
    path = tmp_path / "seed0.json"
    result = {"history": _rows(2), "seconds": seconds, "measures": measures}
    path.write_text(json.dumps({"recipe": recipe.to_dict(), "teacher": "a" * 64, "result": result}))
    with pytest.raises(ValueError, match=r"seed0\.json .*" + message):
        stored_run(path, recipe, "a" * 64, key="result", measures=RUN_MEASURES)


def test_every_recipe_field_can_be_set_from_the_command_line():
    """``--set FIELD=VALUE`` works for every field (``name`` failed for any value), each given its preset's value."""
    import dataclasses
    from argparse import Namespace

    from ldrrld_core.cli.options import recipe_from
    from ldrrld_core.train import get_recipe

    preset = get_recipe("digits")

    def text(value):
        if value is None:
            return "none"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, tuple):
            return json.dumps(list(value))
        if isinstance(value, dict):
            return json.dumps(value)
        return str(value)

    for item in dataclasses.fields(preset):
        if item.name == "out_dir":
            continue
        value = getattr(preset, item.name)
        args = Namespace(
            set=[f"{item.name}={text(value)}"], model=None, data=None, data_root=None, download=None, epochs=None,
            batch_size=None, lr=None, seed=None, amp=None, compile=None, out_dir="none", recipe=None,
            recipe_file=None, resume=None, command="train",
        )  # fmt: skip
        assert getattr(recipe_from(args), item.name) == value, item.name


# ------------------------------------------------------------------ figures with a size limit at 10,000 classes
@pytest.mark.parametrize("figure", ["weight_heatmaps", "weight_curves", "weight_share"])
def test_weight_figures_refuse_10000_ranks_in_well_under_a_second(figure):
    import time

    import ldrrld_viz as viz

    started = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{figure} draws 10000 x 10000 = 100,000,000 .* at most 256 ranks"):
        getattr(viz, figure)(10000)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("figure", ["pair_contributions", "local_distributions"])
def test_sample_figures_refuse_10000_ranks_before_any_work(figure):
    import time
    from types import SimpleNamespace

    import ldrrld_viz as viz

    deep = SimpleNamespace(depth=10000, num_classes=10000)  # what sample_relations(depth=10000) describes
    started = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{figure} draws 10000 x 10000 = 100,000,000 cells per panel"):
        getattr(viz, figure)(deep)
    assert time.perf_counter() - started < 1.0


def test_weight_figures_of_normal_depth_still_draw():
    import ldrrld_viz as viz

    assert viz.weight_heatmaps(7) is not None and viz.weight_curves(7) is not None
