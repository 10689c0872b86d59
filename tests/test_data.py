"""Data sets and loaders: real on-disk formats written into tmp_path, the device loader's order and
sharding, and augmentation checked against an image-by-image reference."""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from ldrrld_core.data import (
    DatasetFormatError,
    DatasetNotFoundError,
    DataSplits,
    DeviceLoader,
    StreamingLoader,
    TensorImageDataset,
    dataset_options,
    denormalize,
    list_datasets,
    load_dataset,
    make_loader,
    random_crop_flip,
)
from ldrrld_core.data.cifar100 import CIFAR100_MEAN, CIFAR100_STD
from ldrrld_core.data.order import epoch_order

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# ----------------------------------------------------------------------------- helpers


def id_dataset(count: int, *, channels: int = 3, size: int = 8, **options) -> TensorImageDataset:
    """Image ``i`` is filled with the value ``i`` and labelled ``i``: batches show which samples came."""
    images = torch.arange(count, dtype=torch.float32).view(-1, 1, 1, 1).expand(count, channels, size, size).clone()
    return TensorImageDataset(images, torch.arange(count), **options)


def epoch_labels(loader) -> list[int]:
    """Labels of one pass, checking on the way that every image still carries its own id."""
    labels = []
    for images, batch_labels in loader:
        assert torch.equal(images[:, 0, 0, 0].long().cpu(), batch_labels.cpu())
        labels += batch_labels.tolist()
    return labels


def reference_crop_flip(
    images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int, fill: list[float]
) -> torch.Tensor:
    """The obvious per-image form: pad each channel with its fill value, slice, maybe mirror."""
    out = []
    height, width = images.shape[-2:]
    for image, (top, left), flip in zip(images, offsets.tolist(), flips.tolist()):
        padded = torch.stack([F.pad(channel, (padding,) * 4, value=value) for channel, value in zip(image, fill)])
        crop = padded[:, top : top + height, left : left + width]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


# ----------------------------------------------------------------------------- registry


def test_registry_names_and_options():
    assert list_datasets() == ["digits", "synthetic", "cifar100", "cifar100-224", "tiny-imagenet", "imagenet"]
    assert dataset_options("synthetic")["train_per_class"] == 50
    assert dataset_options("cifar100") == {}
    with pytest.raises(ValueError, match="unknown data set 'synthetc'. Did you mean 'synthetic'"):
        load_dataset("synthetc")
    assert load_dataset("Digits").name == "digits", "names ignore case and '_' vs '-'"
    with pytest.raises(ValueError, match="train_per_class"):
        load_dataset("synthetic", per_class=3)


# ----------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits")


def test_digits_split_is_stratified_covering_and_normalised(digits):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    assert (len(digits.train), len(digits.test)) == (1347, 450)
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10 and digits.augment == "none"
    assert digits.class_names == [str(d) for d in range(10)] and digits.superclass_of is None

    # Undo the normalisation: the two splits together are exactly scikit-learn's 1797 images.
    def rows(split):
        pixels = (denormalize(split.images, digits.mean, digits.std) * 16).round().long().flatten(1)
        return collections.Counter(tuple(row) + (label,) for row, label in zip(pixels.tolist(), split.labels.tolist()))

    original = collections.Counter(
        tuple(row) + (label,) for row, label in zip(bunch.data.astype(int).tolist(), bunch.target.tolist())
    )
    assert rows(digits.train) + rows(digits.test) == original

    # Stratified: each digit's share of the test split is its share of the whole, to one image.
    totals = np.bincount(bunch.target, minlength=10)
    test_counts = torch.bincount(digits.test.labels, minlength=10).numpy()
    assert np.all(np.abs(test_counts - 450 * totals / totals.sum()) <= 1)

    # Normalised with the train split's own statistics.
    assert digits.train.images.mean().abs() < 1e-5 and (digits.train.images.std() - 1).abs() < 1e-3


def test_digits_split_is_fixed_by_seed(digits):
    again, other = load_dataset("digits"), load_dataset("digits", seed=1)
    assert torch.equal(again.test.images, digits.test.images)
    assert not torch.equal(other.test.images, digits.test.images)
    assert len(load_dataset("digits", test_size=300).test) == 300
    with pytest.raises(ValueError, match="test_size"):
        load_dataset("digits", test_size=5)


# ----------------------------------------------------------------------------- synthetic

SMALL = dict(train_per_class=10, test_per_class=4)
TINY = dict(num_superclasses=4, classes_per_superclass=3, train_per_class=5, test_per_class=5)


@pytest.fixture(scope="module")
def synthetic() -> DataSplits:
    return load_dataset("synthetic", **SMALL)


