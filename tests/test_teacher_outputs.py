"""Teacher logits computed once per run and cached on disk (``ldrrld_core.train.teacher_outputs``).

* A run with cached logits ends bitwise where the run with the live teacher does (CPU), on the
  digits and on the synthetic 16x16 images with the conv nets of the ``teaching`` recipe.
* Other losses and seeds read the file; a changed teacher, split or data option never does.
* A damaged file is detected, computed again and replaced; random augmentation keeps the live teacher.
"""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from ldrrld_core.data import load_dataset
from ldrrld_core.models import create_model
from ldrrld_core.train import fit, get_recipe, teacher_outputs, train_teacher
from ldrrld_core.train import loop as loop_module
from ldrrld_core.train.teacher_outputs import ENV_FOLDER


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A fresh cache folder for each test."""
    folder = tmp_path / "teacher_outputs"
    monkeypatch.setenv(ENV_FOLDER, str(folder))
    return folder


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def teacher(digits):
    return train_teacher(get_recipe("digits", epochs=2, warmup_epochs=0), data=digits, progress=False).model


def tiny(**overrides):
    return get_recipe("digits", **{"epochs": 2, "warmup_epochs": 0, "decay_epochs": (), "loss": "ldrrld", **overrides})


class Counter:
    """Counts the training-size batches ``model`` sees (evaluation uses larger ones), through a forward hook.

    A hook leaves the state dict, hence the weights' hash and the cache key, unchanged.
    """

    def __init__(self, model: nn.Module, batch_size: int) -> None:
        self.calls = 0

        def count(module, inputs, output):
            self.calls += inputs[0].shape[0] == batch_size

        self.handle = model.register_forward_hook(count)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def live(monkeypatch):
    """Switch the cache off: every step runs the teacher, as before it existed."""
    monkeypatch.setattr(loop_module, "attach_teacher_outputs", lambda loader, *args, **kwargs: loader)


def same_run(a, b) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    weights = sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in (*a.history.rows, *b.history.rows)]
    half = len(rows) // 2
    return weights and rows[:half] == rows[half:]


@pytest.mark.parametrize("loss", ["kd", "dkd", "ldrrld"])
def test_cached_logits_give_bitwise_the_live_teachers_run(loss, teacher, digits, monkeypatch, cache):
    recipe = tiny(loss=loss)
    cached = fit(recipe, teacher=teacher, data=digits, progress=False)
    assert len(list(cache.glob("*.pt"))) == 1
    with monkeypatch.context() as patch:
        live(patch)
        uncached = fit(recipe, teacher=teacher, data=digits, progress=False)
    assert same_run(cached, uncached)


def test_cached_logits_give_bitwise_the_live_run_with_the_teaching_conv_nets(monkeypatch, cache):
    options = {"train_per_class": 2, "test_per_class": 1, "image_size": 16}
    recipe = get_recipe("teaching", epochs=1, data_options=options, validation_fraction=0.0, batch_size=64)
    data = load_dataset("synthetic", **options)
    torch.manual_seed(0)
    wrn = create_model("wrn_16_2", num_classes=100).eval()
    cached = fit(recipe, teacher=wrn, data=data, progress=False)
    assert len(list(cache.glob("*.pt"))) == 1
    with monkeypatch.context() as patch:
        live(patch)
        uncached = fit(recipe, teacher=wrn, data=data, progress=False)
    assert same_run(cached, uncached)


def test_other_losses_and_seeds_read_the_file_without_running_the_teacher(teacher, digits, cache, caplog):
    fit(tiny(loss="kd"), teacher=teacher, data=digits, progress=False)
    with Counter(teacher, tiny().batch_size) as counting, caplog.at_level(logging.INFO, logger="ldrrld.train"):
        for recipe in (tiny(loss="dkd"), tiny(loss="ldrrld", seed=3)):
            fit(recipe, teacher=teacher, data=digits, progress=False)
    assert counting.calls == 0
    assert len(list(cache.glob("*.pt"))) == 1
    assert sum("read from" in message for message in caplog.messages) == 2


def test_without_a_cache_folder_the_logits_are_computed_once_per_run(teacher, digits, cache, monkeypatch):
    monkeypatch.setenv(ENV_FOLDER, "off")
    with Counter(teacher, tiny().batch_size) as counting:
        run = fit(tiny(epochs=3), teacher=teacher, data=digits, progress=False)
    batches = -(-len(digits.train) // tiny().batch_size)  # once over the split, the last batch smaller
    assert counting.calls == batches - 1 and len(run.history.rows) == 3
    assert not cache.exists()


def test_a_changed_teacher_split_or_data_option_never_reads_a_stale_file(teacher, digits, cache, monkeypatch):
    """Each change gets its own file, and each run equals its live-teacher run."""
    other_teacher = create_model("digits_cnn", num_classes=10).eval()
    settings = [
        (tiny(), teacher, digits),
        (tiny(), other_teacher, digits),  # another teacher
        (tiny(validation_fraction=0.2), teacher, None),  # another split of the same data set
        (tiny(data_seed=5, validation_fraction=0.2), teacher, None),  # another validation split
        (tiny(amp="bf16"), teacher, digits),  # another precision
    ]
    for count, (recipe, model, data) in enumerate(settings, start=1):
        cached = fit(recipe, teacher=model, data=data, progress=False)
        assert len(list(cache.glob("*.pt"))) == count
        with monkeypatch.context() as patch:
            live(patch)
            assert same_run(cached, fit(recipe, teacher=model, data=data, progress=False))


def test_a_file_of_other_settings_under_this_name_is_not_used(teacher, digits, cache, monkeypatch, caplog):
    other_teacher = create_model("digits_cnn", num_classes=10).eval()
    fit(tiny(), teacher=other_teacher, data=digits, progress=False)
    (stale,) = cache.glob("*.pt")
    # The file the next run will look for holds the other teacher's logits (a hash collision, a copied cache).
    monkeypatch.setattr(teacher_outputs, "cache_key", lambda description: stale.stem)
    with caplog.at_level(logging.WARNING, logger="ldrrld.train"):
        cached = fit(tiny(), teacher=teacher, data=digits, progress=False)
    assert any("written for other settings" in message for message in caplog.messages)
    with monkeypatch.context() as patch:
        live(patch)
        assert same_run(cached, fit(tiny(), teacher=teacher, data=digits, progress=False))


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "garbage"])
def test_a_damaged_file_is_detected_and_computed_again(damage, teacher, digits, cache, monkeypatch, caplog):
    first = fit(tiny(), teacher=teacher, data=digits, progress=False)
    (path,) = cache.glob("*.pt")
    data = bytearray(path.read_bytes())
    if damage == "flip a byte":  # inside the logits' bytes, near the end of the zip's data
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data = bytearray(b"not a torch file")
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="ldrrld.train"):
        again = fit(tiny(), teacher=teacher, data=digits, progress=False)
    assert any("unusable" in message for message in caplog.messages)
    assert same_run(first, again)
    with Counter(teacher, tiny().batch_size) as counting:
        fit(tiny(), teacher=teacher, data=digits, progress=False)  # the file was replaced by a good one
    assert counting.calls == 0


def test_random_augmentation_keeps_the_live_teacher(cache):
    options = {"train_per_class": 1, "test_per_class": 1, "image_size": 16}
    recipe = get_recipe("teaching", epochs=1, data_options=options, validation_fraction=0.0, augment="cifar")
    data = load_dataset("synthetic", **options)
    wrn = create_model("wrn_16_2", num_classes=100).eval()
    with Counter(wrn, recipe.batch_size) as counting:
        fit(recipe, teacher=wrn, data=data, progress=False)
    assert counting.calls == len(data.train) // recipe.batch_size  # every step, once
    assert not cache.exists()


# ------------------------------------------------- a teacher whose computation is not its weights
# A module given through the API may compute other logits than its state dict says: a forward hook,
# a patched ``forward`` or a changed non-persistent buffer leave the weights' hash (and so a key of
# weights alone) unchanged. The key also covers the teacher's logits on a fixed probe batch, bit for
# bit, so none of them reads the unchanged teacher's file, however small the change.


class WithBuffer(nn.Module):
    """A teacher whose logits are scaled by a non-persistent buffer (outside the state dict)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("scale", torch.ones(()), persistent=False)

    def forward(self, x):
        return self.inner(x) * self.scale


