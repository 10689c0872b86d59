"""Training: recipes, the loop for teachers and students, history, checkpoints, data parallelism.

In a notebook::

    from ldrrld_core.train import get_recipe, train_teacher, distill

    recipe = get_recipe("digits")
    teacher = train_teacher(recipe)              # the teacher architecture alone, loss "ce"
    student = distill(recipe, teacher=teacher)   # recipe.loss ("ldrrld") from that teacher
    student.summary["top1"], student.history.column("test_top1")

``compare(recipe, ["ce", "kd", "dkd", "ldrrld"])`` trains one student per loss from identical
weights; ``train_step`` is the loop's one optimisation step. See ``docs/training.md``.
"""

from ..io import remove_stale_temporaries
from .compare import DEFAULT_METHODS, Comparison, compare, compare_recipes
from .distributed import DistributedContext, close_distributed, current_context, init_distributed
from .history import History
from .loop import Run, build_student, check_loss_fits, distill, fit, load_data, resolve_amp, train_step, train_teacher
from .metrics import correct_top_k, evaluate
from .recipes import AMP_MODES, RECIPES, Recipe, describe_recipe, get_recipe, list_recipes, parse_field
from .run_state import LATEST, STUDENT, load_training_state
from .schedule import SCHEDULES, learning_rate

__all__ = [
    "LATEST",
    "STUDENT",
    "load_training_state",
    "DEFAULT_METHODS",
    "Comparison",
    "compare",
    "compare_recipes",
    "DistributedContext",
    "close_distributed",
    "current_context",
    "init_distributed",
    "History",
    "Run",
    "build_student",
    "check_loss_fits",
    "distill",
    "fit",
    "load_data",
    "remove_stale_temporaries",
    "resolve_amp",
    "train_step",
    "train_teacher",
    "correct_top_k",
    "evaluate",
    "AMP_MODES",
    "RECIPES",
    "Recipe",
    "describe_recipe",
    "get_recipe",
    "list_recipes",
    "parse_field",
    "SCHEDULES",
    "learning_rate",
]
