"""A converged teacher: trained until its validation accuracy stops rising, cached by its recipe.

A distillation study is only as fair as its teacher: an under-trained one is nearly flat at
``T = 4`` and has little to teach. :func:`converged_teacher` trains ``recipe.teacher`` alone on
the recipe's training images (the validation split held out) for ``epochs`` epochs and checks
:func:`plateaued` on its validation curve; if accuracy still rose in the last ``window`` epochs
it trains again from scratch with twice the epochs, up to ``max_epochs``. The result is
written under ``<cache>/<hash>/`` (``teacher.pth`` and ``teacher.json``), where ``hash`` is
:func:`teacher_key` of everything that decides the weights, so a second study reuses it.

A teacher for the ``teaching`` recipe ships with the package (``ldrrld_core/assets/teachers``);
:func:`shipped_teacher` loads it after checking its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..data import DataSplits, make_loader
from ..io import atomic_write_text, read_json, sha256_file
from ..models import create_model
from ..runtime import default_device
from ..train import Recipe, Run, fit, get_recipe, load_data
from ..train.metrics import evaluate
from ..train.run_state import save_student

__all__ = ["TeacherRule", "plateaued", "teacher_key", "converged_teacher", "shipped_teacher", "SHIPPED_TEACHERS"]

log = logging.getLogger("ldrrld.study")

#: Where teachers shipped with the package live (one ``<name>.pth`` + ``<name>.json`` each).
SHIPPED_TEACHERS = Path(__file__).resolve().parent.parent / "assets" / "teachers"
_UNRELATED_FIELDS = (
    "out_dir",
    "save_every",
    "tensorboard",
    "num_workers",
    "name",
    "data_root",
    "download",
    "loss_options",
)


@dataclass(frozen=True)
class TeacherRule:
    """When a teacher counts as converged.

    Attributes:
        epochs: the first schedule tried (the recipe's decays are moved proportionally).
        max_epochs: the longest schedule tried; a teacher still improving then is reported as
            not plateaued rather than trained for ever.
        window: the last epochs looked at.
        min_gain: validation top-1 points the best of the last ``window`` epochs may exceed the
            best before them by and still count as a plateau.
    """

    epochs: int = 30
    max_epochs: int = 60
    window: int = 5
    min_gain: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.window < self.epochs <= self.max_epochs:
            raise ValueError(
                f"the teacher rule needs 1 <= window < epochs <= max_epochs, got window "
                f"{self.window}, epochs {self.epochs}, max_epochs {self.max_epochs}"
            )


def plateaued(values: list[float], window: int, min_gain: float) -> bool:
    """Whether the best of the last ``window`` values exceeds the best before them by at most ``min_gain``."""
    if len(values) <= window:
        return False
    return max(values[-window:]) - max(values[:-window]) <= min_gain


def _teacher_recipe(recipe: Recipe, epochs: int) -> Recipe:
    return recipe.for_teacher().rescheduled(epochs).replace(out_dir=None)


def teacher_key(recipe: Recipe, rule: TeacherRule) -> str:
    """12 hex digits of the SHA-256 of every setting that decides the teacher's weights, and the rule."""
    settings = {k: v for k, v in _teacher_recipe(recipe, rule.epochs).to_dict().items() if k not in _UNRELATED_FIELDS}
    text = json.dumps({"recipe": settings, "rule": rule.__dict__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _top1(model: nn.Module, split, device: torch.device) -> float:
    return evaluate(model, make_loader(split, 256, train=False, device=device))["test_top1"]


def _load(
    folder: Path, name: str, recipe: Recipe, num_classes: int, device: torch.device
) -> tuple[nn.Module, dict] | None:
    record_path, weights = folder / f"{name}.json", folder / f"{name}.pth"
    if not (record_path.is_file() and weights.is_file()):
        return None
    record = read_json(record_path, keys=("sha256",), what="the record of a teacher `ldrrld study` trained")
    digest = sha256_file(weights)
    if digest != record["sha256"]:
        raise ValueError(
            f"{weights} has SHA-256 {digest} but {record_path} records {record['sha256']}: "
            "the file changed or is damaged; delete both files to train the teacher again"
        )
    model = create_model(recipe.teacher, num_classes=num_classes, checkpoint=weights)
    return model.to(device).eval(), {**record, "weights": str(weights)}


def converged_teacher(
    recipe: Recipe,
    rule: TeacherRule = TeacherRule(),
    *,
    cache_dir: str | Path | None,
    data: DataSplits | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    use_shipped: bool = True,
    train: bool = True,
) -> tuple[nn.Module, dict]:
    """The converged teacher of ``recipe``: loaded from the cache or the package, else trained.

    Args:
        recipe: a recipe with ``validation_fraction > 0`` (the rule reads validation accuracy);
            the teacher trains ``recipe.teacher`` with its settings, the schedule moved to the
            rule's epochs (:meth:`~ldrrld_core.train.Recipe.rescheduled`).
        rule: the convergence rule and schedules.
        cache_dir: folder of cached teachers (``<cache_dir>/<key>/``); ``None`` caches nothing.
        data: the recipe's data, if already loaded (ignored when the teacher has data options
            of its own: ``recipe.teacher_data_options``).
        device: where to train and evaluate.
        use_shipped: look among the teachers shipped with the package first.
        train: ``False`` never trains one: no stored teacher is then a ``ValueError``.

    Returns:
        ``(model in eval mode, record)``; the record holds ``key``, ``model``, ``epochs``,
        ``plateaued``, ``rule``, ``train_top1`` (without augmentation), ``val_top1``,
        ``test_top1``, ``val_top1_by_epoch``, ``sha256`` of the weights and ``weights`` (their
        file; ``None`` without a cache).
    """
    if not recipe.validation_fraction:
        raise ValueError(
            "a converged teacher is judged on validation accuracy: set validation_fraction > 0 "
            "in the recipe (the teaching recipe holds out 0.1)"
        )
    data = load_data(recipe.for_teacher()) if data is None or recipe.teacher_data_options else data
    device = torch.device(device) if device is not None else default_device()
    key = teacher_key(recipe, rule)
    found = _stored_teacher(recipe, key, data.num_classes, device, cache_dir=cache_dir, use_shipped=use_shipped)
    if found is not None:
        return found
    if not train:
        raise ValueError(
            f"no trained teacher {key} in {cache_dir}, and this call trains nothing (--collect); "
            "run it without --collect first"
        )
    run, epochs, flat = _train_to_plateau(recipe, rule, data, device, progress)
    model = run.model.eval()
    curve = run.history.column("val_top1")
    record = {
        "key": key,
        "model": recipe.teacher,
        "num_classes": data.num_classes,
        "recipe": recipe.name,
        "epochs": epochs,
        "plateaued": flat,
        "rule": rule.__dict__,
        "train_top1": _top1(model, data.train, device),
        "val_top1": _top1(model, data.val, device),
        "test_top1": _top1(model, data.test, device),
        "val_top1_by_epoch": curve,
        "seconds": run.summary["seconds"],
        "sha256": None,
    }
    if cache_dir is not None:
        folder = Path(cache_dir) / key
        weights = save_student(
            folder / "teacher.pth", model, arch=recipe.teacher, epoch=epochs, top1=record["test_top1"]
        )
        record["sha256"] = sha256_file(weights)
        atomic_write_text(json.dumps(record, indent=1), folder / "teacher.json")
        record["weights"] = str(weights)
    return model, record


def _stored_teacher(
    recipe: Recipe, key: str, num_classes: int, device: torch.device, *, cache_dir: str | Path | None, use_shipped: bool
) -> tuple[nn.Module, dict] | None:
    """The teacher of ``key`` from the cache, else from the package's shipped teachers, else ``None``."""
    folders = [(Path(cache_dir) / key, "teacher")] if cache_dir is not None else []
    if use_shipped:
        folders += [
            (SHIPPED_TEACHERS, path.stem)
            for path in sorted(SHIPPED_TEACHERS.glob("*.json"))
            if json.loads(path.read_text(encoding="utf-8")).get("key") == key
        ]
    for folder, name in folders:
        found = _load(folder, name, recipe, num_classes, device)
        if found is not None:
            log.info("teacher %s loaded from %s", key, folder / f"{name}.pth")
            return found
    return None


def _train_to_plateau(
    recipe: Recipe, rule: TeacherRule, data: DataSplits, device: torch.device, progress: bool
) -> tuple[Run, int, bool]:
    """Train the teacher for ``rule.epochs``, doubling the schedule (from scratch) until validation
    top-1 plateaus or ``rule.max_epochs`` is reached: ``(run, epochs, plateaued)``."""
    epochs = rule.epochs
    while True:
        run = fit(_teacher_recipe(recipe, epochs), data=data, device=device, progress=progress)
        curve = run.history.column("val_top1")
        flat = plateaued(curve, rule.window, rule.min_gain)
        if flat or epochs >= rule.max_epochs:
            return run, epochs, flat
        log.info(
            "teacher validation top-1 still rising after %d epochs (%s): training %d epochs",
            epochs,
            ", ".join(f"{v:.1f}" for v in curve[-rule.window :]),
            min(2 * epochs, rule.max_epochs),
        )
        epochs = min(2 * epochs, rule.max_epochs)


def shipped_teacher(
    recipe: str | Recipe = "teaching", device: torch.device | str | None = None
) -> tuple[nn.Module, dict]:
    """The converged teacher that ships with the package for ``recipe`` (default the ``teaching`` recipe).

    Returns ``(model in eval mode, record)`` as :func:`converged_teacher` does; its SHA-256 is
    checked first. Raises a ``ValueError`` when no shipped teacher fits the recipe.

    >>> teacher, record = shipped_teacher()          # doctest: +SKIP
    >>> record["test_top1"]                          # doctest: +SKIP
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    key = teacher_key(recipe, TeacherRule())
    device = torch.device(device) if device is not None else default_device()
    for path in sorted(SHIPPED_TEACHERS.glob("*.json")):
        if json.loads(path.read_text(encoding="utf-8")).get("key") == key:
            num_classes = json.loads(path.read_text(encoding="utf-8"))["num_classes"]
            return _load(SHIPPED_TEACHERS, path.stem, recipe, num_classes, device)
    raise ValueError(
        f"no teacher ships for recipe {recipe.name!r} with these settings (key {key}); "
        f"train one with `ldrrld study --recipe {recipe.name} --teacher-only` or see "
        f"{SHIPPED_TEACHERS / 'README.md'}"
    )
