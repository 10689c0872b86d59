"""Checkpoint files: atomic writes, safe reads, the accepted layouts and every failure message."""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ldrrld_core.io import (
    CHECKSUMS,
    SAFE_GLOBALS,
    CheckpointError,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    UnsafeCheckpointError,
    atomic_save,
    atomic_write_text,
    load_file,
    recorded_sha256,
    sha256_file,
)
from ldrrld_core.models import (
    TEACHER_ACCURACY,
    CheckpointMismatchError,
    create_model,
    extract_state_dict,
    list_models,
    load_checkpoint,
    load_standard_teacher,
    load_state_dict_strict,
    standard_teacher_path,
    strip_wrapper_prefixes,
)
from ldrrld_core.models.checkpoint import NonFiniteWeightsError


def trained_like(name: str, seed: int = 0, **kwargs) -> torch.nn.Module:
    """A model whose every tensor (BatchNorm statistics included) differs from a fresh one."""
    torch.manual_seed(seed)
    model = create_model(name, **kwargs)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)
            else:
                tensor.fill_(seed + 7)
    return model


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0, msg=key)


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


# --- atomic_save ---------------------------------------------------------------------------------


def test_atomic_save_round_trip_creates_folders_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "deep" / "er" / "run.pth"
    payload = {"model": {"w": torch.arange(5.0)}, "epoch": 3, "history": [0.5, 0.25]}
    assert atomic_save(payload, target) == target
    loaded = load_file(target)
    assert loaded["epoch"] == 3 and loaded["history"] == [0.5, 0.25]
    assert torch.equal(loaded["model"]["w"], torch.arange(5.0))
    assert leftovers(target.parent) == []
    atomic_save({"epoch": 4}, str(target))  # overwrites, str path
    assert load_file(target) == {"epoch": 4} and leftovers(target.parent) == []


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_atomic_save_failure_keeps_the_old_file(tmp_path, monkeypatch, failure):
    target = tmp_path / "ckpt.pth"
    atomic_save({"epoch": 1}, target)
    before = target.read_bytes()
    real_save = torch.save

    def save_half_then_fail(obj, stream, *args, **kwargs):
        real_save(obj, stream, *args, **kwargs)
        stream.truncate(10)  # a half-written file ...
        raise failure  # ... and then the failure

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(type(failure)):
        atomic_save({"epoch": 2, "big": torch.zeros(1000)}, target)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    assert load_file(target) == {"epoch": 1}


def test_atomic_write_text_keeps_the_text_exactly(tmp_path):
    text = "epoch,top1\r\n1,50.0\nü\n"
    target = atomic_write_text(text, tmp_path / "runs" / "history.csv")
    assert target.read_bytes() == text.encode("utf-8")
    assert leftovers(target.parent) == []


def test_atomic_save_into_a_folder_path_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="folder"):
        atomic_save({"epoch": 1}, tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")
def test_atomic_save_gives_ordinary_permissions(tmp_path):
    target = tmp_path / "ckpt.pth"
    atomic_save({"epoch": 1}, target)
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


# --- load_file failures --------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "ckpt_epoch_240.pth"
    with pytest.raises(CheckpointNotFoundError) as error:
        load_file(missing)
    assert str(missing) in str(error.value)
    assert isinstance(error.value, FileNotFoundError) and isinstance(error.value, ValueError)
    with pytest.raises(CheckpointNotFoundError, match="is a folder"):
        load_file(tmp_path)


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_file_is_reported_as_corrupt(tmp_path, legacy):
    path = tmp_path / "ckpt.pth"
    torch.save({"model": create_model("resnet8").state_dict()}, path, _use_new_zipfile_serialization=not legacy)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError) as error:
        load_file(path)
    assert str(path) in str(error.value) and "truncated" in str(error.value)


@pytest.mark.parametrize("content", [b"", b"certainly not a checkpoint", b"PK\x03\x04broken zip"])
def test_garbage_file_is_reported_as_corrupt(tmp_path, content):
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match="junk.pth"):
        load_file(path)


