"""Comparable runs: the fingerprint and both accuracies in every summary, ``ldrrld runs diff`` and
``runs table``, recipes as files, and the warnings for settings under which a loss term vanishes."""

from __future__ import annotations

import json
import statistics
import sys
import warnings
from pathlib import Path

import pytest
import torch

from ldrrld_core.cli import main as ldrrld
from ldrrld_core.data import load_dataset
from ldrrld_core.runs import diff_runs, find_runs, load_run, runs_table, table_markdown
from ldrrld_core.train import History, Recipe, check_loss_fits, fit, get_recipe
from ldrrld_core.train.degenerate import DegenerateLossWarning, degenerate_loss_reasons
from ldrrld_core.train.fingerprint import BEST_ON_TEST, accuracy_record
from ldrrld_core.train.recipe_files import read_recipe_file, write_recipe_file

QUICK = ["--epochs", "3", "--quiet", "--no-progress", "--device", "cpu"]


# ---------------------------------------------------------------------------- the summary's record
def test_summary_records_fingerprint_and_both_accuracies(tmp_path):
    recipe = get_recipe("digits", model="digits_mlp", teacher=None, loss="ce", epochs=4, out_dir=str(tmp_path))
    run = fit(recipe, progress=False)
    top1 = run.history.column("test_top1")
    best = max(range(len(top1)), key=lambda i: (top1[i], -i))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == json.loads(json.dumps(run.summary))
    assert (summary["top1_last"], summary["top1"]) == (top1[-1], top1[-1])
    assert (summary["top1_best"], summary["best_epoch"]) == (top1[best], best + 1)
    assert summary["top1_best_protocol"] == BEST_ON_TEST and "test split" in BEST_ON_TEST
    print_ = summary["fingerprint"]
    assert (print_["torch"], print_["cuda"]) == (torch.__version__, torch.version.cuda)
    assert print_["world_size"] == 1
    assert (print_["batch_per_process"], print_["batch_size"]) == (recipe.batch_size, recipe.batch_size)
    assert (print_["amp"], print_["compile"], print_["deterministic"], print_["device_type"]) == (
        "none",
        False,
        True,
        "cpu",
    )
    assert print_["deterministic_algorithms"] is True and print_["cudnn_benchmark"] is False
    numeric = print_["numeric_environment"]
    assert numeric["threads"] == torch.get_num_threads()
    assert numeric["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    from ldrrld_core import __version__

    assert print_["ldrrld"] == __version__ and "git_commit" in print_


def test_best_epoch_is_the_first_highest():
    history = History([{"epoch": e, "test_top1": t} for e, t in ((1, 10.0), (2, 30.0), (3, 30.0), (4, 20.0))])
    assert accuracy_record(history) | {"top1_best_protocol": None} == {
        "top1_last": 20.0,
        "top1_best": 30.0,
        "best_epoch": 2,
        "top1_best_protocol": None,
    }


# ------------------------------------------------------------------------------------ runs diff
@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Two identical digits runs (the second started from the first's recipe.json) and one with another lr."""
    root = tmp_path_factory.mktemp("runs")
    assert ldrrld(["train", "--recipe", "digits", "--model", "digits_mlp", *QUICK, "--out-dir", str(root / "a")]) == 0
    assert (
        ldrrld(["train", "--recipe-file", str(root / "a" / "recipe.json"), *QUICK, "--out-dir", str(root / "b")]) == 0
    )
    assert (
        ldrrld(
            [
                "train",
                "--recipe",
                "digits",
                "--model",
                "digits_mlp",
                *QUICK,
                "--lr",
                "0.03",
                "--out-dir",
                str(root / "c"),
            ]
        )
        == 0
    )
    return root


def test_a_runs_recipe_json_starts_an_identical_run(three_runs):
    a, b = load_run(three_runs / "a"), load_run(three_runs / "b")
    assert a.history.without("seconds") == b.history.without("seconds"), "bitwise the same curves on a CPU"
    assert {k: v for k, v in a.recipe.items() if k != "out_dir"} == {
        k: v for k, v in b.recipe.items() if k != "out_dir"
    }
    assert diff_runs(a, b).identical


def test_runs_diff_names_recipe_fields_and_where_curves_part(three_runs, capsys):
    difference = diff_runs(load_run(three_runs / "a"), load_run(three_runs / "c"))
    assert difference.recipe == {"lr": (0.02, 0.03)} and difference.fingerprint == {}
    assert difference.parting_epoch == 1 and difference.parting_metrics["lr"] == (0.02 * 1 / 2, 0.03 * 1 / 2)
    assert ldrrld(["runs", "diff", str(three_runs / "a"), str(three_runs / "c")]) == 0
    text = capsys.readouterr().out
    assert "recipe differs in 1 field(s):\n  lr: 0.02 -> 0.03" in text and "curves part at epoch 1" in text
    assert ldrrld(["runs", "diff", str(three_runs / "a"), str(three_runs / "b"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["identical"] is True


def _fake_run(folder: Path, recipe: Recipe, top1: list[float], fingerprint: dict | None = None) -> Path:
    """A run folder as the trainer writes it, with chosen test accuracies per epoch."""
    folder.mkdir(parents=True)
    rows = [
        {"epoch": e + 1, "lr": 0.05, "train_loss": 1.0, "test_top1": t, "seconds": 1.0 + e} for e, t in enumerate(top1)
    ]
    History(rows).save(folder)
    (folder / "recipe.json").write_text(json.dumps(recipe.replace(out_dir=str(folder)).to_dict()))
    summary = {
        "top1": top1[-1],
        "epochs": len(top1),
        **accuracy_record(History(rows)),
        "fingerprint": fingerprint or {"torch": "2.14.1", "device": "H200"},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_curves_part_at_the_first_epoch_beyond_the_tolerance(tmp_path):
    recipe = get_recipe("cifar100", epochs=4)
    a = load_run(_fake_run(tmp_path / "a", recipe, [10.0, 20.0, 30.0, 40.0]))
    b = load_run(
        _fake_run(tmp_path / "b", recipe, [10.0, 20.0 + 1e-9, 30.5, 40.0], {"torch": "2.5.0", "device": "H200"})
    )
    difference = diff_runs(a, b)
    assert (difference.parting_epoch, difference.parting_metrics) == (3, {"test_top1": (30.0, 30.5)})
    assert difference.fingerprint == {"torch": ("2.14.1", "2.5.0")} and difference.recipe == {}
    assert diff_runs(a, b, tolerance=1.0).parting_epoch is None, "0.5 points lie within a tolerance of 1"
    with pytest.raises(ValueError, match="tolerance"):
        diff_runs(a, b, tolerance=-1)


# ----------------------------------------------------------------------------------- runs table
def test_runs_table_aggregates_seeds_next_to_the_paper(tmp_path, capsys):
    ldrrld_ = get_recipe("cifar100", teacher="resnet32x4", model="resnet8x4", loss="ldrrld")
    kd = ldrrld_.replace(loss="kd")
    for seed, last in enumerate((77.0, 77.4, 76.9)):
        _fake_run(tmp_path / f"ldrrld-seed{seed}", ldrrld_.replace(seed=seed), [70.0, last + 0.6, last])
    for seed, last in enumerate((72.0, 72.2)):
        _fake_run(tmp_path / f"kd-seed{seed}", kd.replace(seed=seed), [70.0, last])
    _fake_run(tmp_path / "alone-seed0", ldrrld_.replace(loss="ce", teacher=None, model="vgg8"), [70.1])
    rows = {row["label"].split(" (")[0]: row for row in runs_table(find_runs([tmp_path]))}
    assert set(rows) == {"resnet32x4 -> resnet8x4 · ldrrld", "resnet32x4 -> resnet8x4 · kd", "vgg8 alone"}
    ours = rows["resnet32x4 -> resnet8x4 · ldrrld"]
    assert ours["seeds"] == [0, 1, 2]
    assert ours["last_mean"] == pytest.approx(statistics.fmean([77.0, 77.4, 76.9]))
    assert ours["last_std"] == pytest.approx(statistics.stdev([77.0, 77.4, 76.9]))
    assert ours["best_mean"] == pytest.approx(statistics.fmean([77.6, 78.0, 77.5]))
    (paper,) = ours["paper"]
    assert (paper["table"], paper["top1"]) == ("main", 77.20)
    assert paper["gap_last"] == pytest.approx(77.1 - 77.20) and paper["within_last"] is True
    assert paper["within_best"] is False, "best 77.70 ± 0.26 is 0.50 above: outside one std"
    (kd_paper,) = rows["resnet32x4 -> resnet8x4 · kd"]["paper"]
    assert kd_paper["top1"] == 73.33 and kd_paper["within_last"] is False
    alone = rows["vgg8 alone"]
    assert [p["top1"] for p in alone["paper"]] == [70.50] and alone["paper"][0]["within_last"] is None
    assert ldrrld(["runs", "table", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "| 77.10 ± 0.26 | 77.70 ± 0.26 | 77.20 (main) | -0.10 | +0.50 | yes / **no** |" in text
    assert "n/a (1 seed)" in text and text == table_markdown(runs_table(find_runs([tmp_path]))) + "\n"


def test_runs_commands_explain_missing_runs(tmp_path, capsys):
    assert ldrrld(["runs", "table", str(tmp_path)]) == 2
    assert "no finished run" in capsys.readouterr().err
    assert ldrrld(["runs", "diff", str(tmp_path), str(tmp_path)]) == 2
    assert "recipe.json, summary.json missing" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- recipe files
def test_recipe_file_round_trip(tmp_path, capsys):
    assert ldrrld(["recipes", "cifar100-authors", "--json", str(tmp_path / "r.json")]) == 0
    assert read_recipe_file(tmp_path / "r.json") == get_recipe("cifar100-authors")
    assert ldrrld(["recipes", "digits", "--json"]) == 0
    assert Recipe.from_dict(json.loads(capsys.readouterr().out)) == get_recipe("digits")
    recipe = get_recipe("synthetic", loss="dkd", seed=3)
    assert read_recipe_file(write_recipe_file(recipe, tmp_path / "s.json")) == recipe
    (tmp_path / "bad.json").write_text('{"modle": "resnet8"}')
    with pytest.raises(ValueError, match="no field 'modle'.*Did you mean 'model'"):
        read_recipe_file(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="ldrrld recipes NAME --json"):
        read_recipe_file(tmp_path / "missing.json")


def test_yaml_recipes_need_pyyaml_and_say_so(tmp_path, monkeypatch):
    path = tmp_path / "r.yaml"
    path.write_text("model: resnet8\nteacher: wrn_16_2\ndata: synthetic\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        pass
    else:
        assert read_recipe_file(path).model == "resnet8"
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ValueError, match="needs PyYAML"):
        read_recipe_file(path)


def test_recipe_file_options_conflict_and_overwrite_guard(three_runs, capsys):
    recipe_file = str(three_runs / "a" / "recipe.json")
    assert ldrrld(["train", "--recipe", "digits", "--recipe-file", recipe_file, *QUICK, "--out-dir", "none"]) == 2
    assert "either --recipe or --recipe-file" in capsys.readouterr().err
    assert ldrrld(["train", "--recipe-file", recipe_file, *QUICK, "--out-dir", str(three_runs / "a")]) == 2
    assert "would overwrite it" in capsys.readouterr().err


# ---------------------------------------------------------------------------- degenerate losses
class _Data:
    def __init__(self, num_classes: int):
        self.num_classes, self.name = num_classes, "fake"


def test_degenerate_loss_warnings():
    dkd = get_recipe("digits", loss="dkd")
    ldrrld_ = get_recipe("digits", loss="ldrrld", loss_options={"ldrrld": {"depth": 5}})
    assert len(degenerate_loss_reasons(dkd, 2)) == 1 and "NCKD" in degenerate_loss_reasons(dkd, 2)[0]
    assert degenerate_loss_reasons(dkd, 3) == []
    assert "RNTK" in degenerate_loss_reasons(ldrrld_, 5)[0] and degenerate_loss_reasons(ldrrld_, 6) == []
    no_rntk = ldrrld_.replace(loss="ldrrld-no-rntk", loss_options={"ldrrld-no-rntk": {"depth": 5}})
    assert degenerate_loss_reasons(no_rntk, 5) == [], "beta 0: nothing is lost"
    with pytest.warns(DegenerateLossWarning, match="NCKD"):
        check_loss_fits(dkd, _Data(2))
    with pytest.raises(ValueError, match="depth 5 but data set 'fake' has only 4 classes"):
        check_loss_fits(ldrrld_, _Data(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_loss_fits(ldrrld_, _Data(100))


def test_the_trainer_warns_once_at_the_start(capsys):
    data = load_dataset("digits")
    recipe = get_recipe("digits", epochs=2, loss="ldrrld", loss_options={"ldrrld": {"depth": data.num_classes}})
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with pytest.warns(DegenerateLossWarning) as caught:
        fit(recipe, teacher=teacher, data=data, progress=False)
    assert len([w for w in caught if w.category is DegenerateLossWarning]) == 1
    assert f"depth {data.num_classes} on {data.num_classes} classes" in str(caught[0].message)


def test_the_command_line_warns_once_even_after_training_the_teacher():
    with pytest.warns(DegenerateLossWarning) as caught:
        assert (
            ldrrld(
                [
                    "distill",
                    "--recipe",
                    "digits",
                    "--loss-option",
                    "depth=10",
                    "--train-teacher",
                    "--epochs",
                    "1",
                    "--quiet",
                    "--no-progress",
                    "--out-dir",
                    "none",
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
    assert len([w for w in caught if w.category is DegenerateLossWarning]) == 1


def test_git_commit_is_the_toolkits_own_or_none(monkeypatch, tmp_path):
    from ldrrld_core.train import fingerprint as module

    commit = module.git_commit()
    assert commit is None or len(commit.removesuffix("-dirty")) == 40
    module.git_commit.cache_clear()
    monkeypatch.setattr(module, "__file__", str(tmp_path / "site-packages" / "ldrrld_core" / "train" / "x.py"))
    try:
        assert module.git_commit() is None, "no checkout of the toolkit: no commit"
    finally:
        module.git_commit.cache_clear()
