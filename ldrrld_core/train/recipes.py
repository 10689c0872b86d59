"""Training recipes: one plain dataclass holding every setting of a run, and named presets.

A :class:`Recipe` says what to train (student, teacher, loss), on what (data set), how
(optimiser, schedule, precision) and where the files go. Presets give the standard settings::

    recipe = get_recipe("cifar100")                       # the paper's recipe (docs/method.md), clean warm-up
    recipe = get_recipe("digits", loss="dkd", epochs=5)   # any field overridden
    recipe = recipe.replace(seed=1)                       # the same, later

A recipe checks itself when it is made (unknown names come with suggestions, numbers must make
sense), so a typo fails in a second rather than after an hour. What can only be checked against
the data (depth versus number of classes, teacher and student class counts, the input shape)
is checked by the trainer before the first step.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..data import dataset_options
from ..losses import LOSSES, create_loss
from ..models import model_info
from ..models.timm_models import timm_name
from ..suggestions import did_you_mean
from .ofa_recipes import OFA_RECIPES
from .schedule import check_schedule

__all__ = [
    "Recipe",
    "RECIPES",
    "AMP_MODES",
    "get_recipe",
    "list_recipes",
    "describe_recipe",
    "parse_field",
    "check_field_type",
]

#: Mixed-precision choices: ``"auto"`` is bf16 on a GPU that supports it and full precision elsewhere.
AMP_MODES = ("auto", "none", "bf16", "fp16")
#: The optimisers a recipe may name.
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class Recipe:
    """Every setting of a training run. Make one with :func:`get_recipe`; change it with :meth:`replace`.

    What to train
        model: the student's (or, for a teacher run, the model's) registry name.
        model_options: extra keyword arguments of ``create_model`` for it.
        teacher: the teacher's registry name, or ``None`` for a run without one (loss ``ce``).
        teacher_checkpoint: file with the teacher's weights (``{'model': state_dict}`` or a raw
            state dict). Not needed when a trained teacher module is passed to the trainer.
        loss: a registry name of :func:`ldrrld_core.losses.list_losses` (``ce`` trains alone).
        loss_options: hyperparameters per loss name, e.g. ``{"dkd": {"warmup_epochs": 2}}``;
            only the entry of ``loss`` is used, so one recipe can switch between losses.

    Data
        data: a name of :func:`ldrrld_core.data.list_datasets`.
        data_root: the folder holding downloaded data sets.
        data_options: extra options of that data set (e.g. ``{"train_per_class": 20}``).
        teacher_data_options: options that differ for the teacher's own training, e.g.
            ``{"train_per_class": 40}``: a teacher that has seen more images of the same
            classes than its students (the test split stays the same).
        data_seed: fixes generated data and fixed splits; keep it equal for a teacher and its
            students (the training ``seed`` varies the run, not the data).
        validation_fraction: share of every class of the training images held out as a
            validation split (fixed by ``data_seed``), evaluated every epoch as ``val_*``
            columns; ``0`` trains on all of them.
        download: fetch missing files where the data set allows it.
        augment: training augmentation ``"cifar"``, ``"imagenet"`` or ``"none"``; ``None`` is the
            data set's own policy.
        num_workers: loader processes for image-folder data sets.

    Optimisation (learning rate per epoch, see :mod:`.schedule`)
        epochs: total epochs (a resumed run continues up to this number).
        batch_size: samples per step over all processes (each of ``N`` processes takes
            ``batch_size / N``), so the recipe means the same on one GPU or eight.
        optimizer: ``"sgd"`` (with ``momentum`` and ``nesterov``) or ``"adamw"`` (torch's AdamW,
            decoupled ``weight_decay``; momentum and nesterov unused).
        lr, momentum, weight_decay, nesterov: the optimiser's settings.
        decay_norm_and_bias: ``False`` exempts biases, normalisation weights and the model's own
            ``no_weight_decay()`` tensors from weight decay, as timm's ``create_optimizer_v2`` does
            in OFA-KD's runs; ``True`` decays every parameter.
        warmup_epochs, decay_epochs, decay_rate, schedule: the learning-rate schedule.
        warmup_lr, min_lr: the ``"cosine"`` schedule's start of warm-up and floor.
        clip_grad: clip the gradients' total norm to this before each step (``None``: no clipping).

    Targets (see docs/training.md, "Soft targets")
        label_smoothing: mix the one-hot label with the uniform distribution by this much, in the
            cross-entropy term.
        mixup, cutmix: the Beta(alpha, alpha) parameters of timm's ``Mixup`` (0: off); either on,
            every batch is mixed and the loss receives soft targets ``(B, C)``.

    Speed (on a CPU only ``channels_last``, ``compile`` and ``amp="bf16"`` apply)
        amp: ``"auto"``, ``"none"``, ``"bf16"`` or ``"fp16"`` autocast.
        channels_last: ``None`` means on for image models (faster on GPUs and CPUs alike).
        compile: wrap the student in ``torch.compile``.

    Reproducibility and output
        seed: seeds the initialisation, the data order and the augmentation.
        deterministic: deterministic kernels (bitwise-repeatable runs on a CPU; slower on a GPU).
        out_dir: folder for checkpoints and history; ``None`` keeps everything in memory.
        save_every: write ``latest.pth`` every this many epochs (and always after the last).
        tensorboard: also log to TensorBoard in ``out_dir`` (needs the ``tensorboard`` package).
        name: the preset this recipe came from (recorded with every run).
    """

    model: str = "digits_mlp"
    model_options: Mapping[str, object] = field(default_factory=dict)
    teacher: str | None = "digits_cnn"
    teacher_checkpoint: str | None = None
    loss: str = "ldrrld"
    loss_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    data: str = "digits"
    data_root: str = "data"
    data_options: Mapping[str, object] = field(default_factory=dict)
    teacher_data_options: Mapping[str, object] = field(default_factory=dict)
    data_seed: int = 0
    validation_fraction: float = 0.0
    download: bool = False
    augment: str | None = None
    num_workers: int = 0

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    warmup_epochs: int = 0
    decay_epochs: tuple[int, ...] = ()
    decay_rate: float = 0.1
    schedule: str = "clean"
    optimizer: str = "sgd"
    decay_norm_and_bias: bool = True
    warmup_lr: float = 0.0
    min_lr: float = 0.0
    clip_grad: float | None = None
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0

    amp: str = "auto"
    channels_last: bool | None = None
    compile: bool = False

    seed: int = 0
    deterministic: bool = True
    out_dir: str | None = None
    save_every: int = 1
    tensorboard: bool = False
    name: str = "custom"

    def __post_init__(self) -> None:
        if isinstance(self.decay_epochs, list):  # JSON has lists; anything else is left to the type check
            object.__setattr__(self, "decay_epochs", tuple(self.decay_epochs))
        self.validate()

    # ------------------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check every field that can be checked without loading data; raise a ``ValueError`` saying what to fix."""
        for item in dataclasses.fields(self):  # types first, then NaN and infinities: they pass every comparison
            check_field_type(item.name, getattr(self, item.name))
            _check_finite(item.name, getattr(self, item.name))
        if not _LABEL.fullmatch(self.name):
            raise ValueError(
                f"name must be a plain label (letters, digits and . _ + -, not starting with a dot): it "
                f"becomes a folder of the default out_dir; got {self.name!r}"
            )
        model_info(self.model)
        _check_model_options(self.model, self.model_options)
        if self.teacher is not None:
            model_info(self.teacher)
        _check_loss_options(self.loss, self.loss_options)
        options = dataset_options(self.data)
        unknown = sorted((set(self.data_options) | set(self.teacher_data_options)) - set(options))
        if unknown:
            raise ValueError(
                f"data set {self.data!r} does not take the option(s) {', '.join(unknown)}; "
                f"its options are: {', '.join(options) or 'none'}"
            )
        for field_name in ("data_options", "teacher_data_options"):
            for key, value in getattr(self, field_name).items():
                _check_like_default(f"{field_name}[{key!r}]", value, options[key])
        for name in ("epochs", "batch_size", "save_every"):
            _check_int(name, getattr(self, name), minimum=1, maximum=MAX_COUNT)
        for name in ("seed", "data_seed"):
            _check_int(name, getattr(self, name), minimum=0, maximum=MAX_SEED)
        _check_int("num_workers", self.num_workers, minimum=0, maximum=MAX_WORKERS)
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must lie in [0, 1) (0: no validation split), got {self.validation_fraction!r}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.lr > MAX_LR:
            raise ValueError(
                f"lr {self.lr:g} is above {MAX_LR:g}: the first step would throw the weights to infinity; "
                "did you mean a smaller exponent?"
            )
        if self.lr < MIN_LR:
            raise ValueError(
                f"lr {self.lr!r} is below {MIN_LR:g}, the smallest normal float32: every update would "
                "underflow to nothing; did you mean a larger exponent?"
            )
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        check_schedule(self.schedule, self.warmup_epochs, self.decay_epochs, self.decay_rate)
        self._validate_later_fields()
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.augment is not None and self.augment not in ("cifar", "imagenet", "none"):
            raise ValueError(
                f"augment must be 'cifar', 'imagenet', 'none' or None (the data set's policy), got {self.augment!r}"
            )

    def _validate_later_fields(self) -> None:
        """The optimiser, cosine-schedule and target settings (the OFA-KD recipes' fields)."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.optimizer == "adamw" and self.nesterov:
            raise ValueError("nesterov=True is an SGD setting; AdamW does not take it")
        for name in ("warmup_lr", "min_lr"):
            if not 0 <= getattr(self, name) <= self.lr:
                raise ValueError(f"{name} must lie in [0, lr={self.lr:g}], got {getattr(self, name)!r}")
        if self.schedule != "cosine" and (self.warmup_lr or self.min_lr):
            raise ValueError(
                "warmup_lr and min_lr belong to the cosine schedule; set schedule='cosine' or leave them at 0"
            )
        if self.clip_grad is not None and not self.clip_grad > 0:
            raise ValueError(f"clip_grad must be > 0 (a gradient norm) or None for no clipping, got {self.clip_grad!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing!r}")
        for name in ("mixup", "cutmix"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} is a Beta distribution's alpha, >= 0 (0: off), got {getattr(self, name)!r}")
        if self.mixup or self.cutmix:
            factory = LOSSES[self.loss]
            reason = getattr(getattr(factory, "func", factory), "mixup_refusal", None)  # a class, or a preset of one
            if reason:
                raise ValueError(
                    f"loss {self.loss!r} cannot train on mixup/cutmix targets: {reason}; turn mixup off "
                    "(mixup=0, cutmix=0) or choose a loss that can take the dominant class instead of the label "
                    "(kd, dkd, dist, ldrrld, ofa ...)"
                )
        if (self.mixup or self.cutmix) and self.batch_size % 2:
            raise ValueError(
                f"mixup and cutmix pair every image with the batch's mirror image and need an even batch_size, "
                f"got {self.batch_size}"
            )

    def contradictions(self) -> list[str]:
        """Settings that are valid alone but defeat the run together, each said in one sentence (:func:`fit`
        logs them as warnings when a run starts): a warm-up that never ends, decays that never come, more
        loader processes than CPUs."""
        found = []
        if self.warmup_epochs >= self.epochs:
            found.append(
                f"warmup_epochs={self.warmup_epochs} is not shorter than the run (epochs={self.epochs}): the "
                f"learning rate never reaches lr={self.lr:g}; shorten the warm-up or use recipe.rescheduled(epochs)"
            )
        late = [e for e in self.decay_epochs if e >= self.epochs]
        if late:
            found.append(
                f"decay_epochs {late} come at or after the last epoch ({self.epochs}) and never take effect; "
                "drop them or use recipe.rescheduled(epochs), which moves them"
            )
        student = self.data_options.get("student", dataset_options(self.data).get("student"))
        if isinstance(student, str) and timm_name(student) != timm_name(self.model):
            found.append(
                f"data_options['student'] is {student!r} but the model is {self.model!r}: the evaluation "
                f"resize and crop are {student!r}'s; set data_options={{'student': {self.model!r}, ...}}"
            )
        cpus = os.cpu_count() or 1
        if self.num_workers > cpus:
            found.append(f"num_workers={self.num_workers} loader processes on {cpus} CPU(s): they only compete")
        return found

    # --------------------------------------------------------------------------- changing
    def replace(self, **overrides: object) -> Recipe:
        """A copy with some fields changed (and checked); unknown field names get suggestions."""
        check_field_names(overrides)
        return dataclasses.replace(self, **overrides)

    def rescheduled(self, epochs: int) -> Recipe:
        """The same recipe over ``epochs`` epochs, its learning-rate decays moved proportionally.

        The warm-up keeps its length (capped below ``epochs``); decays that would fall inside the
        warm-up or at the last epoch are dropped. ``get_recipe("teaching").rescheduled(20)``
        decays after epoch 15 instead of 30.
        """
        _check_int("epochs", epochs, minimum=1)
        moved = {max(1, min(epochs, round(e * epochs / self.epochs))) for e in self.decay_epochs}
        decays = tuple(sorted(moved))
        warmup = min(self.warmup_epochs, epochs - 1)
        return self.replace(
            epochs=epochs, decay_epochs=tuple(e for e in decays if warmup < e < epochs), warmup_epochs=warmup
        )

    @property
    def loss_hparams(self) -> dict[str, object]:
        """The hyperparameters the recipe gives its ``loss`` (an empty dict means the loss's defaults)."""
        return dict(self.loss_options.get(self.loss, {}))

    def with_loss(self, loss: str, hparams: Mapping[str, object] | None = None, **changes: object) -> Recipe:
        """This recipe training ``loss``, with ``hparams`` over the options the recipe already gives that
        loss (``loss_options`` is left as it is when there are none), and any other ``changes``."""
        options = {**self.loss_options.get(loss, {}), **(hparams or {})}
        loss_options = {**self.loss_options, loss: options} if options else dict(self.loss_options)
        return self.replace(loss=loss, loss_options=loss_options, **changes)

    def build_loss(self, **extra: object):
        """The recipe's loss module: ``create_loss(loss, **loss_hparams, **extra)``."""
        return create_loss(self.loss, **{**self.loss_hparams, **extra})

    @property
    def needs_teacher(self) -> bool:
        """Whether the recipe's loss reads teacher logits (``False`` for ``ce``)."""
        return self.build_loss().needs_teacher

    def for_teacher(self) -> Recipe:
        """The recipe that trains this recipe's teacher architecture alone with cross-entropy."""
        if self.teacher is None:
            raise ValueError("this recipe names no teacher architecture; set teacher='<model name>'")
        return self.replace(
            model=self.teacher,
            teacher=None,
            teacher_checkpoint=None,
            loss="ce",
            data_options={**self.data_options, **self.teacher_data_options},
            teacher_data_options={},
        )

    # ------------------------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, object]:
        """The recipe as plain JSON-ready values (tuples become lists).

        The fields added for the OFA-KD recipes (:data:`LATER_FIELDS`) are written only when they
        differ from their defaults, so the record of every recipe that does not use them (and with
        it the checkpoints, caches and results keyed by it) stays what it was before they existed.
        """
        values = json.loads(json.dumps(dataclasses.asdict(self)))
        return {name: value for name, value in values.items() if LATER_FIELDS.get(name, _UNSET) != value}

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Recipe:
        """Rebuild a recipe written by :meth:`to_dict` (e.g. from a checkpoint)."""
        check_field_names(values)
        return cls(**values)


def _check_int(name: str, value: object, *, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {shown(value)}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], got {shown(value)}")


def _check_like_default(name: str, value: object, default: object) -> None:
    """Refuse an option value of another kind than its default (text where a number belongs, a
    fraction for a count); options without a default, or a ``None`` one, take anything."""
    if default is None or default is inspect.Parameter.empty:
        return
    if isinstance(default, bool):
        kind, fits = "true or false", isinstance(value, bool)
    elif isinstance(default, int):
        kind, fits = "an integer", isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        kind, fits = "a number", isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, str):
        kind, fits = "a string", isinstance(value, str)
    else:
        return
    if not fits:
        raise ValueError(
            f"{name} must be {kind} (its default is {default!r}), got {shown(value)} ({type(value).__name__})"
        )


