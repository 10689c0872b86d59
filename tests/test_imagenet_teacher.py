"""The ImageNet teacher check (``ldrrld teacher check FILE --imagenet-val DIR``) on a tiny fake ImageNet.

The validation folder is ImageNet's on-disk layout (``<wnid>/<name>.JPEG``, JPEGs of varied sizes)
with a few classes; the teacher is a randomly initialised torchvision ResNet34 saved as torchvision
saves its weights (a plain state dict) for that many classes. The tests check the plumbing (the
pinned transform, against a plain PIL version of it; the file's hash; the labels), and the verdict
and exit status with the published value monkeypatched around the measured accuracy, not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ldrrld_core.cli import main as ldrrld
from ldrrld_core.io import sha256_file
from ldrrld_core.reproduce import imagenet_teachers as it

WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")
SIZES = ((300, 260), (257, 400), (500, 375))  # (width, height): landscape, portrait, ImageNet's commonest


@pytest.fixture(scope="module")
def fake_imagenet(tmp_path_factory) -> tuple[Path, Path]:
    """``(val folder, teacher file)``: 3 JPEGs for each of 4 classes, and random ResNet34 weights."""
    import torchvision
    from PIL import Image

    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for label, wnid in enumerate(WNIDS):
        (root / "val" / wnid).mkdir(parents=True)
        for index, (width, height) in enumerate(SIZES):
            colour = np.array([(label * 70) % 256, 255 - label * 60, (label * 130) % 256])  # a colour per class
            pixels = np.clip(colour + rng.normal(0, 40, (height, width, 3)), 0, 255).astype(np.uint8)
            name = f"ILSVRC2012_val_{label * 10 + index + 1:08d}.JPEG"
            Image.fromarray(pixels).save(root / "val" / wnid / name, quality=90)
    torch.manual_seed(0)
    network = torchvision.models.resnet34(weights=None, num_classes=len(WNIDS))
    # its head set to the class means of its features (a nearest-mean classifier), so that its top-1
    # depends on every image's label being the position of its class folder, not on chance
    inputs, labels = _plain_pil_inputs(root / "val")
    network.eval()
    head, network.fc = network.fc, torch.nn.Identity()
    with torch.no_grad():
        features = network(inputs)
        means = torch.stack([features[torch.tensor(labels) == k].mean(0) for k in range(len(WNIDS))])
        head.weight.copy_(2 * means)
        head.bias.copy_(-(means**2).sum(1))
    network.fc = head
    teacher = root / "resnet34-0123abcd.pth"  # torchvision's naming: the architecture, a hash prefix
    torch.save(network.state_dict(), teacher)
    return root / "val", teacher


def _plain_pil_inputs(val_dir: Path) -> tuple[torch.Tensor, list[int]]:
    """torchvision's published evaluation written with PIL: shorter side to 256 (bilinear), centre 224."""
    from PIL import Image

    mean, std = torch.tensor([0.485, 0.456, 0.406])[:, None, None], torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    inputs, labels = [], []
    for label, wnid in enumerate(WNIDS):
        for file in sorted((val_dir / wnid).iterdir()):
            image = Image.open(file).convert("RGB")
            width, height = image.size
            size = (256, int(256 * height / width)) if width <= height else (int(256 * width / height), 256)
            image = image.resize(size, Image.BILINEAR)
            left, top = int(round((size[0] - 224) / 2.0)), int(round((size[1] - 224) / 2.0))
            image = image.crop((left, top, left + 224, top + 224))
            x = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255
            inputs.append((x - mean) / std)
            labels.append(label)
    return torch.stack(inputs), labels


@pytest.fixture(scope="module")
def checked(fake_imagenet) -> it.ImageNetTeacherCheck:
    val_dir, teacher = fake_imagenet
    return it.check_imagenet_teacher(teacher, val_dir=val_dir, device="cpu", batch_size=5)


def test_the_evaluation_transform_is_pinned_to_torchvisions():
    from torchvision.transforms import CenterCrop, InterpolationMode, Normalize, Resize

    resize, crop, _, normalize = it.imagenet_eval_transform().transforms
    assert isinstance(resize, Resize) and (resize.size, resize.interpolation) == (256, InterpolationMode.BILINEAR)
    assert isinstance(crop, CenterCrop) and tuple(crop.size) == (224, 224)
    assert isinstance(normalize, Normalize) and tuple(normalize.mean) == (0.485, 0.456, 0.406)
    assert {name: (t.top1, t.seed_top1) for name, t in it.IMAGENET_TEACHERS.items()} == {
        "resnet34": (73.31, 73.31),
        "resnet50": (76.13, 76.16),
    }


