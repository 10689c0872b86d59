"""The trainer: schedule, history, metrics, recipes, the loop, checkpoints and resume.

Runs use the offline digits with a few epochs, so the whole file takes seconds on a CPU.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from ldrrld_core.data import load_dataset
from ldrrld_core.io import load_file
from ldrrld_core.models import create_model
from ldrrld_core.train import (
    History,
    Recipe,
    compare,
    correct_top_k,
    evaluate,
    fit,
    get_recipe,
    learning_rate,
    list_recipes,
    load_training_state,
    parse_field,
    resolve_amp,
    train_step,
    train_teacher,
)
from ldrrld_core.train.run_state import restore_rng_state, rng_state


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def teacher(digits):
    """A digits teacher trained for a few epochs (shared by the tests that distil)."""
    return train_teacher(get_recipe("digits", epochs=4), data=digits, progress=False)


def tiny(**overrides) -> Recipe:
    """The digits recipe shortened to seconds."""
    return get_recipe("digits", **{"epochs": 2, "warmup_epochs": 0, "decay_epochs": (), **overrides})


def weights_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------------------------ schedule
def _authors_schedule(base: float, epochs: int, warmup: int, decays: tuple[int, ...]) -> list[float]:
    """The authors' two functions replayed imperatively: each writes the rate only in its own case."""
    rates, lr = [], base
    for epoch in range(1, epochs + 1):
        if epoch < warmup:
            lr = base * epoch / warmup
        steps = sum(epoch > d for d in decays)
        if steps > 0:
            lr = base * 0.1**steps
        rates.append(lr)
    return rates


def test_schedules_match_independent_forms():
    decays = (150, 180, 210)
    authors = [learning_rate(e, 0.05, warmup_epochs=20, decay_epochs=decays, style="authors") for e in range(1, 241)]
    clean = [learning_rate(e, 0.05, warmup_epochs=20, decay_epochs=decays) for e in range(1, 241)]
    assert authors == pytest.approx(_authors_schedule(0.05, 240, 20, decays), rel=1e-12)
    assert clean == pytest.approx(
        [0.05 * min(e / 20, 1) * 0.1 ** sum(e > d for d in decays) for e in range(1, 241)], rel=1e-12
    )
    # They differ only between the warm-up and the first decay, by the factor 0.95.
    differs = [e for e in range(1, 241) if not math.isclose(authors[e - 1], clean[e - 1])]
    assert differs == list(range(20, 151))
    assert authors[99] / clean[99] == pytest.approx(0.95)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(style="fancy"), "unknown schedule"),
        (dict(warmup_epochs=-1), "warmup_epochs"),
        (dict(decay_epochs=(180, 150)), "increasing"),
        (dict(decay_rate=0.0), "decay_rate"),
    ],
)
def test_schedule_rejects_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        learning_rate(1, 0.1, **settings)


# ------------------------------------------------------------------------------------- history
def test_history_columns_files_and_table(tmp_path):
    history = History([{"epoch": 1, "lr": 0.1, "test_top1": 50.0}, {"epoch": 2, "lr": 0.01, "test_top1": 75.5}])
    assert history.column("test_top1") == [50.0, 75.5]
    assert history.columns == ["epoch", "lr", "test_top1"]
    assert history.last == {"epoch": 2, "lr": 0.01, "test_top1": 75.5}
    csv_path, json_path = history.save(tmp_path)
    assert History.load(tmp_path) == history
    assert csv_path.read_text().splitlines() == ["epoch,lr,test_top1", "1,0.1,50.0", "2,0.01,75.5"]
    assert json.loads(json_path.read_text()) == history.rows
    assert not list(tmp_path.glob(".*.tmp")), "temporary files must be renamed away"
    lines = history.table(["epoch", "test_top1"], digits=2).splitlines()
    assert lines[0].split() == ["epoch", "test_top1"] and lines[2].split() == ["2", "75.50"]
    with pytest.raises(KeyError, match="test_top1"):
        history.column("top1")
    with pytest.raises(TypeError, match="plain int or float"):
        history.append({"loss": torch.tensor(1.0)})


# ------------------------------------------------------------------------------------- metrics
def test_correct_top_k_matches_a_per_sample_count():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 7, generator=generator)
    target = torch.randint(0, 7, (200,), generator=generator)
    expected = [sum(int(target[b] in logits[b].argsort(descending=True)[:k]) for b in range(200)) for k in (1, 5, 9)]
    assert correct_top_k(logits, target, ks=(1, 5, 9)).tolist() == expected
    assert expected[2] == 200  # k above the number of classes counts every sample


