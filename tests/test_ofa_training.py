"""OFA-KD's CIFAR-100 recipes at 224 run in the trainer: cosine schedule, AdamW, clipping, soft targets.

The end-to-end test trains a tiny DeiT for 2 steps on a fake CIFAR-100 folder in torchvision's
on-disk format, through the recipe's own timm transforms at a reduced image size.
"""

from __future__ import annotations

import functools
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ldrrld_core.data import load_dataset
from ldrrld_core.data.mixing import soft_targets
from ldrrld_core.losses import create_loss, list_losses
from ldrrld_core.models import create_model
from ldrrld_core.train import fit, get_recipe
from ldrrld_core.train import loop as training_loop
from ldrrld_core.train.ofa_recipes import OFA_RECIPES, require_runnable
from ldrrld_core.train.schedule import learning_rate

TINY_DEIT = {"img_size": 32, "embed_dim": 32, "depth": 2, "num_heads": 2}


def naive_cosine(epoch: int, base: float, warmup: int, warmup_lr: float, min_lr: float, epochs: int) -> float:
    """timm's cosine schedule written out: 0-based t, a linear warm-up, then the cosine over the whole run."""
    t = epoch - 1
    if t < warmup:
        return warmup_lr + (base - warmup_lr) * t / warmup
    return min_lr + (base - min_lr) / 2 * (1 + math.cos(math.pi * t / epochs))


