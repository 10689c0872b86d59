"""The CIFAR-100 reproduction kit, and the two scripts the GPU check runs beside it.

The kit (``ldrrld_core.reproduce``, run by ``benchmarks/reproduce_cifar100.py``) runs here in its
fast mode (tiny synthetic data, one epoch, stand-in teachers in the standard layout), which goes
through every code path of a real reproduction: the teacher files and their check, the exact
``ldrrld`` commands with the baselines' per-pair settings, resuming, collecting and the
paper-vs-measured table. Fake CIFAR-format data and fake teacher files test the teacher check.
``benchmarks/train_step.py`` and ``benchmarks/gpu_check.sh`` run in their smallest CPU forms.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ldrrld_core import reproduce as kit
from ldrrld_core.cli import build_parser
from ldrrld_core.cli import main as ldrrld
from ldrrld_core.cli.options import recipe_from as _recipe_from
from ldrrld_core.io import atomic_save, sha256_file
from ldrrld_core.losses import LOSSES
from ldrrld_core.models import TEACHER_ACCURACY, create_model, list_models, load_standard_teacher
from ldrrld_core.reproduce.command import main as kit_main

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))  # train_step.py, a benchmark script

FAST_CLASSES = kit.FAST_DATA["num_superclasses"] * kit.FAST_DATA["classes_per_superclass"]


# ---------------------------------------------------------------------------------- the tables
def test_tables_hold_the_spec_pairs_and_numbers():
    cifar = set(list_models("cifar"))
    for table in kit.TABLES:
        assert {column.loss for column in table.columns} <= set(LOSSES)
        for pair, numbers in table.rows:
            assert {pair.teacher, pair.student} <= cifar, pair
            assert pair.teacher in TEACHER_ACCURACY, f"{pair.teacher} has no published checkpoint"
            assert all(50 < n < 80 for n in numbers)
    paper = {
        (table.name, pair.key): dict(zip((c.loss for c in table.columns), numbers))
        for table in kit.TABLES
        for pair, numbers in table.rows
    }
    assert paper["main", "resnet32x4-resnet8x4"] == {"kd": 73.33, "dkd": 76.32, "ldrrld": 77.20}
    assert paper["main", "resnet32x4-ShuffleV1"]["ldrrld"] == 76.46
    assert paper["ablation", "vgg13-vgg8"] == {"ce": 70.50, "ldrrld-no-adw": 74.25, "ldrrld": 74.46}
    assert paper["ablation", "resnet32x4-ShuffleV2"]["ce"] == 71.82
    assert (len(kit.MAIN.rows), len(kit.ABLATION.rows)) == (6, 4)


def test_full_commands_are_valid_ldrrld_commands_with_standard_teachers():
    settings = kit.Settings(seeds=(0, 1, 2))
    pairs = kit.select_pairs(None)
    runs = kit.cells(settings, pairs)
    # 6 x 3 main cells, 4 x 3 ablation cells less the shared vgg13 -> vgg8 LDRRLD and MobileNetV2 alone.
    assert len(runs) == 3 * (18 + 12 - 2)
    assert len({cell.out_dir(settings) for cell in runs}) == len(runs)
    parser = build_parser()
    for line in kit.commands(settings, pairs):
        words = shlex.split(line)
        assert words[0] == "ldrrld"
        args = parser.parse_args(words[1:])
        assert (args.recipe, args.resume, args.download) == ("cifar100-authors", True, True)
        if args.command == "distill":
            assert args.teacher_checkpoint == f"data/teachers/{args.teacher}_vanilla/ckpt_epoch_240.pth"
        else:
            assert args.command == "train" and "--teacher" not in words
    assert "--loss ldrrld-no-adw" in "\n".join(kit.commands(settings, kit.select_pairs(["resnet32x4-ShuffleV2"])))


def test_unknown_pair_and_missing_teachers_fail_before_any_run(tmp_path, capsys):
    assert kit_main(["run", "--only", "resnet8-resnet8"]) == 2
    assert "unknown pair(s) resnet8-resnet8" in capsys.readouterr().err
    status = kit_main(
        ["run", "--runs", str(tmp_path / "runs"), "--teachers", str(tmp_path / "teachers"), "--only", "vgg13-vgg8"]
    )
    assert status == 2
    assert "No checkpoint for the teacher 'vgg13'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists(), "nothing may run before every teacher file is there"


def test_measured_cells_average_finished_seeds_only(tmp_path):
    settings = kit.Settings(runs=tmp_path, seeds=(0, 1, 2))
    pair = kit.Pair("resnet32x4", "resnet8x4")
    for seed, top1, epochs in ((0, 77.0, 240), (1, 78.0, 240), (2, 10.0, 30)):  # seed 2 still running
        out_dir = kit.Cell(pair, "ldrrld", seed).out_dir(settings)
        out_dir.mkdir(parents=True)
        (out_dir / "recipe.json").write_text(json.dumps({"epochs": 240}))
        (out_dir / "summary.json").write_text(json.dumps({"top1": top1, "epochs": epochs, "teacher_top1": 79.4}))
    main_table = kit.collect(settings)["tables"][0]
    row = next(r for r in main_table["rows"] if r["student"] == "resnet8x4")
    ldrrld = row["cells"][2]
    assert (ldrrld["loss"], ldrrld["seeds"], ldrrld["measured"], ldrrld["paper"]) == ("ldrrld", [0, 1], 77.5, 77.20)
    assert ldrrld["std"] == pytest.approx(0.7071, abs=1e-4)
    assert row["cells"][0]["measured"] is None and row["teacher_measured"] == 79.4
    assert "| 77.20 | 77.50 ± 0.71 | 77.50 |" in kit.markdown(kit.collect(settings))


def _finished(settings, pair, loss, seed, top1, epochs=240):
    """A fake run folder: the recipe's epochs and a summary (``epochs`` below 240: still running)."""
    out_dir = kit.Cell(pair, loss, seed).out_dir(settings)
    out_dir.mkdir(parents=True)
    (out_dir / "recipe.json").write_text(json.dumps({"epochs": 240}))
    (out_dir / "summary.json").write_text(json.dumps({"top1": top1, "epochs": epochs}))