def test_the_check_measures_the_file_as_torchvision_evaluates_it(fake_imagenet, checked):
    import torchvision

    val_dir, teacher = fake_imagenet
    check = checked
    inputs, labels = _plain_pil_inputs(val_dir)
    from ldrrld_core.data.folders import scan_class_folders

    seen = it._ValFolder(val_dir, *scan_class_folders(val_dir)[1:])
    torch.testing.assert_close(torch.stack([seen[i][0] for i in range(len(seen))]), inputs)
    assert [seen[i][1] for i in range(len(seen))] == labels
    network = torchvision.models.resnet34(weights=None, num_classes=len(WNIDS))
    network.load_state_dict(torch.load(teacher, weights_only=True))
    with torch.inference_mode():
        predicted = network.eval()(inputs).argmax(1).tolist()
    hits = sum(p == y for p, y in zip(predicted, labels))
    assert check.measured_top1 == pytest.approx(100.0 * hits / len(labels))
    assert (check.name, check.images, check.classes, check.sha256) == ("resnet34", 12, 4, sha256_file(teacher))
    assert check.measured_top5 == 100.0  # top-k with k = min(5, classes): all 4 classes
    assert (check.published_top1, check.seed_top1, check.margin) == (73.31, 73.31, 0.3)
    assert len(set(predicted)) == len(WNIDS) and check.measured_top1 > 50, "the fitted head tells the classes apart"


def _check(measured: float, published: float | None, margin: float = 0.3) -> it.ImageNetTeacherCheck:
    return it.ImageNetTeacherCheck(
        "resnet50", "f.pth", "0" * 64, 1, "val", 50000, 1000, measured, 90.0, published, 76.16, "s", margin, "t"
    )


def test_the_verdict_is_two_sided():
    assert _check(76.13, 76.13).verdict == "ok" and _check(76.16, 76.13).gap == pytest.approx(0.03)
    assert _check(75.84, 76.13).verdict == "ok" and _check(76.42, 76.13).verdict == "ok"
    assert _check(75.82, 76.13).verdict == "below published" and not _check(75.82, 76.13).within
    assert _check(80.86, 76.13).verdict == "above published", "torchvision's V2 weights are not the seed's teacher"
    assert _check(75.0, 76.13, margin=2).within and _check(1.0, None).verdict == "no published accuracy"
    assert "OUTSIDE THE TOLERANCE" in _check(70.0, 76.13).message()


@pytest.mark.parametrize(("offset", "status", "verdict"), [(0.25, 0, "ok"), (0.35, 1, "below published")])
def test_the_command_exits_non_zero_outside_the_tolerance(
    fake_imagenet, checked, tmp_path, monkeypatch, capsys, offset, status, verdict
):
    val_dir, teacher = fake_imagenet
    measured = checked.measured_top1
    published = it.PublishedImageNetTeacher("resnet34", measured + offset, 90.0, 73.31, "w", "resnet34-x.pth")
    monkeypatch.setitem(it.IMAGENET_TEACHERS, "resnet34", published)
    report = tmp_path / "check.json"
    arguments = ["teacher", "check", str(teacher), "--imagenet-val", str(val_dir), "--device", "cpu"]
    assert ldrrld([*arguments, "--json", str(report)]) == status
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[-1]) == json.loads(report.read_text())
    assert json.loads(lines[-1])["verdict"] == verdict and json.loads(lines[-1])["gap"] == pytest.approx(-offset)
    assert ("OUTSIDE THE TOLERANCE" in lines[0]) == bool(status)


def test_a_file_for_other_classes_or_of_unknown_architecture_is_refused(fake_imagenet, tmp_path, capsys):
    import torchvision

    val_dir, _ = fake_imagenet
    other = tmp_path / "resnet18-feedbeef.pth"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=5).state_dict(), other)
    with pytest.raises(ValueError, match="classifies into 5 classes but .* has 4 class folders.*all 1000"):
        it.check_imagenet_teacher(other, val_dir=val_dir, arch="resnet18", device="cpu")
    anonymous = tmp_path / "teacher.pth"
    anonymous.write_bytes(other.read_bytes())
    assert ldrrld(["teacher", "check", str(anonymous), "--imagenet-val", str(val_dir)]) == 2
    assert "cannot tell the architecture" in capsys.readouterr().err


def test_the_kit_lists_a_check_of_every_table3_teacher_that_parses(capsys):
    import shlex

    from ldrrld_core.cli import build_parser
    from ldrrld_core.reproduce.command import main as kit_main
    from ldrrld_core.reproduce.seed_tables import TABLE3, TABLE4, teacher_check_commands

    checks = teacher_check_commands(TABLE3, imagenet_val=Path("val"))
    assert [teacher for teacher, _ in checks] == ["resnet34", "resnet50"] and teacher_check_commands(TABLE4) == []
    for teacher, command in checks:
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert (args.model, args.imagenet_val, args.teacher) == (
            teacher,
            "val",
            f"data/teachers/seed-imagenet/{teacher}.pth",
        )
    assert kit_main(["seed", "--imagenet-val", "val"]) == 0
    out = capsys.readouterr().out
    assert all(command in out for _, command in checks)