def write_cifar100_folder(root: Path, per_class: int = 1) -> None:
    """A 100-class CIFAR-100 in the archive's format (pickled dicts with bytes keys), ``per_class`` images per split."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        fine = rng.permutation(np.repeat(np.arange(100), per_class))
        content = {
            b"filenames": [f"{i}.png".encode() for i in range(len(fine))],
            b"fine_labels": fine.tolist(),
            b"coarse_labels": (fine // 5).tolist(),
            b"data": rng.integers(0, 256, size=(len(fine), 3072), dtype=np.uint8),
        }
        (folder / split).write_bytes(pickle.dumps(content, protocol=2))
    meta = {
        b"fine_label_names": [f"c{c}".encode() for c in range(100)],
        b"coarse_label_names": [f"s{s}".encode() for s in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))


# ------------------------------------------------------------------------------ the schedule
@pytest.mark.parametrize("name", list(OFA_RECIPES))
def test_cosine_schedule_matches_the_naive_formula_and_timms_scheduler(name):
    from timm.scheduler import CosineLRScheduler

    ofa = OFA_RECIPES[name]
    settings = dict(warmup_epochs=ofa.warmup_epochs, warmup_lr=ofa.warmup_lr, min_lr=ofa.min_lr, epochs=ofa.epochs)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=ofa.lr)
    timm_schedule = CosineLRScheduler(
        optimizer, t_initial=ofa.epochs, lr_min=ofa.min_lr, warmup_t=ofa.warmup_epochs, warmup_lr_init=ofa.warmup_lr
    )
    for epoch in range(1, ofa.epochs + 1):
        ours = learning_rate(epoch, ofa.lr, style="cosine", **settings)
        naive = naive_cosine(epoch, ofa.lr, ofa.warmup_epochs, ofa.warmup_lr, ofa.min_lr, ofa.epochs)
        timm_schedule.step(epoch - 1)  # OFA-KD's train.py: epoch e (0-based) runs at step(e)
        assert ours == pytest.approx(naive, rel=1e-12) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12)
    assert learning_rate(1, ofa.lr, style="cosine", **settings) == ofa.warmup_lr
    assert ofa.min_lr < learning_rate(ofa.epochs, ofa.lr, style="cosine", **settings) < ofa.min_lr + 1e-4 * ofa.lr


def test_cosine_schedule_settings_are_checked():
    with pytest.raises(ValueError, match="no step decays"):
        learning_rate(1, 0.1, decay_epochs=(5,), epochs=10, style="cosine")
    with pytest.raises(ValueError, match="needs the run's length"):
        learning_rate(1, 0.1, style="cosine")
    with pytest.raises(ValueError, match="belong to the cosine schedule"):
        get_recipe("digits", min_lr=1e-4)
    with pytest.raises(ValueError, match="min_lr must lie in"):
        get_recipe("digits", schedule="cosine", decay_epochs=(), min_lr=1.0)


# ------------------------------------------------------------------------------ soft targets
def test_cross_entropy_term_on_soft_targets_is_timms():
    from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

    torch.manual_seed(0)
    student, labels = torch.randn(8, 100), torch.randint(0, 100, (8,))
    smoothed = soft_targets(100, label_smoothing=0.1)(torch.zeros(8, 3, 4, 4), labels)[1]
    ce = create_loss("ce")
    torch.testing.assert_close(ce(student, None, smoothed), LabelSmoothingCrossEntropy(0.1)(student, labels))
    images, mixed = soft_targets(100, label_smoothing=0.1, mixup=0.8, cutmix=1.0)(torch.randn(8, 3, 4, 4), labels)
    torch.testing.assert_close(ce(student, None, mixed), SoftTargetCrossEntropy()(student, mixed))
    torch.testing.assert_close(ce(student, None, labels), torch.nn.functional.cross_entropy(student, labels))


@pytest.mark.parametrize("name", list_losses())
def test_every_loss_takes_soft_targets_or_is_refused_under_mixup(name):
    """Label smoothing alone: every loss trains, its hard-label terms exactly as on the labels. Mixup: or refused."""
    torch.manual_seed(1)
    options = {"ofa": {"student": "digits_cnn_small", "num_classes": 10}}.get(name, {})
    loss = create_loss(name, **options)
    batch, classes = 6, 10
    if name == "ofa":
        inputs = torch.randn(batch, 1, 8, 8)
        student = create_model("digits_cnn_small", num_classes=classes)
        student_out = loss.model_outputs(student)(inputs)
        teacher_out = torch.randn(batch, classes)
    elif name == "sdd":
        student_out, teacher_out = torch.randn(batch, 21, classes), torch.randn(batch, 21, classes)
    else:
        student_out, teacher_out = torch.randn(batch, classes), torch.randn(batch, classes)
    labels = torch.arange(batch) % classes
    smoothed = soft_targets(classes, label_smoothing=0.1)(torch.zeros(batch, 1), labels)[1]
    loss.set_seed(0)  # TeKAP's noise: the same draws for both calls
    total = loss(student_out, teacher_out, smoothed)
    assert torch.isfinite(total)
    hard_terms = dict(loss.last_terms)
    loss.set_seed(0)
    loss(student_out, teacher_out, labels)
    for term, value in hard_terms.items():  # only the CE term (and the total) may change with the smoothing
        if term not in ("ce", "loss"):
            torch.testing.assert_close(value, loss.last_terms[term], msg=f"{name}: term {term}")
    recipe = get_recipe("digits", loss=name, loss_options={name: options} if options else {})
    if loss.mixup_refusal:
        with pytest.raises(ValueError) as refused:
            recipe.replace(mixup=0.8)
        message = str(refused.value)
        assert "\n" not in message and f"loss {name!r}" in message and "turn mixup off" in message
    else:
        recipe.replace(mixup=0.8, cutmix=1.0)
        mixed = soft_targets(classes, mixup=0.8, cutmix=1.0, label_smoothing=0.1)(torch.randn(batch, 1, 4, 4), labels)
        assert torch.isfinite(loss(student_out, teacher_out, mixed[1]))


def _mix_steps(mixer, epoch: int, steps: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The mixed images and targets of ``steps`` batches of ``epoch``, all of the same batch."""
    images, labels = torch.arange(8 * 3 * 8 * 8, dtype=torch.float32).reshape(8, 3, 8, 8), torch.arange(8)
    mixer.set_epoch(epoch)
    return [mixer(images.clone(), labels) for _ in range(steps)]


def _same(first, second) -> bool:
    return all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, second, strict=True))