def test_the_kit_defaults_to_three_seeds():
    assert kit.Settings().seeds == kit.Settings.for_fast("runs").seeds == (0, 1, 2)
    from ldrrld_core.reproduce.command import build_parser as kit_parser
    from ldrrld_core.reproduce.command import settings_from

    assert settings_from(kit_parser().parse_args(["table"])).seeds == (0, 1, 2)


def test_paired_gaps_match_seeds_and_against_scipy(tmp_path):
    from scipy import stats as scipy_stats

    from ldrrld_core.study.stats import paired_power

    settings = kit.Settings(runs=tmp_path, seeds=(0, 1, 2, 3))
    pair, vgg = kit.Pair("resnet32x4", "resnet8x4"), kit.Pair("vgg13", "vgg8")
    for seed, top1 in enumerate([77.0, 77.6, 76.9, 77.4]):
        _finished(settings, pair, "ldrrld", seed, top1)
    for seed, top1 in enumerate([76.5, 76.8, 76.0, 70.0]):
        _finished(settings, pair, "dkd", seed, top1, epochs=240 if seed < 3 else 30)  # seed 3 still running
    for seed, top1 in ((1, 73.0), (3, 73.5)):  # KD finished seeds 1 and 3 only
        _finished(settings, pair, "kd", seed, top1)
    _finished(settings, vgg, "ldrrld", 0, 74.0)  # vgg13 -> vgg8: one seed of LDRRLD and DKD
    _finished(settings, vgg, "dkd", 0, 74.5)
    results = kit.collect(settings)
    gaps = {(g["student"], g["baseline"]): g for g in results["paired"]}
    assert list(gaps) == [("resnet8x4", "dkd"), ("resnet8x4", "kd"), ("vgg8", "dkd")], "once per pair, DKD first"
    dkd = gaps["resnet8x4", "dkd"]
    assert dkd["seeds"] == [0, 1, 2] and dkd["differences"] == pytest.approx([0.5, 0.8, 0.9])
    low, high = scipy_stats.t.interval(0.95, 2, loc=np.mean([0.5, 0.8, 0.9]), scale=scipy_stats.sem([0.5, 0.8, 0.9]))
    assert dkd["mean"] == pytest.approx(0.7333333) and dkd["ci95"] == pytest.approx([low, high])
    sd = np.std([0.5, 0.8, 0.9], ddof=1)
    assert dkd["sd"] == pytest.approx(sd) and dkd["target_gap"] == 0.3
    # the fewest seeds whose paired t-test finds a 0.3-point gap with 80% power: a linear scan agrees
    assert dkd["seeds_for_gap"] == next(n for n in range(2, 1000) if paired_power(n, 0.3, sd) >= 0.8)
    kd = gaps["resnet8x4", "kd"]
    assert kd["seeds"] == [1, 3] and kd["differences"] == pytest.approx([4.6, 3.9])
    one = gaps["vgg8", "dkd"]
    assert one["differences"] == [-0.5] and one["ci95"] is None and one["sd"] is None and one["seeds_for_gap"] is None
    text = kit.markdown(results)
    assert "### LDRRLD against DKD and KD, paired by seed" in text
    assert (
        f"| resnet32x4 -> resnet8x4 | LDRRLD - DKD | 0, 1, 2 | +0.50, +0.80, +0.90 | +0.73 | [{low:+.2f}, {high:+.2f}] "
        f"| {sd:.2f} | {dkd['seeds_for_gap']} |" in text
    )
    assert "| vgg13 -> vgg8 | LDRRLD - DKD | 0 | -0.50 | -0.50 |  |  |  |" in text
    assert "seeds for 0.3" in text


