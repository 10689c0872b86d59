"""The evidence set as a report: ``results.md`` and one figure pair per part, from ``results.json``.

:func:`render_evidence` writes them; :func:`evidence_text` is the short table a terminal shows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io import atomic_write_text
from ..tables import difference, interval, markdown_table, mean_std, text_table
from .evidence import load_evidence
from .report import (
    _comparisons,
    _label,
    format_p,
    paired_gap,
    plot_results,
    plot_selection,
    render_markdown,
    shown_comparisons,
    shown_verdict,
)
from .stats import holm, holm_intervals, paired_p_value, ratio_interval, summarize
from .verdicts import ALPHA, framed_sentence

__all__ = [
    "evidence_text",
    "evidence_markdown",
    "headline_markdown",
    "render_evidence",
    "across_studies",
    "teacher_data_share",
]


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
    comparisons = shown_comparisons(study)["last_epoch"]
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


def _ablation_samples(evidence: Mapping) -> dict[str, Any] | None:
    """The teacher-data ablation's per-seed numbers, paired by seed with the headline study's KD and CE:
    ``{"kd", "shared", "ce", "seeds"}``; ``None`` without an ablation."""
    ablation = (evidence.get("ablations") or {}).get("teacher-data")
    if not ablation:
        return None
    study = evidence["studies"][evidence["headline"]]
    kd = {s["seed"]: s["test_top1_last"] for s in study["methods"]["kd"]["per_seed"]}
    ce = {s["seed"]: s["test_top1_last"] for s in study["methods"]["ce"]["per_seed"]}
    seeds = list(ablation["seeds"])
    shared = dict(zip(seeds, ablation["kd_shared_teacher"]["per_seed"]))
    return {
        "seeds": seeds,
        "kd": [kd[s] for s in seeds],
        "shared": [shared[s] for s in seeds],
        "ce": [ce[s] for s in seeds],
    }


def teacher_data_share(evidence: Mapping) -> dict[str, Any] | None:
    """How much of KD's gain over CE on the headline problem the teacher's extra images give, from the
    ablation's per-seed numbers: the share ``mean(KD - KD shared) / mean(KD - CE)`` with Fieller's 95%
    interval (:func:`~.stats.ratio_interval`), and the paired test that the data part exceeds the rest
    (``(KD - KD shared) - (KD shared - CE)`` per seed). ``None`` without an ablation."""
    found = _ablation_samples(evidence)
    if found is None:
        return None
    data = [k - s for k, s in zip(found["kd"], found["shared"])]
    whole = [k - c for k, c in zip(found["kd"], found["ce"])]
    rest = [s - c for s, c in zip(found["shared"], found["ce"])]
    excess = [d - r for d, r in zip(data, rest)]
    return {
        "share": ratio_interval(data, whole),
        "data_minus_rest": summarize(excess) | {"p": paired_p_value(excess)},
        "n": len(data),
    }


def across_studies(evidence: Mapping) -> list[dict[str, Any]]:
    """Every last-epoch comparison of every study and of the ablation as one family, Holm over all of it.

    One row per comparison, in the studies' order then the ablation's: ``part``, ``first``,
    ``second``, ``n``, ``mean``, ``ci95`` (unadjusted), ``p``, ``p_holm_study`` (Holm within its own
    study or ablation), ``p_holm_all`` (Holm over every row), ``ci_holm_all`` (the Student-t
    interval at the level Holm over every row tests it at, :func:`~.stats.holm_intervals`) and
    ``direction`` over all (1 or -1 when ``p_holm_all`` < 0.05, else 0). A sentence that summarises
    across the studies reads these, not a study's own adjustment.
    """
    rows: list[dict[str, Any]] = []
    samples: list[list[float]] = []
    for part, study in evidence["studies"].items():
        methods = study["methods"]
        within = {(v["first"], v["second"]): v for v in shown_comparisons(study)["last_epoch"]}
        for first, second in _comparisons(methods):
            a = {s["seed"]: s["test_top1_last"] for s in methods[first]["per_seed"]}
            b = {s["seed"]: s["test_top1_last"] for s in methods[second]["per_seed"]}
            samples.append([a[seed] - b[seed] for seed in a])
            rows.append(
                {
                    "part": part,
                    "first": _label(first),
                    "second": _label(second),
                    "p_holm_study": within[_label(first), _label(second)]["p_holm"],
                }
            )
    found = _ablation_samples(evidence)
    if found is not None:
        pairs = (
            ("KD, teacher on more images", "KD, teacher on the students' images", found["kd"], found["shared"]),
            ("KD, teacher on the students' images", "CE", found["shared"], found["ce"]),
        )
        ablation = [[x - y for x, y in zip(a, b)] for *_, a, b in pairs]
        within = holm([paired_p_value(values) for values in ablation])
        for (first, second, *_), values, p_within in zip(pairs, ablation, within):
            samples.append(values)
            rows.append({"part": "ablation: teacher-data", "first": first, "second": second, "p_holm_study": p_within})
    p_values = [paired_p_value(values) for values in samples]
    for row, values, p, p_all, ci_all in zip(rows, samples, p_values, holm(p_values), holm_intervals(samples)):
        summary = summarize(values)
        resolved = p_all < ALPHA
        row.update(
            n=len(values),
            mean=summary["mean"],
            ci95=summary["ci95"],
            p=p,
            p_holm_all=p_all,
            ci_holm_all=ci_all,
            direction=(1 if summary["mean"] > 0 else -1) if resolved else 0,
        )
    return rows


def _across_markdown(rows: list[Mapping]) -> str:
    """The across-studies family as a table, and a line of what it resolves."""
    table = markdown_table(
        [
            "part",
            "comparison",
            "seeds",
            "mean [95% CI]",
            f"Holm over all {len(rows)}: interval",
            "p",
            "Holm p, within",
            f"Holm p, over all {len(rows)}",
            "over all",
        ],
        [
            [
                r["part"],
                f"{r['first']} - {r['second']}",
                r["n"],
                difference(r["mean"], r["ci95"]),
                interval(r["ci_holm_all"], signed=True),
                format_p(r["p"]),
                format_p(r["p_holm_study"]),
                format_p(r["p_holm_all"]),
                {1: "first better", -1: "second better", 0: "not resolved"}[r["direction"]],
            ]
            for r in rows
        ],
    )
    lost = [
        f"{r['part']} {r['first']} - {r['second']}" for r in rows if r["p_holm_study"] < ALPHA and not r["direction"]
    ]
    kept = [f"{r['part']} {r['first']} - {r['second']}" for r in rows if r["direction"]]
    note = f"Resolved over all {len(rows)}: {', '.join(kept) or 'none'}. " + (
        f"Resolved within their study but not over all: {', '.join(lost)}."
        if lost
        else "Every comparison resolved within its study stays resolved over all."
    )
    return table + "\n\n" + note


def _overview(evidence: Mapping, across: list[Mapping]) -> str:
    """One row per part: its problem, pair, seeds and each method's paired gap to CE, bold where Holm
    over every comparison of the evidence (:func:`across_studies`) resolves it."""
    resolved = {(r["part"], r["first"], r["second"]) for r in across if r["direction"]}
    rows = []
    for name, study in evidence["studies"].items():
        protocol = study["protocol"]
        gaps = []
        for m, e in study["methods"].items():
            if m == "ce":
                continue
            cell = difference(e["delta_vs_ce"]["mean"], e["delta_vs_ce"]["ci95"])
            gaps.append(f"**{cell}**" if (name, _label(m), "CE") in resolved else cell)
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


def _ablation_markdown(ablation: Mapping, share: Mapping | None = None, across: list[Mapping] = ()) -> str:
    teacher, kd = ablation["teacher"], ablation["kd_shared_teacher"]
    lines = [
        f"The question: {ablation['question']}. KD at the point the headline study chose "
        f"({ablation['point']['setting']['label']}, lr {ablation['point']['lr']:g}), on the same seeds, taught by "
        f"the same architecture trained on the students' own images instead (test top-1 {teacher['test_top1']:.2f}; "
        f"the study's teacher: {ablation['study_teacher_test_top1']:.2f}). One teacher per arm, and KD alone at the "
        "point tuned for the stronger teacher: more data and a more accurate teacher go together here, so the "
        "split below is of KD's gain at this point, not a cause.",
        "",
        f"- KD with that teacher: {mean_std(kd['mean'], kd['std'])} test top-1 over {len(ablation['seeds'])} seeds.",
        f"- KD's gain over CE with the study's teacher: "
        f"{difference(ablation['kd_gain_over_ce']['mean'], ablation['kd_gain_over_ce']['ci95'])} points.",
    ]
    lines += [f"- {framed_sentence(v)}." for v in ablation["verdicts"]]
    if share is not None:
        ratio, rest = share["share"], share["data_minus_rest"]
        bounds = (
            "unbounded (the whole gain is not resolved from 0)" if ratio["ci95"] is None else interval(ratio["ci95"])
        )
        lines.append(
            f"- The share of KD's gain that the teacher's extra images give: {ratio['ratio']:.2f}, 95% interval "
            f"{bounds} (Fieller's, over {share['n']} seeds). Whether that part exceeds the rest "
            f"(KD with the students'-images teacher minus CE): {difference(rest['mean'], rest['ci95'])} points, "
            f"p = {format_p(rest['p'])}: "
            + ("resolved." if rest["p"] < ALPHA and (rest["ci95"][0] > 0 or rest["ci95"][1] < 0) else "not resolved.")
        )
    for row in across:
        if row["part"].startswith("ablation"):
            state = "resolved" if row["direction"] else "not resolved"
            lines.append(
                f"- Over all {len(across)} comparisons of the evidence, {row['first']} - {row['second']}: "
                f"Holm-adjusted p = {format_p(row['p_holm_all'])}, "
                f"interval {interval(row['ci_holm_all'], signed=True)}: {state}."
            )
    return "\n".join(lines)


def evidence_markdown(evidence: Mapping, pictures: Mapping[str, tuple[str, str]]) -> str:
    """``results.md``: the overview, the ablation, then every part in full."""
    code = evidence["code"]
    across = across_studies(evidence)
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
        "with selection seeds disjoint from the evaluation seeds; differences are paired by seed. One "
        "multiplicity rule: each part's verdict is Holm-adjusted within that part; a sentence that summarises "
        f"across the parts (this overview, the ablation's summary) rests on Holm over all {len(across)} "
        "comparisons of the evidence together (the table after the ablation).",
        "",
        "## Overview: paired gain over the student alone (last-epoch test top-1, 95% CI)",
        "",
        _overview(evidence, across),
        "",
        f"Unadjusted 95% intervals; **bold**: resolved after Holm over all {len(across)} comparisons of the evidence.",
        "",
    ]
    for name, study in evidence["studies"].items():
        lines += [f"- **{name}** ({study.get('question', '')}): {shown_verdict(study)}", ""]
    for name, ablation in evidence.get("ablations", {}).items():
        share = teacher_data_share(evidence) if name == "teacher-data" else None
        lines += [f"## Ablation: {name}", "", _ablation_markdown(ablation, share, across), ""]
    lines += [
        f"## Across the parts: Holm over all {len(across)} comparisons",
        "",
        "Every last-epoch comparison of every part and of the ablation, paired by seed; the interval is the "
        f"Student-t interval at the level Holm over all {len(across)} tests it at (it excludes 0 exactly when "
        "the last p column is below 0.05).",
        "",
        _across_markdown(across),
        "",
    ]
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
        body = render_markdown(study, results_png, level=2, title=name)
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
