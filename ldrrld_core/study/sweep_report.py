"""Reading what ``ldrrld sweep`` wrote: ``sweep.json`` (its measures, points and slices) and ``sweep.md``.

Everything here works on the loaded file alone, so figures, notebooks and the report read a sweep
without training anything; :mod:`ldrrld_core.study.sweep` runs the grid and builds the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..io import read_json
from ..tables import difference, interval, markdown_table, mean_std, text_table

__all__ = [
    "MEASURES",
    "MEASURE_DEPTH",
    "MEASURE_TEMPERATURE",
    "point_name",
    "seeds_label",
    "study_source",
    "runs_source",
    "bound_text",
    "load_sweep",
    "find_point",
    "sweep_slice",
    "findings",
    "grid_markdown",
    "render_sweep",
]

#: The relation measures' setting, the same for every grid point.
MEASURE_DEPTH, MEASURE_TEMPERATURE = 7, 4.0
#: Every per-seed number the sweep reports (each also summarised per point).
MEASURES = ("test_top1_last", "test_top1_best_val", "kendall_tau", "kl_all", "topd_pair_agreement", "seconds")


def seeds_label(seeds: Sequence[int]) -> str:
    """``"seeds 0-4"`` for a run of consecutive seeds, ``"seeds 0, 2, 5"`` otherwise, ``"seed 3"`` for one."""
    seeds = sorted(seeds)
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ", ".join(map(str, seeds))


def study_source(seeds: Sequence[int]) -> str:
    """The label of a number from the study's own runs, e.g. ``"study, seeds 0-4"``."""
    return f"study, {seeds_label(seeds)}"


def runs_source(seeds: Sequence[int]) -> str:
    """The label of a number from the sweep's reference runs, e.g. ``"sweep reference runs, seeds 0-2"``."""
    return f"sweep reference runs, {seeds_label(seeds)}"


def point_name(point: tuple[int, float, float]) -> str:
    """The run folder of a point, e.g. ``d7-decay0.05-T4``."""
    depth, decay, temperature = point
    return f"d{depth}-decay{decay:g}-T{temperature:g}"


# ------------------------------------------------------------------------------ reading it
def load_sweep(path: str | Path) -> dict:
    """Read a ``sweep.json`` (or the folder holding it) and check its top-level shape."""
    path = Path(path)
    path = path / "sweep.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no sweep.json at {path}; run `ldrrld sweep --out-dir DIR` first")
    return read_json(path, keys=("points", "references", "protocol"), what="a sweep.json written by `ldrrld sweep`")


def find_point(sweep: Mapping, depth: int, decay: float, temperature: float | None = None) -> dict | None:
    """The entry of one grid point (``temperature`` default: the sweep's), or ``None`` if not in the grid."""
    temperature = sweep["protocol"]["default"]["temperature"] if temperature is None else temperature
    for entry in sweep["points"]:
        if (
            entry["depth"] == depth
            and math.isclose(entry["decay"], decay)
            and math.isclose(entry["temperature"], temperature)
        ):
            return entry
    return None


