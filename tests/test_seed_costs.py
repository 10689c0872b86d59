"""GPU-hour estimates of the seed's Tables 3 and 4 (``ldrrld_core/reproduce/costs.py``) and the
CPU cost benchmark of their models (``benchmarks/model_costs.py``).

The FLOP count is checked against a plain count of the convolutions and linear layers of a real
forward; the estimate against its formula written out; the listing against the kit's commands.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ldrrld_core.reproduce import costs
from ldrrld_core.reproduce.seed_tables import TABLE3, TABLE4, seed_commands

ROOT = Path(__file__).resolve().parent.parent


def _plain_gflops(model: torch.nn.Module, image: int = 224) -> float:
    """2 x multiply-adds of every convolution and linear layer, read from a real forward's shapes."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += 2 * per_output * output.numel()
        elif isinstance(module, torch.nn.Linear):
            total += 2 * module.in_features * output.numel()

    for module in model.modules():
        module.register_forward_hook(count)
    with torch.inference_mode():
        model.eval()(torch.zeros(1, 3, image, image))
    return total / 1e9


@pytest.mark.parametrize(("name", "classes"), [("resnet18", 1000), ("mobilenet_v1", 1000), ("timm:ResNet18", 100)])
def test_the_flop_count_is_the_models_convolutions_and_linear_layers(name, classes):
    from ldrrld_core.models import create_model

    assert costs.forward_gflops(name, classes) == pytest.approx(_plain_gflops(create_model(name, num_classes=classes)))


def test_a_cells_estimate_is_its_formula():
    cell = costs.cell_cost(TABLE3, TABLE3.rows[0])
    s, t = costs.forward_gflops("resnet18", 1000), costs.forward_gflops("resnet34", 1000)
    flops = 100 * (1_281_167 * (3 * s + t) + 50_000 * s) * 1e9
    assert (cell.recipe, cell.epochs, cell.teacher_gflops) == ("imagenet", 100, t)
    assert cell.gpu_hours == pytest.approx(flops / (costs.ASSUMED_TFLOPS * 1e12 * 3600))
    alone = costs.cell_cost(TABLE4, TABLE4.rows[6], alone=True)  # ConvNeXt-T -> DeiT-T: the student alone
    assert (alone.recipe, alone.epochs, alone.teacher_gflops, alone.train_images) == (
        "cifar100-224-vit",
        300,
        None,
        50_000,
    )
    assert alone.gpu_hours < costs.cell_cost(TABLE4, TABLE4.rows[6]).gpu_hours
    assert "A100" in costs.ESTIMATE_NOTE and "not measured" in costs.ESTIMATE_NOTE


@pytest.mark.parametrize("table", [TABLE3, TABLE4], ids=["table3", "table4"])
def test_every_cell_the_kit_runs_has_an_estimate_and_only_those(table):
    listing, estimates = seed_commands(table), costs.seed_costs(table)
    assert len(listing) == len(estimates)
    for (pair, column, command), cost in zip(listing, estimates):
        assert (cost is None) == command.startswith("# quoted only"), (pair, column)
        if cost is not None:
            assert (cost.teacher_gflops is None) == (column == "student alone") and cost.gpu_hours > 0
    rows = costs.cost_markdown(table).splitlines()[2:]
    assert len(rows) == len(table.rows)


def test_the_seed_listing_prints_the_estimate_beside_every_runnable_cell(capsys):
    from ldrrld_core.reproduce.command import main as kit_main

    assert kit_main(["seed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    runnable = sum(not c.startswith("#") for t in (TABLE3, TABLE4) for _, _, c in seed_commands(t))
    assert sum(" GPU-h" in line and line.startswith("# ") and " · est. " in line for line in lines) == runnable
    assert any(line.startswith("# GPU-h: estimated GPU-hours on one NVIDIA A100") for line in lines)


def test_the_model_cost_benchmark_measures_one_model(tmp_path):
    out = tmp_path / "costs.json"
    command = [sys.executable, "benchmarks/model_costs.py", "--models", "timm:Swin-P", "--repeats", "1"]
    done = subprocess.run(
        [*command, "--threads", "1", "--json", str(out)], capture_output=True, text=True, cwd=ROOT, check=True
    )
    (row,) = json.loads(out.read_text())
    assert row["model"] == "timm:Swin-P" and row["classes"] == 100 and row["table"] == "4 S"
    assert (
        row["forward_ms"] > 0
        and row["step_peak_mib"] > 0
        and row["gflops"] == pytest.approx(costs.forward_gflops("timm:Swin-P", 100))
    )
    assert "| 4 S | timm:Swin-P | 100 |" in done.stdout
