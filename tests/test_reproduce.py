"""The CIFAR-100 reproduction kit, and the two scripts the GPU check runs beside it.

``benchmarks/reproduce_cifar100.py`` runs here in its fast mode (tiny synthetic data, one epoch,
stand-in teachers in the standard layout), which goes through every code path of a real
reproduction: the teacher files, the exact ``ldrrld`` commands, resuming, collecting and the
paper-vs-measured table. ``benchmarks/train_step.py`` and ``benchmarks/gpu_check.sh`` run in
their smallest CPU forms.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import reproduce_cifar100 as kit  # noqa: E402

from ldrrld_core.cli import build_parser  # noqa: E402
from ldrrld_core.losses import LOSSES  # noqa: E402
from ldrrld_core.models import TEACHER_ACCURACY, list_models, load_standard_teacher  # noqa: E402

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
    paper = {(table.name, pair.key): dict(zip((c.loss for c in table.columns), numbers))
             for table in kit.TABLES for pair, numbers in table.rows}
    assert paper["main", "resnet32x4-resnet8x4"] == {"kd-mdistiller": 73.33, "dkd": 76.32, "ldrrld": 77.20}
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
    assert kit.main(["run", "--only", "resnet8-resnet8"]) == 2
    assert "unknown pair(s) resnet8-resnet8" in capsys.readouterr().err
    status = kit.main(["run", "--runs", str(tmp_path / "runs"), "--teachers", str(tmp_path / "teachers"),
                       "--only", "vgg13-vgg8"])
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
    assert "| 77.20 | 77.50 ± 0.71 |" in kit.markdown(kit.collect(settings))


# ---------------------------------------------------------------------------------- fast mode
@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("reproduce")
    assert kit.main(["run", "--fast", "--runs", str(runs)]) == 0
    return runs


def test_fast_run_fills_the_cells_of_its_pair(fast_run):
    results = json.loads((fast_run / "results.json").read_text())
    assert results["settings"]["fast"] is True
    for table in results["tables"]:
        for row in table["rows"]:
            filled = [cell["measured"] is not None for cell in row["cells"]]
            if (row["teacher"], row["student"]) == ("vgg13", "vgg8"):
                assert all(filled) and row["teacher_measured"] is not None, row
                assert all(0 <= cell["measured"] <= 100 and cell["seeds"] == [0] for cell in row["cells"])
            else:
                assert not any(filled) and row["teacher_measured"] is None, row
    text = (fast_run / "results.md").read_text()
    assert "| vgg13 -> vgg8 | 74.64 |" in text and "| resnet32x4 -> ShuffleV2 | 79.42 |  | 71.82 |  |" in text


def test_fast_run_used_standard_teacher_files_and_the_authors_preset(fast_run):
    teacher = load_standard_teacher("vgg13", fast_run / "teachers", num_classes=FAST_CLASSES)
    for loss in ("kd-mdistiller", "dkd", "ldrrld", "ldrrld-no-adw"):
        recipe = json.loads((fast_run / "vgg13-vgg8" / f"{loss}-seed0" / "recipe.json").read_text())
        assert (recipe["model"], recipe["teacher"], recipe["loss"]) == ("vgg8", "vgg13", loss)
        assert (recipe["name"], recipe["schedule"], recipe["data"]) == ("cifar100-authors", "authors", "synthetic")
        assert recipe["teacher_checkpoint"].endswith("teachers/vgg13_vanilla/ckpt_epoch_240.pth")
    alone = json.loads((fast_run / "alone" / "vgg8-seed0" / "recipe.json").read_text())
    assert (alone["model"], alone["loss"], alone["teacher"]) == ("vgg8", "ce", None)
    assert not teacher.training


def test_rerunning_continues_nothing_and_keeps_the_results(fast_run, capsys):
    student = fast_run / "vgg13-vgg8" / "ldrrld-seed0" / "student.pth"
    before = (student.stat().st_mtime_ns, json.loads((fast_run / "results.json").read_text()))
    assert kit.main(["run", "--fast", "--runs", str(fast_run)]) == 0
    assert (student.stat().st_mtime_ns, json.loads((fast_run / "results.json").read_text())) == before
    assert "stand-in teacher vgg13:" not in capsys.readouterr().out, "existing teacher files are reused"


def test_fast_commands_show_how_the_stand_in_teachers_are_made(fast_run, capsys):
    assert kit.main(["commands", "--fast", "--runs", str(fast_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("ldrrld train --model vgg13 --recipe cifar100-authors")
    assert len([line for line in lines if line.startswith("ldrrld ")]) == 1 + 5
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
    assert train_step.main(["--device", "cpu", "--batch", "2", "--repeats", "1", "--warmup", "0", "--threads", "1",
                            "--json", str(tmp_path / "step.json")]) == 0
    assert torch.get_num_threads() == threads
    row = json.loads((tmp_path / "step.json").read_text())[0]
    assert row["batch"] == 2 and row["kd_ms"] > 0 and row["ldrrld_ms"] > 0
    assert row["ldrrld_over_kd"] == pytest.approx(row["ldrrld_ms"] / row["kd_ms"], rel=1e-2)
    assert "| LDRRLD/KD |" in capsys.readouterr().out
    assert train_step.train_step is not trainer_step and len(calls) == 2, "one step of the trainer's per method"


def test_gpu_check_reports_failing_parts_and_goes_on(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PARTS": "torch bogus loss", "PART_TIMEOUT": "120",
           "TIMEOUT_loss": "2", "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, capture_output=True,
                          text=True, timeout=120)
    log = (tmp_path / "gpu_check.log").read_text()
    assert log == done.stdout, "the log holds everything the script printed"
    assert "== torch: ok" in log and f"torch {torch.__version__}" in log
    assert "== bogus: unknown part" in log
    assert "== loss: FAILED (timed out after 2 s)" in log, "the loss benchmark takes longer than 2 s"
    assert log.rstrip().endswith("ok: torch; failed: bogus(unknown) loss(timed out after 2 s)")
    assert done.returncode == 2, "the exit status counts the failed parts"