def sweep_slice(
    sweep: Mapping,
    measure: str,
    *,
    along: str,
    depth: int | None = None,
    decay: float | None = None,
    temperature: float | None = None,
) -> dict[str, list]:
    """One line of the grid: ``measure`` over ``along`` (``"depth"``, ``"decay"`` or ``"temperature"``),
    the other two held at the given values (default: the sweep's defaults).

    Returns ``{"x", "mean", "low", "high", "seeds"}``, lists over the grid values of ``along``
    (from ``protocol``). A point not run, or not in the grid, is ``None`` in ``mean``, ``low`` and
    ``high`` (a gap, never interpolated); ``low``/``high`` are the 95% interval, ``None`` with
    fewer than 2 seeds.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; the sweep reports {', '.join(MEASURES)}")
    axes = {"depth": "depths", "decay": "decays", "temperature": "temperatures"}
    if along not in axes:
        raise ValueError(f"along must be one of {', '.join(axes)}, got {along!r}")
    default = sweep["protocol"]["default"]
    fixed = {"depth": depth, "decay": decay, "temperature": temperature}
    fixed = {k: default[k] if v is None else v for k, v in fixed.items()}
    xs = sweep["protocol"][axes[along]]
    out: dict[str, list] = {"x": list(xs), "mean": [], "low": [], "high": [], "seeds": []}
    for x in xs:
        entry = find_point(sweep, **{**fixed, along: x})
        summary = entry.get(measure) if entry else None
        bounds = summary["ci95"] if summary and summary["ci95"] else (None, None)
        out["mean"].append(summary["mean"] if summary else None)
        out["low"].append(bounds[0])
        out["high"].append(bounds[1])
        out["seeds"].append(len(entry["per_seed"]) if entry else 0)
    return out


# ------------------------------------------------------------------------------ sweep.md
_TITLES = {
    "test_top1_last": "test top-1, last (%)",
    "test_top1_best_val": "test top-1, best-val (%)",
    "kendall_tau": "Kendall tau, all classes",
    "kl_all": "KL, all classes",
    "topd_pair_agreement": "top-7 pair agreement",
    "seconds": "seconds per run",
}


def _cell(summary: Mapping | None, digits: int) -> str:
    return "–" if summary is None else mean_std(summary["mean"], summary["std"], digits)


_DIGITS = {
    "test_top1_last": 2,
    "test_top1_best_val": 2,
    "kendall_tau": 4,
    "kl_all": 4,
    "topd_pair_agreement": 4,
    "seconds": 0,
}


def _verdicts(sweep: Mapping, key: str) -> list[tuple[dict, dict]]:
    """``(point, verdict)`` for every point with a ``key`` comparison (``delta_vs_default`` or ``delta_vs_kd``)."""
    return [(p, p[key]) for p in sweep["points"] if p.get(key)]


def _names(items: Sequence[Mapping]) -> str:
    return ", ".join(item["name"] for item in items)


def bound_text(verdict: Mapping, *, digits: int = 2, unit: str = " points", words=("better", "worse")) -> str:
    """What one comparison shows, for a table cell: ``"resolved: worse"``, or the bound its Holm-adjusted
    interval gives (``"not resolved: at most 1.20 points better, at most 0.40 points worse"``; the
    unadjusted one in a verdict stored without ``ci_holm``)."""
    up, down = words
    if verdict["direction"]:
        return f"resolved: {up if verdict['direction'] > 0 else down}"
    low, high = verdict.get("ci_holm") or verdict["ci95"]  # the bound carries the family's adjustment
    parts = ([f"at most {high:.{digits}f}{unit} {up}"] if high > 0 else []) + (
        [f"at most {-low:.{digits}f}{unit} {down}"] if low < 0 else []
    )
    return "not resolved: " + ", ".join(parts)


def _holm_line(sweep: Mapping, key: str, family: str, against: str) -> str | None:
    """The family's outcome in one sentence: what is resolved, and what raw p < 0.05 Holm does not keep."""
    found = _verdicts(sweep, key)
    if not found:
        return None
    size = sweep["families"][family]["size"]
    resolved = [v for _, v in found if v["direction"]]
    text = (
        f"{size} points compared with {against} on last-epoch test top-1, paired by seed, Holm-adjusted "
        f"within these {size}: "
    )
    text += ("resolved: " + "; ".join(v["sentence"] for v in resolved)) if resolved else "none is resolved"
    over_all = {
        (r["first"], r["second"]): r for r in (sweep.get("grid_tests") or {}).get("holm_all", {}).get("rows", [])
    }
    kept = [(v, over_all.get((v["first"], v["second"]))) for v in resolved]
    if any(row is not None for _, row in kept):
        size = sweep["grid_tests"]["holm_all"]["size"]
        text += (
            f" (over all {size} of the sweep's tests: "
            + "; ".join(
                f"{v['first']} Holm-adjusted p {row['p_holm_all']:.2g}, "
                + ("still resolved" if row["p_holm_all"] < 0.05 else "not resolved")
                for v, row in kept
                if row is not None
            )
            + ")"
        )
    lost = sorted((v for _, v in found if v["p"] < 0.05 and not v["direction"]), key=lambda v: v["p"])
    if lost:
        text += (
            " (raw p below 0.05 that Holm does not keep: "
            + "; ".join(f"{v['first']} p = {v['p']:.3g}, Holm-adjusted {v['p_holm']:.3g}" for v in lost)
            + ")"
        )
    return text