def class_means(split: TensorImageDataset, num_classes: int) -> torch.Tensor:
    flat = split.images.flatten(1)
    return torch.stack([flat[split.labels == c].mean(0) for c in range(num_classes)])


def nearest_mean_accuracy(splits: DataSplits) -> float:
    means = class_means(splits.train, splits.num_classes)
    predicted = torch.cdist(splits.test.images.flatten(1), means).argmin(1)
    return (predicted == splits.test.labels).float().mean().item()


def test_synthetic_shape_and_names(synthetic):
    assert (len(synthetic.train), len(synthetic.test)) == (1000, 400)
    assert synthetic.train.images.shape[1:] == synthetic.input_shape == (3, 32, 32)
    assert synthetic.num_classes == 100 and synthetic.augment == "cifar"
    assert synthetic.class_names[17] == "s03_c2" and synthetic.superclass_names[3] == "s03"
    assert torch.equal(synthetic.superclass_of, torch.arange(100) // 5)
    assert torch.equal(torch.bincount(synthetic.train.labels), torch.full((100,), 10))
    pixels = synthetic.train.pixels()
    assert pixels.min() >= 0 and pixels.max() <= 1


def test_synthetic_is_a_function_of_the_seed():
    a, b = load_dataset("synthetic", seed=3, **TINY), load_dataset("synthetic", seed=3, **TINY)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.images, b.test.images)
    assert not torch.equal(load_dataset("synthetic", seed=4, **TINY).train.images, a.train.images)
    # The train images do not depend on how many test images are drawn.
    assert torch.equal(load_dataset("synthetic", seed=3, **{**TINY, "test_per_class": 1}).train.images, a.train.images)
    assert a.num_classes == 12 and a.class_names[-1] == "s03_c2"
    assert load_dataset("synthetic", image_size=16, **TINY).input_shape == (3, 16, 16)


def test_synthetic_classes_of_a_superclass_are_closer(synthetic):
    assert nearest_mean_accuracy(synthetic) > 0.5  # chance is 0.01
    means = class_means(synthetic.train, 100)
    distance = torch.cdist(means, means)
    same = synthetic.superclass_of[:, None] == synthetic.superclass_of[None, :]
    off_diagonal = ~torch.eye(100, dtype=torch.bool)
    assert distance[same & off_diagonal].max() < distance[~same].median()
    # Every class's nearest other class is one of its siblings.
    nearest = distance.masked_fill(~off_diagonal, float("inf")).argmin(1)
    assert torch.equal(synthetic.superclass_of[nearest], synthetic.superclass_of)


def test_synthetic_difficulty_and_option_checks():
    easy = load_dataset("synthetic", difficulty=0.3, **TINY)
    hard = load_dataset("synthetic", difficulty=3.0, **TINY)
    assert nearest_mean_accuracy(easy) > nearest_mean_accuracy(hard) + 0.2
    with pytest.raises(ValueError, match="train_per_class"):
        load_dataset("synthetic", train_per_class=0)
    with pytest.raises(ValueError, match="difficulty"):
        load_dataset("synthetic", difficulty=-1)


# ----------------------------------------------------------------------------- CIFAR-100 on disk