def test_evaluate_matches_a_direct_computation(digits):
    from ldrrld_core.data import make_loader

    model = create_model("digits_mlp")
    batches = make_loader(digits.test, 100, train=False)
    result = evaluate(model, batches)
    with torch.no_grad():
        logits = model(digits.test.images)
    assert result["test_top1"] == pytest.approx(100 * (logits.argmax(1) == digits.test.labels).float().mean().item())
    expected_loss = nn.functional.cross_entropy(logits, digits.test.labels).item()
    assert result["test_loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert model.training, "evaluate must give the model back in the mode it came in"


# ------------------------------------------------------------------------------------- recipes
def test_presets_exist_and_differ_where_the_spec_says():
    assert {"cifar100", "cifar100-authors", "imagenet", "digits", "synthetic"} <= set(list_recipes())
    clean, authors = get_recipe("cifar100"), get_recipe("cifar100-authors")
    assert (clean.schedule, authors.schedule) == ("clean", "authors")
    assert clean.replace(schedule="authors", name="cifar100-authors") == authors
    assert (clean.lr, clean.batch_size, clean.epochs, clean.decay_epochs) == (0.05, 64, 240, (150, 180, 210))
    assert get_recipe("cifar100", model="ShuffleV2").lr == 0.01
    assert get_recipe("cifar100", model="ShuffleV2", lr=0.02).lr == 0.02


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(loss="ldrld"), "Did you mean 'ldrrld'"),
        (dict(model="resnet8x5"), "resnet8x4"),
        (dict(teacher="digit_cnn"), "digits_cnn"),
        (dict(data="digit"), "digits"),
        (dict(epochs=-3), "epochs must be an integer >= 1"),
        (dict(batch_size=0), "batch_size"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(amp="fp8"), "amp must be one of"),
        (dict(loss_options={"ldrrld": {"dept": 5}}), "does not accept"),
        (dict(loss_options={"ldrrld": {"depth": 1}}), "depth"),
        (dict(loss_options={"kdd": {}}), "Did you mean 'kd'"),
        (dict(data_options={"size": 3}), "does not take"),
        (dict(epoch=3), "no field 'epoch'. Did you mean 'epochs'"),
    ],
)
def test_bad_recipes_fail_with_a_useful_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        get_recipe("digits", **overrides)


def test_recipe_round_trips_through_a_dict():
    recipe = get_recipe("cifar100-authors", loss_options={"ldrrld": {"depth": 5}})
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe


@pytest.mark.parametrize(
    "name, text, value",
    [
        ("epochs", "7", 7),
        ("lr", "0.1", 0.1),
        ("deterministic", "no", False),
        ("channels_last", "none", None),
        ("decay_epochs", "150,180", (150, 180)),
        ("decay_epochs", "[3]", (3,)),
        ("loss_options", '{"kd": {"temperature": 2}}', {"kd": {"temperature": 2}}),
        ("teacher", "resnet8", "resnet8"),
    ],
)
def test_parse_field(name, text, value):
    assert parse_field(name, text) == value


def test_parse_field_errors():
    with pytest.raises(ValueError, match="cannot read epochs"):
        parse_field("epochs", "many")
    with pytest.raises(ValueError, match="Did you mean 'seed'"):
        parse_field("sead", "1")


# ---------------------------------------------------------------------------- checks before training
def test_depth_above_the_number_of_classes_fails_before_training(digits):
    recipe = tiny(loss_options={"ldrrld": {"depth": 11}})
    with pytest.raises(ValueError, match="depth 11 but data set 'digits' has only 10 classes"):
        fit(recipe, teacher=create_model("digits_cnn"), data=digits, progress=False)


def test_teacher_with_other_classes_fails(digits):
    with pytest.raises(ValueError, match="teacher outputs 7 classes but data set 'digits' has 10"):
        fit(tiny(), teacher=create_model("digits_cnn", num_classes=7), data=digits, progress=False)


def test_model_for_other_images_fails(digits):
    with pytest.raises(ValueError, match="cannot take the images of data set 'digits'"):
        fit(tiny(model="resnet8", loss="ce"), data=digits, progress=False)


def test_distilling_without_a_teacher_says_how_to_get_one(digits):
    with pytest.raises(ValueError, match="train_teacher"):
        fit(tiny(), data=digits, progress=False)


def test_fp16_on_cpu_is_refused():
    assert resolve_amp("auto", torch.device("cpu")) is None
    with pytest.raises(ValueError, match="needs a GPU"):
        resolve_amp("fp16", torch.device("cpu"))


