"""``ldrrld demo``: one short run of every method, shown beside the committed study that ranks them.

A demo trains each method once, at the point (learning rate and setting) the committed study chose
for it on validation, with the study's recipe shortened to a few epochs. That illustrates the
workflow; it cannot rank methods whose study intervals overlap, so the report says so, prints the
study's verdict with its intervals (read from the evidence the package ships, a copy of
``docs/results.json``), and names the teacher's data advantage with what the evidence measured of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..tables import text_table, wrap
from . import DEMO_EPOCHS
from .report import chosen_recipe, results_text, shown_verdict

__all__ = ["DEMO_EPOCHS", "SHIPPED_RESULTS", "Demo", "run_demo", "shipped_results", "shipped_ablation"]

#: The longest line of the report: a terminal shows it whole.
LINE = 96
#: The committed evidence set, shipped with the package (a copy of ``docs/results.json``).
SHIPPED_RESULTS = Path(__file__).resolve().parent.parent / "assets" / "study" / "results.json"


def shipped_results() -> dict:
    """The headline study of the committed evidence set (``teaching``), as the package ships it."""
    from .report import load_results

    return load_results(SHIPPED_RESULTS)


def shipped_ablation() -> dict | None:
    """The committed teacher-data ablation (:func:`~.evidence.teacher_data_ablation`), or ``None``."""
    from ..io import read_json

    return read_json(SHIPPED_RESULTS).get("ablations", {}).get("teacher-data")


@dataclass
class Demo:
    """What :func:`run_demo` ran, and the study it is read beside.

    Attributes:
        comparison: the teacher and one student per method (:class:`~ldrrld_core.train.Comparison`).
        rates: method -> the learning rate the study chose for it on validation.
        study: the committed study's results (``results.json``).
        settings: method -> the setting the study chose with it (``"T 4, weights hinton"``).
        ablation: what the evidence measured of the teacher's data advantage, or ``None``.
        epochs, seed: the demo's schedule length and seed.
    """

    comparison: object
    rates: dict[str, float]
    study: Mapping
    epochs: int
    seed: int
    settings: dict[str, str] | None = None
    ablation: Mapping | None = None

    @property
    def ordering(self) -> list[str]:
        """This run's methods, best test top-1 first."""
        top1 = self.comparison.top1()
        return sorted(top1, key=top1.get, reverse=True)

    @property
    def study_ordering(self) -> list[str]:
        """The same methods by the study's mean last-epoch test top-1, best first."""
        methods = self.study["methods"]
        return sorted(self.rates, key=lambda m: methods[m]["test_top1_last"]["mean"], reverse=True)

    def report(self) -> str:
        """The text the command prints: what this is, this run, the study, and how to read both."""
        recipe = next(iter(self.comparison.students.values())).recipe
        teacher = self.comparison.teacher
        seen = {**recipe.data_options, **recipe.teacher_data_options}.get("train_per_class")
        student_seen = recipe.data_options.get("train_per_class")
        lines = [
            f"ldrrld demo: one seed ({self.seed}), {self.epochs} epoch(s) per student. An illustration of the",
            "workflow, not a ranking: one short run cannot separate methods a few points apart.",
            "",
            f"Teacher: {recipe.teacher} (shipped, converged), test top-1 {teacher.top1:.1f}%.",
        ]
        if seen is not None and student_seen is not None and seen != student_seen:
            lines += wrap(
                f"It learned from {seen} images per class; the {recipe.model} students see {student_seen}. Part of "
                "what a distilled student gains over the student alone is that extra data, not distillation."
                + self._ablation_sentence(),
                LINE,
            )
        lines += ["", "This run, each method at the point the study chose for it on validation:", ""]
        top1 = self.comparison.top1()
        base = top1.get("ce")
        settings = self.settings or {}
        rows = [
            [
                m,
                f"{self.rates[m]:g}",
                settings.get(m, "default"),
                f"{top1[m]:.2f}",
                "–" if base is None or m == "ce" else f"{top1[m] - base:+.2f}",
            ]
            for m in self.rates
        ]
        header = ["method", "lr", "setting", "test top-1 (%)", "vs ce"]
        lines += text_table(header, rows, right=[False, True, False, True, True]).split("\n")
        protocol = self.study["protocol"]
        lines += [
            "",
            f"The study ({len(protocol['seeds'])} seeds, {protocol['epochs']} epochs, rates chosen on validation; "
            "docs/results.md):",
            "",
        ]
        lines += results_text(self.study, list(self.rates)).split("\n")
        lines += ["", *wrap(f"Study verdict: {shown_verdict(self.study)}", LINE)]
        if self.ordering != self.study_ordering:
            lines += [
                "",
                *wrap(
                    f"This run orders the methods {' > '.join(self.ordering)}; the study's means order them "
                    f"{' > '.join(self.study_ordering)}. Trust the study: its intervals are what a ranking "
                    "needs, and this run is one seed.",
                    LINE,
                ),
            ]
        return "\n".join(lines)

    def _ablation_sentence(self) -> str:
        """What the evidence measured of the teacher's extra data, in words (empty without it)."""
        if not self.ablation:
            return ""
        from .evidence_report import teacher_data_share

        first, second = self.ablation["verdicts"]
        gain = self.ablation["kd_gain_over_ce"]
        text = (
            f" The evidence set measured it over {len(self.ablation['seeds'])} seeds: KD gains "
            f"{gain['mean']:+.2f} [{gain['ci95'][0]:+.2f}, {gain['ci95'][1]:+.2f}] points over CE with this "
            f"teacher, and {second['mean']:+.2f} [{second['ci95'][0]:+.2f}, {second['ci95'][1]:+.2f}] with one "
            "trained on the students' own images."
        )
        methods = self.study.get("methods", {})
        if {"kd", "ce"} <= set(methods) and all("per_seed" in methods[m] for m in ("kd", "ce")):
            evidence = {
                "headline": "study",
                "studies": {"study": self.study},
                "ablations": {"teacher-data": self.ablation},
            }
            share = teacher_data_share(evidence)
            ratio, rest = share["share"], share["data_minus_rest"]
            if ratio["ci95"] is not None:
                resolved = rest["p"] < 0.05 and (rest["ci95"][0] > 0 or rest["ci95"][1] < 0)
                text += (
                    f" The extra images account for a share of {ratio['ratio']:.2f} of KD's gain, 95% interval "
                    f"[{ratio['ci95'][0]:.2f}, {ratio['ci95'][1]:.2f}]; that this part exceeds the rest is "
                    + ("resolved." if resolved else f"not resolved (p = {rest['p']:.2f}).")
                )
        return text

    def summary(self) -> dict:
        """The machine-readable result (printed as one JSON line)."""
        runs = [self.comparison.teacher, *self.comparison.students.values()]
        recipe = next(iter(self.comparison.students.values())).recipe
        return {
            "top1": {
                "teacher": round(self.comparison.teacher.top1, 2),
                **{m: round(v, 2) for m, v in self.comparison.top1().items()},
            },
            "lr": self.rates,
            "setting": self.settings or {},
            "data": recipe.data,
            "epochs": self.epochs,
            "seed": self.seed,
            "seconds": round(sum(run.summary["seconds"] for run in runs), 1),
            "study": {m: self.study["methods"][m]["test_top1_last"]["mean"] for m in self.rates},
        }