def write_tiny_cifar100(
    root: Path, *, protocol: int = 2, per_class: tuple[int, int] = (2, 1), seed: int = 0
) -> dict[str, object]:
    """Write a 100-class CIFAR-100 in the archive's real format: pickled dicts with bytes keys."""
    rng = np.random.default_rng(seed)
    coarse_of = rng.permutation(np.arange(100) // 5)  # a fixed fine -> coarse map, 5 classes per superclass
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {"coarse_of": coarse_of}
    for split, count in zip(("train", "test"), per_class):
        fine = rng.permutation(np.repeat(np.arange(100), count))
        data = rng.integers(0, 256, size=(len(fine), 3072), dtype=np.uint8)
        content = {
            b"filenames": [f"img_{i}.png".encode() for i in range(len(fine))],
            b"batch_label": split.encode(),
            b"fine_labels": fine.tolist(),
            b"coarse_labels": coarse_of[fine].tolist(),
            b"data": data,
        }
        (folder / split).write_bytes(pickle.dumps(content, protocol=protocol))
        written[split] = (data, fine)
    meta = {
        b"fine_label_names": [f"fine{c:02d}".encode() for c in range(100)],
        b"coarse_label_names": [f"coarse{s:02d}".encode() for s in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return written


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar100_loads_the_real_format(tmp_path, protocol):
    written = write_tiny_cifar100(tmp_path, protocol=protocol)
    splits = load_dataset("cifar100", root=tmp_path)
    assert splits.num_classes == 100 and splits.input_shape == (3, 32, 32) and splits.augment == "cifar"
    assert splits.mean == CIFAR100_MEAN and splits.std == CIFAR100_STD
    assert splits.class_names[7] == "fine07" and splits.superclass_names[19] == "coarse19"
    assert torch.equal(splits.superclass_of, torch.from_numpy(written["coarse_of"]))
    for split, (data, fine) in ((splits.train, written["train"]), (splits.test, written["test"])):
        assert torch.equal(split.labels, torch.from_numpy(fine))
        # Rows are channel-major 32x32 planes; normalisation is the paper recipe's.
        expected = torch.from_numpy(data).float().div(255).view(-1, 3, 32, 32)
        torch.testing.assert_close(denormalize(split.images, CIFAR100_MEAN, CIFAR100_STD), expected)
        red = (split.images[:, 0] * CIFAR100_STD[0] + CIFAR100_MEAN[0]).flatten(1)
        torch.testing.assert_close(red, torch.from_numpy(data[:, :1024]).float() / 255)


def test_cifar100_missing_folder_names_it_and_the_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cifar100", root=tmp_path / "nowhere")
    message = str(error.value)
    assert str((tmp_path / "nowhere" / "cifar-100-python").resolve()) in message and "download=True" in message
    assert isinstance(error.value, FileNotFoundError)


def test_cifar100_download_fetches_then_loads(tmp_path, monkeypatch):
    import ldrrld_core.data.cifar100 as cifar100

    calls = []
    monkeypatch.setattr(cifar100, "_download", lambda root: (calls.append(root), write_tiny_cifar100(root)))
    assert len(load_dataset("cifar100", root=tmp_path, download=True).train) == 200
    assert calls == [tmp_path]
    load_dataset("cifar100", root=tmp_path, download=True)  # present now: no second download
    assert len(calls) == 1


_SIDE_EFFECTS = []


def _record(value):
    _SIDE_EFFECTS.append(value)
    return {}


class _Payload:
    def __reduce__(self):
        return _record, ("ran",)


def test_cifar100_pickles_cannot_run_code(tmp_path):
    write_tiny_cifar100(tmp_path)
    (tmp_path / "cifar-100-python" / "meta").write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(DatasetFormatError, match="meta.*refusing to load"):
        load_dataset("cifar100", root=tmp_path)
    assert _SIDE_EFFECTS == []


def test_cifar100_inconsistent_files_are_named(tmp_path):
    write_tiny_cifar100(tmp_path)
    train = tmp_path / "cifar-100-python" / "train"
    content = pickle.loads(train.read_bytes())
    content[b"coarse_labels"][0] = (content[b"coarse_labels"][0] + 1) % 20
    train.write_bytes(pickle.dumps(content))
    with pytest.raises(DatasetFormatError, match="two different coarse labels"):
        load_dataset("cifar100", root=tmp_path)
    content[b"fine_labels"][0] = 100
    train.write_bytes(pickle.dumps(content))
    with pytest.raises(DatasetFormatError, match="train: fine labels must lie in 0..99"):
        load_dataset("cifar100", root=tmp_path)
    train.write_bytes(b"not a pickle")
    with pytest.raises(DatasetFormatError, match="train is not a valid CIFAR pickle"):
        load_dataset("cifar100", root=tmp_path)


# ----------------------------------------------------------------------------- image folders

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
WNIDS = ["n001", "n002", "n003"]


def save_image(path: Path, colour, size=(64, 64), mode="RGB"):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path)


def write_tiny_imagenet(root: Path, *, val_layout: str = "raw") -> Path:
    """Three classes of one-colour 64x64 images; class ``k`` has colour ``COLOURS[k]``."""
    base = root / "tiny-imagenet-200"
    for wnid, colour in zip(WNIDS, COLOURS):
        for i in range(3):
            save_image(base / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", colour)
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("ignored\n")
    lines = []
    for i, (wnid, colour) in enumerate(zip(WNIDS * 2, COLOURS * 2)):
        if val_layout == "raw":
            save_image(base / "val" / "images" / f"val_{i}.JPEG", colour)
            lines.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63")
        else:
            save_image(base / "val" / wnid / f"val_{i}.png", colour)
    if lines:
        (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (base / "wnids.txt").write_text("\n".join(reversed(WNIDS)) + "\n")
    (base / "words.txt").write_text("n001\tgoldfish, Carassius auratus\nn002\tcrane\nn003\tcrane\nn999\tunused\n")
    return base


def colour_class(image: torch.Tensor, mean, std) -> int:
    """Which of COLOURS a normalised (3, H, W) image shows."""
    rgb = denormalize(image[None], mean, std)[0].mean((1, 2)) * 255
    return int(torch.cdist(rgb[None], torch.tensor(COLOURS, dtype=torch.float32)).argmin())


@pytest.mark.parametrize("val_layout", ["raw", "class-folders"])
def test_tiny_imagenet_from_folders(tmp_path, val_layout):
    write_tiny_imagenet(tmp_path, val_layout=val_layout)
    splits = load_dataset("tiny-imagenet", root=tmp_path)
    assert splits.num_classes == 3 and splits.input_shape == (3, 64, 64) and splits.augment == "imagenet"
    assert splits.class_names == ["goldfish", "crane (n002)", "crane (n003)"]
    assert (len(splits.train), len(splits.test)) == (9, 6)
    for split in (splits.train, splits.test):
        for index in range(len(split)):
            image, label = split[index]
            assert image.shape == (3, 64, 64) and colour_class(image, splits.mean, splits.std) == label


@pytest.mark.parametrize("device", DEVICES)
def test_imagenet_from_folders_with_varied_sizes(tmp_path, device):
    base = tmp_path / "imagenet"
    for k, (wnid, colour) in enumerate(zip(WNIDS, COLOURS)):
        save_image(base / "train" / wnid / "a.JPEG", colour, size=(300 + 10 * k, 260))
        save_image(base / "train" / wnid / "b.JPEG", colour, size=(240, 320), mode="L")  # grey images exist too
        save_image(base / "val" / wnid / "c.JPEG", colour, size=(500, 375))
    (base / "LOC_synset_mapping.txt").write_text("n001 tench, Tinca tinca\nn002 goldfish\nn003 shark\n")
    splits = load_dataset("imagenet", root=tmp_path)
    assert splits.class_names == ["tench", "goldfish", "shark"] and splits.input_shape == (3, 224, 224)
    loader = make_loader(splits.train, 4, train=True, device=device)
    shapes = [(tuple(images.shape), images.device.type) for images, _ in loader]
    assert shapes == [((4, 3, 224, 224), device)] and isinstance(loader, StreamingLoader)
    images, labels = next(iter(make_loader(splits.test, 8, train=False, device=device)))
    assert images.shape == (3, 3, 224, 224) and labels.device.type == device
    assert [colour_class(image, splits.mean, splits.std) for image in images.cpu()] == labels.tolist()


def test_folder_errors_name_the_path(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("imagenet", root=tmp_path)
    assert str((tmp_path / "imagenet" / "train").resolve()) in str(error.value)
    with pytest.raises(DatasetNotFoundError, match="not offered"):
        load_dataset("tiny-imagenet", root=tmp_path, download=True)

    base = write_tiny_imagenet(tmp_path)
    empty = base / "train" / "n004"
    empty.mkdir()
    (base / "wnids.txt").unlink()
    with pytest.raises(DatasetFormatError, match=f"{empty}.*no images"):
        load_dataset("tiny-imagenet", root=tmp_path)
    empty.rmdir()

    small = base / "train" / "n002" / "images" / "n002_1.JPEG"
    save_image(small, COLOURS[1], size=(32, 32))
    splits = load_dataset("tiny-imagenet", root=tmp_path)  # sizes are checked when an image is read
    with pytest.raises(DatasetFormatError, match=f"{small} is 32x32 pixels.*64x64"):
        splits.train[4]
    with pytest.raises(DatasetFormatError, match=str(small)):
        load_dataset("tiny-imagenet", root=tmp_path, verify=True)

    save_image(small, COLOURS[1])
    corrupt = base / "val" / "images" / "val_2.JPEG"
    corrupt.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(DatasetFormatError, match=f"cannot decode image {corrupt}"):
        load_dataset("tiny-imagenet", root=tmp_path, verify=True)


def test_folder_loader_shards_and_workers(tmp_path):
    write_tiny_imagenet(tmp_path)
    splits = load_dataset("tiny-imagenet", root=tmp_path)
    shards = [
        [
            label
            for _, labels in make_loader(splits.train, 2, train=False, rank=r, world_size=2)
            for label in labels.tolist()
        ]
        for r in range(2)
    ]
    assert sorted(shards[0] + shards[1]) == sorted(splits.train.labels.tolist()) and len(shards[0]) == 5
    # One worker process: the data set must pickle, and the order must be the sampler's.
    loader = make_loader(splits.train, 3, train=True, num_workers=1, seed=5)
    loader.set_epoch(2)
    labels = [label for _, batch in loader for label in batch.tolist()]
    expected = splits.train.labels[epoch_order(9, shuffle=True, seed=5, epoch=2, equal_shards=True)]
    assert labels == expected.tolist()


# ------------------------------------------------- data that would decode to the wrong thing (issue 11)


def scanned(root: Path) -> tuple[list[str], list[str], list[int]]:
    """(class names, train paths, train labels) of the Tiny-ImageNet under ``root``, scanned fresh."""
    splits = load_dataset("tiny-imagenet", root=root)
    return (
        splits.class_names,
        [splits.train.path(i).name for i in range(len(splits.train))],
        splits.train.labels.tolist(),
    )


def test_symlinked_folders_count_each_image_once(tmp_path):
    base = write_tiny_imagenet(tmp_path)
    (base / "wnids.txt").unlink()
    expected = scanned(tmp_path)
    assert len(expected[1]) == 9
    # A class folder that is itself a link to storage elsewhere is fine and counted once.
    elsewhere = tmp_path / "storage" / "n003"
    (base / "train" / "n003").rename(elsewhere.parent.mkdir() or elsewhere)
    (base / "train" / "n003").symlink_to(elsewhere, target_is_directory=True)
    assert scanned(tmp_path)[1:] == expected[1:]
    # A link loop, a link into another class's folder, an image linked into a second class: refused.
    images = base / "train" / "n001" / "images"
    for link, target, message in [
        (images / "loop", images.parent, "link loop"),
        (images / "more", base / "train" / "n002" / "images", "another class's folder"),
        (images / "twin.JPEG", base / "train" / "n002" / "images" / "n002_0.JPEG", "same image file"),
    ]:
        link.symlink_to(target)
        with pytest.raises(DatasetFormatError, match=message) as error:
            load_dataset("tiny-imagenet", root=tmp_path)
        assert str(link.name) in str(error.value)
        link.unlink()
    assert scanned(tmp_path)[1:] == expected[1:]


def test_hidden_entries_are_neither_classes_nor_images(tmp_path):
    base = write_tiny_imagenet(tmp_path)
    (base / "wnids.txt").unlink()
    expected = scanned(tmp_path)
    save_image(base / "train" / ".ipynb_checkpoints" / "n001_0-checkpoint.JPEG", COLOURS[0])
    inside = base / "train" / "n001" / "images" / ".ipynb_checkpoints"
    save_image(inside / "n001_0-checkpoint.JPEG", COLOURS[0])
    (base / "train" / "n002" / "images" / "._n002_0.JPEG").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    assert scanned(tmp_path) == expected
    assert expected[0] == ["goldfish", "crane (n002)", "crane (n003)"]


def test_repeated_entries_of_a_class_list_or_label_table_are_refused(tmp_path):
    base = write_tiny_imagenet(tmp_path)
    (base / "wnids.txt").write_text("n001\nn002\nn003\nn002\n")
    with pytest.raises(DatasetFormatError, match="wnids.txt lists the class.*n002 more than once"):
        load_dataset("tiny-imagenet", root=tmp_path)
    (base / "wnids.txt").write_text("n001\nn002\nn003\n")
    table = base / "val" / "val_annotations.txt"
    table.write_text(table.read_text() + "val_0.JPEG\tn002\t0\t0\t63\t63\n")
    with pytest.raises(DatasetFormatError, match="line 7 lists val_0.JPEG again"):
        load_dataset("tiny-imagenet", root=tmp_path)


def _finishes(call, seconds: float = 60.0):
    """Run ``call`` in a thread; return what it raised (or None), failing if it is still running."""
    import threading

    outcome: list = []

    def target():
        try:
            call()
            outcome.append(None)
        except Exception as error:  # noqa: BLE001
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still running after {seconds} s: a FIFO was opened"
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_non_regular_files_named_like_images_are_refused_unopened(tmp_path):
    base = write_tiny_imagenet(tmp_path)
    fifo = base / "train" / "n002" / "images" / "n002_9.JPEG"
    os.mkfifo(fifo)
    error = _finishes(lambda: load_dataset("tiny-imagenet", root=tmp_path))
    assert isinstance(error, DatasetFormatError)
    assert str(fifo) in str(error) and "not a regular file" in str(error)
    fifo.unlink()
    broken = base / "train" / "n002" / "images" / "gone.png"
    broken.symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(DatasetFormatError, match="gone.png is named like an image but is not a regular file"):
        load_dataset("tiny-imagenet", root=tmp_path)


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path, mode):
    from PIL import Image

    from ldrrld_core.data.folders import open_rgb

    values = np.array([[0, 1, 128, 257, 1000], [32767, 32768, 40000, 65278, 65535]], dtype=np.int64)
    path = tmp_path / ("gray16.png" if mode == "I;16" else "gray32.tiff")  # older Pillow reads PNGs as "I"
    image = Image.fromarray(values.astype(np.uint16 if mode == "I;16" else np.int32))
    assert image.mode == mode
    image.save(path)
    rgb = np.asarray(open_rgb(path))
    expected = np.floor(values * 255 / 65535 + 0.5).astype(np.uint8)  # nearest 8-bit level
    assert rgb.shape == (2, 5, 3) and all(np.array_equal(rgb[..., c], expected) for c in range(3))
    assert rgb.max() == 255 and rgb[0, 4, 0] == 4, "1000 / 65535 of full scale is level 4, not white"
    Image.fromarray(values.astype(np.float32)).save(tmp_path / "float.tiff")
    with pytest.raises(DatasetFormatError, match="floating-point pixels"):
        open_rgb(tmp_path / "float.tiff")


def test_size_and_range_errors_are_not_reported_as_undecodable(tmp_path):
    from ldrrld_core.data.folders import open_rgb

    save_image(tmp_path / "small.png", COLOURS[0], size=(32, 32))
    with pytest.raises(DatasetFormatError) as error:
        open_rgb(tmp_path / "small.png", (64, 64))
    message = str(error.value)
    assert message.startswith(f"image {tmp_path / 'small.png'} is 32x32") and "decode" not in message


def test_decompression_bomb_gets_a_clear_error(tmp_path, monkeypatch):
    from PIL import Image

    from ldrrld_core.data.folders import open_rgb

    path = tmp_path / "bomb.png"
    Image.new("L", (200, 200)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 40 000 pixels: over twice the limit
    with pytest.raises(DatasetFormatError, match="bomb.png is too large to decode safely.*MAX_IMAGE_PIXELS"):
        open_rgb(path)


def test_a_bad_image_in_a_loader_worker_gives_the_files_one_line(tmp_path):
    base = write_tiny_imagenet(tmp_path)
    corrupt = base / "train" / "n002" / "images" / "n002_1.JPEG"
    corrupt.write_bytes(b"\xff\xd8 definitely not a jpeg")
    splits = load_dataset("tiny-imagenet", root=tmp_path)
    with pytest.raises(DatasetFormatError) as error:
        list(make_loader(splits.train, 3, train=False, num_workers=1))
    message = str(error.value)
    assert message.startswith(f"cannot decode image {corrupt}")
    assert "\n" not in message and "Traceback" not in message


def test_cifar100_float_labels_load_only_when_whole(tmp_path):
    written = write_tiny_cifar100(tmp_path)
    train = tmp_path / "cifar-100-python" / "train"
    content = pickle.loads(train.read_bytes())
    content[b"fine_labels"] = np.asarray(content[b"fine_labels"], dtype=np.float64)  # 3.0, 17.0, ...
    train.write_bytes(pickle.dumps(content))
    labels = load_dataset("cifar100", root=tmp_path).train.labels
    assert torch.equal(labels, torch.from_numpy(written["train"][1]))
    for bad in (3.7, float("nan"), float("inf")):
        content[b"fine_labels"][1] = bad
        train.write_bytes(pickle.dumps(content))
        with pytest.raises(DatasetFormatError, match="fine_labels' holds labels that are not whole numbers"):
            load_dataset("cifar100", root=tmp_path)
    content[b"fine_labels"] = [f"{label}" for label in written["train"][1]]
    train.write_bytes(pickle.dumps(content))
    with pytest.raises(DatasetFormatError, match="must be a list of integer labels"):
        load_dataset("cifar100", root=tmp_path)


def test_cifar100_meta_with_any_flipped_byte_loads_or_says_damaged(tmp_path):
    """Every single-byte flip of meta: either names come out, or a DatasetFormatError; nothing else."""
    from ldrrld_core.data.cifar100 import _names, read_cifar_pickle

    write_tiny_cifar100(tmp_path)
    meta = tmp_path / "cifar-100-python" / "meta"
    original = meta.read_bytes()
    outcomes = collections.Counter()
    for position in range(len(original)):
        damaged = bytearray(original)
        damaged[position] ^= 0xFF
        meta.write_bytes(bytes(damaged))
        try:
            content = read_cifar_pickle(meta)
            _names(content, "fine_label_names", meta), _names(content, "coarse_label_names", meta)
            outcomes["loaded"] += 1
        except DatasetFormatError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == len(original)
    # The two failures the adversarial pass met, made on purpose: a huge length and a garbled codec.
    meta.write_bytes(original.replace(b"latin1", b"lbtin1", 1))
    with pytest.raises(DatasetFormatError, match="LookupError"):
        read_cifar_pickle(meta)
    meta.write_bytes(b"\x80\x02]q\x00X\xff\xff\xff\x7f")  # a list, then a 2 GiB string that is not there
    with pytest.raises(DatasetFormatError, match="meta is not a valid CIFAR pickle"):
        read_cifar_pickle(meta)


def test_cifar100_download_offline_says_so(tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    with pytest.raises(DatasetNotFoundError, match="download .* failed .*URLError.*network connection"):
        load_dataset("cifar100", root=tmp_path, download=True)


# ----------------------------------------------------------------------------- device loader


@pytest.mark.parametrize("device", DEVICES)
def test_device_loader_visits_every_sample_once_per_epoch(device):
    dataset = id_dataset(103)
    loader = make_loader(dataset, 10, train=True, device=device, drop_last=False, seed=7)
    assert isinstance(loader, DeviceLoader) and len(loader) == 11
    first, second = epoch_labels(loader), epoch_labels(loader)  # iterating moves on to the next epoch
    assert sorted(first) == sorted(second) == list(range(103))
    assert first != second and loader.epoch == 2
    images, labels = next(iter(loader))
    assert images.device.type == labels.device.type == device and labels.dtype == torch.long

    loader.set_epoch(0)
    assert epoch_labels(loader) == first
    fresh = make_loader(dataset, 10, train=True, device=device, drop_last=False, seed=7)
    fresh.set_epoch(1)
    assert epoch_labels(fresh) == second
    assert epoch_labels(make_loader(dataset, 10, train=True, drop_last=False, seed=8)) != first
    assert epoch_labels(make_loader(dataset, 10, train=False)) == list(range(103))


def test_device_loader_order_is_device_independent_and_matches_streaming():
    dataset = id_dataset(50)
    device_order = epoch_labels(make_loader(dataset, 8, train=True, seed=3))
    streaming = make_loader(TensorDataset(dataset.images, dataset.labels), 8, train=True, seed=3)
    assert isinstance(streaming, StreamingLoader)
    assert epoch_labels(streaming) == device_order and len(device_order) == 48  # drop_last in training


@pytest.mark.parametrize("count, world_size", [(100, 3), (12, 4), (7, 2)])
def test_ddp_shards_are_disjoint_and_cover(count, world_size):
    dataset = id_dataset(count)

    def shards(train):
        return [
            epoch_labels(
                make_loader(dataset, 2, train=train, drop_last=False, seed=1, rank=rank, world_size=world_size)
            )
            for rank in range(world_size)
        ]

    training = shards(True)
    assert {len(shard) for shard in training} == {count // world_size}
    union = [i for shard in training for i in shard]
    assert len(set(union)) == len(union) == count - count % world_size
    evaluation = shards(False)
    assert sorted(i for shard in evaluation for i in shard) == list(range(count))
    assert max(map(len, evaluation)) - min(map(len, evaluation)) <= 1


def test_loader_lengths_and_argument_errors():
    dataset = id_dataset(25)
    for drop_last, batches, samples in ((True, 3, 24), (False, 4, 25)):
        loader = make_loader(dataset, 8, train=False, drop_last=drop_last)
        assert len(loader) == batches == len(list(loader)) and len(epoch_labels(loader)) == samples
    with pytest.raises(ValueError, match="drop_last=False"):
        make_loader(dataset, 64, train=True)
    with pytest.raises(ValueError, match="rank"):
        make_loader(dataset, 4, train=True, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(dataset, 0, train=True)
    with pytest.raises(ValueError, match="image-folder"):
        make_loader(dataset, 4, train=True, augment="imagenet")
    with pytest.raises(ValueError, match="unknown augmentation policy"):
        make_loader(dataset, 4, train=True, augment="mixup")
    with pytest.raises(ValueError, match="cannot apply augmentation 'cifar' to a TensorDataset"):
        make_loader(TensorDataset(dataset.images, dataset.labels), 4, train=True, augment="cifar")


# ----------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("device", DEVICES)
def test_random_crop_flip_matches_per_image_reference(device):
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(64, 3, 10, 12, generator=generator)
    offsets = torch.randint(0, 9, (64, 2), generator=generator)
    flips = torch.rand(64, generator=generator) < 0.5
    fill = [-1.5, 0.25, 2.0]
    result = random_crop_flip(images.to(device), offsets.to(device), flips.to(device), padding=4, fill=fill)
    torch.testing.assert_close(result.cpu(), reference_crop_flip(images, offsets, flips, 4, fill), rtol=0, atol=0)
    # Centred, unflipped crops are the identity.
    centre = torch.full((64, 2), 4)
    assert torch.equal(random_crop_flip(images, centre, torch.zeros(64, dtype=torch.bool)), images)


def test_loader_augmentation_crops_and_flips_with_black_padding():
    count, mean, std = 400, (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    # Each image: a left-right gradient (so flips show) with its id in pixel (.., 0, 0)-independent form: the label.
    ramp = torch.linspace(-1, 1, 16).expand(count, 3, 16, 16).clone()
    dataset = TensorImageDataset(ramp, torch.arange(count), mean=mean, std=std, augment="cifar")
    loader = make_loader(dataset, 100, train=True, seed=0)
    augmented = torch.cat([images for images, _ in loader])
    assert augmented.shape == (400, 3, 16, 16)

    black = torch.tensor([-m / s for m, s in zip(mean, std)]).view(1, 3, 1)
    inside = ~torch.isclose(augmented[:, :, 8, :], black.expand(count, 3, 16)).all(1)  # (N, W): not padding
    first_inside = inside.float().argmax(1)
    shift = torch.where(inside.any(1), first_inside, torch.zeros_like(first_inside))
    padded_left = shift > 0
    assert 0.2 < padded_left.float().mean() < 0.6  # left offsets 0..3 pad the left edge: 4/9
    assert not torch.equal(augmented, ramp)  # crops really happen
    # Flips: the visible ramp rises or falls along a row.
    row = augmented[:, 0, 8, 6:10]
    rising = (row[:, -1] > row[:, 0]).float().mean()
    assert 0.35 < rising < 0.65
    # Evaluation loaders leave images untouched, and a fixed (seed, epoch) fixes the augmentation.
    assert torch.equal(torch.cat([x for x, _ in make_loader(dataset, 100, train=False)]), ramp)
    loader.set_epoch(0)
    assert torch.equal(torch.cat([images for images, _ in loader]), augmented)


# ----------------------------------------------------------------------------- containers


def test_tensor_dataset_checks_and_helpers():
    dataset = id_dataset(6, mean=(0.5, 0.5, 0.5), std=(2.0, 2.0, 2.0))
    image, label = dataset[4]
    assert image.shape == (3, 8, 8) and label.item() == 4 and dataset.input_shape == (3, 8, 8)
    torch.testing.assert_close(dataset.pixels([1]), torch.full((1, 3, 8, 8), 2.5))
    assert dataset.subset([5, 0]).labels.tolist() == [5, 0] and dataset.subset([1]).mean == (0.5, 0.5, 0.5)
    assert dataset.to("cpu") is dataset
    with pytest.raises(ValueError, match="floating"):
        TensorImageDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2))
    with pytest.raises(ValueError, match="2 samples but labels hold 3"):
        TensorImageDataset(torch.zeros(2, 3, 4, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="3 channels"):
        TensorImageDataset(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), mean=(0.5,), std=(1.0,))
    with pytest.raises(ValueError, match="cannot be undone"):
        id_dataset(2).pixels()


def test_data_splits_checks_its_description():
    dataset = id_dataset(4)
    fields = dict(
        name="toy",
        train=dataset,
        test=dataset,
        num_classes=4,
        input_shape=(3, 8, 8),
        class_names=list("abcd"),
        superclass_of=torch.tensor([0, 0, 1, 1]),
        superclass_names=["x", "y"],
        mean=(0.0,) * 3,
        std=(1.0,) * 3,
        augment="none",
    )
    splits = DataSplits(**fields)
    assert splits.num_superclasses == 2 and "4 classes in 2 superclasses" in repr(splits)
    with pytest.raises(ValueError, match="splits.train"):
        make_loader(splits, 4, train=True)
    with pytest.raises(ValueError, match="3 class names for 4 classes"):
        DataSplits(**{**fields, "class_names": list("abc")})
    with pytest.raises(ValueError, match="outside 0..1"):
        DataSplits(**{**fields, "superclass_of": torch.tensor([0, 0, 1, 2])})


@pytest.mark.parametrize("suffix", [".png", ".JPEG", ".bmp", ".webp"])
def test_damaged_image_bytes_decode_or_give_a_dataset_error(tmp_path, suffix):
    from ldrrld_core.data.folders import open_rgb

    path = tmp_path / f"image{suffix}"
    save_image(path, COLOURS[2], size=(16, 12))
    original = path.read_bytes()
    rng = np.random.default_rng(1)
    variants = [original[:length] for length in range(0, len(original), max(1, len(original) // 60))]
    for position in rng.integers(0, len(original), size=120):
        flipped = bytearray(original)
        flipped[position] ^= int(rng.integers(1, 256))
        variants.append(bytes(flipped))
    unexpected = []
    for content in variants:
        path.write_bytes(content)
        try:
            image = open_rgb(path)
            assert image.mode == "RGB"
        except DatasetFormatError:
            pass
        except Exception as error:  # noqa: BLE001 - what the test looks for
            unexpected.append(f"{type(error).__name__}: {error}")
    assert not unexpected, unexpected[:3]