# ------------------------------------------------------------------------------------- one step
def test_train_step_is_one_plain_sgd_step_of_the_student_alone():
    torch.manual_seed(0)
    student, teacher = nn.Linear(6, 4), nn.Linear(6, 4).eval()
    images, labels = torch.randn(5, 6), torch.tensor([0, 1, 2, 3, 0])
    loss_fn = get_recipe("digits", loss="kd").build_loss(validate=False)
    by_hand, start = copy.deepcopy(student), student.weight.detach().clone()
    teacher_before = copy.deepcopy(teacher.state_dict())
    sgd = {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}

    logits = train_step(student, teacher, loss_fn, torch.optim.SGD(student.parameters(), **sgd), images, labels)
    optimizer = torch.optim.SGD(by_hand.parameters(), **sgd)
    expected_logits = by_hand(images)
    loss_fn(expected_logits, teacher(images).detach(), labels).backward()
    optimizer.step()

    assert torch.equal(logits, expected_logits) and not logits.requires_grad, "the logits before the step, detached"
    assert weights_equal(student, by_hand)
    assert not torch.equal(student.weight, start), "the step must move the student"
    assert all(torch.equal(value, teacher.state_dict()[name]) for name, value in teacher_before.items())
    assert teacher.weight.grad is None, "the teacher must stay out of the autograd graph"


def test_fit_compiles_the_student_the_teacher_and_the_loss(monkeypatch, digits):
    compiled = []

    def spy(module, *args, **kwargs):  # records, and leaves the module as it is: no compilation cost
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", spy)
    teacher = create_model("digits_cnn")
    run = fit(tiny(loss="kd", epochs=1, compile=True), teacher=teacher, data=digits, progress=False)
    assert [type(module).__name__ for module in compiled] == [type(run.model).__name__, "KDLoss", "DigitsCNN"]
    assert compiled[0] is run.model and compiled[2] is teacher


@pytest.mark.slow
def test_compiled_run_trains_on_a_cpu(digits):
    """Really compiled (student and loss; ce needs no teacher) on a CPU: about 20 s."""
    run = fit(tiny(loss="ce", epochs=1, compile=True), data=digits, progress=False)
    assert math.isfinite(run.history.last["train_loss"]) and run.top1 > 20


# ------------------------------------------------------------------------------------- training
def test_teacher_learns(teacher):
    history = teacher.history
    assert history.column("epoch") == [1, 2, 3, 4]
    assert history.column("train_loss")[-1] < history.column("train_loss")[0] / 2
    assert teacher.top1 > 90, "the digits CNN should pass 90% within four epochs"
    assert {"lr", "train_ce", "train_top1", "test_loss", "test_top5", "seconds"} <= set(history.columns)
    assert not teacher.model.training


def test_distillation_run_writes_checkpoints_and_leaves_the_teacher_alone(tmp_path, teacher, digits):
    before = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    run = fit(tiny(out_dir=str(tmp_path)), teacher=teacher, data=digits, progress=False)
    assert all(torch.equal(before[k], v) for k, v in teacher.model.state_dict().items()), "the teacher must stay frozen"
    assert {"train_ce", "train_local", "train_rntk", "train_loss"} <= set(run.history.columns)
    assert run.summary["teacher_top1"] == pytest.approx(teacher.top1)
    assert {p.name for p in tmp_path.iterdir()} == {
        "latest.pth",
        "student.pth",
        "history.csv",
        "history.json",
        "recipe.json",
        "summary.json",
        "checksums.json",
    }
    reloaded = create_model("digits_mlp", checkpoint=tmp_path / "student.pth")
    assert weights_equal(reloaded, run.model)
    assert load_file(tmp_path / "student.pth")["top1"] == pytest.approx(run.top1)
    assert History.load(tmp_path) == run.history
    assert json.loads((tmp_path / "summary.json").read_text())["top1"] == pytest.approx(run.top1)
    assert load_training_state(tmp_path)["epoch"] == 2


def test_same_seed_same_weights_and_other_seed_other_weights(digits):
    first = fit(tiny(loss="ce"), data=digits, progress=False)
    again = fit(tiny(loss="ce"), data=digits, progress=False)
    other = fit(tiny(loss="ce", seed=1), data=digits, progress=False)
    assert weights_equal(first.model, again.model)
    assert first.history.without("seconds") == again.history.without("seconds")
    assert not weights_equal(first.model, other.model)


def test_resume_continues_bitwise(tmp_path, teacher, digits):
    """Two epochs, then two more from latest.pth, end exactly where four straight epochs end."""
    recipe = tiny(loss="dkd", epochs=4, warmup_epochs=2, decay_epochs=(3,), loss_options={"dkd": {"warmup_epochs": 3}})
    straight = fit(recipe, teacher=teacher, data=digits, progress=False)
    first = fit(recipe.replace(epochs=2, out_dir=str(tmp_path)), teacher=teacher, data=digits, progress=False)
    assert not weights_equal(first.model, straight.model)
    torch.manual_seed(1234)  # scramble the global generator: resume must restore it
    resumed = fit(recipe.replace(out_dir=str(tmp_path)), teacher=teacher, data=digits, progress=False, resume=True)
    assert weights_equal(resumed.model, straight.model)
    assert resumed.history.without("seconds") == straight.history.without("seconds")
    assert resumed.history.column("epoch") == [1, 2, 3, 4]


