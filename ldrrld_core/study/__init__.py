"""``ldrrld study``: compare distillation methods with one protocol a reviewer would accept.

A converged teacher; a validation split that alone chooses each method's learning rate; a
schedule long enough for accuracy to settle; several seeds with identical initial weights and
data order across methods; means, sample standard deviations, Student-t intervals and paired
differences. See ``docs/results.md`` for the committed study and ``docs/training.md`` for use::

    from ldrrld_core.study import QUICK, run_study, render
    results = run_study(QUICK, "runs/study-quick")     # writes runs/study-quick/results.json
    render("runs/study-quick")                         # results.md and results.png beside it
"""

from .protocol import QUICK, StudyConfig, learning_rates, run_study, study_recipe
from .report import (
    PAPER_ORDER,
    build_results,
    load_results,
    plot_results,
    render,
    render_markdown,
    results_table,
    source_commit,
    verdict,
)
from .stats import (
    holm,
    minimum_detectable_difference,
    paired_difference,
    paired_p_value,
    paired_power,
    seeds_needed,
    summarize,
    t_cdf,
    t_quantile,
)
from .teacher import SHIPPED_TEACHERS, TeacherRule, converged_teacher, plateaued, shipped_teacher, teacher_key
from .verdicts import Disagreement, PairedVerdict, disagreements, paired_verdicts

__all__ = [
    "QUICK",
    "StudyConfig",
    "learning_rates",
    "run_study",
    "study_recipe",
    "PAPER_ORDER",
    "build_results",
    "load_results",
    "plot_results",
    "render",
    "render_markdown",
    "results_table",
    "source_commit",
    "verdict",
    "paired_difference",
    "paired_p_value",
    "paired_power",
    "minimum_detectable_difference",
    "seeds_needed",
    "holm",
    "summarize",
    "t_cdf",
    "t_quantile",
    "PairedVerdict",
    "Disagreement",
    "paired_verdicts",
    "disagreements",
    "SHIPPED_TEACHERS",
    "TeacherRule",
    "converged_teacher",
    "plateaued",
    "shipped_teacher",
    "teacher_key",
]