def _slice_line(sweep: Mapping, along: str) -> str | None:
    """One slice through the default point: its resolved points, the bound on the rest, the collapsed ones."""
    default = sweep["protocol"]["default"]
    others = {k: v for k, v in default.items() if k != along}
    on_slice = [
        (p, p["delta_vs_default"])
        for p in sweep["points"]
        if p.get("delta_vs_default") and all(math.isclose(p[k], v) for k, v in others.items())
    ]
    if not on_slice:
        return None
    fixed = ", ".join(f"{'d' if k == 'depth' else k} {v:g}" for k, v in others.items())
    resolved = [v for _, v in on_slice if v["direction"]]
    collapsed = [p for p, v in on_slice if not v["direction"] and p.get("collapsed_seeds")]
    bounded = [(p, v) for p, v in on_slice if not v["direction"] and not p.get("collapsed_seeds")]
    parts = []
    if resolved:
        parts.append("resolved: " + "; ".join(v["sentence"].split("; ")[0] for v in resolved))
    if bounded:
        low, high = min(v["ci95"][0] for _, v in bounded), max(v["ci95"][1] for _, v in bounded)
        detect = [v["detectable"] for _, v in bounded]
        seeds = sorted({v["n"] for _, v in bounded})
        bound = (
            f"each is at most {high:.2f} points better and at most {-low:.2f} points worse than the default"
            if low < 0 < high
            else f"their paired 95% intervals all lie within [{low:+.2f}, {high:+.2f}] points of the default"
        )
        adjusted = [v["ci_holm"] for _, v in bounded if v.get("ci_holm")]
        if len(adjusted) == len(bounded):
            size = sweep["families"]["vs_default"]["size"]
            bound += (
                f" (union of their paired 95% intervals; with Holm's adjustment within the {size}, at most "
                f"{max(c[1] for c in adjusted):.2f} points better and {-min(c[0] for c in adjusted):.2f} worse)"
            )
        else:
            bound += " (union of their paired 95% intervals)"
        parts.append(
            f"{_names([p for p, _ in bounded])} not resolved: {bound}; "
            f"{'/'.join(map(str, seeds))} seeds detect true gaps of {min(detect):.2f} to {max(detect):.2f} points "
            f"with 80% power"
        )
    parts += [
        f"{p['name']} (collapsed seeds, below) {difference(v['mean'], v['ci95'])}, not resolved"
        for p, v in on_slice
        if p in collapsed
    ]
    return f"Along {'d' if along == 'depth' else along} ({fixed}): " + "; ".join(parts)


def _collapse_line(sweep: Mapping) -> str:
    collapse = sweep.get("collapse")
    if not collapse:
        return "Collapsed seeds: not assessed (no CE study interval to compare with)"
    hit = [p for p in sweep["points"] if p.get("collapsed_seeds")]
    runs = sum(len(p["per_seed"]) for p in sweep["points"])
    if not hit:
        return f"No seed collapsed ({collapse['rule']})"
    measure = collapse["measure"]
    listed = "; ".join(
        f"{p['name']}: "
        + ", ".join(f"seed {s['seed']} ({s[measure]:.2f})" for s in p["per_seed"] if s["seed"] in p["collapsed_seeds"])
        for p in hit
    )
    count = sum(len(p["collapsed_seeds"]) for p in hit)
    return (
        f"Collapsed seeds, {count} of {runs} runs ({collapse['rule']}): {listed}. They stay in every mean and "
        "interval above; a point with one is reported by its interval, never as a bound on the method"
    )


def _scale_line(sweep: Mapping) -> str | None:
    """The caveat every comparison carries: one learning rate over a range of loss scales."""
    protocol = sweep["protocol"]
    temperature = protocol["default"]["temperature"]
    scales = [p for p in sweep["points"] if p.get("local_scale") and math.isclose(p["temperature"], temperature)]
    if not scales:
        return None
    small, large = min(scales, key=lambda p: p["local_scale"]), max(scales, key=lambda p: p["local_scale"])
    setting = protocol.get("settings", {}).get("ldrrld")
    text = (
        f"Caveat for every comparison: all points train at one learning rate ({protocol['lr']:g}"
        + (f", LDRRLD setting '{setting['label']}'" if setting else "")
        + f") while, over the d x decay grid at T {temperature:g}, the local term's scale with every KL = 1 runs "
        f"from {small['local_scale']:.2f} ({small['name']}) "
        f"to {large['local_scale']:.2f} ({large['name']}), {large['local_scale'] / small['local_scale']:.0f}x: a "
        "point's difference to the default mixes what its pairs teach with a change of effective step size, and "
        "this sweep cannot tell the two apart"
    )
    if 2 in protocol["depths"]:
        text += (
            "; d = 2 is this toolkit's variant (the top-d set term keeps weight 1, docs/method.md), not the "
            "authors' code's"
        )
    return text


