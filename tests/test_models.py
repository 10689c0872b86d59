"""The model zoo: every CIFAR architecture against the literature's checkpoint manifest, the
shared feature interface, the digits and ImageNet models, and the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from ldrrld_core.models import FAMILIES, FeatureClassifier, create_model, list_models, model_info, register_model

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_PLACES = (
    ROOT / "tests" / "fixtures" / "cifar100_model_manifest.json",
    ROOT.parent / "shared" / "fixtures" / "cifar100_model_manifest.json",
)
CIFAR_NAMES = [
    "resnet8",
    "resnet14",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet8x4",
    "resnet32x4",
    "ResNet50",
    "wrn_16_1",
    "wrn_16_2",
    "wrn_40_1",
    "wrn_40_2",
    "vgg8",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "MobileNetV2",
    "ShuffleV1",
    "ShuffleV2",
]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def manifest() -> dict:
    for place in MANIFEST_PLACES:
        if place.is_file():
            return json.loads(place.read_text())["models"]
    pytest.fail(f"The CIFAR-100 model manifest is missing; looked in {', '.join(map(str, MANIFEST_PLACES))}.")


def trainable_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def test_the_zoo_lists_exactly_the_22_cifar_architectures(manifest):
    assert sorted(list_models("cifar")) == sorted(CIFAR_NAMES) == sorted(manifest)


@pytest.mark.parametrize("name", CIFAR_NAMES)
def test_cifar_architecture_matches_the_literature_checkpoints(name, manifest):
    expected = manifest[name]
    torch.manual_seed(0)
    model = create_model(name, num_classes=100).eval()
    state = model.state_dict()
    expected_shapes = {key: shape for key, shape in expected.items() if not key.startswith("__")}
    assert sorted(state) == sorted(expected_shapes)
    assert {key: list(tensor.shape) for key, tensor in state.items()} == expected_shapes
    assert trainable_parameters(model) == expected["__params__"]

    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_stages(images)
        logits = model(images)
    assert [list(feature.shape) for feature in features] == expected["__feat_shapes__"]
    assert model.feature_dim == expected["__feat_shapes__"][-1][1]
    assert model.num_classes == 100 and model.arch == name
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 100)
    # forward is the classifier applied to the last feature, computed here a second way.
    torch.testing.assert_close(logits, model.get_classifier()(features[-1]))


def test_a_manifest_state_dict_loads_strictly(manifest):
    """A state dict built only from the manifest (shapes and names) loads with strict=True."""
    expected = manifest["wrn_16_2"]
    state = {key: torch.zeros(shape) for key, shape in expected.items() if not key.startswith("__")}
    state = {key: (value.long() if key.endswith("num_batches_tracked") else value) for key, value in state.items()}
    model = create_model("wrn_16_2")
    model.load_state_dict(state, strict=True)
    assert all(torch.count_nonzero(value) == 0 for value in model.state_dict().values())


@pytest.mark.parametrize("name", ["resnet8", "wrn_16_1", "vgg8", "MobileNetV2", "ShuffleV1", "ShuffleV2"])
def test_num_classes_sets_the_head_and_leaves_the_body(name):
    model = create_model(name, num_classes=7)
    head = model.get_classifier()
    linear = [module for module in head.modules() if isinstance(module, nn.Linear)][-1]
    assert (linear.out_features, linear.in_features) == (7, model.feature_dim)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("name", ["resnet8", "wrn_16_1", "vgg8", "MobileNetV2", "ShuffleV1", "ShuffleV2"])
def test_penultimate_is_the_input_of_the_classifier(name):
    """Hook the head to see its real input and compare it with penultimate() and the features."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    seen = []
    model.get_classifier().register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        model(images)
        penultimate = model.penultimate(images)
    torch.testing.assert_close(penultimate, seen[0])
    assert penultimate.shape == (3, model.feature_dim)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["resnet8", "wrn_16_1", "MobileNetV2", "ShuffleV2"])
def test_training_step_updates_every_parameter(name, device):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10).to(device).train()
    images = torch.randn(4, 3, 32, 32, device=device)
    labels = torch.tensor([0, 1, 2, 3], device=device)
    nn.functional.cross_entropy(model(images), labels).backward()
    without_gradient = [
        key
        for key, parameter in model.named_parameters()
        if parameter.grad is None or not torch.isfinite(parameter.grad).all()
    ]
    assert without_gradient == []


def test_channel_shuffle_interleaves_the_groups():
    from ldrrld_core.models.layers import channel_shuffle

    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
    assert channel_shuffle(x, 1).flatten().tolist() == x.flatten().tolist()


# --- digits models -------------------------------------------------------------------------------