def shown(value: object, width: int = 40) -> str:
    """``repr(value)`` for an error message, a huge integer or a long text cut to a readable length."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**width:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 2 * width else f"{text[: 2 * width]}... ({len(text)} characters)"


#: Seeds are 63-bit: every generator takes them, and they survive JSON and int64 tensors.
MAX_SEED = 2**63 - 1
#: More loader processes than any machine runs usefully (a typo, or a unit mistaken).
MAX_WORKERS = 256
#: The most epochs, samples per batch or epochs between checkpoints: more is a typo or a unit mistaken.
MAX_COUNT = 10**6
#: The largest learning rate: SGD at a rate of thousands throws the weights to infinity in one step.
MAX_LR = 1e3
#: The largest integer any field holds, inside its options too: what an int64 tensor, NumPy and JSON readers take.
MAX_INT = 2**63 - 1
#: The smallest learning rate: below the smallest normal float32, an update ``lr * grad`` underflows.
MIN_LR = 1.1754943508222875e-38
#: What ``name`` may hold: it becomes a folder (``runs/<name>/...``), so no separators and no leading dot.
_LABEL = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*")


def _type_text(kind: object) -> str:
    """How a field's type reads in an error: ``true or false``, ``an integer``, ``a list of integers`` ..."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if type(None) in typing.get_args(kind):
        return f"{_type_text(args[0])} or null"
    origin = typing.get_origin(kind) or kind
    if origin is tuple:
        return "a list of integers"
    if origin in (Mapping, dict):
        return "a mapping (JSON object)"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]