def _step_text(step: Mapping) -> str:
    return (
        f"d {step['from_depth']}->{step['to_depth']} {step['mean']:+.4f} "
        f"{interval(step['ci95'], signed=True, digits=4)} (Holm p {step['p_holm']:.2g}"
        + (", resolved)" if step["direction"] else ")")
    )


def _steps_line(sweep: Mapping) -> str | None:
    """Kendall tau between adjacent depths: every step at the default decay, the resolved ones elsewhere."""
    steps = sweep.get("depth_steps") or []
    if not steps:
        return None
    family = sweep["families"]["depth_steps"]
    decay = sweep["protocol"]["default"]["decay"]
    resolved = [s for s in steps if s["direction"]]
    here = [s for s in steps if math.isclose(s["decay"], decay)]
    elsewhere = [s for s in resolved if not math.isclose(s["decay"], decay)]
    text = (
        f"Kendall tau (all classes) between adjacent depths, {family['size']} steps at "
        f"{len({s['decay'] for s in steps})} decays, Holm-adjusted within them: {len(resolved)} resolved "
        f"({sum(s['direction'] > 0 for s in resolved)} up, {sum(s['direction'] < 0 for s in resolved)} down). "
        f"At decay {decay:g}: " + "; ".join(_step_text(s) for s in here)
    )
    if elsewhere:
        text += ". Resolved at other decays: " + "; ".join(f"decay {s['decay']:g} {_step_text(s)}" for s in elsewhere)
    return text + " (an unresolved step is bounded by its interval, not shown to be 0)"


def _grid_line(sweep: Mapping) -> str | None:
    """The grid as a whole: the omnibus F test, Holm over every test of the sweep, and what its seeds detect."""
    tests = sweep.get("grid_tests")
    if not tests:
        return None
    parts = []
    top1 = (tests.get("omnibus") or {}).get("test_top1_last")
    if top1:
        effect = "finds an effect of the grid" if top1["p"] < 0.05 else "finds no effect of the grid"
        parts.append(
            f"Over the grid as a whole, the randomised-block F test of last-epoch test top-1 ({top1['points']} "
            f"complete points x {top1['seeds']} seeds) {effect}: F({top1['df_treatment']}, {top1['df_error']}) = "
            f"{top1['f']:.2f}, p = {top1['p']:.2g}"
        )
    tau = (tests.get("omnibus") or {}).get("kendall_tau")
    if tau:
        parts.append(
            f"the same test of Kendall tau: F({tau['df_treatment']}, {tau['df_error']}) = {tau['f']:.1f}, "
            f"p = {tau['p']:.2g} (the grid changes how the student orders classes)"
        )
    holm_all = tests.get("holm_all") or {}
    if holm_all.get("rows"):
        lowest = holm_all["rows"][0]
        resolved = holm_all["resolved"]
        parts.append(
            f"Holm over all {holm_all['size']} of the sweep's tests together resolves "
            + (", ".join(f"{r['first']} - {r['second']}" for r in resolved) if resolved else "none of them")
            + f" (the lowest p, {lowest['first']} - {lowest['second']} at {lowest['p']:.2g}, adjusts to "
            f"{lowest['p_holm_all']:.2g})"
        )
    detect = tests.get("detectable") or {}
    if detect:
        parts.append(
            f"at the pooled spread of a paired top-1 difference ({detect['paired_sd']:.2f} points), "
            f"{detect['seeds']} seeds detect a true gap of {detect['at_0.05']:.1f} points with 80% power at "
            f"level 0.05, and {detect['at_holm_first_step']:.0f} points at the level Holm over all "
            f"{holm_all.get('size', 0)} tests first applies: a point not resolved here is not shown to "
            "match the default"
        )
    return "; ".join(parts) if parts else None


