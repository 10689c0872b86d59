"""The seed's baselines in the trainer: a loss's own parameters learn, save and resume; its own noise
repeats; a loss that reads region logits gets them from both models.

Every run is the trainer's own (:func:`~ldrrld_core.train.fit`) on a toy synthetic set, two epochs at
a constant rate, so a run stopped after epoch 1 and resumed must end bitwise where an uninterrupted
two-epoch run ends.
"""

from __future__ import annotations

import pytest
import torch

from ldrrld_core.losses import PyramidLogits
from ldrrld_core.models import create_model
from ldrrld_core.train import fit, get_recipe, load_data


@pytest.fixture(scope="module")
def tiny():
    """A constant-rate two-epoch recipe on 10 classes of 16x16 images, its data, and an untrained teacher."""
    recipe = get_recipe(
        "teaching",
        data_options={
            "num_superclasses": 2,
            "classes_per_superclass": 5,
            "train_per_class": 8,
            "test_per_class": 2,
            "image_size": 16,
        },
        teacher_data_options={},
        validation_fraction=0.0,
        epochs=2,
        warmup_epochs=0,
        decay_epochs=(),
        batch_size=16,
        lr=0.05,
    )
    data = load_data(recipe)
    torch.manual_seed(7)
    teacher = create_model("resnet8", num_classes=data.num_classes).eval()
    return recipe, data, teacher


def _train(recipe, data, teacher, **options):
    return fit(recipe, teacher=teacher, data=data, device="cpu", progress=False, **options)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.parametrize("loss", ["ctkd", "tekap"])
def test_a_resumed_run_ends_bitwise_where_an_uninterrupted_one_ends(tiny, tmp_path, loss):
    recipe, data, teacher = tiny
    recipe = recipe.with_loss(loss)
    whole = _train(recipe.replace(out_dir=str(tmp_path / "whole")), data, teacher)
    _train(recipe.replace(out_dir=str(tmp_path / "parts"), epochs=1), data, teacher)
    resumed = _train(recipe.replace(out_dir=str(tmp_path / "parts")), data, teacher, resume=True)
    assert _same_weights(whole.model, resumed.model)
    assert whole.history.rows[-1]["train_loss"] == resumed.history.rows[-1]["train_loss"]


def test_ctkd_learns_its_temperature_and_logs_it_every_epoch(tiny, tmp_path):
    recipe, data, teacher = tiny
    run = _train(recipe.with_loss("ctkd", {"reversal_epochs": 1}), data, teacher)
    temperatures = run.history.column("train_temperature")
    assert len(temperatures) == 2 and all(1.0 < t < 21.0 for t in temperatures)
    start = 1 + 20 * torch.sigmoid(torch.tensor(1.0)).item()  # theta starts at 1
    assert temperatures[-1] != pytest.approx(start, abs=1e-4), "the temperature never moved"


def test_ctkd_temperature_ascends_the_distillation_loss(tiny):
    """With the reversal at full strength, one plain SGD step on theta raises the KD term."""
    from ldrrld_core.losses import create_loss

    loss = create_loss("ctkd", reversal_epochs=0, ce_weight=0.0)
    loss.set_epoch(1)
    torch.manual_seed(3)
    student, teacher, target = torch.randn(32, 10), 3 * torch.randn(32, 10), torch.randint(0, 10, (32,))
    before = loss(student, teacher, target)
    before.backward()
    with torch.no_grad():
        loss.theta -= 0.5 * loss.theta.grad
    assert loss(student, teacher, target) > before


def test_tekap_noise_repeats_with_the_seed_and_differs_across_seeds(tiny):
    recipe, data, teacher = tiny
    recipe = recipe.with_loss("tekap", epochs=1)
    first, again = (_train(recipe, data, teacher) for _ in range(2))
    other = _train(recipe.replace(seed=1), data, teacher)
    assert _same_weights(first.model, again.model)
    assert first.history.rows[0]["train_kd"] == again.history.rows[0]["train_kd"]
    assert other.history.rows[0]["train_kd"] != first.history.rows[0]["train_kd"]


def test_sdd_trains_from_the_region_logits_of_both_models(tiny):
    recipe, data, teacher = tiny
    run = _train(recipe.with_loss("sdd", epochs=1), data, teacher)
    assert run.history.rows[0]["train_kd"] > 0
    images = data.test[0][0][None]
    regions = PyramidLogits(run.model, (1, 2, 4))(images)
    assert regions.shape == (1, 21, data.num_classes)
    torch.testing.assert_close(regions[:, 0], run.model(images))


def test_sdd_refuses_a_model_without_a_feature_map_in_one_line(tiny):
    recipe, data, teacher = tiny
    flat = get_recipe("digits", epochs=1).with_loss("sdd")
    with pytest.raises(ValueError, match="digits_mlp") as error:
        fit(flat, teacher=create_model("digits_mlp", num_classes=10), device="cpu", progress=False)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("quick", [True, False])
def test_study_methods_option_tunes_every_baseline_alike(quick):
    """``ldrrld study --methods`` with a baseline tunes its temperature (CTKD its rate alone), quick or not."""
    from ldrrld_core.cli import build_parser
    from ldrrld_core.cli.study import _config

    argv = ["study", *(["--quick"] if quick else []), "--methods", "ce", "kd", "dist", "ctkd", "sdd"]
    config = _config(build_parser().parse_args(argv))
    assert config.methods == ("ce", "kd", "dist", "ctkd", "sdd")
    assert config.tuning["ctkd"] == () and config.tuning["ce"] == ()
    for method in ("kd", "dist", "sdd"):
        (axis,) = config.tuning[method][:1]
        assert axis.name == "T" and len(axis.values) == (2 if quick else 3), method