def _has_type(value: object, kind: object) -> bool:
    if type(None) in typing.get_args(kind) and value is None:
        return True
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if type(None) in typing.get_args(kind):
        kind = args[0]
    origin = typing.get_origin(kind) or kind
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if origin is tuple:
        return isinstance(value, (tuple, list)) and all(_has_type(item, int) for item in value)
    if origin in (Mapping, dict):
        return isinstance(value, Mapping) and all(isinstance(key, str) for key in value)
    raise TypeError(f"no type check for {kind!r}")  # pragma: no cover - every field's type is covered


@functools.cache
def _field_types() -> dict[str, object]:
    return typing.get_type_hints(Recipe)


def check_field_type(name: str, value: object) -> None:
    """Raise a ``ValueError`` naming the field unless ``value`` has the :class:`Recipe` field's type.

    No conversion: ``"false"`` is not a boolean (it would switch an option on), ``true`` is not a
    number, ``"0.1"`` is not a learning rate (a file says ``0.1``; the command line's ``--set`` reads text).
    """
    kind = _field_types()[name]
    if not _has_type(value, kind):
        raise ValueError(f"{name} must be {_type_text(kind)}, got {shown(value)} ({type(value).__name__})")


def _check_finite(name: str, value: object) -> None:
    """Refuse NaN and infinite floats in a field, also inside its mappings and lists (e.g. loss options)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT and name not in _RANGED:
        raise ValueError(f"{name} must fit in 64 bits (at most 2**63 - 1 in size), got {shown(value)}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(f"{name}[{key!r}]", item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_finite(f"{name}[{index}]", item)


#: The integer fields whose own range check says more than "fits in 64 bits".
_RANGED = ("epochs", "batch_size", "save_every", "seed", "data_seed", "num_workers")


def _check_model_options(model: str, options: Mapping[str, object]) -> None:
    """Refuse ``model_options`` the model's builder does not take (``num_classes`` comes from the data)."""
    if not isinstance(options, Mapping):
        raise ValueError(f"model_options maps option names to values, e.g. {{'hidden': 64}}; got {options!r}")
    if "num_classes" in options:
        raise ValueError("model_options must not set num_classes: the data set decides it")
    parameters = inspect.signature(model_info(model).builder).parameters
    if any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values()):
        return  # the builder passes options on (torchvision's models): they are checked when it runs
    accepted = [
        name
        for name, parameter in parameters.items()
        if name != "num_classes" and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]
    for name in options:
        if name not in accepted:
            raise ValueError(
                f"model {model!r} does not take the option {name!r}."
                f"{did_you_mean(name, accepted)} Its options: {', '.join(accepted) or 'none'}"
            )
        value = options[name]
        kind = parameters[name].annotation
        whole = kind in (int, "int")  # widths, depths, feature counts: at least 1
        fraction = kind in (float, "float") and "width" in name  # a width multiplier: above 0
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and ((whole and value < 1) or (fraction and not value > 0)):
            raise ValueError(
                f"model_options[{name!r}] of model {model!r} must be {'at least 1' if whole else 'above 0'}, "
                f"got {value!r}: a layer of zero width leaves a model that cannot learn"
            )