class PlantsAMarker:
    """Unpickling an instance calls ``open(marker, 'w')``: code running at load time."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("legacy", [False, True])
def test_code_inside_a_checkpoint_never_runs(tmp_path, legacy):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.pth"
    torch.save(
        {"model": {"w": torch.ones(2)}, "payload": PlantsAMarker(marker)},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError) as error:
        load_file(path)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(create_model("resnet8"), path)
    assert not marker.exists()
    message = str(error.value)
    assert str(path) in message and "trusted=True" in message and "open" in message
    # The opt-in really unpickles everything: now the payload runs.
    loaded = load_file(path, trusted=True)
    loaded["payload"].close()
    assert marker.exists()


class RunsShell:
    """Unpickling an instance runs ``os.system('touch marker')``: the classic malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def _community_file(path: Path, kind: str, state: dict, legacy: bool) -> dict:
    """A checkpoint laid out as the distillation projects write theirs; returns the extras it holds."""
    extras = {
        # RepDistiller / LDRLD: {'epoch', 'model', 'best_acc', 'opt'} with opt the parsed options
        "repdistiller": {
            "epoch": 240,
            "best_acc": torch.tensor(72.3),
            "opt": argparse.Namespace(model="resnet8", learning_rate=0.05, lr_decay_epochs=[150, 180]),
        },
        # torchdistill: the command-line args pickled next to the weights
        "torchdistill": {"args": argparse.Namespace(config="cfg.yaml", seed=None, world_size=1)},
        # NumPy scalars where a float or an int was meant
        "numpy": {
            "best_acc": np.float64(71.92),
            "epoch": np.int64(240),
            "flag": np.bool_(True),
            "lr": np.float32(0.05),
        },
    }[kind]
    torch.save({"model": state, **extras}, path, _use_new_zipfile_serialization=not legacy)
    return extras


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("kind", ["repdistiller", "torchdistill", "numpy"])
def test_community_checkpoints_load_safely(tmp_path, kind, legacy):
    """Namespace options and NumPy scalars load under weights_only, without trusted=True (issue 12)."""
    model = trained_like("resnet8")
    path = tmp_path / "ckpt_epoch_240.pth"
    extras = _community_file(path, kind, model.state_dict(), legacy)
    assert_same_state(create_model("resnet8", checkpoint=path), model)
    loaded = load_file(path)
    for key, value in extras.items():
        if isinstance(value, argparse.Namespace):
            assert type(loaded[key]) is argparse.Namespace and vars(loaded[key]) == vars(value)
        elif isinstance(value, torch.Tensor):
            assert torch.equal(loaded[key], value)
        else:
            assert type(loaded[key]) is type(value) and loaded[key] == value


@pytest.mark.parametrize("legacy", [False, True])
def test_malicious_file_with_an_allowed_namespace_is_still_refused(tmp_path, legacy):
    """The allow-list admits a Namespace, never a callable: os.system inside one is refused, unrun."""
    marker = tmp_path / "PWNED"
    path = tmp_path / "ckpt_epoch_240.pth"
    torch.save(
        {"model": trained_like("resnet8").state_dict(), "opt": argparse.Namespace(lr=0.05, hook=RunsShell(marker))},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    for load in (lambda: load_file(path), lambda: create_model("resnet8", checkpoint=path)):
        with pytest.raises(UnsafeCheckpointError, match="system"):
            load()
    assert not marker.exists(), "unpickling must never run code from the file"
    functions = {entry.__name__ for entry in SAFE_GLOBALS if not isinstance(entry, (type, tuple))}
    assert functions == {"scalar"}, "besides classes, only NumPy's scalar constructor is allowed"
    assert os.system not in SAFE_GLOBALS and exec not in SAFE_GLOBALS


def test_a_plain_pickle_is_called_unsafe_legacy_not_truncated(tmp_path):
    """A file written by pickle.dump (or an old torch.save with objects) is not 'damaged'."""
    path = tmp_path / "weights.pkl"
    path.write_bytes(pickle.dumps({"model": {"w": np.ones(3, np.float32)}}, protocol=4))
    with pytest.raises(UnsafeCheckpointError) as error:
        load_file(path)
    assert "legacy format" in str(error.value) and "truncated" not in str(error.value)
    legacy = tmp_path / "legacy.pth"
    torch.save(
        {"model": {"w": torch.ones(2)}, "x": PlantsAMarker(tmp_path / "M")},
        legacy,
        _use_new_zipfile_serialization=False,
    )
    with pytest.raises(UnsafeCheckpointError, match=r"legacy format .*\(io.open\)"):
        load_file(legacy)
    assert not (tmp_path / "M").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, value):
    source = trained_like("resnet8")
    state = source.state_dict()
    state["layer1.0.conv1.weight"].view(-1)[[3, 7]] = value
    state["fc.bias"][0] = value
    path = atomic_save({"model": state}, tmp_path / "diverged.pth")
    target = create_model("resnet8")
    before = {key: tensor.clone() for key, tensor in target.state_dict().items()}
    with pytest.raises(NonFiniteWeightsError) as error:
        load_checkpoint(target, path)
    message = str(error.value)
    nans = 2 if value != value else 0
    assert "layer1.0.conv1.weight (" + f"{nans} NaN, {2 - nans} infinite" in message
    assert "fc.bias" in message and "2 tensor(s)" in message and str(path) in message
    assert all(torch.equal(before[key], tensor) for key, tensor in target.state_dict().items())


