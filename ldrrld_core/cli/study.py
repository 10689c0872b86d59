"""``ldrrld study``: the comparison protocol of CE, KD, DKD, LDRRLD and the seed's baselines over seeds."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

from .options import add_batch_options, check_jobs, ended
from .verbosity import add_verbose_option

__all__ = ["add_commands", "run_study_command"]

_STUDY_EPILOG = """\
examples:
  ldrrld study --quick                                  # the protocol at toy size, about a minute
  ldrrld study --quick --methods ce kd dkd ldrrld dist lskd wttm ctkd tekap sdd   # every method, 2 minutes
  ldrrld study --jobs 2 --out-dir runs/study            # one study: the teaching problem, every method tuned
  ldrrld study --evidence --jobs 2 --out-dir runs/evidence   # docs/results.md: both problems, both pairs
  ldrrld study --teacher-only --no-shipped-teacher      # train the converged teacher alone
  ldrrld study --render docs                            # docs/results.md and .png from docs/results.json
  ldrrld study --executor ray --address 10.0.0.1:6379   # the runs on a Ray cluster (docs/cluster.md)

The last stdout line is JSON: {"results", "verdict", "test_top1_last", "delta_vs_ce", ...}.
"""


def add_commands(commands) -> None:
    """Add ``study`` to the ``ldrrld`` subcommands ``commands``."""
    study = commands.add_parser(
        "study",
        help="compare CE, KD, DKD and LDRRLD with one protocol over seeds (results.json + report)",
        description="The comparison protocol: a converged teacher, a validation split that alone chooses "
        "each method's learning rate, every seed with identical initial weights and data order "
        "across methods, Student-t intervals and paired differences. Writes OUT_DIR/results.json, "
        "results.md and results.png; finished runs are reused, so an interrupted study resumes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_STUDY_EPILOG,
    )
    study.add_argument("--recipe", default="teaching", help="the problem, a recipe preset (default: teaching)")
    study.add_argument(
        "--quick",
        action="store_true",
        help="the whole protocol at toy size (2 seeds, 2 learning rates, 3 epochs): a test, not a claim",
    )
    study.add_argument(
        "--out-dir",
        help="folder for the teacher cache, every run and the results "
        "(default: runs/study/<recipe>, or runs/study-quick/<recipe>)",
    )
    study.add_argument("--seeds", type=int, help="seeds 0 .. N-1 (default 5; --quick 2)")
    study.add_argument("--epochs", type=int, help="every student's epochs (default: the recipe's)")
    study.add_argument("--methods", nargs="+", help="losses to compare, ce and kd included (default: ce kd dkd ldrrld)")
    study.add_argument(
        "--lr-factors",
        nargs="+",
        type=float,
        help="the learning-rate grid as multiples of the recipe's lr (default 0.5 1 2; --quick 0.5 1)",
    )
    study.add_argument(
        "--evidence",
        action="store_true",
        help="run the whole evidence set of docs/results.md: the teaching study, the shared-data digits problem "
        "with a pair across families and one within a family, and the teacher-data ablation (--quick: toy size)",
    )
    study.add_argument("--teacher-only", action="store_true", help="train (or find) the converged teacher and stop")
    study.add_argument(
        "--no-shipped-teacher",
        action="store_true",
        help="train the teacher even when one ships with the package for this recipe",
    )
    study.add_argument(
        "--render", metavar="DIR", help="only write DIR/results.md and DIR/results.png from DIR/results.json"
    )
    add_batch_options(study)
    add_verbose_option(study)
    study.set_defaults(run=run_study_command, trains=True)


def _config(args: argparse.Namespace):
    """The study's configuration: the defaults (or the quick ones) with the options given."""
    import dataclasses

    from ..study import QUICK, StudyConfig
    from ..study.protocol import QUICK_TUNING
    from ..study.tuning import DEFAULT_TUNING

    config = dataclasses.replace(QUICK if args.quick else StudyConfig(), recipe=args.recipe)
    changes: dict[str, Any] = {}
    if args.seeds is not None:
        changes["seeds"] = tuple(range(args.seeds))
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.methods:  # a config keeps the axes of its own methods only: take the others' from the full table
        changes["methods"] = tuple(args.methods)
        changes["tuning"] = dict(QUICK_TUNING if args.quick else DEFAULT_TUNING)
    if args.lr_factors:
        changes["lr_factors"] = tuple(args.lr_factors)
    return dataclasses.replace(config, **changes)