def check_field_names(names: typing.Iterable[str]) -> None:
    """Raise a ``ValueError`` with suggestions if any name is not a :class:`Recipe` field."""
    fields = [f.name for f in dataclasses.fields(Recipe)]
    for name in names:
        if name not in fields:
            raise ValueError(f"Recipe has no field {name!r}.{did_you_mean(name, fields)} Fields: {', '.join(fields)}")


def _check_loss_options(loss: str, loss_options: Mapping[str, Mapping[str, object]]) -> None:
    if not isinstance(loss_options, Mapping) or not all(isinstance(v, Mapping) for v in loss_options.values()):
        raise ValueError(
            "loss_options maps a loss name to that loss's settings, e.g. "
            "{'ldrrld': {'depth': 5}}; got " + repr(loss_options)
        )
    for name in loss_options:
        try:
            LOSSES.key(name)
        except ValueError as error:
            raise ValueError(f"loss_options names an {error}") from None
    create_loss(loss, **dict(loss_options.get(loss, {})))  # unknown loss or bad settings: ValueError
    for name, options in loss_options.items():
        if name != loss:
            create_loss(name, **dict(options))


#: Fields added with the OFA-KD recipes, and their defaults: :meth:`Recipe.to_dict` leaves them out at these.
LATER_FIELDS: dict[str, object] = {
    "optimizer": "sgd",
    "decay_norm_and_bias": True,
    "warmup_lr": 0.0,
    "min_lr": 0.0,
    "clip_grad": None,
    "label_smoothing": 0.0,
    "mixup": 0.0,
    "cutmix": 0.0,
}
_UNSET = object()