def test_a_given_sha256_is_checked_before_unpickling(tmp_path):
    model = trained_like("resnet8")
    path = atomic_save({"model": model.state_dict()}, tmp_path / "ckpt.pth")
    digest = sha256_file(path)
    assert_same_state(create_model("resnet8", checkpoint=path, sha256=digest.upper()), model)
    with pytest.raises(ChecksumMismatchError) as error:
        create_model("resnet8", checkpoint=path, sha256="0" * 64)
    assert digest in str(error.value) and "0" * 64 in str(error.value)
    with pytest.raises(ValueError, match="64 hex digits"):
        load_file(path, sha256="abc")
    with pytest.raises(ValueError, match="no checkpoint"):
        create_model("resnet8", sha256=digest)
    # A file that would run code is refused by its hash before the unpickler ever sees it.
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.pth"
    torch.save({"model": model.state_dict(), "x": PlantsAMarker(marker)}, evil)
    with pytest.raises(ChecksumMismatchError):
        load_file(evil, sha256=digest, trusted=True)
    assert not marker.exists()


def _flip_a_weight_byte(path: Path, tensor: torch.Tensor) -> None:
    """Change one byte inside the stored data of ``tensor`` (found by its bytes), nothing else."""
    data = bytearray(path.read_bytes())
    at = bytes(data).find(tensor.numpy().tobytes())
    assert at >= 0, "the tensor's bytes must be stored verbatim"
    data[at + 5] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_tensor_data_are_caught_by_the_record(tmp_path):
    model = trained_like("resnet8")
    path = atomic_save({"model": model.state_dict()}, tmp_path / "student.pth", record=True)
    assert recorded_sha256(path) == [sha256_file(path)]
    assert json.loads((tmp_path / CHECKSUMS).read_text()) == {"student.pth": sha256_file(path)}
    assert_same_state(create_model("resnet8", checkpoint=path), model)
    _flip_a_weight_byte(path, model.state_dict()["fc.weight"])
    unrecorded = tmp_path / "copy" / "student.pth"
    unrecorded.parent.mkdir()
    unrecorded.write_bytes(path.read_bytes())
    create_model("resnet8", checkpoint=unrecorded)  # without a record the damage is invisible ...
    with pytest.raises(ChecksumMismatchError, match="checksums.json"):
        create_model("resnet8", checkpoint=path)  # ... with one it is caught


def test_the_record_accepts_whichever_file_a_crash_leaves(tmp_path, monkeypatch):
    """Killed between the new hash's record and the rename: the old file is still accepted."""
    path = atomic_save({"epoch": 1}, tmp_path / "latest.pth", record=True)
    old = sha256_file(path)

    real_replace, calls = os.replace, []

    def crash_at_the_checkpoints_rename(source, target):
        calls.append(Path(target).name)
        if Path(target).name == "latest.pth":
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_at_the_checkpoints_rename)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"epoch": 2}, path, record=True)
    monkeypatch.undo()
    assert calls == [CHECKSUMS, "latest.pth"], "the new hash is recorded before the rename"
    assert len(recorded_sha256(path)) == 2 and recorded_sha256(path)[0] == old
    assert load_file(path) == {"epoch": 1}
    atomic_save({"epoch": 3}, path, record=True)
    assert recorded_sha256(path) == [sha256_file(path)] and load_file(path) == {"epoch": 3}
    (tmp_path / CHECKSUMS).write_text("{not json")
    with pytest.raises(CorruptCheckpointError, match="Delete it"):
        load_file(path)


