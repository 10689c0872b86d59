"""The evidence set behind ``docs/results.md``: two problems, two teacher–student pairs, one protocol.

Each part is a whole study (:func:`~.protocol.run_study`, every method tuned alike on
validation), written to ``<out_dir>/<part>/``:

- ``teaching``: the synthetic 100-class problem, ``wrn_16_2 -> resnet8`` (across families). Its
  teacher learned from 40 images per class, the students from 20.
- ``digits-cross``: real handwriting; the teacher learns from the students' own images
  (``digits-shared`` recipe), ``digits_cnn -> digits_mlp`` (across families).
- ``digits-same``: the same problem, ``digits_cnn -> digits_cnn_small`` (one family, 1/8 the
  width): the teacher is stronger by capacity alone.

Then one ablation measures how much of KD's gain on ``teaching`` is data the students never saw:
KD at the point the ``teaching`` study chose, with a teacher trained on the students' own images
instead, on the same evaluation seeds (so it pairs seed by seed with the study's KD and CE).

:func:`run_evidence` writes ``<out_dir>/results.json`` holding every part, the ablation and the
fingerprint of the code that made them (:func:`~ldrrld_core.provenance.numbers_fingerprint`);
:func:`render_evidence` writes ``results.md`` and one figure pair per part beside it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..io import atomic_write_text, read_json
from ..provenance import numbers_fingerprint, source_commit
from ..train import load_data
from .executors import ready_executor
from .protocol import QUICK, StudyConfig, _plan, _train_all, run_study, study_recipe
from .stats import paired_difference, seeds_needed, summarize
from .teacher import converged_teacher
from .tuning import Point
from .verdicts import paired_verdicts

__all__ = ["Part", "EVIDENCE", "QUICK_EVIDENCE", "run_evidence", "teacher_data_ablation", "load_evidence"]


@dataclass(frozen=True)
class Part:
    """One study of the evidence set: a name (its folder), its configuration and what it tests."""

    name: str
    config: StudyConfig
    question: str


_DIGITS = StudyConfig(recipe="digits-shared", seeds=tuple(range(10)), selection_seeds=(100, 101, 102))

#: The evidence set ``docs/results.md`` reports, in order; the first part is the headline.
EVIDENCE: tuple[Part, ...] = (
    Part(
        "teaching",
        StudyConfig(),
        "synthetic data; across families; the teacher saw twice the students' images",
    ),
    Part("digits-cross", _DIGITS, "real digits; across families; the teacher saw only the students' images"),
    Part(
        "digits-same",
        replace(_DIGITS, overrides={"model": "digits_cnn_small"}),
        "real digits; one family, the teacher stronger by capacity alone; only the students' images",
    ),
)


#: A toy-sized evidence set that exercises every step in seconds; its numbers mean nothing.
QUICK_EVIDENCE: tuple[Part, ...] = (
    Part("teaching", QUICK, "toy: the protocol's code path on synthetic data"),
    Part("digits-same", replace(QUICK, recipe="digits-shared", overrides={"model": "digits_cnn_small"}), "toy"),
)


def teacher_data_ablation(
    results: Mapping, config: StudyConfig, out_dir: str | Path, *, options: Mapping[str, Any], progress: bool = True
) -> dict[str, Any]:
    """KD at the point the study chose, taught by a teacher trained on the students' own images.

    ``results`` is the study's (its recipe has ``teacher_data_options``); the ablation trains the
    same teacher architecture on the students' training images (validation held out), then KD
    at the study's chosen KD point on the study's evaluation seeds, and pairs the test top-1
    (last epoch) seed by seed with the study's KD and CE.

    Returns ``{"teacher", "kd_shared_teacher", "kd_vs_ce", "data_share", ...}`` where
    ``data_share`` compares KD with the study's teacher to KD with this one: the part of KD's gain
    over CE that came from the extra images.
    """
    recipe = study_recipe(config)
    if not recipe.teacher_data_options:
        raise ValueError(f"the {recipe.name} recipe's teacher already learns from the students' images: no ablation")
    shared = replace(config, overrides={**config.overrides, "teacher_data_options": {}})
    shared_recipe = study_recipe(shared)
    out_dir = Path(out_dir)
    data = load_data(shared_recipe)
    _, teacher = converged_teacher(
        study_recipe(shared, students=False),
        config.teacher,
        data=data,
        device=options.get("device", "cpu"),
        cache_dir=out_dir / "teachers",
        progress=progress,
        use_shipped=False,
    )
    kd = results["methods"]["kd"]
    axes = config.tuning["kd"]
    values = tuple(
        next(v for v in axis.values if axis.loss_hparams(v).items() <= kd["setting"]["hparams"].items())
        for axis in axes
    )
    point = Point(kd["lr"], values)
    plan = _plan(shared_recipe, shared, {"kd": {point: list(config.seeds)}})
    histories = _train_all(plan, out_dir, weights=teacher["weights"], teacher=teacher["sha256"], **options)
    shared_kd = {spec[3]: rows[-1]["test_top1"] for spec, rows in histories.items() if rows}
    if len(shared_kd) != len(config.seeds):
        raise FloatingPointError("KD with the shared-data teacher diverged at the study's chosen point")
    seeds = list(config.seeds)
    study_kd = {s["seed"]: s["test_top1_last"] for s in kd["per_seed"]}
    study_ce = {s["seed"]: s["test_top1_last"] for s in results["methods"]["ce"]["per_seed"]}
    verdicts = paired_verdicts(
        {
            ("KD, teacher on more images", "KD, teacher on the students' images"): [
                study_kd[s] - shared_kd[s] for s in seeds
            ],
            ("KD, teacher on the students' images", "CE"): [shared_kd[s] - study_ce[s] for s in seeds],
        }
    )
    gain_all = paired_difference([study_kd[s] for s in seeds], [study_ce[s] for s in seeds])
    return {
        "question": "how much of KD's gain over CE is data the students never saw",
        "point": {"lr": kd["lr"], "setting": kd["setting"]},
        "seeds": seeds,
        "teacher": {k: teacher[k] for k in ("model", "epochs", "plateaued", "train_top1", "val_top1", "test_top1")}
        | {"data_options": dict(shared_recipe.data_options)},
        "study_teacher_test_top1": results["protocol"]["teacher"]["test_top1"],
        "kd_shared_teacher": {"per_seed": [shared_kd[s] for s in seeds], **summarize([shared_kd[s] for s in seeds])},
        "kd_gain_over_ce": gain_all,
        "verdicts": [v.as_dict() for v in verdicts],
    }


def _seeds_for(results: Mapping, first: str, second: str, gap: float = 0.3) -> int:
    """How many seeds a paired test needs to detect ``gap`` points between two methods at 80% power."""
    a = {s["seed"]: s["test_top1_last"] for s in results["methods"][first]["per_seed"]}
    b = {s["seed"]: s["test_top1_last"] for s in results["methods"][second]["per_seed"]}
    sd = float(summarize([a[s] - b[s] for s in a])["std"])
    return seeds_needed(gap, sd) if sd > 0 else 2


def run_evidence(
    out_dir: str | Path = "runs/evidence",
    parts: Sequence[Part] = EVIDENCE,
    *,
    device: str = "cpu",
    jobs: int = 1,
    threads: int = 1,
    progress: bool = True,
    command: str | None = None,
    overwrite: bool = False,
    executor=None,
) -> dict[str, Any]:
    """Run every part (each resumes from its folder) and the ablation; write ``<out_dir>/results.json``."""
    started, commit = time.perf_counter(), source_commit()
    executor = ready_executor(executor, jobs)
    out_dir = Path(out_dir)
    options = dict(device=device, threads=threads, progress=progress, overwrite=overwrite, executor=executor)
    studies = {}
    for part in parts:
        studies[part.name] = run_study(part.config, out_dir / part.name, command=command, **options)
        studies[part.name]["question"] = part.question
    headline = parts[0]
    train_options = {k: options[k] for k in ("device", "threads", "progress", "overwrite", "executor")}
    ablation = teacher_data_ablation(
        studies[headline.name], headline.config, out_dir / f"{headline.name}-teacher-shared", options=train_options
    )
    evidence = {
        "evidence": "docs/results.md: every part is a study with every method tuned alike on validation",
        "headline": headline.name,
        "studies": studies,
        "ablations": {"teacher-data": ablation},
        "seeds_for_0.3_points": {
            name: {
                "ldrrld - dkd": _seeds_for(study, "ldrrld", "dkd"),
                "ldrrld - kd": _seeds_for(study, "ldrrld", "kd"),
            }
            for name, study in studies.items()
            if {"ldrrld", "dkd", "kd"} <= set(study["methods"])
        },
        "code": {"commit": commit, "fingerprint": numbers_fingerprint()},
        "command": command,
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_text(json.dumps(evidence, indent=1), out_dir / "results.json")
    return evidence


def load_evidence(path: str | os.PathLike) -> dict[str, Any]:
    """Read an evidence ``results.json`` (or the folder holding it) and check its top-level shape."""
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no results.json at {path}; run `ldrrld study --evidence --out-dir DIR` first")
    return read_json(
        path, keys=("studies", "headline", "code"), what="an evidence results.json (`ldrrld study --evidence`)"
    )