# -------------------------------------------------------------------------------------- presets
_CIFAR = Recipe(
    name="cifar100",
    model="resnet8x4",
    teacher="resnet32x4",
    loss="ldrrld",
    data="cifar100",
    epochs=240,
    batch_size=64,
    lr=0.05,
    momentum=0.9,
    weight_decay=5e-4,
    warmup_epochs=20,
    decay_epochs=(150, 180, 210),
    decay_rate=0.1,
    schedule="clean",
    deterministic=False,
)

#: The named presets. Use :func:`get_recipe` to get one with overrides.
RECIPES: dict[str, Recipe] = {
    "cifar100": _CIFAR,
    "cifar100-authors": _CIFAR.replace(name="cifar100-authors", schedule="authors"),
    "imagenet": Recipe(
        name="imagenet",
        model="resnet18",
        teacher="resnet34",
        loss="ldrrld",
        data="imagenet",
        epochs=100,
        batch_size=512,
        lr=0.2,
        momentum=0.9,
        weight_decay=1e-4,
        warmup_epochs=0,
        decay_epochs=(30, 60, 90),
        num_workers=8,
        deterministic=False,
    ),
    # lr 0.02: at 0.05 the MLP student (no normalisation layer) collapses under LDRRLD's large loss.
    "digits": Recipe(
        name="digits",
        model="digits_mlp",
        teacher="digits_cnn",
        loss="ldrrld",
        data="digits",
        epochs=15,
        batch_size=64,
        lr=0.02,
        weight_decay=5e-4,
        warmup_epochs=2,
        decay_epochs=(12,),
        loss_options={"dkd": {"warmup_epochs": 2}},
        deterministic=True,
    ),
    # 16x16 images, 20 per class, no flips or crops (the classes are not mirror-symmetric and the
    # generator already shifts every image): a CPU trains the 100 classes in a few minutes.
    "synthetic": Recipe(
        name="synthetic",
        model="resnet8",
        teacher="wrn_16_2",
        loss="ldrrld",
        data="synthetic",
        data_options={"train_per_class": 20, "test_per_class": 10, "image_size": 16},
        augment="none",
        epochs=10,
        batch_size=64,
        lr=0.05,
        weight_decay=5e-4,
        warmup_epochs=2,
        decay_epochs=(8,),
        loss_options={"dkd": {"warmup_epochs": 2}},
        deterministic=True,
    ),
    # The problem `ldrrld study` and `ldrrld demo` use, chosen with the study's protocol so that
    # distillation has something to teach: the synthetic hierarchy above, 10% of each class held
    # out for validation, and a teacher that has seen twice as many images of the same classes (40
    # per class) as its students (20); the evidence set measures what that extra data is worth
    # (`ldrrld_core.study.evidence`). 60 epochs, x0.1 after 40: with 30 (x0.1 after 20), and still
    # with 45 (x0.1 after 30), the student alone at its chosen high rate was rising when its rate
    # dropped (the study's schedule check). The drop stays at two thirds of the run, so the
    # teacher's own schedule, and with it the shipped teacher, is unchanged.
    "teaching": Recipe(
        name="teaching",
        model="resnet8",
        teacher="wrn_16_2",
        loss="ldrrld",
        data="synthetic",
        data_options={"train_per_class": 20, "test_per_class": 10, "image_size": 16},
        teacher_data_options={"train_per_class": 40},
        augment="none",
        validation_fraction=0.1,
        epochs=60,
        batch_size=64,
        lr=0.2,
        weight_decay=5e-4,
        warmup_epochs=2,
        decay_epochs=(40,),
        loss_options={"dkd": {"warmup_epochs": 2}},
        deterministic=True,
    ),
    # The shared-data problem: real handwriting, and a teacher that learns from exactly the students'
    # images (the standard 1347-image training split less 20% for validation), so whatever it
    # teaches is not data the students never saw. digits_cnn (99.6% test) teaches digits_mlp
    # (across families, ~97%) or digits_cnn_small (the same family at 1/8 the width, ~96%).
    # 60 epochs, x0.1 after 45: with 30 (x0.1 after 20) digits_cnn_small was still rising by 2.5 to
    # 6.5 points when its rate dropped, under every method (the study's schedule check).
    "digits-shared": Recipe(
        name="digits-shared",
        model="digits_mlp",
        teacher="digits_cnn",
        loss="ldrrld",
        data="digits",
        validation_fraction=0.2,
        epochs=60,
        batch_size=64,
        lr=0.05,
        weight_decay=5e-4,
        warmup_epochs=2,
        decay_epochs=(45,),
        loss_options={"dkd": {"warmup_epochs": 2}},
        deterministic=True,
    ),
}