# --- layouts and prefixes ------------------------------------------------------------------------


def _wrap(state: dict, prefix: str) -> dict:
    return {prefix + key: value for key, value in state.items()}


@pytest.mark.parametrize("layout", ["model", "state_dict", "model_state_dict", "raw"])
@pytest.mark.parametrize("prefix", ["", "module.", "_orig_mod.", "module._orig_mod.", "model."])
def test_round_trip_in_every_layout_and_prefix(tmp_path, layout, prefix):
    source = trained_like("resnet8", seed=1)
    state = _wrap(source.state_dict(), prefix)
    content = (
        state
        if layout == "raw"
        else {layout: state, "epoch": 240, "best_acc": 72.3, "optimizer": {"state": {}, "param_groups": []}}
    )
    path = atomic_save(content, tmp_path / "ckpt.pth")
    restored = create_model("resnet8", checkpoint=path)
    assert_same_state(restored, source)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(restored.eval()(images), source.eval()(images))


def test_a_distillers_state_dict_gives_the_student(tmp_path):
    student, teacher = trained_like("resnet8", seed=2), trained_like("resnet32x4", seed=3)
    state = {**_wrap(student.state_dict(), "module.student."), **_wrap(teacher.state_dict(), "module.teacher.")}
    path = atomic_save({"model": state}, tmp_path / "latest.pth")
    assert_same_state(create_model("resnet8", checkpoint=path), student)


def test_prefixes_the_model_itself_uses_are_kept():
    # MobileNetV1 names its blocks "model.<i>", so "model." is not a wrapper prefix for it.
    model = create_model("mobilenet_v1", num_classes=4)
    state = model.state_dict()
    assert strip_wrapper_prefixes(state, state) == dict(state)
    wrapped = _wrap(state, "model.")
    assert list(strip_wrapper_prefixes(wrapped, state)) == list(state)
    # Without knowing the model, a prefix every key shares is taken for a wrapper.
    only_blocks = {key: value for key, value in state.items() if key.startswith("model.")}
    assert all(not key.startswith("model.") for key in strip_wrapper_prefixes(only_blocks))


def test_whole_module_from_a_trusted_file(tmp_path):
    source = trained_like("digits_mlp", seed=4)
    path = tmp_path / "whole.pth"
    torch.save(source, path)
    with pytest.raises(UnsafeCheckpointError):
        load_file(path)
    assert_same_state(create_model("digits_mlp", checkpoint=path, trusted=True), source)


def test_old_checkpoints_without_batchnorm_counters_load(tmp_path):
    source = trained_like("resnet8", seed=5)
    state = {key: value for key, value in source.state_dict().items() if not key.endswith("num_batches_tracked")}
    restored = load_checkpoint(create_model("resnet8"), atomic_save(state, tmp_path / "old.pth"))
    for key, value in state.items():
        assert torch.equal(restored.state_dict()[key], value)


def test_a_file_with_some_batchnorm_counters_must_have_all(tmp_path):
    state = dict(trained_like("resnet8").state_dict())
    del state["layer2.0.bn1.num_batches_tracked"]
    with pytest.raises(CheckpointMismatchError, match="layer2.0.bn1.num_batches_tracked"):
        create_model("resnet8", checkpoint=atomic_save(state, tmp_path / "odd.pth"))


@pytest.mark.parametrize(
    "content, expected",
    [
        ({"epoch": 3, "optimizer": {"lr": 0.1}}, "no state dict"),
        ([torch.ones(1)], "list, not a state dict"),
        ({}, "no state dict"),
    ],
)
def test_files_without_a_state_dict(tmp_path, content, expected):
    path = atomic_save(content, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=expected) as error:
        create_model("resnet8", checkpoint=path)
    assert str(path) in str(error.value)


def test_extract_state_dict_prefers_the_model_entry():
    model_state, other = {"a": torch.ones(1)}, {"b": torch.zeros(1)}
    assert extract_state_dict({"model": model_state, "state_dict": other}) == model_state
    assert extract_state_dict({"state_dict": other, "epoch": 1}) == other


