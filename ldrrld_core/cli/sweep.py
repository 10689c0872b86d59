"""``ldrrld sweep``: LDRRLD students over depth, decay and temperature on the study's problem."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from .options import add_batch_options, check_jobs, ended
from .verbosity import add_verbose_option

__all__ = ["add_commands", "run_sweep_command"]

_SWEEP_EPILOG = """\
examples:
  ldrrld sweep --quick                                  # a toy grid on the quick study, about a minute
  nohup ldrrld sweep --jobs 2 > sweep.log 2>&1 &        # the full grid of docs/sweep.md; rerun to resume
  ldrrld sweep --depths 3 7 15 --decays 0 0.1 --seeds 5 --out-dir runs/my-sweep
  ldrrld sweep --collect --out-dir runs/sweep/teaching  # sweep.json and .md from the runs finished so far
  ldrrld sweep --executor ray --address 10.0.0.1:6379   # the runs on a Ray cluster (docs/cluster.md)

Every grid point trains at the learning rate the study chose for ldrrld (from --results).
The last stdout line is JSON: {"sweep", "markdown", "runs_done", "runs_planned", "findings"}.
"""


def add_commands(commands) -> None:
    """Add ``sweep`` to the ``ldrrld`` subcommands ``commands``."""
    sweep = commands.add_parser(
        "sweep",
        help="LDRRLD students over depth, decay and temperature on the study's problem (sweep.json)",
        description="Train LDRRLD students over a grid of depth d x decay (and temperatures at the default d "
        "and decay) on the study's problem: its teacher, validation split, schedule and seeds, and "
        "the learning rate and loss setting the study chose for ldrrld. Reports test top-1 (last and "
        "best-val epoch), Kendall tau and KL over all classes, top-7 pair agreement and seconds per run, "
        "over seeds, and compares every point with the default point and with KD's reference runs, "
        "paired by seed: each comparison with its p and its Holm-adjusted p within its family, called "
        "resolved only when that is below 0.05 and the interval excludes 0, else stated as a bound. "
        "Writes OUT_DIR/sweep.json and sweep.md after every run; finished runs are reused, so a killed "
        "sweep resumes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_SWEEP_EPILOG,
    )
    sweep.add_argument("--recipe", default="teaching", help="the problem, a recipe preset (default: teaching)")
    sweep.add_argument(
        "--quick",
        action="store_true",
        help="a 2 x 2 grid plus one temperature on the quick study, 2 seeds: a test, not a claim",
    )
    sweep.add_argument(
        "--out-dir",
        help="folder for every run and the output (default: runs/sweep/<recipe>, or runs/sweep-quick/<recipe>)",
    )
    sweep.add_argument(
        "--results",
        help="the study's results.json (default: docs/results.json when it studies the same problem): its "
        "rate and setting per method (methods.M.lr, methods.M.setting) train every point and reference",
    )
    sweep.add_argument(
        "--run-study",
        action="store_true",
        help="without study results, run the whole study first (default: choose ldrrld's rate "
        "with the study's rule, no reference lines; --quick runs the quick study)",
    )
    sweep.add_argument(
        "--lr",
        type=float,
        help="train the grid at this rate without reading a study (no "
        "reference lines); rerun with --results later to add them",
    )
    sweep.add_argument("--depths", nargs="+", type=int, help="values of d (default 2 3 5 7 10 15 20)")
    sweep.add_argument("--decays", nargs="+", type=float, help="values of the decay (default 0 0.05 0.1 0.2)")
    sweep.add_argument(
        "--temperatures", nargs="+", type=float, help="values of T at the default d and decay (default 2 4 8)"
    )
    sweep.add_argument("--seeds", type=int, help="seeds 0 .. N-1 of every point (default 3; --quick 2)")
    sweep.add_argument(
        "--references",
        nargs="*",
        help="baselines also measured on the same seeds (default ce kd dkd; none: give the flag alone)",
    )
    sweep.add_argument(
        "--collect",
        action="store_true",
        help="train nothing: write sweep.json and sweep.md from the runs finished so far",
    )
    add_batch_options(sweep)
    add_verbose_option(sweep)
    sweep.set_defaults(run=run_sweep_command, trains=True)


def _config(args: argparse.Namespace):
    """The sweep's configuration: the defaults (or the quick ones) with the options given."""
    import dataclasses

    from ..study.sweep import QUICK_SWEEP, SweepConfig

    config = QUICK_SWEEP if args.quick else SweepConfig()
    changes: dict[str, Any] = {"study": dataclasses.replace(config.study, recipe=args.recipe)}
    for name in ("depths", "decays", "temperatures", "references"):
        if getattr(args, name) is not None:
            changes[name] = tuple(getattr(args, name))
    if args.seeds is not None:
        changes["seeds"] = tuple(range(args.seeds))
    return dataclasses.replace(config, **changes)


def run_sweep_command(args: argparse.Namespace, device) -> int:
    """Train (or with ``--collect`` only gather) the grid; print its table, what it found, the files it
    wrote and the JSON summary."""
    from ..study.executors import executor_from
    from ..study.sweep import findings, run_sweep
    from ..study.sweep_report import grid_text

    config = _config(args)
    check_jobs(args)
    out_dir = Path(args.out_dir or f"runs/{'sweep-quick' if args.quick else 'sweep'}/{args.recipe}")
    sweep = run_sweep(
        config,
        out_dir,
        results=args.results,
        lr=args.lr,
        run_study_first=args.run_study or args.quick,
        device=device or "cpu",
        jobs=args.jobs,
        threads=args.threads or 1,
        progress=not args.no_progress,
        train=not args.collect,
        command="ldrrld " + shlex.join(args.argv),
        overwrite=args.overwrite,
        executor=executor_from(args),
    )
    progress = sweep["progress"]
    summary = f"{progress['runs_done']} of {progress['runs_planned']} runs done. " + " ".join(findings(sweep))
    print(ended(grid_text(sweep), summary, [out_dir / "sweep.json", out_dir / "sweep.md"]))
    print(
        json.dumps(
            {
                "sweep": str(out_dir / "sweep.json"),
                "markdown": str(out_dir / "sweep.md"),
                "runs_done": progress["runs_done"],
                "runs_planned": progress["runs_planned"],
                "findings": findings(sweep),
            }
        )
    )
    return 0
