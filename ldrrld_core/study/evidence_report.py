"""The evidence set as a report: ``results.md`` and one figure pair per part, from ``results.json``.

:func:`render_evidence` writes them; :func:`evidence_text` is the short table a terminal shows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..io import atomic_write_text
from ..tables import difference, markdown_table, mean_std, text_table
from .evidence import load_evidence
from .report import _label, paired_gap, plot_results, plot_selection, render_markdown, shown_verdict
from .verdicts import framed_sentence

__all__ = ["evidence_text", "evidence_markdown", "headline_markdown", "render_evidence"]


def evidence_text(evidence: Mapping) -> str:
    """Each part's last-epoch test top-1 per method (mean ± std over its seeds), for a terminal."""
    studies = evidence["studies"]
    methods = list(dict.fromkeys(m for study in studies.values() for m in study["methods"]))
    rows = [
        [name]
        + [
            mean_std(study["methods"][m]["test_top1_last"]["mean"], study["methods"][m]["test_top1_last"]["std"])
            if m in study["methods"]
            else "–"
            for m in methods
        ]
        for name, study in studies.items()
    ]
    return text_table(["part", *(f"{_label(m)} (%)" for m in methods)], rows, right=[False] + [True] * len(methods))


def _paired_cell(comparisons: list[Mapping], method: str, base: str) -> str:
    """``method - base`` as mean and paired 95% interval, bold when Holm's adjustment resolves it."""
    if method == base:
        return "–"
    mean, interval, resolved = paired_gap(comparisons, method, base)
    cell = difference(mean, interval)
    return f"**{cell}**" if resolved else cell


def headline_markdown(evidence: Mapping) -> str:
    """The README's first table: the headline study's methods, their top-1 and their paired gaps to CE and KD.

    A gap is bold where it is resolved after Holm's adjustment over all of the study's comparisons,
    so the table and the study's verdict say the same.
    """
    study = evidence["studies"][evidence["headline"]]
    comparisons = study["comparisons"]["last_epoch"]
    rows = [
        [
            _label(method),
            f"lr {entry['lr']:g}, {entry.get('setting', {}).get('label', 'default')}",
            mean_std(entry["test_top1_last"]["mean"], entry["test_top1_last"]["std"]),
            _paired_cell(comparisons, method, "ce"),
            _paired_cell(comparisons, method, "kd"),
        ]
        for method, entry in study["methods"].items()
    ]
    seeds = len(study["protocol"]["seeds"])
    header = ["method", "chosen on validation", f"test top-1 (%), {seeds} seeds", "minus CE", "minus KD"]
    resolved = [
        f"{v['first']} > {v['second']}" if v["direction"] > 0 else f"{v['second']} > {v['first']}"
        for v in comparisons
        if v["direction"]
    ]
    open_pairs = [f"{v['first']} - {v['second']}" for v in comparisons if not v["direction"]]
    note = (
        f"Last-epoch test top-1, mean ± std over {seeds} seeds; gaps are paired by seed, with 95% intervals "
        f"per comparison; **bold**: resolved after Holm's adjustment over the study's {len(comparisons)} "
        f"comparisons. Resolved: {', '.join(resolved) or 'none'}. Not resolved: {', '.join(open_pairs) or 'none'}."
    )
    return markdown_table(header, rows) + "\n\n" + note


def _overview(evidence: Mapping) -> str:
    """One row per part: its problem, pair, seeds and each method's paired gap to CE."""
    rows = []
    for name, study in evidence["studies"].items():
        protocol = study["protocol"]
        gaps = [
            difference(e["delta_vs_ce"]["mean"], e["delta_vs_ce"]["ci95"])
            for m, e in study["methods"].items()
            if m != "ce"
        ]
        ce = study["methods"]["ce"]["test_top1_last"]
        teacher = protocol["teacher"]["test_top1"]
        rows.append(
            [
                name,
                f"`{protocol['pair']}`",
                len(protocol["seeds"]),
                f"{teacher:.2f}",
                mean_std(ce["mean"], ce["std"]),
                *gaps,
            ]
        )
    methods = [m for m in next(iter(evidence["studies"].values()))["methods"] if m != "ce"]
    header = ["part", "pair", "seeds", "teacher (%)", "CE (%)", *(f"{_label(m)} - CE" for m in methods)]
    return markdown_table(header, rows)