def test_paired_gaps_without_matched_seeds(tmp_path):
    settings = kit.Settings(runs=tmp_path)
    _finished(settings, kit.Pair("resnet32x4", "resnet8x4"), "ldrrld", 0, 77.0)
    results = kit.collect(settings)
    assert results["paired"] == []
    assert "No pair has finished LDRRLD and baseline runs on a common seed yet." in kit.markdown(results)


# ------------------------------------------------------------------------ the baselines' settings
def test_per_pair_baseline_settings_follow_the_published_configs():
    main = {pair.key: pair for pair in kit.MAIN.pairs}
    beta = {key: kit.baseline_setting(pair, "dkd").options["beta"] for key, pair in main.items()}
    # mdistiller configs/cifar100/dkd/*.yaml: BETA 2 (res56_res20), 6 (vgg13_vgg8, wrn40_2_wrn_16_2),
    # otherwise the default 8.
    assert beta == {
        "resnet56-resnet20": 2.0,
        "resnet110-resnet20": 2.0,
        "resnet32x4-resnet8x4": 8.0,
        "wrn_40_2-wrn_16_2": 6.0,
        "vgg13-vgg8": 6.0,
        "resnet32x4-ShuffleV1": 8.0,
    }
    assert kit.DKD_BETA["resnet110", "resnet32"][0] == 2.0
    unpublished = [key for key, pair in main.items() if not kit.baseline_setting(pair, "dkd").published]
    assert unpublished == ["resnet110-resnet20"], "the one main-table pair mdistiller has no DKD config for"
    for pair in main.values():
        dkd = kit.baseline_setting(pair, "dkd")
        assert {k: v for k, v in dkd.options.items() if k != "beta"} == {
            "alpha": 1.0,
            "temperature": 4.0,
            "ce_weight": 1.0,
            "warmup_epochs": 20,
        }
        assert "mdistiller" in dkd.source and kit.baseline_setting(pair, "kd") == kit.KD_SETTING
    assert dict(kit.KD_SETTING.options) == {"temperature": 4.0, "ce_weight": 0.1, "kd_weight": 0.9}
    assert "RepDistiller" in kit.KD_SETTING.source
    assert kit.baseline_setting(main["vgg13-vgg8"], "ldrrld") is None
    rows = kit.baseline_settings()
    assert len(rows) == 2 * len(main) and all(row["source"] for row in rows)
    table = kit.settings_markdown()
    assert "| vgg13 -> vgg8 | dkd | alpha 1, beta 6, temperature 4, ce_weight 1, warmup_epochs 20 | yes |" in table
    assert "| resnet110 -> resnet20 | dkd |" in table and "**no**" in table
    with pytest.raises(ValueError, match="no DKD setting for resnet32x4 -> MobileNetV2"):
        kit.baseline_setting(kit.Pair("resnet32x4", "MobileNetV2"), "dkd")