def run_study_command(args: argparse.Namespace, device) -> int:
    """Render, train the teacher alone, or run the whole study; print the report and the JSON summary."""
    from ..study import converged_teacher, render, run_study, study_recipe
    from ..study.executors import executor_from, ready_executor
    from ..study.report import results_text, shown_verdict

    if args.render:
        from ..study.report import is_evidence

        if is_evidence(Path(args.render) / "results.json"):
            from ..study.evidence_report import render_evidence

            markdown, picture, *_ = render_evidence(args.render)
        else:
            markdown, picture = render(args.render)
        print(json.dumps({"markdown": str(markdown), "plot": str(picture)}))
        return 0
    if args.evidence:
        return _run_evidence(args, device)
    config = _config(args)
    out_dir = Path(args.out_dir or f"runs/{'study-quick' if args.quick else 'study'}/{args.recipe}")
    if args.teacher_only:
        _, record = converged_teacher(
            study_recipe(config, students=False),
            config.teacher,
            cache_dir=out_dir / "teachers",
            device=device or "cpu",
            progress=not args.no_progress,
            use_shipped=not args.no_shipped_teacher,
        )
        print(json.dumps({k: v for k, v in record.items() if k != "val_top1_by_epoch"}))
        return 0
    check_jobs(args)
    executor = ready_executor(executor_from(args))  # an unreachable cluster fails here, before any line
    if args.quick:
        print(_quick_opening(config), file=sys.stderr, flush=True)
    results = run_study(
        config,
        out_dir,
        device=device or "cpu",
        jobs=args.jobs,
        threads=args.threads or 1,
        progress=not args.no_progress,
        use_shipped_teacher=not args.no_shipped_teacher,
        command="ldrrld " + shlex.join(args.argv),
        overwrite=args.overwrite,
        executor=executor,
    )
    markdown, picture = render(out_dir)
    print(ended(results_text(results), shown_verdict(results), [out_dir / "results.json", markdown, picture]))
    methods = results["methods"]
    print(
        json.dumps(
            {
                "results": str(out_dir / "results.json"),
                "markdown": str(markdown),
                "verdict": results["verdict"],
                "test_top1_last": {m: e["test_top1_last"]["mean"] for m, e in methods.items()},
                "delta_vs_ce": {m: e["delta_vs_ce"]["mean"] for m, e in methods.items()},
                "lr": {m: e["lr"] for m, e in methods.items()},
                "seconds": results["fingerprint"]["seconds"],
            }
        )
    )
    return 0


def _quick_opening(config) -> str:
    """The first line of ``study --quick``: what it does, how long it takes, and that its numbers mean nothing."""
    runs = sum(
        len(config.lr_factors) * math.prod(len(axis.values) for axis in config.tuning[m]) for m in config.methods
    ) * len(config.selection_seeds) + len(config.methods) * len(config.seeds)
    return (
        f"study --quick: the whole protocol at toy size ({len(config.methods)} methods, {len(config.seeds)} seeds, "
        f"{config.epochs}-epoch students on a few images per class; at least {runs} runs of a few seconds each on a "
        "CPU). It tests the code: its numbers are toy-sized and mean nothing."
    )


def _run_evidence(args: argparse.Namespace, device) -> int:
    """``--evidence``: every part of the evidence set, then its report."""
    from ..study.evidence import EVIDENCE, QUICK_EVIDENCE, run_evidence
    from ..study.evidence_report import evidence_text, render_evidence
    from ..study.executors import executor_from

    check_jobs(args)
    out_dir = Path(args.out_dir or f"runs/{'evidence-quick' if args.quick else 'evidence'}")
    evidence = run_evidence(
        out_dir,
        QUICK_EVIDENCE if args.quick else EVIDENCE,
        device=device or "cpu",
        jobs=args.jobs,
        threads=args.threads or 1,
        progress=not args.no_progress,
        command="ldrrld " + shlex.join(args.argv),
        overwrite=args.overwrite,
        executor=executor_from(args),
    )
    written = render_evidence(out_dir)
    print(ended(evidence_text(evidence), "", [out_dir / "results.json", *written]))
    summary = {
        name: {
            "verdict": study["verdict"],
            "test_top1_last": {m: e["test_top1_last"]["mean"] for m, e in study["methods"].items()},
        }
        for name, study in evidence["studies"].items()
    }
    print(json.dumps({"results": str(out_dir / "results.json"), "studies": summary, "seconds": evidence["seconds"]}))
    return 0