def test_resume_removes_the_temporary_file_of_a_killed_checkpoint_write(tmp_path, digits):
    recipe = tiny(loss="ce", epochs=1, out_dir=str(tmp_path))
    fit(recipe, data=digits, progress=False)
    killed = (
        "import os, signal, sys; from ldrrld_core.io import atomic_write; "
        "atomic_write(sys.argv[1], lambda stream: (stream.write(b'half'), os.kill(os.getpid(), signal.SIGKILL)))"
    )
    assert subprocess.run([sys.executable, "-c", killed, str(tmp_path / "latest.pth")], check=False).returncode == -9
    assert len(list(tmp_path.glob(".latest.pth.*.tmp"))) == 1, "the killed write left its temporary file"
    (tmp_path / ".notes.tmp").write_text("not ours")  # other hidden files are left alone

    resumed = fit(recipe.replace(epochs=2), data=digits, progress=False, resume=True)
    assert resumed.history.column("epoch") == [1, 2]
    assert sorted(p.name for p in tmp_path.glob(".*")) == [".notes.tmp"]


def test_resume_with_another_recipe_is_refused(tmp_path, digits):
    recipe = tiny(loss="ce", out_dir=str(tmp_path))
    fit(recipe, data=digits, progress=False)
    with pytest.raises(ValueError, match=f"lr: {recipe.lr} in the checkpoint, {recipe.lr * 2} now"):
        fit(recipe.replace(lr=recipe.lr * 2, epochs=3), data=digits, progress=False, resume=True)


def test_rng_state_round_trip():
    import random

    import numpy as np

    state = rng_state()
    drawn = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == drawn


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, digits):
    student = create_model("digits_mlp")
    with torch.no_grad():
        student.fc.bias[0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN or infinite in epoch 1"):
        fit(tiny(loss="ce", out_dir=str(tmp_path)), student=student, data=digits, progress=False)
    assert not (tmp_path / "latest.pth").exists()


def test_bf16_autocast_runs_on_cpu(digits):
    run = fit(tiny(loss="kd", amp="bf16", epochs=1), teacher=create_model("digits_cnn"), data=digits, progress=False)
    assert math.isfinite(run.history.last["train_loss"])


def test_compare_starts_every_student_from_the_same_weights(teacher, digits):
    result = compare(tiny(epochs=1), ("ce", "ldrrld"), teacher=teacher, data=digits, progress=False)
    assert list(result.students) == ["ce", "ldrrld"]
    assert set(result.histories) == {"teacher", "ce", "ldrrld"}
    table = result.table().splitlines()
    assert [line.split()[0] for line in table] == ["method", "teacher", "ce", "ldrrld"]
    # Identical initial weights: with a negligible learning rate both students stay at their
    # common start, while a student of another seed starts elsewhere.
    near = compare(tiny(epochs=1, lr=1e-9), ("ce", "ldrrld"), teacher=teacher, data=digits, progress=False)
    far = fit(tiny(epochs=1, lr=1e-9, loss="ce", seed=5), data=digits, progress=False)
    gap = (near.students["ce"].model.fc.weight - near.students["ldrrld"].model.fc.weight).abs().max()
    assert gap < 1e-6 and (near.students["ce"].model.fc.weight - far.model.fc.weight).abs().max() > 1e-2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_run_with_bf16_and_channels_last(teacher, digits):
    run = fit(tiny(loss="ldrrld", amp="bf16"), teacher=teacher, data=digits, device="cuda", progress=False)
    assert next(run.model.parameters()).is_cuda and math.isfinite(run.history.last["train_loss"])


def test_data_of_another_set_is_refused(digits):
    with pytest.raises(ValueError, match="the data passed are 'digits' but the recipe names 'synthetic'"):
        fit(get_recipe("synthetic", loss="ce"), data=digits, progress=False)


def test_no_value_is_read_back_inside_a_step(monkeypatch, teacher, digits):
    """Reading a tensor's value on the host waits for the device; the loop may do it per epoch, never per step."""
    reads = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, **kwargs):
            reads.append(1)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)

    def reads_in_one_epoch(batch_size: int) -> int:
        reads.clear()
        fit(tiny(epochs=1, batch_size=batch_size), teacher=teacher, data=digits, progress=False)
        return len(reads)

    assert reads_in_one_epoch(16) == reads_in_one_epoch(128), "84 steps must read no more than 10"