def test_commands_pass_the_baseline_settings_explicitly():
    """The loss each command builds has the pair's settings, whatever the loss's own defaults are."""
    settings, parser = kit.Settings(), build_parser()
    built = {}
    for line in kit.commands(settings, kit.select_pairs(["wrn_40_2-wrn_16_2", "resnet32x4-resnet8x4"])):
        args = parser.parse_args(shlex.split(line)[1:])
        if args.command == "distill":
            recipe = _recipe_from(args)
            built[args.teacher, recipe.loss] = recipe.build_loss().hparams()
    assert built["wrn_40_2", "dkd"]["beta"] == 6.0 and built["resnet32x4", "dkd"]["beta"] == 8.0
    assert built["wrn_40_2", "dkd"]["warmup_epochs"] == 20
    assert (built["wrn_40_2", "kd"]["ce_weight"], built["wrn_40_2", "kd"]["kd_weight"]) == (0.1, 0.9)
    assert built["wrn_40_2", "kd"]["temperature"] == 4.0
    vgg = kit.commands(settings, kit.select_pairs(["vgg13-vgg8"]))
    ldrrld_line = next(line for line in vgg if "--loss ldrrld " in line)
    assert "--loss-option" not in ldrrld_line, "LDRRLD runs with its own defaults"


def _cli_recipe(parser, line: str):
    """The recipe ``ldrrld`` builds from a printed command line (what ``train`` or ``distill`` would run)."""
    args = parser.parse_args(shlex.split(line)[1:])
    if args.command == "train":
        return _recipe_from(args, model=args.model, loss="ce", teacher=None, teacher_checkpoint=None)
    return _recipe_from(args)


def test_every_printed_command_builds_the_recipe_the_kit_runs(tmp_path):
    """The kit runs ``Cell.recipe`` through the Python API; the command it prints must say the same run."""
    from ldrrld_core.reproduce.kit import _fast_teacher_runs

    parser, pairs = build_parser(), kit.select_pairs(None)
    full = kit.Settings(seeds=(0, 1), extra=("--set", "amp=bf16", "--set=compile=true", "--set", "save_every=5"))
    fast = kit.Settings.for_fast(tmp_path, teacher_epochs=2, extra=("--set", "weight_decay=0.001"))
    for settings in (full, fast):
        runs = kit.cells(settings, pairs)
        lines = kit.commands(settings, pairs)
        assert len(runs) == len(lines) > 0
        for cell, line in zip(runs, lines):
            recipe = cell.recipe(settings)
            assert recipe == _cli_recipe(parser, line), line
    stand_ins = _fast_teacher_runs(pairs)
    for stand_in, line in zip(stand_ins, kit.teacher_commands(fast, pairs), strict=True):
        recipe = stand_in.recipe(fast)
        assert recipe == _cli_recipe(parser, line) and (recipe.epochs, recipe.loss) == (2, "ce")
    dkd = kit.Cell(kit.Pair("wrn_40_2", "wrn_16_2"), "dkd", 1).recipe(full)
    assert (dkd.amp, dkd.compile, dkd.save_every, dkd.seed) == ("bf16", True, 5, 1)
    assert dkd.build_loss().hparams()["beta"] == 6.0, "the pair's own DKD setting"
    assert kit.Cell(kit.Pair("vgg13", "vgg8"), "ce", 0).recipe(fast).data == "synthetic"


