"""``ldrrld study``: compare distillation methods with one protocol a reviewer would accept.

A converged teacher; a validation split that alone chooses each method's learning rate; a
schedule long enough for accuracy to settle; several seeds with identical initial weights and
data order across methods; means, sample standard deviations, Student-t intervals and paired
differences. See ``docs/results.md`` for the committed study and ``docs/training.md`` for use::

    from ldrrld_core.study import QUICK, run_study, render
    results = run_study(QUICK, "runs/study-quick")     # writes runs/study-quick/results.json
    render("runs/study-quick")                         # results.md and results.png beside it
"""

from __future__ import annotations

from ..lazy import exports_of, lazy_exports

#: Epochs of each student in ``ldrrld demo`` (the study's schedule, shortened proportionally); here, in
#: the package's light top, so that the command line builds its help without importing torch.
DEMO_EPOCHS = 15

#: Every name this package exports, and the submodule that defines it.
_EXPORTS = {
    **exports_of(".protocol", ("QUICK", "StudyConfig", "learning_rates", "run_study", "study_recipe")),
    **exports_of(
        ".report",
        (
            "PAPER_ORDER",
            "build_results",
            "load_results",
            "plot_results",
            "render",
            "render_markdown",
            "results_table",
            "source_commit",
            "verdict",
        ),
    ),
    **exports_of(
        ".stats",
        (
            "holm",
            "minimum_detectable_difference",
            "paired_difference",
            "paired_p_value",
            "paired_power",
            "seeds_needed",
            "summarize",
            "t_cdf",
            "t_quantile",
        ),
    ),
    **exports_of(
        ".teacher",
        ("SHIPPED_TEACHERS", "TeacherRule", "converged_teacher", "plateaued", "shipped_teacher", "teacher_key"),
    ),
    **exports_of(".verdicts", ("Disagreement", "PairedVerdict", "disagreements", "paired_verdicts")),
}


__all__ = ["DEMO_EPOCHS", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
