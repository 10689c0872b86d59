"""The CIFAR-100 reproduction kit: the paper's tables, the baselines' settings, checked teachers, the runs.

One module per job:

* :mod:`.paper`: the paper's tables (pairs, methods, published numbers);
* :mod:`.baselines`: KD's and DKD's settings per pair, each with its published source;
* :mod:`.teachers`: the teacher check (hash, parameters, measured vs published top-1);
* :mod:`.kit`: the settings, the runs (cells), their exact ``ldrrld`` commands, running them;
* :mod:`.report`: the filled paper-vs-measured tables and LDRRLD's paired gaps to DKD and KD;
* :mod:`.command`: the kit's command line (``benchmarks/reproduce_cifar100.py`` calls it).

``ldrrld teacher check`` lives with the other commands, in :mod:`ldrrld_core.cli.teacher`.

See ``docs/reproduce.md``; notebook 05 walks through it.
"""

from .baselines import (
    DKD_BETA,
    DKD_DEFAULTS,
    KD_SETTING,
    BaselineSetting,
    baseline_setting,
    baseline_settings,
    settings_markdown,
)
from .kit import (
    FAST_ARGUMENTS,
    FAST_DATA,
    FAST_FIELDS,
    FAST_PAIRS,
    TEACHER_CHECK_FILE,
    Cell,
    Settings,
    cells,
    check_teachers,
    commands,
    prepare_fast_teachers,
    run,
    select_pairs,
    teacher_commands,
)
from .paper import ABLATION, MAIN, TABLES, Column, Pair, PaperTable, paper_markdown, paper_number
from .report import (
    GAP_BASELINES,
    TARGET_GAP,
    Measured,
    collect,
    finished_summary,
    gaps_markdown,
    markdown,
    paired_gaps,
    write_results,
)
from .teachers import (
    DEFAULT_MARGIN,
    DEFAULT_TEACHER_ROOT,
    TEACHER_SOURCE,
    TeacherBelowPublishedWarning,
    TeacherCheck,
    check_teacher,
    published_teacher,
    resolve_teacher,
)

__all__ = [
    "DKD_BETA",
    "DKD_DEFAULTS",
    "KD_SETTING",
    "BaselineSetting",
    "baseline_setting",
    "baseline_settings",
    "settings_markdown",
    "FAST_ARGUMENTS",
    "FAST_DATA",
    "FAST_FIELDS",
    "FAST_PAIRS",
    "TEACHER_CHECK_FILE",
    "Cell",
    "Settings",
    "cells",
    "check_teachers",
    "commands",
    "prepare_fast_teachers",
    "run",
    "select_pairs",
    "teacher_commands",
    "ABLATION",
    "MAIN",
    "TABLES",
    "Column",
    "PaperTable",
    "Pair",
    "paper_markdown",
    "paper_number",
    "GAP_BASELINES",
    "TARGET_GAP",
    "Measured",
    "collect",
    "finished_summary",
    "paired_gaps",
    "gaps_markdown",
    "markdown",
    "write_results",
    "DEFAULT_MARGIN",
    "DEFAULT_TEACHER_ROOT",
    "TEACHER_SOURCE",
    "TeacherBelowPublishedWarning",
    "TeacherCheck",
    "check_teacher",
    "published_teacher",
    "resolve_teacher",
]