def test_mixup_draws_differ_between_ranks_and_repeat_from_seed_and_rank():
    """Simulated data-parallel ranks: each mixes its batches its own way, every step, yet deterministically."""
    options = dict(mixup=0.8, cutmix=1.0, label_smoothing=0.1)
    ranks = [_mix_steps(soft_targets(10, seed=0, rank=rank, **options), epoch=1) for rank in range(3)]
    for a, b in ((0, 1), (0, 2), (1, 2)):  # every step differs (lam is continuous), not merely some
        assert all(not torch.equal(x[1], y[1]) for x, y in zip(ranks[a], ranks[b])), (a, b)
    assert _same(ranks[1], _mix_steps(soft_targets(10, seed=0, rank=1, **options), epoch=1))
    # seeds and ranks are mixed, not added: seed 1 on rank 0 is not seed 0 on rank 1
    assert not _same(_mix_steps(soft_targets(10, seed=1, rank=0, **options), epoch=1), ranks[1])
    # each epoch has its own draws, and an epoch started again (a resume) repeats them
    mixer = soft_targets(10, seed=0, rank=1, **options)
    later = _mix_steps(mixer, epoch=2)
    assert not _same(later, ranks[1]) and _same(_mix_steps(mixer, epoch=1), ranks[1])


def test_mixup_leaves_numpys_global_generator_alone():
    np.random.seed(123)
    expected = np.random.rand(3)
    np.random.seed(123)
    _mix_steps(soft_targets(10, mixup=0.8, cutmix=1.0, seed=5, rank=1), epoch=3)
    assert np.array_equal(np.random.rand(3), expected)


def test_the_trainer_gives_each_process_its_rank_of_the_mixing():
    from ldrrld_core.train import DistributedContext

    recipe = get_recipe("cifar100-224-vit", seed=7)
    mixers = [training_loop._mixer(recipe, 100, DistributedContext(rank=r, world_size=2)) for r in range(2)]
    assert [(m.seed, m.rank) for m in mixers] == [(7, 0), (7, 1)]
    smoothing = training_loop._mixer(get_recipe("cifar100-224-cnn"), 100, DistributedContext())
    assert isinstance(smoothing, functools.partial)  # label smoothing alone draws nothing
    with pytest.raises(ValueError, match="non-negative"):
        soft_targets(10, mixup=0.8, seed=-1)


def test_sdd_is_refused_under_mixup_with_one_line():
    with pytest.raises(ValueError, match=r"^loss 'sdd' cannot train on mixup/cutmix targets: .*turn mixup off"):
        get_recipe("cifar100-224-vit", loss="sdd")
    get_recipe("cifar100-224-cnn", loss="sdd")  # label smoothing alone: its argmax is the label


# ------------------------------------------------------------------------------ the recipes
def test_ofa_presets_carry_the_configs_numbers_and_are_runnable():
    cnn, vit = get_recipe("cifar100-224-cnn"), get_recipe("cifar100-224-vit")
    assert (cnn.optimizer, cnn.nesterov, cnn.lr, cnn.min_lr, cnn.warmup_lr, cnn.warmup_epochs) == (
        "sgd",
        True,
        0.05,
        1e-3,
        1e-4,
        3,
    )
    assert (cnn.weight_decay, cnn.label_smoothing, cnn.mixup, cnn.clip_grad, cnn.schedule) == (
        2e-3,
        0.1,
        0.0,
        None,
        "cosine",
    )
    assert (vit.optimizer, vit.lr, vit.min_lr, vit.warmup_lr, vit.warmup_epochs, vit.weight_decay) == (
        "adamw",
        5e-4,
        1e-5,
        5e-7,
        20,
        0.05,
    )
    assert (vit.clip_grad, vit.label_smoothing, vit.mixup, vit.cutmix, vit.epochs, vit.batch_size) == (
        5.0,
        0.1,
        0.8,
        1.0,
        300,
        128,
    )
    assert get_recipe("cifar100-224-vit", model="Swin-P").data_options["student"] == "Swin-P"
    assert not any("student" in p for p in get_recipe("cifar100-224-vit", model="Swin-P").contradictions())
    moved = get_recipe("cifar100-224-vit").replace(model="Swin-P")  # replace does not follow the model
    assert any("data_options['student'] is 'DeiT-T' but the model is 'Swin-P'" in p for p in moved.contradictions())
    for name in OFA_RECIPES:
        require_runnable(name)  # nothing missing any more


