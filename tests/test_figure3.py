"""The seed's Figure 3 in the kit: LDRRLD's top-1 against d as ordinary runs, their commands and their table."""

from __future__ import annotations

import json
import shlex

import pytest

from ldrrld_core.cli import build_parser
from ldrrld_core.cli.options import recipe_from
from ldrrld_core.reproduce import Settings
from ldrrld_core.reproduce.command import main as kit_main
from ldrrld_core.reproduce.figure3 import (
    FIGURE3_DEPTHS,
    figure3_commands,
    figure3_markdown,
    figure3_points,
    figure3_runs,
)


def test_every_command_trains_ldrrld_at_its_depth_on_the_real_pair(tmp_path):
    settings = Settings(runs=tmp_path, seeds=(0, 1))
    listing = figure3_commands(settings)
    assert [(d, s) for d, s, _ in listing] == [(d, s) for d in FIGURE3_DEPTHS for s in (0, 1)]
    parser = build_parser()
    for depth, seed, command in listing:
        recipe = recipe_from(parser.parse_args(shlex.split(command)[1:]))
        assert (recipe.loss, recipe.loss_hparams["depth"], recipe.seed) == ("ldrrld", depth, seed)
        assert (recipe.teacher, recipe.model, recipe.data) == ("resnet32x4", "resnet8x4", "cifar100")
        assert recipe.teacher_checkpoint.endswith("resnet32x4_vanilla/ckpt_epoch_240.pth")
    with pytest.raises(ValueError, match="depths must be whole numbers from 2 to the 100 classes"):
        figure3_commands(settings, depths=(1, 7))
    with pytest.raises(ValueError, match="depths must be"):
        figure3_commands(settings, depths=(101,))


def test_finished_runs_are_collected_into_the_figures_points(tmp_path):
    settings = Settings(runs=tmp_path, seeds=(0, 1))
    top1 = {(2, 0): 70.0, (2, 1): 72.0, (7, 0): 75.5}  # d 3 not run yet; d 7 one seed so far
    for depth, seed, folder in figure3_runs(settings, depths=(2, 3, 7)):
        if (depth, seed) in top1:
            folder.mkdir(parents=True)
            (folder / "summary.json").write_text(json.dumps({"top1_last": top1[depth, seed], "top1_best": 99.0}))
    points = figure3_points(settings, depths=(2, 3, 7))
    assert [(p["depth"], p["seeds"], p["mean"]) for p in points] == [(2, [0, 1], 71.0), (3, [], None), (7, [0], 75.5)]
    assert points[0]["std"] == pytest.approx(2**0.5) and points[2]["std"] is None
    table = figure3_markdown(points)
    assert "| 2 | 0, 1 | 71.00 | 1.41 |" in table and "| 3 | - | - | - |" in table


def test_the_kit_command(tmp_path, capsys):
    assert kit_main(["figure3", "--runs", str(tmp_path), "--seeds", "0", "--depths", "3", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# d = 3 · seed 0" and "--loss-option depth=9" in lines[3] and len(lines) == 4
    assert kit_main(["figure3", "--runs", str(tmp_path), "--collect", "--pair", "vgg13-vgg8"]) == 0
    assert "vgg13 -> vgg8 (the seed's Figure 3)" in capsys.readouterr().out
    assert kit_main(["figure3", "--depths", "1"]) == 2
