"""Reading what ``ldrrld sweep`` wrote: ``sweep.json`` (its measures, points and slices) and ``sweep.md``.

Everything here works on the loaded file alone, so figures, notebooks and the report read a sweep
without training anything; :mod:`ldrrld_core.study.sweep` runs the grid and builds the file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from ..io import read_json
from ..tables import difference, interval, markdown_table, mean_std, text_table

__all__ = [
    "MEASURES",
    "MEASURE_DEPTH",
    "MEASURE_TEMPERATURE",
    "point_name",
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


def _delta(delta: Mapping | None) -> str:
    return "–" if delta is None else difference(delta["mean"], delta["ci95"])


_DIGITS = {
    "test_top1_last": 2,
    "test_top1_best_val": 2,
    "kendall_tau": 4,
    "kl_all": 4,
    "topd_pair_agreement": 4,
    "seconds": 0,
}


def _spread(sweep: Mapping, along: str) -> str | None:
    line = sweep_slice(sweep, "test_top1_last", along=along)
    known = [(x, m) for x, m in zip(line["x"], line["mean"]) if m is not None]
    if len(known) < 2:
        return None
    (x_lo, lo), (x_hi, hi) = min(known, key=lambda p: p[1]), max(known, key=lambda p: p[1])
    return (
        f"{along}: mean test top-1 from {lo:.2f} ({along} {x_lo:g}) to {hi:.2f} ({along} {x_hi:g}), "
        f"a spread of {hi - lo:.2f} points over {len(known)} values"
    )


def findings(sweep: Mapping) -> list[str]:
    """Sentences computed from the numbers: the spread along each slice through the default, and the
    points whose paired difference to the default point excludes 0."""
    lines = [text for along in ("depth", "decay", "temperature") if (text := _spread(sweep, along))]
    default = sweep["protocol"]["default"]
    apart = [
        e
        for e in sweep["points"]
        if e["delta_vs_default"] and (e["delta_vs_default"]["ci95"][0] > 0 or e["delta_vs_default"]["ci95"][1] < 0)
    ]
    if apart:
        lines.append(
            "points whose paired 95% interval to the default (d {depth}, decay {decay:g}, "
            "T {temperature:g}) excludes 0: ".format(**default)
            + "; ".join(f"{e['name']} {_delta(e['delta_vs_default'])}" for e in apart)
        )
    else:
        lines.append("no point's paired 95% interval to the default point excludes 0")
    return lines


def render_sweep(sweep: Mapping) -> str:
    """``sweep.md``: the protocol, the findings, the references and one row per grid point."""
    finger, progress = sweep["fingerprint"], sweep["progress"]
    lines = [
        f"# LDRRLD sensitivity sweep: the `{sweep['protocol']['problem']}` problem",
        "",
        f"Written by `{finger.get('command') or 'ldrrld sweep'}` (commit `{finger['commit']}`, torch "
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
        "## Findings (computed from the table below)",
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
        "## Every point",
        "",
        _points_markdown(sweep),
    ]
    return "\n".join(lines) + "\n"


def _protocol_markdown(sweep: Mapping) -> list[str]:
    """The protocol's bullet points: problem and teacher, the one rate, the grid, measures and cells."""
    protocol = sweep["protocol"]
    default, measure = protocol["default"], protocol["measures"]
    return [
        f"- The study's problem, teacher (`{protocol['teacher']['model']}`, test top-1 "
        f"{protocol['teacher']['test_top1']:.2f}), validation split ({protocol['validation_fraction']:.0%}) "
        "and "
        f"{protocol['epochs']}-epoch schedule; study results: `{protocol['study_results'] or 'not read'}`.",
        f"- **One learning rate for every point**: {protocol['lr']:g}, {protocol['lr_rule']}. Choosing a "
        "rate "
        "per point would cost three times as much; a point that prefers another rate is handicapped here.",
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
        "- Cells: mean ± sample standard deviation over seeds; intervals are 95% Student t. Differences are "
        "paired by seed on the last-epoch test top-1.",
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


def _references_markdown(sweep: Mapping) -> str:
    """The reference lines: each baseline's study number and its relation measures on the sweep's seeds."""
    rows = []
    for method, entry in sweep["references"].items():
        study = entry["study"]["test_top1_last"]
        bounds = "–" if study["ci95"] is None else interval(study["ci95"])
        rows.append(
            [
                method,
                f"{entry['lr']:g}",
                f"{study['mean']:.2f}",
                bounds,
                len(entry["study"]["seeds"]),
                *(_cell(entry.get(m), _DIGITS[m]) for m in ("kendall_tau", "kl_all", "topd_pair_agreement")),
            ]
        )
    return markdown_table(
        [
            "method",
            "lr",
            "study: test top-1, last (%)",
            "study: 95% CI",
            "seeds",
            "Kendall tau, all",
            "KL, all",
            "top-7 pair agreement",
        ],
        rows,
    )


def _points_markdown(sweep: Mapping) -> str:
    """One row per grid point: settings, seeds, every measure and the paired differences."""
    header = (
        ["d", "decay", "T", "local scale", "seeds"]
        + [_TITLES[m] for m in MEASURES]
        + ["vs default, paired", "vs KD, paired"]
    )
    rows = []
    for e in sweep["points"]:
        seeds = (
            f"{len(e['per_seed'])}"
            + (f" (missing {e['missing_seeds']})" if e["missing_seeds"] else "")
            + (f" (diverged {e['diverged_seeds']})" if e["diverged_seeds"] else "")
        )
        rows.append(
            [
                e["depth"],
                f"{e['decay']:g}",
                f"{e['temperature']:g}",
                f"{e['local_scale']:.2f}",
                seeds,
                *(_cell(e[m], _DIGITS[m]) for m in MEASURES),
                _delta(e["delta_vs_default"]),
                _delta(e["delta_vs_kd"]),
            ]
        )
    return markdown_table(header, rows)