def test_digits_models_shapes_and_defaults():
    cnn, mlp = create_model("digits_cnn"), create_model("digits_mlp")
    images = torch.randn(5, 1, 8, 8)
    assert cnn.num_classes == mlp.num_classes == 10
    assert [tuple(f.shape) for f in cnn.forward_stages(images)] == [
        (5, 16, 8, 8),
        (5, 32, 4, 4),
        (5, 64, 4, 4),
        (5, 64),
    ]
    assert [tuple(f.shape) for f in mlp.forward_stages(images)] == [(5, 16)]
    assert cnn(images).shape == mlp(images).shape == (5, 10)
    assert trainable_parameters(mlp) < trainable_parameters(cnn) / 10
    assert create_model("digits_mlp", hidden=32).feature_dim == 32


def _train_on_digits(name: str, epochs: int) -> float:
    """Test accuracy after a short SGD run on scikit-learn's digits (fixed seed, CPU)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    pixels, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(pixels, labels, test_size=0.3, stratify=labels, random_state=0)

    def as_images(array):
        return torch.tensor(array, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0

    x_train, x_test = as_images(x_train), as_images(x_test)
    y_train, y_test = torch.tensor(y_train), torch.tensor(y_test)
    torch.manual_seed(0)
    model = create_model(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_train))
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            loss = nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()


def test_digits_teacher_learns_the_digits_and_beats_the_student():
    teacher, student = _train_on_digits("digits_cnn", 6), _train_on_digits("digits_mlp", 6)
    assert teacher >= 0.95
    assert 0.80 <= student < teacher


# --- ImageNet models -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_models_keep_torchvision_keys(name):
    ours = create_model(name).state_dict()
    theirs = getattr(torchvision.models, name)(weights=None).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[key].shape == theirs[key].shape for key in ours)


@pytest.mark.parametrize("name, feature_dim", [("resnet18", 512), ("mobilenet_v2", 1280), ("mobilenet_v1", 1024)])
def test_imagenet_models_feature_pyramid(name, feature_dim):
    model = create_model(name, num_classes=10).eval()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        features = model.forward_stages(images)
        logits = model(images)
    # Five stages, each halving the resolution: 64 -> 32 (or 16 after the ResNet max-pool) ... 2.
    assert [f.shape[-1] for f in features[:-1]][-1] == 2 and len(features) == 6
    assert all(a.shape[-1] >= b.shape[-1] for a, b in zip(features[:-2], features[1:-1]))
    assert features[-1].shape == (1, feature_dim) == (1, model.feature_dim)
    assert logits.shape == (1, 10)


def test_mobilenet_v1_has_the_published_size():
    # 4,231,976 parameters for the width-1.0 MobileNetV1 with batch norm and 1000 classes.
    assert trainable_parameters(create_model("mobilenet_v1")) == 4_231_976
    keys = list(create_model("mobilenet_v1").state_dict())
    assert keys[0] == "model.0.0.weight" and keys[-1] == "fc.bias"


# --- registry ------------------------------------------------------------------------------------


def test_every_registered_model_follows_the_interface():
    for name in list_models():
        info = model_info(name)
        assert info.family in FAMILIES and info.input_shape == FAMILIES[info.family][0]
    for name in list_models("digits") + ["resnet8", "mobilenet_v1"]:
        model = create_model(name, num_classes=3)
        assert isinstance(model, FeatureClassifier) and model.num_classes == 3


def test_default_num_classes_follow_the_family():
    assert create_model("resnet8").num_classes == 100
    assert create_model("digits_mlp").num_classes == 10
    assert create_model("mobilenet_v1").num_classes == 1000


@pytest.mark.parametrize(
    "typo, suggestion",
    [
        ("resnet_56", "resnet56"),
        ("Resnet32x4", "resnet32x4"),
        ("MobileNetV1", "mobilenet_v1"),
        ("wrn_40-2", "wrn_40_2"),
    ],
)
def test_unknown_name_suggests_close_matches(typo, suggestion):
    with pytest.raises(ValueError, match="unknown model") as error:
        create_model(typo)
    assert repr(suggestion) in str(error.value) and "list_models()" in str(error.value)


def test_registry_refuses_duplicates_and_unknown_families():
    with pytest.raises(ValueError, match="already registered"):
        register_model("resnet8", family="cifar")(lambda num_classes: None)
    with pytest.raises(ValueError, match="Unknown model family"):
        register_model("something_new", family="audio")
    with pytest.raises(ValueError, match="Unknown model family"):
        list_models("audio")


def test_bad_constructor_arguments_are_explained():
    from ldrrld_core.models.cifar.resnet import CifarResNet
    from ldrrld_core.models.cifar.wrn import WideResNet

    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(10, (16, 16, 32, 64))
    with pytest.raises(ValueError, match="6n \\+ 4"):
        WideResNet(18, 2)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("resnet8", num_classes=0)