# --- mismatches ----------------------------------------------------------------------------------


def test_wrong_depth_lists_the_missing_keys(tmp_path):
    path = atomic_save({"model": trained_like("resnet8").state_dict()}, tmp_path / "r8.pth")
    target = create_model("resnet14")
    with pytest.raises(CheckpointMismatchError) as error:
        load_checkpoint(target, path)
    message = str(error.value)
    missing = sorted(set(target.state_dict()) - set(create_model("resnet8").state_dict()))
    assert str(path) in message and "'resnet14'" in message
    assert f"{len(missing)} missing, 0 unexpected and 0 wrongly shaped" in message
    assert "layer1.1.conv1.weight, layer1.1.bn1.{weight,bias,running_mean,running_var," in message
    missing_modules = {key.rpartition(".")[0] for key in missing}
    assert f"and {len(missing_modules) - 8} more" in message  # shortened, not a wall of names
    assert len(message) < 2000


def test_wrong_width_lists_the_shapes(tmp_path):
    path = atomic_save(trained_like("resnet8").state_dict(), tmp_path / "r8.pth")
    with pytest.raises(CheckpointMismatchError) as error:
        create_model("resnet8x4", checkpoint=path)
    message = str(error.value)
    assert "conv1.weight (16, 3, 3, 3) in the file, (32, 3, 3, 3) in the model" in message
    assert "6 missing, 0 unexpected and 46 wrongly shaped" in message
    assert (
        "layer1.0.downsample.0.weight, layer1.0.downsample.1.{weight,bias,running_mean,running_var,num_batches_tracked}"
    ) in message


def test_other_family_names_the_files_modules(tmp_path):
    path = atomic_save({"model": trained_like("vgg8").state_dict()}, tmp_path / "vgg.pth")
    with pytest.raises(CheckpointMismatchError, match="block0, block1, block2, block3, block4, classifier"):
        create_model("resnet8", checkpoint=path)


def test_number_of_classes_mismatch_says_what_to_pass(tmp_path):
    path = atomic_save({"model": trained_like("resnet8", num_classes=10).state_dict()}, tmp_path / "r8_10.pth")
    with pytest.raises(CheckpointMismatchError, match="num_classes=10"):
        create_model("resnet8", checkpoint=path)
    assert create_model("resnet8", num_classes=10, checkpoint=path).num_classes == 10


def test_a_failed_load_leaves_the_model_untouched():
    target = create_model("resnet14")
    before = {key: value.clone() for key, value in target.state_dict().items()}
    broken = dict(trained_like("resnet14").state_dict())
    broken["fc.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError, match="fc.weight"):
        load_state_dict_strict(target, broken)
    assert all(torch.equal(before[key], value) for key, value in target.state_dict().items())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cpu_file_into_a_gpu_model_and_back(tmp_path):
    source = trained_like("resnet8")
    gpu_path = atomic_save({"model": source.cuda().state_dict()}, tmp_path / "gpu.pth")
    restored = create_model("resnet8", checkpoint=gpu_path)  # read on the CPU
    assert next(restored.parameters()).device.type == "cpu"
    assert_same_state(restored, source.cpu())
    on_gpu = load_checkpoint(create_model("resnet8").cuda(), gpu_path)
    assert next(on_gpu.parameters()).device.type == "cuda"


# --- standard teachers ---------------------------------------------------------------------------


def test_teacher_table_names_cifar_models():
    assert set(TEACHER_ACCURACY) <= set(list_models("cifar"))
    assert all(50.0 < accuracy < 100.0 for accuracy in TEACHER_ACCURACY.values())


def test_standard_teacher_layout(tmp_path):
    source = trained_like("resnet8", seed=6)
    expected = tmp_path / "resnet8_vanilla" / "ckpt_epoch_240.pth"
    atomic_save({"model": source.state_dict(), "epoch": 240}, expected)
    assert standard_teacher_path("resnet8", tmp_path) == expected
    teacher = load_standard_teacher("resnet8", tmp_path)
    assert not teacher.training
    assert_same_state(teacher, source)


def test_absent_teacher_says_where_and_how(tmp_path):
    (tmp_path / "vgg13_vanilla").mkdir()
    with pytest.raises(CheckpointNotFoundError) as error:
        standard_teacher_path("resnet32x4", tmp_path)
    message = str(error.value)
    assert str(tmp_path / "resnet32x4_vanilla" / "ckpt_epoch_240.pth") in message
    assert "vgg13_vanilla" in message and "mdistiller" in message
    with pytest.raises(CheckpointNotFoundError, match="does not exist"):
        standard_teacher_path("vgg13", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="not a CIFAR model"):
        standard_teacher_path("resnet18", tmp_path)


def test_sha256_file_equals_hashlib_of_the_bytes(tmp_path):
    import hashlib

    from ldrrld_core.io import sha256_file

    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000  # larger than one read chunk
    path.write_bytes(data)
    assert sha256_file(path, chunk_bytes=4096) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + b"\x00")  # one byte changed: another hash
    assert sha256_file(path) != hashlib.sha256(data).hexdigest()