def findings(sweep: Mapping) -> list[str]:
    """Sentences computed from the numbers of a ``sweep.json``: the Holm families' outcomes, a bound for
    each slice through the default point, the collapsed seeds, the shared-learning-rate caveat and
    Kendall tau's steps over ``d``. A difference is called resolved only when its Holm-adjusted p is
    below 0.05 and its paired 95% interval excludes 0; anything else is stated as the bound it gives."""
    if "families" not in sweep:
        return [
            "this sweep.json has no paired p-values (written before they were added): rerun `ldrrld sweep "
            "--collect` on its folder"
        ]
    default = sweep["protocol"]["default"]
    default_name = point_name((default["depth"], default["decay"], default["temperature"]))
    kd = sweep["references"].get("kd", {})
    lines = [
        _holm_line(sweep, "delta_vs_default", "vs_default", f"the default point ({default_name})"),
        _grid_line(sweep),
        *(_slice_line(sweep, along) for along in ("depth", "decay", "temperature")),
        _collapse_line(sweep),
        _scale_line(sweep),
        _steps_line(sweep),
        _holm_line(sweep, "delta_vs_kd", "vs_kd", f"KD ({kd.get('runs_source')})"),
    ]
    return [line for line in lines if line]


def render_sweep(sweep: Mapping) -> str:
    """``sweep.md``: the protocol, the findings, the references, the comparisons and one row per grid point."""
    finger, progress = sweep["fingerprint"], sweep["progress"]
    code = sweep.get("code") or {}
    lines = [
        f"# LDRRLD sensitivity sweep: the `{sweep['protocol']['problem']}` problem",
        "",
        f"Written by `{finger.get('command') or 'ldrrld sweep'}` (commit `{finger['commit']}`, code fingerprint "
        f"`{code.get('fingerprint') or 'not recorded'}`, torch "
        f"{finger['torch']}, {finger['threads']} thread(s) per run on {finger['device']}). "
        f"{progress['runs_done']} of {progress['runs_planned']} grid runs finished; "
        f"{progress['points_complete']} of {progress['points']} points complete. Points not run are marked – "
        "and are gaps in every figure.",
        "",
        "## Protocol",
        "",
        *_protocol_markdown(sweep),
        "",
        "To rerun or continue it: `ldrrld sweep --jobs 2 --out-dir DIR` (finished runs are kept, so a killed "
        "sweep resumes; `--collect` rewrites this file from the runs finished so far). In Python: "
        "`ldrrld_core.study.sweep.run_sweep`; in a notebook: `ldrrld_viz.weight_panel(sweep=True)` draws "
        "these "
        "numbers under the weight sliders.",
        "",
        "## Findings (computed from the tables below)",
        "",
        *[f"- {line}" for line in findings(sweep)],
        "",
        "## The grid at a glance",
        "",
        "Last-epoch test top-1 (%), mean ± standard deviation over seeds, at T "
        f"{sweep['protocol']['default']['temperature']:g}; – where no seed has finished.",
        "",
        grid_markdown(sweep),
        "",
        "## Reference lines",
        "",
        _references_markdown(sweep),
        "",
        *_comparisons_markdown(sweep),
        "## Every point",
        "",
        _points_markdown(sweep),
    ]
    return "\n".join(lines) + "\n"