def test_recipes_without_the_new_fields_keep_their_records():
    record = get_recipe("digits").to_dict()
    assert not {"optimizer", "mixup", "clip_grad", "min_lr"} & set(record)
    assert get_recipe("cifar100-224-vit").to_dict()["optimizer"] == "adamw"


def test_norm_and_bias_take_no_weight_decay_as_in_timms_optimizer():
    from ldrrld_core.train.optimizers import build_optimizer

    recipe = get_recipe("cifar100-224-vit", model_options=TINY_DEIT, data_options={"image_size": 32})
    student = create_model("DeiT-T", num_classes=100, **TINY_DEIT)
    optimizer = build_optimizer(recipe, student, create_loss("kd"))
    assert isinstance(optimizer, torch.optim.AdamW)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] for p in g["params"]}
    names = {name for name, p in student.named_parameters() if id(p) in decayed}
    assert "pos_embed" not in names and "cls_token" not in names and "head.weight" in names
    assert not any(name.endswith(".bias") or "norm" in name for name in names)


# ------------------------------------------------------------------------------ end to end
def test_vit_recipe_trains_end_to_end_with_mixup_adamw_cosine_clipping(tmp_path, monkeypatch):
    write_cifar100_folder(tmp_path)
    recipe = get_recipe(
        "cifar100-224-vit",
        model_options=TINY_DEIT,
        data_root=str(tmp_path),
        data_options={"recipe": "cifar100-224-vit", "student": "DeiT-T", "image_size": 32},
        loss="kd",
        epochs=2,
        warmup_epochs=1,
        batch_size=100,  # 100 training images: one step per epoch, two in all
        clip_grad=0.01,  # far below the first gradients' norm, so clipping acts
        num_workers=0,
        deterministic=True,
    )
    data = load_dataset(recipe.data, recipe.data_root, **recipe.data_options)
    assert data.input_shape == (3, 32, 32) and len(data.train) == 100 and "RandAugment" in repr(data.train.transform)

    steps = []
    real_step, real_clip = training_loop.train_step, training_loop.clip_gradients

    def clip_and_measure(optimizer, max_norm):
        before = real_clip(optimizer, max_norm)
        after = torch.linalg.vector_norm(
            torch.stack([p.grad.norm() for g in optimizer.param_groups for p in g["params"] if p.grad is not None])
        )
        steps[-1].update(before=float(before), after=float(after))
        return before

    def spy(student, teacher, loss_fn, optimizer, images, labels, **options):
        steps.append({"lr": optimizer.param_groups[0]["lr"], "targets": labels.clone(), "clip": options["clip_grad"]})
        logits = real_step(student, teacher, loss_fn, optimizer, images, labels, **options)
        steps[-1]["loss"] = float(loss_fn.last_terms["loss"])
        return logits

    monkeypatch.setattr(training_loop, "train_step", spy)
    monkeypatch.setattr(training_loop, "clip_gradients", clip_and_measure)
    teacher = create_model("DeiT-T", num_classes=100, **TINY_DEIT).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an untrained teacher and a two-epoch schedule, on purpose
        run = fit(recipe, teacher=teacher, data=data, device="cpu", progress=False)

    assert len(steps) == 2
    expected = [naive_cosine(epoch, 5e-4, 1, 5e-7, 1e-5, 2) for epoch in (1, 2)]
    assert [step["lr"] for step in steps] == pytest.approx(expected, rel=1e-12)
    assert run.history.column("lr") == pytest.approx(expected, rel=1e-12)
    for step in steps:
        targets = step["targets"]
        assert targets.shape == (100, 100) and targets.is_floating_point()
        torch.testing.assert_close(targets.sum(1), torch.ones(100))
        assert (targets.max(1).values < 1).all(), "mixed and smoothed: no one-hot row"
        assert step["clip"] == 0.01 and step["before"] > 0.01 and step["after"] <= 0.01 * (1 + 1e-5)
        assert math.isfinite(step["loss"])
    assert all(math.isfinite(value) for value in run.history.column("train_loss"))