def run_demo(
    *,
    methods: Sequence[str] = ("ce", "kd", "dkd", "ldrrld"),
    epochs: int = DEMO_EPOCHS,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
    results: str | Path | Mapping | None = None,
    out_dir: str | None = None,
) -> Demo:
    """Train one ``teaching`` student per method with the shipped teacher, each at the point (rate
    and setting) the committed study chose for it, and return a :class:`Demo` to read beside that study.

    Args:
        methods: losses to train; each must be in the study (the demo uses its chosen points).
        epochs: each student's epochs (the study's schedule, shortened proportionally).
        results: the study to read (default: the one the package ships, :data:`SHIPPED_RESULTS`).
    """
    from ..train import Comparison, compare, get_recipe, load_data
    from .report import load_results
    from .teacher import shipped_teacher

    study = (
        shipped_results()
        if results is None
        else (dict(results) if isinstance(results, Mapping) else load_results(results))
    )
    missing = [m for m in methods if m not in study["methods"]]
    if missing:
        raise ValueError(
            f"the study has no tuned point for {', '.join(missing)}; the demo runs the study's methods "
            f"({', '.join(study['methods'])}). Tune them first, e.g. `ldrrld study --methods ce kd "
            f"{' '.join(missing)}`, then pass its results.json (`ldrrld demo --results FILE`)"
        )
    rates = {m: float(study["methods"][m]["lr"]) for m in methods}
    settings = {m: study["methods"][m].get("setting", {}).get("label", "default") for m in methods}
    recipe = get_recipe("teaching", seed=seed, out_dir=out_dir).rescheduled(epochs)
    teacher, _ = shipped_teacher("teaching", device=device)  # the study's converged teacher
    data = load_data(recipe)
    runs = {
        m: compare(chosen_recipe(recipe, study, m), [m], teacher=teacher, data=data, device=device, progress=progress)
        for m in methods
    }
    first = next(iter(runs.values()))
    comparison = Comparison(teacher=first.teacher, students={m: run.students[m] for m, run in runs.items()})
    ablation = shipped_ablation() if results is None else None
    return Demo(comparison, rates, study, epochs, seed, settings=settings, ablation=ablation)