def _hook(model, factor):
    return model.register_forward_hook(lambda module, inputs, output: output * factor)


def _patch(model, factor):
    plain = model.forward
    model.forward = lambda x: plain(x) * factor
    return plain


@pytest.mark.parametrize("change", ["forward hook", "patched forward", "non-persistent buffer"])
@pytest.mark.parametrize("factor", [1.5, 1.0 + 1e-5])  # a clear change, and one below the probe's round-off
def test_a_teacher_computing_otherwise_never_reads_the_plain_teachers_file(
    change, factor, teacher, digits, cache, monkeypatch
):
    model = WithBuffer(teacher).eval()
    fit(tiny(), teacher=model, data=digits, progress=False)  # the plain teacher's file
    assert len(list(cache.glob("*.pt"))) == 1
    if change == "forward hook":
        undo = _hook(model.inner, factor).remove
    elif change == "patched forward":
        plain = _patch(model, factor)
        undo = lambda: setattr(model, "forward", plain)  # noqa: E731
    else:
        model.scale.fill_(factor)
        undo = lambda: model.scale.fill_(1.0)  # noqa: E731
    try:
        with Counter(teacher, tiny().batch_size) as counting:
            cached = fit(tiny(), teacher=model, data=digits, progress=False)
        assert counting.calls > 0  # the teacher ran: its file was not read
        with monkeypatch.context() as patch:
            live(patch)
            assert same_run(cached, fit(tiny(), teacher=model, data=digits, progress=False))
    finally:
        undo()
    with Counter(teacher, tiny().batch_size) as counting:  # the plain teacher still reads its own file
        fit(tiny(), teacher=model, data=digits, progress=False)
    assert counting.calls == 0
