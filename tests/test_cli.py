"""The ``ldrrld`` command line (``ldrrld study`` is tested in ``test_study.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ldrrld_core.cli import build_parser, main
from ldrrld_core.io import load_file
from ldrrld_core.losses import list_losses
from ldrrld_core.train import list_recipes

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--epochs", "1", "--no-progress", "--quiet"]


def run_cli(capsys, *argv: str) -> tuple[int, list[str], str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def last_json(lines: list[str]) -> dict:
    return json.loads(lines[-1])


@pytest.mark.parametrize("command", ["train", "distill", "demo"])
def test_help_teaches_with_examples(command):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    text = subparsers.choices[command].format_help()
    assert "examples:" in text and f"ldrrld {command}" in text
    assert "ldrrld demo" in parser.format_help()


def test_listings(capsys):
    status, lines, _ = run_cli(capsys, "recipes")
    assert status == 0 and [line.split()[0] for line in lines] == list_recipes()
    status, lines, _ = run_cli(capsys, "recipes", "cifar100-authors")
    assert json.loads("\n".join(lines))["schedule"] == "authors"
    status, lines, _ = run_cli(capsys, "losses")
    assert [line.split()[0] for line in lines] == list_losses()
    status, lines, _ = run_cli(capsys, "models", "--family", "digits")
    assert lines == ["digits: digits_cnn digits_mlp"]


def test_train_then_resume(capsys, tmp_path):
    status, lines, _ = run_cli(capsys, "train", "--recipe", "digits", "--out-dir", str(tmp_path), *QUICK)
    summary = last_json(lines)
    assert status == 0 and summary["epochs"] == 1 and summary["model"] == "digits_cnn" and summary["loss"] == "ce"
    assert {"top1", "top5", "seconds", "out_dir"} <= set(summary) and summary["out_dir"] == str(tmp_path)
    assert lines[0].split()[:2] == ["epoch", "lr"], "a history table comes before the JSON line"
    status, lines, _ = run_cli(capsys, "train", "--recipe", "digits", "--out-dir", str(tmp_path), "--resume",
                               "--no-progress", "--quiet", "--epochs", "2")
    assert status == 0 and last_json(lines)["epochs"] == 2
    assert [line.split()[0] for line in lines[1:-1]] == ["1", "2"], "the resumed history keeps epoch 1"


def test_distill_with_its_own_teacher_and_loss_options(capsys, tmp_path):
    status, lines, _ = run_cli(capsys, "distill", "--recipe", "digits", "--train-teacher", "--loss-option", "depth=5",
                               "--loss-option", "rank_by=teacher", "--set", "warmup_epochs=0",
                               "--out-dir", str(tmp_path), *QUICK)
    summary = last_json(lines)
    assert status == 0 and summary["loss"] == "ldrrld" and "teacher_top1" in summary
    recipe = json.loads((tmp_path / "recipe.json").read_text())
    assert recipe["loss_options"]["ldrrld"] == {"depth": 5, "rank_by": "teacher"} and recipe["warmup_epochs"] == 0
    assert (tmp_path / "teacher" / "student.pth").exists()
    # The teacher's weights file can be handed to a second distillation.
    teacher_file = str(tmp_path / "teacher" / "student.pth")
    status, lines, _ = run_cli(capsys, "distill", "--recipe", "digits", "--loss", "kd", "--teacher-checkpoint",
                               teacher_file, "--out-dir", "none", *QUICK)
    assert status == 0 and last_json(lines)["teacher_top1"] == pytest.approx(summary["teacher_top1"])
    assert load_file(teacher_file)["arch"] == "digits_cnn"


@pytest.mark.parametrize("argv, message", [
    (["distill", "--recipe", "digits", "--loss-option", "depth=11", "--train-teacher"], "depth 11"),
    (["distill", "--recipe", "digits"], "--train-teacher"),
    (["train", "--set", "epoch=3"], "Did you mean 'epochs'"),
    (["train", "--set", "epochs"], "KEY=VALUE"),
    (["train", "--epochs", "-1"], "epochs must be an integer >= 1"),
    (["distill", "--loss", "ce"], "ldrrld train"),
])
def test_errors_exit_2_with_a_message(capsys, tmp_path, argv, message):
    status, lines, err = run_cli(capsys, *argv, "--out-dir", str(tmp_path), "--no-progress", "--quiet")
    assert status == 2 and message in err and not lines


def test_demo_compares_every_method(capsys):
    status, lines, _ = run_cli(capsys, "demo", "--epochs", "1", "--no-progress", "--quiet",
                               "--methods", "ce", "ldrrld")
    result = last_json(lines)
    assert status == 0 and set(result["top1"]) == {"teacher", "ce", "ldrrld"}
    assert any(line.startswith("ldrrld") for line in lines[:-1]), "a comparison table before the JSON"


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "ldrrld_core", "losses"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0 and "ldrrld-no-adw" in done.stdout