def test_every_table4_cell_command_builds_its_recipe():
    """The seed's heterogeneous table: every command parses into an OFA-KD preset with its student's evaluation crop."""
    from seed_recipes import seed_recipes

    from ldrrld_core.reproduce.seed_tables import TABLE4

    built = 0
    for pair, column, args, recipe in seed_recipes(TABLE4):
        assert recipe.data == "cifar100-224" and recipe.name in OFA_RECIPES, (pair, column)
        assert recipe.data_options["student"] == recipe.model == args.model, (pair, column)
        built += 1
    assert built > 20


def test_a_mixup_run_resumed_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """Mixup draws from NumPy, RandAugment from Python, the crops from torch: the checkpoint restores all three."""
    write_cifar100_folder(tmp_path / "data")
    recipe = get_recipe(
        "cifar100-224-vit",
        model_options=TINY_DEIT,
        data_root=str(tmp_path / "data"),
        data_options={"recipe": "cifar100-224-vit", "student": "DeiT-T", "image_size": 32},
        loss="ce",
        teacher=None,
        epochs=3,
        warmup_epochs=1,
        batch_size=50,
        num_workers=0,
        deterministic=True,
    )
    real_step, steps = training_loop.train_step, []

    def interrupted_in_epoch_3(*args, **options):
        steps.append(1)
        if len(steps) == 5:  # 2 steps per epoch: the first step of epoch 3, after epoch 2's checkpoint
            raise KeyboardInterrupt
        return real_step(*args, **options)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = fit(recipe.replace(out_dir=str(tmp_path / "whole")), device="cpu", progress=False)
        parts = recipe.replace(out_dir=str(tmp_path / "parts"))
        monkeypatch.setattr(training_loop, "train_step", interrupted_in_epoch_3)
        with pytest.raises(KeyboardInterrupt):
            fit(parts, device="cpu", progress=False)
        monkeypatch.setattr(training_loop, "train_step", real_step)
        resumed = fit(parts, device="cpu", progress=False, resume=True)
        with pytest.raises(ValueError, match="epochs: 3 in the checkpoint, 4 now"):
            fit(parts.replace(epochs=4), device="cpu", progress=False, resume=True)  # cosine: another schedule
    assert resumed.history.column("lr") == whole.history.column("lr")
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def test_randaugment_posterize_at_magnitude_10_gives_a_black_image_instead_of_ending_the_run():
    from PIL import Image
    from timm.data.auto_augment import RandAugment

    from ldrrld_core.train.ofa_recipes import ofa_transforms

    train, _ = ofa_transforms("cifar100-224-vit", "DeiT-T", image_size=32)
    augment = next(step for step in train.transforms if isinstance(step, RandAugment))
    posterize = next(op for op in augment.ops if op.name == "PosterizeIncreasing")
    posterize.prob, posterize.magnitude_std, posterize.magnitude = 1.0, 0.0, 10.0  # keeps 0 bits
    image = Image.fromarray(np.random.default_rng(0).integers(1, 256, (32, 32, 3), dtype=np.uint8))
    assert np.asarray(posterize(image)).max() == 0
    posterize.magnitude = 5.0  # keeps 2 bits: timm's own posterize
    assert set(np.unique(np.asarray(posterize(image)))) <= {0, 64, 128, 192}


def test_training_resizes_pick_their_interpolation_at_random_as_ofa_kds_train_py():
    from ldrrld_core.train.ofa_recipes import ofa_transforms

    for name in OFA_RECIPES:
        train, evaluation = ofa_transforms(name, "timm:ResNet18")
        assert "interpolation=bilinear bicubic" in repr(train)  # timm's --train-interpolation random
        assert "interpolation=bilinear" in repr(evaluation) and "bicubic" not in repr(evaluation)