def _protocol_markdown(sweep: Mapping) -> list[str]:
    """The protocol's bullet points: problem and teacher, the one rate, the grid, measures and cells."""
    protocol = sweep["protocol"]
    default, measure = protocol["default"], protocol["measures"]
    settings = protocol.get("settings") or {}
    setting = settings.get("ldrrld")
    families = sweep.get("families") or {}
    return [
        f"- The study's problem, teacher (`{protocol['teacher']['model']}`, test top-1 "
        f"{protocol['teacher']['test_top1']:.2f}), validation split ({protocol['validation_fraction']:.0%}) "
        "and "
        f"{protocol['epochs']}-epoch schedule; study results: `{protocol['study_results'] or 'not read'}`.",
        f"- **One learning rate for every point**: {protocol['lr']:g}, {protocol['lr_rule']}. Choosing a "
        "rate "
        "per point would cost three times as much; a point that prefers another rate is handicapped here.",
        "- **The study's loss settings**: "
        + (
            "; ".join(
                f"{method} '{s['label']}'"
                + (" (" + ", ".join(f"{k} {v:g}" for k, v in s["hparams"].items()) + ")" if s["hparams"] else "")
                for method, s in settings.items()
            )
            if settings
            else "none read (the loss defaults)"
        )
        + (
            "; every point trains with LDRRLD's, its own d, decay and T over it, and every reference run with "
            "its method's."
            if setting
            else "."
        ),
        f"- Grid: d in {protocol['depths']} x decay in {protocol['decays']} at T {default['temperature']:g}, "
        "plus T "
        f"in {protocol['temperatures']} at d {default['depth']} and decay {default['decay']:g}. Seeds "
        f"{protocol['seeds']}: within a seed every point starts from the same weights and data order.",
        f"- Measures on the test split, last-epoch student, at d {measure['depth']} and T "
        f"{measure['temperature']:g} for every point: Kendall tau of the full rankings of all classes (no "
        "method optimises it: the neutral one), KL over all classes (KD's own objective / T²: it favours "
        "KD), "
        f"and the share of the teacher's top-{measure['depth']} pairs the student orders alike (what "
        "LDRRLD's "
        "local term "
        "optimises: it favours LDRRLD).",
        "- *local scale*: alpha T² (sum of the pair weights + 1) / (P + 1), what the local term weighs when "
        "every KL is 1 (`local_term_scale`). Each pair's coefficient is alpha T² w / (P + 1), so a change "
        "of d or decay "
        "also changes the loss's scale, at the same learning rate.",
        "- Cells: mean ± sample standard deviation over seeds; intervals are 95% Student t. Comparisons are "
        "paired by seed, each with its paired t-test p and its Holm-adjusted p within its family ("
        + (", ".join(f"{name}: {f['size']} comparisons of {f['measure']}" for name, f in families.items()) or "none")
        + "). A difference is *resolved* only when its Holm-adjusted p is below 0.05 and its interval excludes "
        "0; otherwise the table gives the bound its interval sets, beside the true gap the seeds detect with "
        "80% power.",
        "- Collapsed seeds: "
        + (sweep["collapse"]["rule"] if sweep.get("collapse") else "not assessed (no CE study interval)")
        + "; marked in the table of every point, kept in every statistic.",
    ]


def grid_markdown(sweep: Mapping, measure: str = "test_top1_last") -> str:
    """``measure`` over the ``d`` x decay grid at the default temperature: one row per ``d``, one column per
    decay, ``mean ± std`` over seeds (``–`` where no seed finished). ``docs/benchmarks.md`` quotes this table."""
    return markdown_table(*_grid(sweep, measure))


def grid_text(sweep: Mapping, measure: str = "test_top1_last") -> str:
    """:func:`grid_markdown` as a text table, for a terminal."""
    header, rows = _grid(sweep, measure)
    return text_table(header, rows, right=[False, *[True] * (len(header) - 1)])


def _grid(sweep: Mapping, measure: str) -> tuple[list[str], list[list[str]]]:
    protocol = sweep["protocol"]
    rows = []
    for depth in protocol["depths"]:
        if depth in protocol["depths_dropped_above_num_classes"]:
            continue
        cells = []
        for decay in protocol["decays"]:
            point = find_point(sweep, depth, decay)
            cells.append(_cell(point.get(measure) if point else None, _DIGITS[measure]))
        rows.append([f"d = {depth}", *cells])
    return ["", *(f"decay {decay:g}" for decay in protocol["decays"])], rows


def _common(labels: Sequence[str | None]) -> str | None:
    """The one label every row shares, else ``None`` (then each cell names its own)."""
    found = set(labels)
    return found.pop() if len(found) == 1 else None


def _references_markdown(sweep: Mapping) -> str:
    """The reference lines, every number labelled with the runs it comes from: the study's (its own
    seeds) for accuracy, the sweep's reference runs (the sweep's seeds) for the relation measures."""
    entries = sweep["references"]
    if not entries:
        return "No reference lines: no study results were read."
    study_label = _common([e["study"].get("source") for e in entries.values()])
    runs_label = _common([e.get("runs_source") for e in entries.values() if "per_seed" in e])
    rows = []
    for method, entry in entries.items():
        study = entry["study"]["test_top1_last"]
        bounds = "–" if study["ci95"] is None else interval(study["ci95"])
        own = "" if study_label else f" ({entry['study'].get('source')})"
        runs = "" if runs_label or "per_seed" not in entry else f" ({entry.get('runs_source')})"
        rows.append(
            [
                method,
                f"{entry['lr']:g}",
                (entry.get("setting") or {}).get("label", "–"),
                f"{study['mean']:.2f}{own}",
                bounds,
                *(
                    _cell(entry.get(m), _DIGITS[m]) + (runs if entry.get(m) else "")
                    for m in ("test_top1_last", "kendall_tau", "kl_all", "topd_pair_agreement")
                ),
            ]
        )
    study_head, runs_head = (f" [{study_label}]" if study_label else ""), (f" [{runs_label}]" if runs_label else "")
    return (
        markdown_table(
            [
                "method",
                "lr",
                "setting",
                f"test top-1, last (%){study_head}",
                f"95% CI{study_head}",
                f"test top-1, last (%){runs_head}",
                f"Kendall tau, all{runs_head}",
                f"KL, all{runs_head}",
                f"top-7 pair agreement{runs_head}",
            ],
            rows,
        )
        + "\n\nThe first accuracy columns come from the study's runs (`study_results`); the rest from the "
        "sweep's own reference runs of each baseline at its study rate and setting, on the sweep's seeds. The "
        "two sets of runs differ in seeds: compare a grid point with the second set (same seeds), not the first."
    )