def _ofa_preset(name: str, model: str, teacher: str) -> Recipe:
    """OFA-KD's CIFAR-100 recipe ``name`` at 224 x 224 (:mod:`.ofa_recipes`) as a trainer recipe.

    timm's ``create_optimizer_v2``, which OFA-KD's ``train.py`` calls, makes its ``"sgd"`` Nesterov
    SGD and exempts biases and normalisation weights from weight decay: so do these presets.
    """
    ofa = OFA_RECIPES[name]
    return Recipe(
        name=name,
        model=model,
        teacher=teacher,
        loss="ldrrld",
        data="cifar100-224",
        data_options={"recipe": name, "student": model},
        epochs=ofa.epochs,
        batch_size=ofa.batch_size,
        optimizer=ofa.optimizer.lower(),
        lr=ofa.lr,
        momentum=ofa.momentum or 0.9,
        nesterov=ofa.optimizer == "SGD",
        weight_decay=ofa.weight_decay,
        decay_norm_and_bias=False,
        schedule="cosine",
        warmup_epochs=ofa.warmup_epochs,
        warmup_lr=ofa.warmup_lr,
        min_lr=ofa.min_lr,
        clip_grad=ofa.clip_grad,
        label_smoothing=ofa.label_smoothing,
        mixup=ofa.mixup,
        cutmix=ofa.cutmix,
        num_workers=8,
        deterministic=False,
    )