@pytest.mark.parametrize(
    "extra, message",
    [
        ("--amp bf16", "--extra takes recipe fields as --set FIELD=VALUE"),
        ("--set amp", "--set expects FIELD=VALUE"),
        ("--set nonsense=1", "nonsense"),
        ("--set seed=3", "--extra sets seed, which the kit sets for its runs"),
    ],
)
def test_extra_settings_the_kit_cannot_honour_fail_before_any_run(tmp_path, capsys, extra, message):
    assert kit_main(["commands", "--fast", "--runs", str(tmp_path / "runs"), "--extra", extra]) == 2
    assert message in capsys.readouterr().err
    assert kit_main(["run", "--fast", "--runs", str(tmp_path / "runs"), "--extra", extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists(), "nothing may run with a setting the kit refuses"


# ------------------------------------------------------------------------------ the teacher check
def write_fake_cifar100(root: Path, test_per_class: int = 1, seed: int = 0) -> Path:
    """CIFAR-100 in the archive's format: 100 classes, one train and ``test_per_class`` test images each."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for split, count in (("train", 1), ("test", test_per_class)):
        fine = np.repeat(np.arange(100), count)
        content = {
            b"data": rng.integers(0, 256, (len(fine), 3072), dtype=np.uint8),
            b"fine_labels": fine.tolist(),
            b"coarse_labels": (fine // 5).tolist(),
        }
        (folder / split).write_bytes(pickle.dumps(content, protocol=2))
    meta = {
        b"fine_label_names": [f"c{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"s{i}".encode() for i in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def write_fake_teacher(root: Path, name: str, seed: int = 0) -> Path:
    """Random weights of ``name`` in the standard layout ``<root>/<name>_vanilla/ckpt_epoch_240.pth``."""
    torch.manual_seed(seed)
    path = root / f"{name}_vanilla" / "ckpt_epoch_240.pth"
    atomic_save({"model": create_model(name).state_dict(), "epoch": 240}, path)
    return path


@pytest.fixture(scope="module")
def fake_cifar(tmp_path_factory):
    return write_fake_cifar100(tmp_path_factory.mktemp("cifar"))


def _check(measured: float, published: float | None, margin: float = 1.0) -> kit.TeacherCheck:
    return kit.TeacherCheck(
        name="resnet32x4",
        file="f.pth",
        sha256="0" * 64,
        parameters=1,
        data="cifar100",
        test_samples=10000,
        measured_top1=measured,
        published_top1=published,
        source="s",
        margin=margin,
    )


def test_teacher_margin_logic():
    assert _check(78.50, 79.42).verdict == "ok" and _check(78.50, 79.42).gap == pytest.approx(0.92)
    assert _check(78.40, 79.42).verdict == "below published" and _check(78.40, 79.42).below
    assert _check(80.00, 79.42).verdict == "ok", "better than published is fine"
    assert _check(78.40, 79.42, margin=1.5).verdict == "ok"
    with pytest.raises(ValueError, match="margin must be >= 0"):
        kit.check_teacher("resnet32x4", margin=-1)
    assert _check(10.0, None).verdict == "no published accuracy" and not _check(10.0, None).below
    assert "THE TEACHER IS BELOW" in _check(70.0, 79.42).message()
    assert kit.published_teacher("resnet32x4") == (79.42, kit.TEACHER_SOURCE)
    assert kit.published_teacher("resnet8x4") is None
    assert {name: kit.published_teacher(name)[0] for name in TEACHER_ACCURACY} == {
        "resnet56": 72.34,
        "resnet110": 74.31,
        "resnet32x4": 79.42,
        "wrn_40_2": 75.61,
        "vgg13": 74.64,
        "ResNet50": 79.34,
    }


def test_teacher_check_measures_hashes_and_warns_or_refuses(tmp_path, fake_cifar):
    path = write_fake_teacher(tmp_path / "teachers", "resnet56")
    from ldrrld_core.data import load_dataset

    data = load_dataset("cifar100", fake_cifar)
    with pytest.warns(kit.TeacherBelowPublishedWarning, match="resnet56.*BELOW ITS PUBLISHED"):
        check = kit.check_teacher("resnet56", root=tmp_path / "teachers", data=data, device="cpu")
    model = create_model("resnet56", checkpoint=path).eval()
    with torch.inference_mode():
        hits = (model(data.test.images).argmax(1) == data.test.labels).sum().item()
    assert check.measured_top1 == pytest.approx(100.0 * hits / 100, abs=1e-6)
    assert (check.sha256, check.parameters) == (sha256_file(path), sum(p.numel() for p in model.parameters()))
    assert (check.published_top1, check.test_samples, check.below) == (72.34, 100, True)
    with pytest.raises(ValueError, match="Refusing"):
        kit.check_teacher(path, data=data, strict=True, device="cpu")  # a file: the folder names the model
    calm = kit.check_teacher(path, data=data, published=check.measured_top1 + 0.5, device="cpu")
    assert calm.verdict == "ok" and calm.source == "given"
    assert "| verdict | ok |" in calm.markdown() and f"| sha256 | {check.sha256} |" in calm.markdown()
    saved = json.loads(calm.save(tmp_path / "check.json").read_text())
    assert saved["sha256"] == check.sha256 and saved["verdict"] == "ok" and saved["gap"] == pytest.approx(0.5)
    other = tmp_path / "elsewhere.pth"
    other.write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match="cannot tell the architecture"):
        kit.check_teacher(other, data=data)
    assert kit.resolve_teacher(other, arch="resnet56") == ("resnet56", other)


def test_teacher_check_command(tmp_path, fake_cifar, capsys):
    write_fake_teacher(tmp_path / "teachers", "resnet56")
    common = [
        "teacher",
        "check",
        "resnet56",
        "--teacher-root",
        str(tmp_path / "teachers"),
        "--data-root",
        str(fake_cifar),
        "--device",
        "cpu",
    ]
    with pytest.warns(kit.TeacherBelowPublishedWarning):
        assert ldrrld([*common, "--json", str(tmp_path / "check.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1]) == json.loads((tmp_path / "check.json").read_text())
    assert json.loads(out[-1])["verdict"] == "below published"
    assert ldrrld([*common, "--strict"]) == 2
    assert "Refusing (--strict)" in capsys.readouterr().err
    assert ldrrld(["teacher", "check", "resnet110", "--teacher-root", str(tmp_path / "teachers")]) == 2
    assert "No checkpoint for the teacher 'resnet110'" in capsys.readouterr().err


def test_cifar_presets_find_the_standard_teacher(tmp_path, fake_cifar, capsys):
    arguments = [
        "distill",
        "--recipe",
        "cifar100",
        "--teacher",
        "resnet56",
        "--model",
        "resnet8",
        "--data-root",
        str(fake_cifar),
        "--epochs",
        "1",
        "--set",
        "warmup_epochs=0",
        "--set",
        "decay_epochs=",
        "--out-dir",
        str(tmp_path / "run"),
        "--quiet",
        "--no-progress",
        "--device",
        "cpu",
    ]
    assert ldrrld([*arguments, "--teacher-root", str(tmp_path / "teachers")]) == 2
    error = capsys.readouterr().err
    assert "No checkpoint for the teacher 'resnet56'" in error
    assert "resnet56_vanilla/ckpt_epoch_240.pth" in error
    path = write_fake_teacher(tmp_path / "teachers", "resnet56")
    # Every distillation on CIFAR-100 compares its teacher with the published number first: a
    # random resnet56 is far below 72.34%, so the run warns and records the gap.
    with pytest.warns(kit.TeacherBelowPublishedWarning, match="resnet56 measures .* below its published 72.34"):
        assert ldrrld([*arguments, "--teacher-root", str(tmp_path / "teachers")]) == 0
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["teacher_checkpoint"] == str(path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["teacher_published_top1"] == 72.34
    assert summary["teacher_published_gap"] == pytest.approx(72.34 - summary["teacher_top1"])


def test_distillation_compares_only_standard_cifar_teachers_with_published_numbers():
    from ldrrld_core.train import get_recipe
    from ldrrld_core.train.loop import compare_with_published

    cifar = get_recipe("cifar100", teacher="resnet32x4")
    assert compare_with_published(cifar, 79.0) == {
        "teacher_published_top1": 79.42,
        "teacher_published_gap": pytest.approx(0.42),
    }
    with pytest.warns(kit.TeacherBelowPublishedWarning):
        compare_with_published(cifar, 78.0)
    assert compare_with_published(cifar.replace(teacher="resnet8x4"), 10.0) == {}, "no published number"
    assert compare_with_published(get_recipe("digits"), 10.0) == {}, "not CIFAR-100"


# ---------------------------------------------------------------------------------- fast mode
@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("reproduce")
    assert kit_main(["run", "--fast", "--runs", str(runs)]) == 0
    return runs


def test_fast_run_fills_the_cells_of_its_pair(fast_run):
    results = json.loads((fast_run / "results.json").read_text())
    assert results["settings"]["fast"] is True
    for table in results["tables"]:
        for row in table["rows"]:
            filled = [cell["measured"] is not None for cell in row["cells"]]
            if (row["teacher"], row["student"]) == ("vgg13", "vgg8"):
                assert all(filled) and row["teacher_measured"] is not None, row
                assert all(0 <= cell["measured"] <= 100 and cell["seeds"] == [0, 1, 2] for cell in row["cells"])
            else:
                assert not any(filled) and row["teacher_measured"] is None, row
    assert [(g["student"], g["baseline"], g["seeds"]) for g in results["paired"]] == [
        ("vgg8", "dkd", [0, 1, 2]),
        ("vgg8", "kd", [0, 1, 2]),
    ], "the default three seeds give LDRRLD's paired gaps"
    text = (fast_run / "results.md").read_text()
    assert "| vgg13 -> vgg8 | LDRRLD - DKD | 0, 1, 2 |" in text
    assert "| vgg13 -> vgg8 | 74.64 |" in text and "| resnet32x4 -> ShuffleV2 | 79.42 |  | 71.82 |  |" in text


def test_fast_run_used_standard_teacher_files_and_the_authors_preset(fast_run):
    teacher = load_standard_teacher("vgg13", fast_run / "teachers", num_classes=FAST_CLASSES)
    for loss in ("kd", "dkd", "ldrrld", "ldrrld-no-adw"):
        recipe = json.loads((fast_run / "vgg13-vgg8" / f"{loss}-seed0" / "recipe.json").read_text())
        assert (recipe["model"], recipe["teacher"], recipe["loss"]) == ("vgg8", "vgg13", loss)
        assert (recipe["name"], recipe["schedule"], recipe["data"]) == ("cifar100-authors", "authors", "synthetic")
        assert recipe["teacher_checkpoint"].endswith("teachers/vgg13_vanilla/ckpt_epoch_240.pth")
    check = json.loads((fast_run / "teacher-checks" / "vgg13.json").read_text())
    assert check["verdict"] == "no published accuracy", "stand-in teachers are compared with nothing"
    assert check["sha256"] == sha256_file(fast_run / "teachers" / "vgg13_vanilla" / "ckpt_epoch_240.pth")
    for loss in ("kd", "dkd", "ldrrld", "ldrrld-no-adw"):
        folder = fast_run / "vgg13-vgg8" / f"{loss}-seed0"
        assert json.loads((folder / kit.TEACHER_CHECK_FILE).read_text()) == check
    dkd = json.loads((fast_run / "vgg13-vgg8" / "dkd-seed0" / "recipe.json").read_text())
    assert dkd["loss_options"]["dkd"]["beta"] == 6.0
    summary = json.loads((fast_run / "vgg13-vgg8" / "dkd-seed0" / "summary.json").read_text())
    assert summary["top1_last"] == summary["top1"] and summary["fingerprint"]["batch_per_process"] == 16
    alone = json.loads((fast_run / "alone" / "vgg8-seed0" / "recipe.json").read_text())
    assert (alone["model"], alone["loss"], alone["teacher"]) == ("vgg8", "ce", None)
    assert not teacher.training


def test_rerunning_continues_nothing_and_keeps_the_results(fast_run, capsys):
    student = fast_run / "vgg13-vgg8" / "ldrrld-seed0" / "student.pth"
    before = (student.stat().st_mtime_ns, json.loads((fast_run / "results.json").read_text()))
    assert kit_main(["run", "--fast", "--runs", str(fast_run)]) == 0
    assert (student.stat().st_mtime_ns, json.loads((fast_run / "results.json").read_text())) == before
    assert "stand-in teacher vgg13:" not in capsys.readouterr().out, "existing teacher files are reused"


def test_fast_commands_show_how_the_stand_in_teachers_are_made(fast_run, capsys):
    assert kit_main(["commands", "--fast", "--runs", str(fast_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("ldrrld train --model vgg13 --recipe cifar100-authors")
    assert len([line for line in lines if line.startswith("ldrrld ")]) == 1 + 5 * 3  # a teacher, 5 cells x 3 seeds
    assert all("--data synthetic" in line for line in lines if line.startswith("ldrrld "))


# ------------------------------------------------------------------------ the GPU check's scripts
def test_train_step_benchmark_times_kd_and_ldrrld(capsys, tmp_path, monkeypatch):
    import train_step

    from ldrrld_core.train import train_step as trainer_step

    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return trainer_step(*args, **kwargs)

    monkeypatch.setattr(train_step, "train_step", counted)
    threads = torch.get_num_threads()
    assert (
        train_step.main(
            [
                "--device",
                "cpu",
                "--batch",
                "2",
                "--repeats",
                "1",
                "--warmup",
                "0",
                "--threads",
                "1",
                "--json",
                str(tmp_path / "step.json"),
            ]
        )
        == 0
    )
    assert torch.get_num_threads() == threads
    row = json.loads((tmp_path / "step.json").read_text())[0]
    assert row["batch"] == 2 and row["kd_ms"] > 0 and row["ldrrld_ms"] > 0
    assert row["ldrrld_over_kd"] == pytest.approx(row["ldrrld_ms"] / row["kd_ms"], rel=1e-2)
    assert "| LDRRLD/KD |" in capsys.readouterr().out
    assert train_step.train_step is not trainer_step and len(calls) == 2, "one step of the trainer's per method"


def test_gpu_check_reports_failing_parts_and_goes_on(tmp_path):
    env = {
        **os.environ,
        "OUT": str(tmp_path),
        "PARTS": "torch bogus loss",
        "PART_TIMEOUT": "120",
        "TIMEOUT_loss": "2",
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    log = (tmp_path / "gpu_check.log").read_text()
    assert log == done.stdout, "the log holds everything the script printed"
    assert "== torch: ok" in log and f"torch {torch.__version__}" in log
    assert "== bogus: unknown part" in log
    assert "== loss: FAILED (timed out after 2 s)" in log, "the loss benchmark takes longer than 2 s"
    assert log.rstrip().endswith("ok: torch; failed: bogus(unknown) loss(timed out after 2 s)")
    assert done.returncode == 2, "the exit status counts the failed parts"


def test_docs_show_the_kits_settings_table():
    """One table of the baselines' settings: docs/reproduce.md holds the kit's own, verbatim."""
    assert kit.settings_markdown() in (ROOT / "docs" / "reproduce.md").read_text()