def _comparison_rows(found: Sequence[tuple[Mapping, Mapping]]) -> list[list]:
    return [
        [
            p["name"],
            v["n"],
            difference(v["mean"], v["ci95"]),
            "–" if not v.get("ci_holm") else interval(v["ci_holm"], signed=True),
            f"{v['p']:.3g}",
            f"{v['p_holm']:.3g}",
            f"{v['detectable']:.2f}",
            bound_text(v),
        ]
        for p, v in found
    ]


def _comparisons_markdown(sweep: Mapping) -> list[str]:
    """The three families as tables: every comparison's interval, p, Holm p, detectable gap and verdict."""
    if "families" not in sweep:
        return []
    header = [
        "point",
        "seeds",
        "mean [95% CI]",
        "Holm-adjusted interval",
        "p",
        "Holm p",
        "detectable at 80% power",
        "verdict (Holm p < 0.05 and CI excludes 0; bound from the Holm-adjusted interval)",
    ]
    kd = sweep["references"].get("kd", {})
    out = []
    for key, family, title in (
        ("delta_vs_default", "vs_default", "Every point - the default point"),
        ("delta_vs_kd", "vs_kd", f"Every point - KD ({kd.get('runs_source')})"),
    ):
        found = _verdicts(sweep, key)
        if found:
            size = sweep["families"][family]["size"]
            out += [
                f"## {title}",
                "",
                f"Last-epoch test top-1 (points), paired by seed; Holm within these {size} comparisons.",
                "",
                markdown_table(header, _comparison_rows(found)),
                "",
            ]
    steps = sweep.get("depth_steps") or []
    if steps:
        rows = [
            [
                f"{s['decay']:g}",
                f"d {s['from_depth']} -> {s['to_depth']}",
                s["n"],
                difference(s["mean"], s["ci95"], digits=4),
                "–" if not s.get("ci_holm") else interval(s["ci_holm"], signed=True, digits=4),
                f"{s['p']:.3g}",
                f"{s['p_holm']:.3g}",
                f"{s['detectable']:.4f}",
                bound_text(s, digits=4, unit="", words=("higher", "lower")),
            ]
            for s in steps
        ]
        out += [
            "## Kendall tau between adjacent depths",
            "",
            f"Kendall tau at the larger depth - at the smaller, paired by seed; Holm within these {len(steps)} "
            "steps. An unresolved step bounds the change; it does not show that tau stopped changing.",
            "",
            markdown_table(["decay", "step", *header[1:]], rows),
            "",
        ]
    return out


def _points_markdown(sweep: Mapping) -> str:
    """One row per grid point: settings, seeds (missing, diverged, collapsed) and every measure."""
    header = ["d", "decay", "T", "local scale", "seeds"] + [_TITLES[m] for m in MEASURES]
    rows = []
    for e in sweep["points"]:
        seeds = (
            f"{len(e['per_seed'])}"
            + (f" (missing {e['missing_seeds']})" if e["missing_seeds"] else "")
            + (f" (diverged {e['diverged_seeds']})" if e["diverged_seeds"] else "")
            + (f" (collapsed {e['collapsed_seeds']})" if e.get("collapsed_seeds") else "")
        )
        rows.append(
            [
                e["depth"],
                f"{e['decay']:g}",
                f"{e['temperature']:g}",
                f"{e['local_scale']:.2f}",
                seeds,
                *(_cell(e[m], _DIGITS[m]) for m in MEASURES),
            ]
        )
    return markdown_table(header, rows)
