"""A run's numeric environment (threads, CPU capability, the variables that change numerics) as
provenance: recorded, shown by ``ldrrld runs diff``, never part of a run's identity."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ldrrld_core.cli import main as ldrrld
from ldrrld_core.provenance import NUMBER_SOURCES, NUMERIC_VARIABLES, numeric_environment
from ldrrld_core.runs import diff_runs, load_run
from ldrrld_core.runs.diff import NUMERIC_NOTE
from ldrrld_core.runs.record import NUMERIC_KEY
from ldrrld_core.train import History, get_recipe
from ldrrld_core.train.fingerprint import accuracy_record


def _run(folder: Path, numeric: dict | None) -> Path:
    """A finished run folder as the trainer writes it; ``numeric``: its recorded numeric environment
    (``None``: a summary written before it was recorded)."""
    folder.mkdir(parents=True)
    rows = [
        {"epoch": e + 1, "lr": 0.05, "train_loss": 1.0, "test_top1": t, "seconds": 1.0}
        for e, t in enumerate([10.0, 20.0])
    ]
    History(rows).save(folder)
    recipe = get_recipe("digits", epochs=2, out_dir=str(folder))
    (folder / "recipe.json").write_text(json.dumps(recipe.to_dict()))
    fingerprint = {"torch": "2.14.1", "device": "x86_64"} | ({NUMERIC_KEY: numeric} if numeric is not None else {})
    summary = {"top1": 20.0, "epochs": 2, **accuracy_record(History(rows)), "fingerprint": fingerprint}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_the_numeric_environment_records_threads_capability_and_variables(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    monkeypatch.delenv("MKL_CBWR", raising=False)
    try:
        torch.set_num_threads(1)
        recorded = numeric_environment()
    finally:
        torch.set_num_threads(before)
    assert recorded["threads"] == 1 and recorded["interop_threads"] == torch.get_num_interop_threads()
    assert recorded["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert recorded["ATEN_CPU_CAPABILITY"] == "default" and recorded["MKL_CBWR"] is None
    assert set(NUMERIC_VARIABLES) <= set(recorded)
    assert json.loads(json.dumps(recorded)) == recorded, "plain JSON values"


def test_a_run_folder_gives_back_what_its_run_recorded(tmp_path):
    recorded = numeric_environment()
    assert load_run(_run(tmp_path / "new", recorded)).numeric_environment == recorded
    assert load_run(_run(tmp_path / "old", None)).numeric_environment is None


def test_runs_diff_shows_a_changed_thread_count_and_says_what_it_explains(tmp_path, capsys):
    recorded = numeric_environment() | {"threads": 1, "ATEN_CPU_CAPABILITY": None}
    a = _run(tmp_path / "a", recorded)
    b = _run(tmp_path / "b", recorded | {"threads": 4, "ATEN_CPU_CAPABILITY": "avx2"})
    difference = diff_runs(load_run(a), load_run(b))
    assert difference.numeric == {"threads": (1, 4), "ATEN_CPU_CAPABILITY": (None, "avx2")}
    assert difference.fingerprint == {} and difference.recipe == {} and difference.parting_epoch is None
    assert not difference.identical
    text = difference.text()
    assert f"numeric environment differs in 2 field(s); {NUMERIC_NOTE}:" in text
    assert "  threads: 1 -> 4" in text and "  ATEN_CPU_CAPABILITY: unset -> 'avx2'" in text
    assert ldrrld(["runs", "diff", str(a), str(b)]) == 0
    assert "threads: 1 -> 4" in capsys.readouterr().out
    assert ldrrld(["runs", "diff", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["numeric_environment"]["threads"] == [1, 4]
    assert diff_runs(load_run(a), load_run(a)).text().count("numeric environment: the same") == 1


def test_old_records_without_it_diff_cleanly(tmp_path):
    old, older, new = (
        _run(tmp_path / "old", None),
        _run(tmp_path / "older", None),
        _run(tmp_path / "new", numeric_environment()),
    )
    both_old = diff_runs(load_run(old), load_run(older))
    assert both_old.identical and both_old.numeric_not_recorded == ("A", "B")
    assert "numeric environment: not recorded in A or B" in both_old.text()
    mixed = diff_runs(load_run(old), load_run(new))
    assert mixed.fingerprint == {} and mixed.numeric == {} and mixed.identical, "recording it is not a difference"
    assert "numeric environment: not recorded in A (written before runs recorded it)" in mixed.text()
    assert mixed.to_dict()["numeric_environment_not_recorded"] == ["A"]


def test_it_is_provenance_not_part_of_the_code_fingerprint():
    assert "provenance.py" not in NUMBER_SOURCES and "runs" not in NUMBER_SOURCES
