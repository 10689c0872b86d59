"""The one registry pattern behind models, losses and data sets."""

import pytest

from ldrrld_core.data import DATASETS
from ldrrld_core.losses import LOSSES
from ldrrld_core.models.catalog import MODELS
from ldrrld_core.registry import Registry
from ldrrld_core.suggestions import did_you_mean


def test_a_registry_holds_entries_with_descriptions_and_refuses_a_second_entry():
    things = Registry("thing")
    assert things.add("alpha", 1, "the first") == 1

    @things.register("beta", "the second")
    def beta():
        return 2

    assert dict(things) == {"alpha": 1, "beta": beta} and len(things) == 2 and "alpha" in things
    assert things.describe("beta") == "the second"
    with pytest.raises(ValueError, match="a thing named 'alpha' is already registered"):
        things.add("alpha", 3)
    with pytest.raises(ValueError, match=r"unknown thing 'alpah'. Did you mean 'alpha'\? Things: alpha, beta"):
        things["alpah"]
    with pytest.raises(ValueError, match="a thing name must be a string"):
        things.key(3)
    assert 3 not in things


def test_normalised_names_and_a_listing_in_place_of_many_names():
    sets = Registry(
        "data set",
        normalize=lambda name: name.lower().replace("_", "-"),
        listing="list_sets() gives all {count} names.",
    )
    sets.add("tiny-imagenet", "loader")
    assert sets["Tiny_ImageNet"] == "loader" and "TINY-imagenet" in sets
    with pytest.raises(ValueError, match=r"Did you mean 'tiny-imagenet'\? list_sets\(\) gives all 1 names."):
        sets["tiny-imagenett"]


def test_did_you_mean_ignores_case_and_keeps_each_names_case():
    assert did_you_mean("Resnet32x4", ["resnet32x4", "vgg8"]) == " Did you mean 'resnet32x4'?"
    assert "'ResNet50', 'resnet50'" in did_you_mean("RESNET50", ["ResNet50", "resnet50", "vgg8"])
    assert did_you_mean("zzz", ["resnet32x4"]) == ""


@pytest.mark.parametrize(
    "registry, typo, expected",
    [
        (MODELS, "resnet8x5", "unknown model 'resnet8x5'. Did you mean 'resnet8x4'"),
        (LOSSES, "ldrld", "unknown loss 'ldrld'. Did you mean 'ldrrld'"),
        (DATASETS, "cifar10", "unknown data set 'cifar10'. Did you mean 'cifar100'"),
    ],
)
def test_models_losses_and_data_share_one_message(registry, typo, expected):
    assert isinstance(registry, Registry)
    with pytest.raises(ValueError) as error:
        registry[typo]
    assert str(error.value).startswith(expected)
    assert all(registry.describe(name) for name in registry), "every entry says what it is"
