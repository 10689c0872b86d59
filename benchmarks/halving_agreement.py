"""Would successive halving have chosen the points the full grid chose? Measured on the stored evidence.

Reads every selection run of the committed evidence (``docs/evidence.tar.xz``, or a folder it was
extracted to) and the protocol of each study (``docs/results.json``: selection seeds,
``select_last``, the first learning-rate grid, the tuned axes, ``max_widenings``). Nothing trains.

For every study and method it rebuilds the grid the study actually ran, widenings included
(:func:`~ldrrld_core.study.halving.grid_as_run`, replaying the widening rule from the stored
scores; the script checks that this is the set ``results.json`` lists as tried, and that the full
grid's choice is the one recorded), then replays successive halving over that grid, in one
bracket, under each rule of ``RULES``. Halving is simulated on the grid as run: with halving in
the protocol, a widening would follow halving's choice, not the full grid's, and could try other
points; where halving keeps the full grid's choice, the widenings are the same.

Printed: per rule, study and method, the points, the choice of each, whether they agree, the
epochs halving trains as a share of the full grid's, and, where they disagree, how much lower the
halving choice's full-schedule validation top-1 (the protocol's score) is. Then, per rule, the
agreement over every study and method and the compute saved.

Usage::

    PYTHONPATH=. python benchmarks/halving_agreement.py
    PYTHONPATH=. python benchmarks/halving_agreement.py --evidence /tmp/ev --results docs/results.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tarfile
from fractions import Fraction
from pathlib import Path

from ldrrld_core.study.halving import grid_as_run, rung_score, rungs_at, successive_halving
from ldrrld_core.study.tuning import Axis, Point

ROOT = Path(__file__).resolve().parent.parent

#: The rules replayed: ``eta`` (1 in ``eta`` survives a rung) and the rungs as fractions of the
#: schedule (the last is its end). Geometric rungs from a quarter or a ninth of the schedule, a single
#: cut at a half or a third, and single cuts after the learning rate's decay (epoch 40 of 60 on
#: ``teaching``, 45 on the digits).
RULES = (
    (2, (1 / 4, 1 / 2, 1)),
    (3, (1 / 9, 1 / 3, 1)),
    (2, (1 / 2, 1)),
    (3, (1 / 3, 1)),
    (2, (5 / 6, 1)),
    (3, (5 / 6, 1)),
)

_RUN = re.compile(
    r"(?:^|/)(?P<study>[^/]+)/runs/(?P<method>[^/]+)/(?P<setting>[^/]+)/lr(?P<lr>[^/]+)-seed(?P<seed>\d+)\.json$"
)


def stored_curves(evidence: Path) -> dict[tuple[str, str, str, float, int], list[float]]:
    """``{(study, method, setting folder, lr, seed): val top-1 per epoch}`` of every study run stored."""
    found = {}

    def add(name: str, text: str) -> None:
        match = _RUN.search(name)
        if match:
            rows = json.loads(text)["history"]
            key = (match["study"], match["method"], match["setting"], float(match["lr"]), int(match["seed"]))
            found[key] = [row["val_top1"] for row in rows]

    if evidence.is_dir():
        for path in sorted(evidence.rglob("*.json")):
            add(path.relative_to(evidence).as_posix(), path.read_text(encoding="utf-8"))
    else:
        with tarfile.open(evidence) as archive:
            for member in archive:
                if member.isfile() and _RUN.search(member.name):
                    add(member.name, archive.extractfile(member).read().decode("utf-8"))
    return found


def _axes(protocol: dict, method: str) -> tuple[Axis, ...]:
    return tuple(Axis(a["name"], tuple(a["values"]), a["hparams"]) for a in protocol["tuning"][method])


def method_grid(curves: dict, study: str, method: str, protocol: dict) -> tuple[list[Point], list[list[list[float]]]]:
    """The points ``method`` tried in ``study`` (in the protocol's order) and each one's selection curves."""
    axes, seeds, last = _axes(protocol, method), protocol["selection_seeds"], protocol["select_last"]

    def of(point: Point) -> list[list[float]]:
        return [curves[study, method, point.folder(axes), point.lr, seed] for seed in seeds]

    points = grid_as_run(
        protocol["lr_grid"], axes, lambda p: rung_score(of(p), protocol["epochs"], last), protocol["max_widenings"]
    )
    recorded = {(entry["lr"], entry["setting"]) for entry in protocol["tried"][method]}
    if {(p.lr, p.setting_label(axes)) for p in points} != recorded:
        raise SystemExit(f"{study} {method}: the replayed grid is not the one results.json lists as tried")
    return points, [of(point) for point in points]


def compare(curves: dict, results: dict) -> list[dict]:
    """One row per rule, study and method."""
    rows = []
    for eta, fractions in RULES:
        for study, content in results["studies"].items():
            protocol = content["protocol"]
            epochs, last = protocol["epochs"], protocol["select_last"]
            for method in protocol["tried"]:
                points, configs = method_grid(curves, study, method, protocol)
                axes = _axes(protocol, method)
                full = successive_halving(configs, [epochs], eta=eta, last=last).chosen
                recorded = content["methods"][method]
                if (points[full].lr, points[full].setting_label(axes)) != (
                    recorded["lr"],
                    recorded["setting"]["label"],
                ):
                    raise SystemExit(f"{study} {method}: the stored curves do not choose what results.json records")
                halving = successive_halving(configs, rungs_at(epochs, fractions), eta=eta, last=last)
                scores = [rung_score(c, epochs, last) for c in configs]
                rows.append(
                    {
                        "rule": f"eta {eta}, cuts at "
                        + ", ".join(str(Fraction(f).limit_denominator(12)) for f in fractions[:-1]),
                        "rungs": halving.rungs,
                        "study": study,
                        "method": method,
                        "points": len(points),
                        "full": f"lr {points[full].lr:g}, {points[full].setting_label(axes)}",
                        "halving": f"lr {points[halving.chosen].lr:g}, {points[halving.chosen].setting_label(axes)}",
                        "agree": halving.chosen == full,
                        "loss": scores[full] - scores[halving.chosen],
                        "epochs": halving.epochs,
                        "full_epochs": halving.full_epochs,
                    }
                )
    return rows


def render(rows: list[dict]) -> str:
    """The per-case tables and the summary, as Markdown."""
    lines = []
    for rule in dict.fromkeys(row["rule"] for row in rows):
        mine = [row for row in rows if row["rule"] == rule]
        rungs = ", ".join(map(str, mine[0]["rungs"]))
        lines += [
            f"Rule: {rule} of the schedule (rungs at epochs {rungs})",
            "",
            "| study | method | points | full grid chose | halving chose | same | epochs trained | val top-1 lost |",
            "|---|---|--:|---|---|---|--:|--:|",
        ]
        for r in mine:
            lost = "" if r["agree"] else f"{r['loss']:.2f}"
            share = f"{r['epochs'] / r['full_epochs']:.0%}"
            same = "yes" if r["agree"] else "**no**"
            lines.append(
                f"| {r['study']} | {r['method']} | {r['points']} | {r['full']} | {r['halving']} | {same} | "
                f"{share} | {lost} |"
            )
        lines.append("")
    lines += [
        "| rule | rungs (epochs) | same choice | agreement | compute saved | val top-1 lost where not (mean, max) |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for rule in dict.fromkeys(row["rule"] for row in rows):
        mine = [row for row in rows if row["rule"] == rule]
        agree = sum(r["agree"] for r in mine)
        saved = 1 - sum(r["epochs"] for r in mine) / sum(r["full_epochs"] for r in mine)
        lost = [r["loss"] for r in mine if not r["agree"]]
        where = f"{statistics.fmean(lost):.2f}, {max(lost):.2f}" if lost else "-"
        rungs = ", ".join(map(str, mine[0]["rungs"]))
        lines.append(f"| {rule} | {rungs} | {agree} of {len(mine)} | {agree / len(mine):.0%} | {saved:.0%} | {where} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidence", type=Path, default=ROOT / "docs" / "evidence.tar.xz", help="archive or folder")
    parser.add_argument("--results", type=Path, default=ROOT / "docs" / "results.json")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    print(render(compare(stored_curves(args.evidence), results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