def test_tensors_of_another_kind_are_refused_not_cast(tmp_path):
    source = trained_like("resnet8")
    state = source.state_dict()
    state["fc.weight"] = (state["fc.weight"] * 100).long()  # integers where weights belong
    path = atomic_save({"model": state}, tmp_path / "ints.pth")
    with pytest.raises(CheckpointMismatchError, match=r"fc.weight \(torch.int64 in the file, torch.float32"):
        create_model("resnet8", checkpoint=path)
    state = source.state_dict()
    state["fc.weight"] = state["fc.weight"].double()  # another float width: an exact copy
    assert_same_state(create_model("resnet8", checkpoint=atomic_save(state, tmp_path / "f64.pth")), source)


def test_a_damaged_record_is_replaced_when_writing(tmp_path, caplog):
    (tmp_path / CHECKSUMS).write_text("[1, 2")
    path = atomic_save({"epoch": 1}, tmp_path / "latest.pth", record=True)
    assert "Starting a new record" in caplog.text
    assert recorded_sha256(path) == [sha256_file(path)]


def test_a_file_that_names_another_architecture_is_refused(tmp_path):
    """The trainer's student.pth records 'arch': a file of another model is refused even if its tensors fit."""
    source = trained_like("resnet8")
    path = atomic_save({"model": source.state_dict(), "arch": "resnet8"}, tmp_path / "student.pth")
    assert_same_state(create_model("resnet8", checkpoint=path), source)
    atomic_save({"model": source.state_dict(), "arch": "resnet14"}, path)
    with pytest.raises(CheckpointMismatchError, match="saved from the model 'resnet14'.*not 'resnet8'"):
        create_model("resnet8", checkpoint=path)
    atomic_save({"model": source.state_dict(), "arch": "ResNet-8 (other project)"}, path)
    assert_same_state(create_model("resnet8", checkpoint=path), source)  # names outside the registry: unchecked


@pytest.mark.parametrize("legacy", [False, True])
def test_damaged_bytes_only_ever_give_a_checkpoint_error(tmp_path, legacy):
    """Every truncation and many flipped bytes of a small file: a CheckpointError or a load, nothing else."""
    path = tmp_path / "small.pth"
    torch.save(
        {"model": {"w": torch.arange(6.0).view(2, 3)}, "epoch": 3}, path, _use_new_zipfile_serialization=not legacy
    )
    original = path.read_bytes()
    damaged = [original[:length] for length in range(0, len(original), max(1, len(original) // 97))]
    rng = np.random.default_rng(0)
    for position in rng.integers(0, len(original), size=150):
        flipped = bytearray(original)
        flipped[position] ^= int(rng.integers(1, 256))
        damaged.append(bytes(flipped))
    damaged += [
        b"root:x:0:0:root:/root:/bin/bash\n",
        bytes(rng.integers(0, 256, 500, dtype=np.uint8)),
        pickle.PROTO + bytes(rng.integers(0, 256, 300, dtype=np.uint8)),
    ]
    unexpected = []
    for content in damaged:
        path.write_bytes(content)
        try:
            load_file(path)
        except CheckpointError:
            pass
        except Exception as error:  # noqa: BLE001 - what the test looks for
            unexpected.append(f"{type(error).__name__}: {error}")
    assert not unexpected, unexpected[:3]