RECIPES["cifar100-224-cnn"] = _ofa_preset("cifar100-224-cnn", model="timm:ResNet18", teacher="Swin-T")
RECIPES["cifar100-224-vit"] = _ofa_preset("cifar100-224-vit", model="DeiT-T", teacher="ConvNeXt-T")

_DESCRIPTIONS = {
    "cifar100": "the paper's CIFAR-100 recipe: 240 epochs, SGD 0.05, 20-epoch warm-up, x0.1 after 150/180/210",
    "cifar100-authors": "cifar100 with the authors' effective schedule (0.95 x lr between warm-up and epoch 150)",
    "imagenet": "ResNet34 -> ResNet18 on ImageNet folders: 100 epochs, SGD 0.2 for batch 512, x0.1 every 30",
    "digits": "the offline default: a small CNN teacher and an MLP student on 8x8 digits, seconds on a CPU",
    "synthetic": "the synthetic 100-class hierarchy at 16x16, wrn_16_2 -> resnet8, a few minutes on a CPU",
    "teaching": "the study's problem, where distillation helps: synthetic, a validation split, a teacher "
    "that saw 40 images per class, students 20",
    "digits-shared": "the shared-data problem: real digits, the teacher learns from the students' own images",
    "cifar100-224-cnn": "OFA-KD's CIFAR-100 recipe at 224 for CNN students: Nesterov SGD 0.05, 3-epoch warm-up, "
    "cosine to 1e-3 over 300 epochs, label smoothing 0.1",
    "cifar100-224-vit": "OFA-KD's CIFAR-100 recipe at 224 for ViT/MLP students: AdamW 5e-4, 20-epoch warm-up, cosine "
    "to 1e-5, RandAugment, mixup 0.8, cutmix 1.0, random erasing 0.25, clipping 5",
}

