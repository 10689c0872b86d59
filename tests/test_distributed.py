"""Data-parallel training with two CPU processes (Gloo): the ranks agree and the model learns."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ldrrld_core.train import DistributedContext, current_context, get_recipe

WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker(rank: int, port: int, folder: str) -> None:
    """One rank: join the group as torchrun would, distil for two epochs, save what it holds."""
    from ldrrld_core.models import create_model
    from ldrrld_core.train import close_distributed, fit, init_distributed

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE)
    )
    torch.set_num_threads(1)
    context = init_distributed("cpu")
    assert (context.rank, context.world_size) == (rank, WORLD_SIZE) and dist.get_backend() == "gloo"
    torch.manual_seed(0)
    teacher = create_model("digits_cnn")  # the same (untrained) teacher on both ranks
    recipe = get_recipe("digits", loss="kd", epochs=2, warmup_epochs=0, decay_epochs=(), out_dir=f"{folder}/run")
    run = fit(recipe, teacher=teacher, device="cpu", progress=False)
    torch.save(
        {"model": run.model.state_dict(), "history": run.history.without("seconds").rows}, f"{folder}/rank{rank}.pt"
    )
    close_distributed()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(folder)), nprocs=WORLD_SIZE, join=True)
    return folder, [torch.load(folder / f"rank{r}.pt") for r in range(WORLD_SIZE)]


def test_ranks_hold_identical_weights_and_history(ranks):
    _, (first, second) = ranks
    assert first["model"].keys() == second["model"].keys()
    assert all(torch.equal(first["model"][k], second["model"][k]) for k in first["model"])
    assert first["history"] == second["history"], "metrics must be all-reduced, so every rank reports the same"


def test_training_under_ddp_learns(ranks):
    _, (first, _) = ranks
    losses = [row["train_loss"] for row in first["history"]]
    assert losses[-1] < losses[0]
    assert first["history"][-1]["test_top1"] > 25  # chance is 10%; the teacher is untrained, so CE does the work


def test_evaluation_counts_the_whole_test_split_once(ranks):
    _, (first, _) = ranks
    # 450 digits test images: every accuracy is a whole number of them, whatever the sharding.
    for row in first["history"]:
        hits = row["test_top1"] * 450 / 100
        assert hits == pytest.approx(round(hits), abs=1e-6)


def test_only_rank_zero_writes(ranks):
    folder, _ = ranks
    written = sorted(p.name for p in (folder / "run").iterdir())
    assert written == [
        "checksums.json",
        "history.csv",
        "history.json",
        "latest.pth",
        "recipe.json",
        "student.pth",
        "summary.json",
    ]


def test_context_without_torchrun_is_one_process():
    assert current_context() == DistributedContext()
    assert DistributedContext().device("cpu") == torch.device("cpu")
    assert DistributedContext(rank=1, world_size=2, local_rank=1).device("cuda") == torch.device("cuda", 1)


def test_batch_size_must_split_over_the_processes(monkeypatch):
    from ldrrld_core.train import fit, loop

    monkeypatch.setattr(loop, "current_context", lambda: DistributedContext(rank=0, world_size=3))
    with pytest.raises(ValueError, match="multiple of 3"):
        fit(get_recipe("digits", batch_size=64), progress=False)


@pytest.mark.slow
def test_torchrun_cli(tmp_path):
    """The real launcher: two processes through `torchrun -m ldrrld_core train`; one JSON line comes out."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={WORLD_SIZE}",
        "-m",
        "ldrrld_core",
        "train",
        "--recipe",
        "digits",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out-dir",
        str(tmp_path),
        "--no-progress",
        "--quiet",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    json_lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(json_lines) == 1, "only rank 0 prints"
    summary = json.loads(json_lines[0])
    assert summary["epochs"] == 1 and summary["out_dir"] == str(tmp_path) and summary["top1"] > 10
