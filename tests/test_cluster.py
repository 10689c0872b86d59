"""Batches of runs on a real two-node Ray cluster, and one training run over two ``torchrun`` nodes.

The Ray cluster (a head and a worker node, ``ray start``) lives in network, PID and mount
namespaces that the test creates (``tests/cluster_scenario.py``), so it binds only a private
loopback and all its processes end with the test. ``study --quick`` (methods ce and kd) runs
across it; the worker node is killed while it holds a run with a checkpoint; the study must finish
with the very runs a local study gives. Then Ctrl-C on a second study must cancel its runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCENARIO = Path(__file__).with_name("cluster_scenario.py")
pytestmark = pytest.mark.slow


def _namespaces_unavailable() -> str | None:
    """Why ``unshare`` cannot make the namespaces here (``None``: it can)."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount", "--mount-proc", "--uts", "true"], capture_output=True
    )
    if probe.returncode != 0:
        return f"cannot create network/PID namespaces (needs root): {probe.stderr.decode().strip()}"
    return None


def _ldrrld(*arguments: str, cwd: Path, env: dict | None = None, **options) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "ldrrld_core", *arguments],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Run the scenario and, at the same time, the same study locally; ``(report, work folder)``."""
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]'; .ci/run installs it)")
    reason = _namespaces_unavailable()
    if reason:
        pytest.skip(f"the two-node Ray cluster runs in namespaces of its own: {reason}")
    work = tmp_path_factory.mktemp("cluster")
    local = _ldrrld("study", "--quick", "--methods", "ce", "kd", "--no-progress", "--out-dir", "local", cwd=work)
    scenario = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount", "--mount-proc", sys.executable, str(SCENARIO), str(work)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    _, local_errors = local.communicate(timeout=600)
    assert local.returncode == 0, local_errors[-3000:]
    report_file = work / "report.json"
    assert report_file.is_file(), scenario.stderr[-3000:]
    report = json.loads(report_file.read_text())
    assert "error" not in report, f"{report['error']}\n{_tail(work, 'study.err')}\n{scenario.stderr[-2000:]}"
    return report, work


def _tail(work: Path, name: str) -> str:
    path = work / name
    return path.read_text()[-3000:] if path.is_file() else ""


def _runs(study: Path) -> dict[str, dict]:
    """Every finished run of a study: its recipe and its history without wall times."""
    runs = {}
    for path in sorted(study.glob("runs/**/lr*-seed*.json")):  # runs/<method>/<setting>/lr<lr>-seed<seed>.json
        saved = json.loads(path.read_text())
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in saved["history"]]
        runs[str(path.relative_to(study))] = {"recipe": saved["recipe"], "history": rows}
    return runs


def test_study_on_two_nodes_survives_a_dead_node_with_the_local_results(cluster):
    report, work = cluster
    killed = report["killed"]
    assert report["study"]["returncode"] == 0, _tail(work, "study.err")
    # The node died mid-run: after a checkpoint and before the last of the quick study's 3 epochs.
    assert killed["holder"]["host"] == "worker-node" and 1 <= killed["epochs_done"] < 3
    # Ray retried the run on the head node, which took over the dead attempt's folder by its task id.
    errors = (work / "study.err").read_text()
    assert f"removed the stale lock ray-study/{killed['run']}/.lock" in errors and "worker-node" in errors
    local, ray = _runs(work / "local"), _runs(work / "ray-study")
    local_results = json.loads((work / "local" / "results.json").read_text())
    ray_results = json.loads((work / "ray-study" / "results.json").read_text())
    protocol = local_results["protocol"]  # every point tried on the selection seeds, then 2 methods x 2 seeds
    planned = sum(map(len, protocol["tried"].values())) * len(protocol["selection_seeds"]) + 2 * 2
    assert len(local) == planned and killed["run"] + ".json" in local
    assert ray == local, "every run, the killed one included, must be the run the local study made"
    assert ray_results["methods"] == local_results["methods"]


def test_ctrl_c_cancels_the_outstanding_runs_with_one_line(cluster):
    report, work = cluster
    cancel = report["cancel"]
    errors = (work / "cancel.err").read_text()
    assert cancel["returncode"] == 130, errors[-3000:]
    ours = [line for line in errors.splitlines() if line.startswith("ldrrld")]
    assert ours == ["ldrrld study: interrupted"] and "Traceback" not in errors
    assert cancel["locks_left"] == [], "a cancelled run stops and releases its folder"


def test_a_dead_head_node_ends_the_driver_in_one_line_within_its_timeout(cluster):
    # The driver runs on the head's machine, as drivers usually do: when the head node's processes
    # die, Ray's core worker ends the driver at once from C++ (exit 1, no word); its supervisor (the
    # ldrrld process) then writes the one line. A driver on a surviving node would instead see the
    # head silent and end with the head watch's ClusterError after HEAD_TIMEOUT s (test_executors.py).
    from ldrrld_core.study.executors import HEAD_CHECK_EVERY, HEAD_TIMEOUT

    report, work = cluster
    head = report["head"]
    errors = (work / "head.err").read_text()
    assert head["returncode"] == 1, errors[-3000:]
    ours = [line for line in errors.splitlines() if line.startswith("ldrrld")]
    assert len(ours) == 1 and "head node" in ours[0] and "rerun the same command" in ours[0], errors[-3000:]
    assert "Traceback" not in errors
    assert head["seconds"] < HEAD_TIMEOUT + 4 * HEAD_CHECK_EVERY + 15, head  # well before Ray's own 60 s


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("through", ["--address", "RAY_ADDRESS"])
def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path, through):
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    flags, env = (["--address", address], {}) if through == "--address" else ([], {"RAY_ADDRESS": address})
    done = _ldrrld("study", "--quick", "--executor", "ray", *flags, "--out-dir", "x", cwd=tmp_path, env=env)
    out, errors = done.communicate(timeout=120)
    assert done.returncode == 2, errors
    assert errors.strip().splitlines() == [
        f"ldrrld study: error: cannot reach the Ray cluster at {address}: Connection refused; start it with "
        "`ray start --head` (and `ray start --address HEAD:PORT` on the other nodes), or fix --address / RAY_ADDRESS"
    ]
    assert out == "" and not (tmp_path / "x").exists(), "nothing is trained or written before the cluster answers"


# --------------------------------------------------------------------- torchrun over two nodes
def _train(folder: Path, launcher: list[str], env: dict) -> list[str]:
    return [
        *launcher,
        "-m",
        "ldrrld_core",
        "train",
        "--recipe",
        "digits",
        "--model",
        "digits_mlp",  # no batch norm: per-process batch statistics would differ from the global batch's
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--set",
        "augment=none",  # augmentation draws per rank
        "--set",
        "warmup_epochs=0",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--out-dir",
        str(folder),
        "--no-progress",
        "--quiet",
    ]


def test_two_torchrun_nodes_train_the_single_process_model(tmp_path):
    """``torchrun --nnodes 2`` (two launchers, c10d rendezvous on 127.0.0.1, one process each) trains the
    model one process trains with the same global batch, to round-off: the two ranks' shards of every
    step are the halves of the single process's batch (``ldrrld_core.data.order``), and DDP averages
    their gradients."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    port = 29511 if _namespaces_unavailable() is None else _free_port()
    rendezvous = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "ldrrld-test"]
    launchers = [
        _train(
            tmp_path / "two-nodes",
            [
                sys.executable,
                *("-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node", "1"),
                *rendezvous,
                *("--local-addr", "127.0.0.1"),
            ],
            env,
        )
        for rank in (0, 1)
    ]
    # Both launchers in one private network namespace (loopback only) where the test can make one,
    # so the rendezvous store binds nothing outside; else on this machine's loopback address.
    both = [sys.executable, str(SCENARIO), "launch", json.dumps(launchers)]
    if _namespaces_unavailable() is None:
        both = ["unshare", "--net", *both]
    two_nodes = subprocess.Popen(both, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    single = subprocess.run(
        _train(tmp_path / "one", [sys.executable], env), env=env, capture_output=True, text=True, timeout=300
    )
    out, errors = two_nodes.communicate(timeout=300)
    assert two_nodes.returncode == 0, errors[-3000:]
    assert single.returncode == 0, single.stderr[-3000:]
    assert out.count('"top1"') == 1, "only global rank 0 prints the summary"

    two = torch.load(tmp_path / "two-nodes" / "student.pth", weights_only=False)["model"]
    one = torch.load(tmp_path / "one" / "student.pth", weights_only=False)["model"]
    assert two.keys() == one.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(one["fc.weight"], torch.zeros_like(one["fc.weight"]))
    for a, b in zip(*(json.loads((tmp_path / run / "history.json").read_text()) for run in ("two-nodes", "one"))):
        assert a["test_top1"] == b["test_top1"] and a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