def _ablation_markdown(ablation: Mapping) -> str:
    teacher, kd = ablation["teacher"], ablation["kd_shared_teacher"]
    lines = [
        f"The question: {ablation['question']}. KD at the point the headline study chose "
        f"({ablation['point']['setting']['label']}, lr {ablation['point']['lr']:g}), on the same seeds, taught by "
        f"the same architecture trained on the students' own images instead (test top-1 {teacher['test_top1']:.2f}; "
        f"the study's teacher: {ablation['study_teacher_test_top1']:.2f}).",
        "",
        f"- KD with that teacher: {mean_std(kd['mean'], kd['std'])} test top-1 over {len(ablation['seeds'])} seeds.",
        f"- KD's gain over CE with the study's teacher: "
        f"{difference(ablation['kd_gain_over_ce']['mean'], ablation['kd_gain_over_ce']['ci95'])} points.",
    ]
    lines += [f"- {framed_sentence(v)}." for v in ablation["verdicts"]]
    return "\n".join(lines)


def evidence_markdown(evidence: Mapping, pictures: Mapping[str, tuple[str, str]]) -> str:
    """``results.md``: the overview, the ablation, then every part in full."""
    code = evidence["code"]
    training = sum(study["fingerprint"]["train_seconds"] for study in evidence["studies"].values())
    lines = [
        "# The evidence set",
        "",
        f"Written by `ldrrld study --render DIR` from `results.json` beside it. It ran as "
        f"`{evidence.get('command') or 'ldrrld study --evidence'}` at commit `{code['commit']}`, code fingerprint "
        f"`{code['fingerprint']}` (`tests/test_committed_results.py` fails when the code that decides these "
        f"numbers changes). Its last call took {evidence['seconds'] / 60:.1f} minutes of wall time, reusing every "
        f"finished run; the teachers' final schedules and all runs took {training / 60:.0f} minutes of training "
        "in all.",
        "",
        "Every part tunes every method alike on validation (its rate and the one setting its authors tune), "
        "with selection seeds disjoint from the evaluation seeds; differences are paired by seed and "
        "Holm-adjusted within each part.",
        "",
        "## Overview: paired gain over the student alone (last-epoch test top-1, 95% CI)",
        "",
        _overview(evidence),
        "",
    ]
    for name, study in evidence["studies"].items():
        lines += [f"- **{name}** ({study.get('question', '')}): {shown_verdict(study)}", ""]
    for name, ablation in evidence.get("ablations", {}).items():
        lines += [f"## Ablation: {name}", "", _ablation_markdown(ablation), ""]
    needed = evidence.get("seeds_for_0.3_points", {})
    if needed:
        rows = [[name, *counts.values()] for name, counts in needed.items()]
        lines += [
            "## Seeds a 0.3-point gap would need",
            "",
            "At 80% power, from the observed spread of the paired differences:",
            "",
            markdown_table(["part", *next(iter(needed.values())).keys()], rows),
            "",
        ]
    for name, study in evidence["studies"].items():
        results_png, selection_png = pictures[name]
        body = render_markdown(study, results_png, level=2)
        lines += [body, f"![selection curves of every method]({selection_png})", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_evidence(folder: str | os.PathLike) -> list[Path]:
    """Write ``results.md`` and, per part, ``results-<part>.png`` and ``selection-<part>.png`` into ``folder``."""
    folder = Path(folder)
    evidence = load_evidence(folder)
    pictures, written = {}, []
    for name, study in evidence["studies"].items():
        results_png = plot_results(study, folder / f"results-{name}.png")
        selection_png = plot_selection(study, folder / f"selection-{name}.png")
        pictures[name] = (results_png.name, selection_png.name)
        written += [results_png, selection_png]
    markdown = atomic_write_text(evidence_markdown(evidence, pictures), folder / "results.md")
    return [markdown, *written]