#: CIFAR-100 students that the authors train with lr 0.01 instead of 0.05.
_LIGHT_CIFAR_MODELS = ("MobileNetV2", "ShuffleV1", "ShuffleV2")


def list_recipes() -> list[str]:
    """The preset names."""
    return list(RECIPES)


def describe_recipe(name: str) -> str:
    """One line on what a preset is for."""
    get_recipe(name)
    return _DESCRIPTIONS.get(name, "")


def get_recipe(name: str = "digits", /, **overrides: object) -> Recipe:
    """A preset with some fields overridden, e.g. ``get_recipe("cifar100", model="wrn_16_2")``.

    The preset is given by position, so ``name`` may also be overridden: ``get_recipe("digits",
    name="mine")`` is the digits preset under another label.

    For the CIFAR-100 presets, choosing a MobileNetV2 or ShuffleNet student without an explicit
    ``lr`` gives lr 0.01, as the authors do. For the OFA-KD presets at 224, another ``model`` also
    becomes the data's ``student`` (whose evaluation crop is pinned) unless ``data_options`` is given.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}.{did_you_mean(name, RECIPES)} Recipes: {', '.join(RECIPES)}")
    if name in ("cifar100", "cifar100-authors") and overrides.get("model") in _LIGHT_CIFAR_MODELS:
        overrides = {"lr": 0.01, **overrides}
    if RECIPES[name].data == "cifar100-224" and "model" in overrides and "data_options" not in overrides:
        overrides = {**overrides, "data_options": {**RECIPES[name].data_options, "student": overrides["model"]}}
    return RECIPES[name].replace(**overrides)


# ------------------------------------------------------------------------- text -> field values
_TRUE, _FALSE, _NONE = ("true", "yes", "on", "1"), ("false", "no", "off", "0"), ("none", "null")


def parse_field(name: str, text: str) -> object:
    """Turn the text of a ``name=value`` override (command line) into the field's type.

    Booleans accept true/false/yes/no/on/off/1/0, optional fields accept ``none``, tuples accept
    ``150,180,210`` or a JSON list, mappings a JSON object (``'{"depth": 5}'``).
    """
    check_field_names([name])
    kind = typing.get_type_hints(Recipe)[name]
    optional = type(None) in typing.get_args(kind)
    if optional and text.strip().lower() in _NONE:
        return None
    base = next((a for a in typing.get_args(kind) if a is not type(None)), kind) if optional else kind
    origin = typing.get_origin(base) or base
    try:
        if base is bool:
            lowered = text.strip().lower()
            if lowered not in _TRUE + _FALSE:
                raise ValueError("expected true or false")
            return lowered in _TRUE
        if base in (int, float, str):
            return base(text)
        if origin is tuple:
            items = json.loads(text) if text.strip().startswith("[") else [t for t in text.split(",") if t.strip()]
            return tuple(int(item) for item in items)
        if origin in (Mapping, dict, typing.Mapping):
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return value
    except ValueError as error:
        reason = " ".join(str(error).split(";")[0].split())[:120]
        raise ValueError(f"cannot read {name}={shown(text)} as {getattr(base, '__name__', base)}: {reason}") from None
    raise ValueError(f"field {name} cannot be set from text")  # pragma: no cover - every field type is covered
