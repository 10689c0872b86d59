"""The training loop: one function, :func:`fit`, for teachers and students alike.

A teacher is a model trained with the ``ce`` loss; a student is a model trained with a loss
that also reads a frozen teacher's logits. Read :func:`fit` top to bottom: set-up, then for each
epoch the learning rate, the steps, the evaluation, the history row and the checkpoint. One
step is :func:`train_step`, public so that benchmarks time exactly the trainer's step.

Inside a step nothing waits for the host: loss terms and accuracy counts are summed on the
device and read once per epoch. On a CPU in deterministic mode a run is bitwise repeatable, and
a run resumed from ``latest.pth`` ends with exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import torch
from torch import Tensor, nn
from tqdm.contrib.logging import logging_redirect_tqdm

from ..data import DATASETS, DataSplits, load_dataset, make_loader, split_validation
from ..data.mixing import soft_targets
from ..io import atomic_write_text, load_file, remove_stale_temporaries
from ..losses.base import DistillationLoss
from ..models import DEFAULT_MARGIN, TeacherBelowPublishedWarning, create_model, published_teacher
from ..runtime import seed_everything, set_deterministic
from .degenerate import warn_degenerate_loss
from .distributed import DistributedContext, all_reduce_sum, current_context
from .fingerprint import accuracy_record, fingerprint
from .history import History
from .metrics import correct_top_k, evaluate
from .optimizers import build_optimizer, clip_gradients
from .recipes import Recipe
from .run_state import (
    LATEST,
    STUDENT,
    check_new_run,
    check_resumable,
    load_training_state,
    restore_rng_state,
    save_student,
    save_training_state,
    teacher_record,
)
from .runlock import run_lock
from .schedule import learning_rate
from .teacher_outputs import attach_teacher_outputs

__all__ = [
    "Run",
    "fit",
    "train_step",
    "train_teacher",
    "distill",
    "build_student",
    "resolve_amp",
    "load_data",
    "check_loss_fits",
    "compare_with_published",
]

log = logging.getLogger("ldrrld.train")


@dataclass
class Run:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (the student, or the teacher of a ``ce`` run), in eval mode on
            the training device.
        history: one row per epoch (see :class:`~ldrrld_core.train.history.History`).
        recipe: the recipe that ran.
        summary: ``top1``, ``top5`` (last epoch, %), ``epochs``, ``seconds`` (all epochs, resumed
            ones included), ``out_dir`` and what was trained (``model``, ``teacher``, ``loss``,
            ``data``, ``recipe``, ``schedule``; ``teacher_top1`` when a teacher was used), ``top1_last``,
            ``top1_best`` and ``best_epoch``, and the run's ``fingerprint`` (see :mod:`.fingerprint`).
        out_dir: where ``latest.pth``, ``student.pth`` and the history went, or ``None``.
    """

    model: nn.Module
    history: History
    recipe: Recipe
    summary: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None

    @property
    def top1(self) -> float:
        """Test top-1 accuracy (%) after the last epoch."""
        return self.summary["top1"]

    def __repr__(self) -> str:
        return (
            f"Run({self.recipe.model} with {self.recipe.loss}: top-1 {self.top1:.2f}% after "
            f"{self.summary['epochs']} epochs)"
        )


#: A teacher as :func:`fit` takes it: a model, a finished :class:`Run`, a checkpoint file, or ``None``
#: (``recipe.teacher_checkpoint``).
TeacherSource = Union[nn.Module, Run, str, os.PathLike, None]
#: What ``resume`` may be: a ``latest.pth`` (or its folder), ``True`` for the out-dir's, or ``None``/``False``.
ResumeFrom = Union[bool, str, os.PathLike, None]
#: A loader: an iterable of ``(images, labels)`` batches.
Batches = Iterable[tuple[Tensor, Tensor]]


# ------------------------------------------------------------------------------------ set-up
def resolve_amp(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of an ``amp`` setting on ``device`` (``None``: full precision)."""
    if mode == "none" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a GPU (its gradient scaler is CUDA-only); use amp='bf16' or 'none' on a CPU")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def load_data(recipe: Recipe, context: DistributedContext | None = None) -> DataSplits:
    """The recipe's data set, with its validation split if any; under ``torchrun`` rank 0 downloads first."""
    context = context or current_context()

    def load() -> DataSplits:
        data = load_dataset(
            recipe.data, recipe.data_root, download=recipe.download, seed=recipe.data_seed, **recipe.data_options
        )
        if recipe.validation_fraction:
            data = split_validation(data, recipe.validation_fraction, seed=recipe.data_seed)
        return data

    if context.enabled and recipe.download:
        splits = load() if context.is_main else None
        torch.distributed.barrier()
        return splits if splits is not None else load()
    return load()


def _build_loss(recipe: Recipe, device: torch.device) -> DistillationLoss:
    """The recipe's loss without its per-call input check, which reads a value back from the device.

    The trainer checks shapes before the first step and the loss's finiteness once per epoch instead.
    """
    loss = recipe.build_loss()
    if "validate" not in recipe.loss_hparams:
        loss.validate = False
    loss.set_seed(recipe.seed)  # the loss's own draws (TeKAP's noise) repeat with the run
    return loss.to(device)


def build_student(recipe: Recipe, num_classes: int) -> nn.Module:
    """The initial student :func:`fit` trains: ``recipe.model`` built right after seeding with ``recipe.seed``.

    The same seed gives the same weights whatever ran before, so students trained with different
    losses start from one initialisation.
    """
    seed_everything(recipe.seed)
    try:
        return create_model(recipe.model, num_classes=num_classes, **recipe.model_options)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"model_options {dict(recipe.model_options)} do not fit model {recipe.model!r}: "
            f"{str(error).splitlines()[0]}. See the model's docstring for its "
            "options."
        ) from None


def _resolve_teacher(teacher: TeacherSource, recipe: Recipe, num_classes: int) -> nn.Module:
    if isinstance(teacher, Run):
        return teacher.model
    if isinstance(teacher, nn.Module):
        return teacher
    checkpoint = teacher if teacher is not None else recipe.teacher_checkpoint
    if checkpoint is None:
        raise ValueError(
            f"loss {recipe.loss!r} distils from a teacher, but none was given: pass teacher= (a trained "
            "model, a Run or a checkpoint file) or set teacher_checkpoint in the recipe. Train one "
            "with train_teacher(recipe) or `ldrrld train --model <teacher>`."
        )
    if recipe.teacher is None:
        raise ValueError(
            "a teacher checkpoint was given but the recipe names no teacher architecture; "
            "set teacher='<model name>' so the file can be loaded into the right model"
        )
    return create_model(recipe.teacher, num_classes=num_classes, checkpoint=checkpoint)


def _teacher_file(teacher: TeacherSource, recipe: Recipe) -> str | os.PathLike | None:
    """The file the teacher is loaded from, if it is loaded from one."""
    if isinstance(teacher, (str, os.PathLike)):
        return teacher
    return recipe.teacher_checkpoint if teacher is None else None


def check_loss_fits(recipe: Recipe, data: DataSplits, *, warn: bool = True) -> None:
    """Raise a ``ValueError`` if the recipe's loss cannot work on ``data`` (depth above its class count).

    Settings that work but make a term vanish (DKD on 2 classes, LDRRLD with depth equal to the
    number of classes) give a :class:`~ldrrld_core.train.degenerate.DegenerateLossWarning` instead
    (unless ``warn`` is false), once per run: :func:`fit` checks before its first step.
    """
    try:
        recipe.build_loss().check_num_classes(data.num_classes, source=f"data set {data.name!r}")
    except ValueError as error:
        raise ValueError(f"loss {recipe.loss!r} uses {error} (loss_options={{'{recipe.loss}': {{...}}}})") from None
    if warn:
        warn_degenerate_loss(recipe, data.num_classes)


def _check_fits(
    recipe: Recipe, data: DataSplits, student: nn.Module, teacher: nn.Module | None, device: torch.device
) -> None:
    """Catch mismatches between data, models and loss before the first step, with plain messages."""
    check_loss_fits(recipe, data)
    probe = data.test[0][0][None].to(device)  # (1, C, H, W)
    for role, model in (("student", student), ("teacher", teacher)):
        if model is None:
            continue
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                out = model(probe)
        except RuntimeError as error:
            raise ValueError(
                f"the {role} ({getattr(model, 'arch', type(model).__name__)}) cannot take the images "
                f"of data set {data.name!r} (shape {tuple(data.input_shape)}): "
                f"{str(error).splitlines()[0]}. Pick a model built for this input "
                "(digits_* for digits, the CIFAR zoo for 32x32 sets)."
            ) from None
        finally:
            model.train(was_training)
        if out.shape[-1] != data.num_classes:
            raise ValueError(
                f"the {role} outputs {out.shape[-1]} classes but data set {data.name!r} has "
                f"{data.num_classes}; teacher, student and data must agree on the classes "
                "(a teacher trained on another data set?)"
            )


def _resume_state(resume: ResumeFrom, out_dir: Path | None) -> dict | None:
    if resume is None or resume is False:
        return None
    if resume is True:
        if out_dir is None:
            raise ValueError(
                "resume=True continues the run in the recipe's out_dir, but out_dir is None; "
                "set out_dir or pass the path of a latest.pth"
            )
        if not (out_dir / LATEST).exists():
            log.info("no %s in %s: starting from scratch", LATEST, out_dir)
            return None
        resume = out_dir / LATEST
    return load_training_state(resume)


# ------------------------------------------------------------------------------------ one step
def train_step(
    student: nn.Module,
    teacher: nn.Module | None,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    labels: Tensor,
    *,
    autocast_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    teacher_logits: Tensor | None = None,
    clip_grad: float | None = None,
) -> Tensor:
    """One optimisation step of ``student`` on a batch: the step :func:`fit` runs.

    The teacher (``None`` for losses that ignore it) runs under ``torch.inference_mode`` and its
    logits are cloned into a normal tensor; the student runs; ``loss_fn(student_logits,
    teacher_logits, labels)`` gives the total; then gradients are reset (``set_to_none``),
    back-propagated and applied. Nothing is read back to the host. For a loss that reads more
    than logits, ``student`` and ``teacher`` are the views its ``model_outputs`` gives (SDD's
    region logits), and ``loss_fn.logits_of`` picks the logits out for the return value.

    Args:
        student: the model to train, in train mode (or its DDP / ``torch.compile`` wrapper).
        teacher: the frozen teacher in eval mode (or its compiled wrapper), or ``None``.
        loss_fn: called as ``loss_fn(student_logits, teacher_logits, labels) -> ()``.
        optimizer: over the student's parameters.
        images: the batch, ``(B, ...)``, on the models' device and in their memory format.
        labels: class indices ``(B,)``, or soft targets ``(B, C)`` (label smoothing, mixup, cutmix).
        autocast_dtype: run both forward passes and the loss under autocast to this dtype;
            ``None`` is full precision.
        scaler: a gradient scaler (fp16); ``None`` steps the optimiser directly.
        teacher_logits: the teacher's logits of this batch ``(B, num_classes)``, computed before
            (see :mod:`.teacher_outputs`); given, the teacher does not run.
        clip_grad: clip the total gradient norm of the optimiser's parameters to this before the
            step (after unscaling, with a scaler); ``None`` does not clip.

    Returns:
        The student's logits ``(B, num_classes)``, detached, for accuracy counts.
    """
    autocast = torch.autocast(images.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    with autocast:
        if teacher_logits is None and teacher is not None:
            with torch.inference_mode():
                teacher_logits = teacher(images)
            teacher_logits = teacher_logits.clone()  # a normal tensor autograd may save
        student_logits = student(images)
        loss = loss_fn(student_logits, teacher_logits, labels)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        if clip_grad is not None:
            clip_gradients(optimizer, clip_grad)
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        if clip_grad is not None:
            scaler.unscale_(optimizer)
            clip_gradients(optimizer, clip_grad)
        scaler.step(optimizer)
        scaler.update()
    return loss_fn.logits_of(student_logits.detach())


# ------------------------------------------------------------------------------------ the loop
def fit(
    recipe: Recipe,
    *,
    teacher: TeacherSource = None,
    student: nn.Module | None = None,
    data: DataSplits | None = None,
    device: torch.device | str | None = None,
    resume: ResumeFrom = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Run:
    """Train ``recipe.model`` with ``recipe.loss`` (reading ``teacher`` when the loss needs one).

    Args:
        recipe: every setting of the run (see :class:`~ldrrld_core.train.recipes.Recipe`).
        teacher: a trained teacher: an ``nn.Module``, a :class:`Run`, or a checkpoint file for
            ``recipe.teacher``; ``None`` uses ``recipe.teacher_checkpoint``. Ignored by ``ce``.
            It is put in eval mode and only ever run under ``torch.inference_mode``.
        student: a model to train in place; ``None`` builds ``recipe.model`` right after seeding
            with ``recipe.seed``, so runs with the same seed start from identical weights.
        data: the data set, if already loaded (it must be what the recipe names).
        device: where to train; default CUDA when present (``cuda:<LOCAL_RANK>`` under ``torchrun``).
        resume: a ``latest.pth`` (or its folder) to continue from, or ``True`` for the one in
            ``recipe.out_dir`` if it exists.
        progress: show a ``tqdm`` bar (terminal or notebook) on the main process.
        overwrite: a run started afresh in an ``out_dir`` that holds a run of other settings
            replaces it; without it that is a ``ValueError`` (see :func:`.run_state.check_new_run`).

    Returns:
        A :class:`Run` with the trained model, its history and a summary.

    Raises:
        ValueError: settings that do not fit together (depth above the number of classes,
            teacher and student class counts, an input shape a model cannot take, a missing
            teacher, a checkpoint of a different recipe).
        FloatingPointError: the loss became NaN or infinite; ``latest.pth`` keeps the last good epoch.
        RunLockedError: another run is using ``recipe.out_dir`` (see :mod:`.runlock`).
    """
    for problem in recipe.contradictions() if current_context().is_main else ():
        log.warning("%s", problem)
    with run_lock(recipe.out_dir if current_context().is_main else None):
        return _fit(
            recipe,
            teacher=teacher,
            student=student,
            data=data,
            device=device,
            resume=resume,
            progress=progress,
            overwrite=overwrite,
        )


@dataclass
class _Training:
    """Everything one run's epochs share, made once by :func:`_prepare` (the plain modules and
    what a step runs: ``step_model`` may be the DDP / compiled wrapper of ``student``)."""

    context: DistributedContext
    device: torch.device
    data: DataSplits
    loss_fn: DistillationLoss
    student: nn.Module
    teacher: nn.Module | None
    teacher_info: dict | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    autocast_dtype: torch.dtype | None
    memory_format: torch.memory_format
    step_model: nn.Module
    teacher_forward: nn.Module | None
    loss_forward: nn.Module
    train_batches: Batches
    test_batches: Batches
    val_batches: Batches | None
    out_dir: Path | None
    mix: Any = None  # (images, labels) -> (images, soft targets), see ldrrld_core.data.mixing

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files (the main process of a run with an out_dir)."""
        return self.out_dir is not None and self.context.is_main

    def evaluate(self, model: nn.Module, batches) -> dict[str, float]:
        return evaluate(model, batches, autocast_dtype=self.autocast_dtype, memory_format=self.memory_format)


def _fit(
    recipe: Recipe,
    *,
    teacher: TeacherSource,
    student: nn.Module | None,
    data: DataSplits | None,
    device: torch.device | str | None,
    resume: ResumeFrom,
    progress: bool,
    overwrite: bool,
) -> Run:
    """:func:`fit` once it holds the out-dir's lock (only the lock holder cleans or writes the folder)."""
    run = _prepare(recipe, teacher=teacher, student=student, data=data, device=device)
    history, start_epoch = _start(run, recipe, resume, overwrite)
    board = _tensorboard(run.out_dir) if recipe.tensorboard and run.writes else None
    teacher_metrics = {}
    if run.teacher is not None:
        teacher_metrics = run.evaluate(run.teacher, run.test_batches)
        _warn_if_near_chance(teacher_metrics["test_top1"], run.data.num_classes)
        teacher_metrics.update(compare_with_published(recipe, teacher_metrics["test_top1"]))

    bar = _progress_bar(
        progress and run.context.is_main,
        total=(recipe.epochs - start_epoch + 1) * len(run.train_batches),
        description=run_label(recipe),
    )
    for epoch in range(start_epoch, recipe.epochs + 1):
        row = _train_epoch(run, recipe, epoch, bar)
        history.append(row)
        _report_epoch(row, recipe, bar, board)
        if run.writes and (epoch % recipe.save_every == 0 or epoch == recipe.epochs):
            save_training_state(
                run.out_dir / LATEST,
                model=run.student,
                optimizer=run.optimizer,
                scaler=run.scaler,
                loss=run.loss_fn,
                epoch=epoch,
                history_rows=history.rows,
                recipe=recipe.to_dict(),
                teacher=run.teacher_info,
            )
            _write_results(run, recipe, history)
    bar.close()
    if board is not None:
        board.close()
    return _finish(run, recipe, history, teacher_metrics)


def _prepare(
    recipe: Recipe,
    *,
    teacher: TeacherSource,
    student: nn.Module | None,
    data: DataSplits | None,
    device: torch.device | str | None,
) -> _Training:
    """Check the settings, then build data, models, loss, optimiser and loaders, in a fixed order.

    The order matters for repeatability: seeding, then the student (built right after seeding
    again, see :func:`build_student`), then the loaders; a resume restores the random state after.
    """
    context = current_context()
    device = context.device(device)
    set_deterministic(recipe.deterministic)
    seed_everything(recipe.seed)
    data = _checked_data(recipe, data, context)

    loss_fn = _build_loss(recipe, device)
    student = (student if student is not None else build_student(recipe, data.num_classes)).to(device)
    teacher_file = _teacher_file(teacher, recipe)
    teacher = _resolve_teacher(teacher, recipe, data.num_classes).to(device).eval() if loss_fn.needs_teacher else None
    _check_fits(recipe, data, student, teacher, device)

    autocast_dtype = resolve_amp(recipe.amp, device)
    memory_format = _memory_format(recipe, data, device)
    for model in (student, teacher):
        if model is not None:
            model.to(memory_format=memory_format)
    optimizer = build_optimizer(recipe, student, loss_fn)  # a loss's own parameters learn with the student
    mix = _mixer(recipe, data.num_classes, context)
    mixes_images = bool(recipe.mixup or recipe.cutmix)
    step_model, teacher_forward, loss_forward = _step_modules(recipe, context, device, student, teacher, loss_fn)
    teacher_info = teacher_record(teacher, teacher_file) if teacher is not None else None
    loaders = _loaders(recipe, data, context, device)
    loaders["train_batches"] = attach_teacher_outputs(
        loaders["train_batches"],
        # only plain, uncompiled logits of the images as loaded are cached (mixup changes them)
        teacher if teacher_forward is teacher and not mixes_images else None,
        teacher_sha256=teacher_info and teacher_info["weights_sha256"],
        data=dict(_data_identity(recipe), split="train"),
        autocast_dtype=autocast_dtype,
        memory_format=memory_format,
        compiled=recipe.compile,
    )
    return _Training(
        context=context,
        device=device,
        data=data,
        loss_fn=loss_fn,
        student=student,
        teacher=teacher,
        teacher_info=teacher_info,
        optimizer=optimizer,
        scaler=torch.amp.GradScaler(device.type, enabled=autocast_dtype == torch.float16),
        autocast_dtype=autocast_dtype,
        memory_format=memory_format,
        step_model=step_model,
        teacher_forward=teacher_forward,
        loss_forward=loss_forward,
        **loaders,
        out_dir=Path(recipe.out_dir) if recipe.out_dir is not None else None,
        mix=mix,
    )


def _mixer(recipe: Recipe, num_classes: int, context: DistributedContext):
    """The recipe's soft targets (``None`` without any), drawing this process's own mixup/cutmix
    from ``(recipe.seed, context.rank)``: equal draws on every rank would mix every shard alike."""
    return soft_targets(
        num_classes,
        label_smoothing=recipe.label_smoothing,
        mixup=recipe.mixup,
        cutmix=recipe.cutmix,
        seed=recipe.seed,
        rank=context.rank,
    )


def _data_identity(recipe: Recipe) -> dict[str, Any]:
    """The recipe's fields that choose its data (what cached teacher outputs are keyed by, with the split)."""
    fields = ("data", "data_options", "data_seed", "validation_fraction", "augment")
    return {name: getattr(recipe, name) for name in fields}


def _checked_data(recipe: Recipe, data: DataSplits | None, context: DistributedContext) -> DataSplits:
    """The recipe's data (loaded unless given), after checking the batch splits over the processes."""
    if recipe.batch_size % context.world_size:
        raise ValueError(
            f"batch_size {recipe.batch_size} is the total over {context.world_size} processes and "
            f"must divide evenly among them; use a multiple of {context.world_size}"
        )
    if (recipe.mixup or recipe.cutmix) and (recipe.batch_size // context.world_size) % 2:
        raise ValueError(
            f"mixup and cutmix need an even batch on every process; batch_size {recipe.batch_size} over "
            f"{context.world_size} processes gives {recipe.batch_size // context.world_size}"
        )
    data = data if data is not None else load_data(recipe, context)
    if data.name != DATASETS.key(recipe.data):
        raise ValueError(
            f"the data passed are {data.name!r} but the recipe names {recipe.data!r}; pass the "
            f"recipe's data (load_data(recipe)) or set data={data.name!r} in the recipe"
        )
    return data


def _memory_format(recipe: Recipe, data: DataSplits, device: torch.device) -> torch.memory_format:
    """Channels-last for images unless switched off (``channels_last=False``), else the contiguous layout.

    Faster on a GPU and on a CPU alike: the offline recipes' models step in 0.72-0.85x of the
    contiguous time on a CPU (``benchmarks/student_speed.py``, docs/training.md).
    """
    images = len(data.input_shape) == 3
    channels_last = recipe.channels_last if recipe.channels_last is not None else images
    return torch.channels_last if channels_last and images else torch.contiguous_format


def _step_modules(
    recipe: Recipe,
    context: DistributedContext,
    device: torch.device,
    student: nn.Module,
    teacher: nn.Module | None,
    loss_fn: DistillationLoss,
) -> tuple[nn.Module, nn.Module | None, nn.Module]:
    """What a step runs: each model as the loss reads it (``loss_fn.model_outputs``), the student
    wrapped for data parallelism, and the models and the loss compiled, as asked. Checkpoints and
    evaluation keep using the plain modules."""
    step_model = loss_fn.model_outputs(student)
    teacher_forward = loss_fn.model_outputs(teacher) if teacher is not None else None
    loss_forward = loss_fn
    if context.enabled:
        step_model = nn.parallel.DistributedDataParallel(
            step_model, device_ids=[device.index] if device.type == "cuda" else None
        )
        for parameter in loss_fn.parameters():  # DDP averages the student's gradients, not the loss's
            parameter.register_post_accumulate_grad_hook(_average_over_processes)
    if recipe.compile:
        step_model, loss_forward = torch.compile(step_model), torch.compile(loss_fn)
        teacher_forward = torch.compile(teacher) if teacher is not None else None
    return step_model, teacher_forward, loss_forward


def _average_over_processes(parameter: Tensor) -> None:
    """Replace a parameter's gradient by its mean over the processes (for a loss's own parameters)."""
    torch.distributed.all_reduce(parameter.grad)
    parameter.grad /= torch.distributed.get_world_size()


def _loaders(
    recipe: Recipe, data: DataSplits, context: DistributedContext, device: torch.device
) -> dict[str, Batches | None]:
    """This process's shard of the training batches (shuffled, augmented) and of the evaluation ones."""
    per_rank_batch = recipe.batch_size // context.world_size
    shard = dict(
        device=device,
        seed=recipe.seed,
        rank=context.rank,
        world_size=context.world_size,
        num_workers=recipe.num_workers,
    )
    evaluation = max(per_rank_batch, 256)
    return {
        "train_batches": make_loader(data.train, per_rank_batch, train=True, augment=recipe.augment, **shard),
        "test_batches": make_loader(data.test, evaluation, train=False, **shard),
        "val_batches": None if data.val is None else make_loader(data.val, evaluation, train=False, **shard),
    }


def _start(run: _Training, recipe: Recipe, resume: ResumeFrom, overwrite: bool) -> tuple[History, int]:
    """Where the run starts: ``(empty history, 1)``, or the state a checkpoint recorded restored."""
    history, start_epoch = History(), 1
    if run.out_dir is not None and run.context.is_main and run.out_dir.is_dir():
        removed = remove_stale_temporaries(run.out_dir)
        if removed:
            log.info("removed %d temporary file(s) of an interrupted write in %s", len(removed), run.out_dir)
    state = _resume_state(resume, run.out_dir)
    if state is None and run.writes:
        check_new_run(run.out_dir, recipe.to_dict(), run.teacher_info, overwrite=overwrite)
    if state is not None:
        check_resumable(
            state["recipe"],
            recipe.to_dict(),
            state["path"],
            saved_teacher=state.get("teacher"),
            teacher=run.teacher_info,
        )
        run.student.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.scaler.load_state_dict(state["scaler"])
        run.loss_fn.load_state_dict(state["loss"])
        restore_rng_state(state["rng"])
        history, start_epoch = History(state["history"]), state["epoch"] + 1
        log.info("resumed %s after epoch %d", state["path"], state["epoch"])
        if run.writes and history.rows and _results_behind(run.out_dir, state["epoch"]):
            # A run killed after latest.pth was written but before student.pth or the history were
            # leaves those one save behind; latest.pth is the truth, so they are written again from it.
            _write_results(run, recipe, history)
    if run.writes:
        atomic_write_text(json.dumps(recipe.to_dict(), indent=1), run.out_dir / "recipe.json")
    return history, start_epoch


def _results_behind(out_dir: Path, epoch: int) -> bool:
    """Whether ``student.pth`` or the history in ``out_dir`` are missing, unreadable or not of ``epoch``."""
    try:
        return len(History.load(out_dir).rows) != epoch or load_file(out_dir / STUDENT)["epoch"] != epoch
    except (OSError, ValueError, KeyError):  # a CheckpointError is a ValueError
        return True


def _write_results(run: _Training, recipe: Recipe, history: History) -> None:
    """``student.pth`` and the history files for the epochs in ``history`` (written after ``latest.pth``)."""
    last = history.rows[-1]
    save_student(run.out_dir / STUDENT, run.student, arch=recipe.model, epoch=last["epoch"], top1=last["test_top1"])
    history.save(run.out_dir)


def _train_epoch(run: _Training, recipe: Recipe, epoch: int, bar) -> dict[str, float]:
    """One epoch of steps, then the evaluation: the epoch's history row.

    Loss terms and top-1 hits are summed on the device and read back once, at the end.
    """
    started = time.perf_counter()
    lr = learning_rate(
        epoch,
        recipe.lr,
        warmup_epochs=recipe.warmup_epochs,
        decay_epochs=recipe.decay_epochs,
        decay_rate=recipe.decay_rate,
        style=recipe.schedule,
        epochs=recipe.epochs,
        warmup_lr=recipe.warmup_lr,
        min_lr=recipe.min_lr,
    )
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    run.loss_fn.set_epoch(epoch)
    run.train_batches.set_epoch(epoch)
    if hasattr(run.mix, "set_epoch"):  # mixup's draws follow (seed, rank, epoch, step), see data/mixing.py
        run.mix.set_epoch(epoch)
    run.student.train()

    sums: Tensor | None = None  # (terms + 1,) summed loss terms x batch size, then top-1 hits
    term_names: list[str] = []
    seen = 0
    images = len(run.data.input_shape) == 3
    for x, y, *cached in run.train_batches:  # cached: the teacher's logits, where they cannot change
        x, targets = run.mix(x, y) if run.mix is not None else (x, y)  # soft targets; y stays for accuracy
        x = x.contiguous(memory_format=run.memory_format) if images else x
        student_logits = train_step(
            run.step_model,
            run.teacher_forward,
            run.loss_forward,
            run.optimizer,
            x,
            targets,
            autocast_dtype=run.autocast_dtype,
            scaler=run.scaler,
            teacher_logits=cached[0] if cached else None,
            clip_grad=recipe.clip_grad,
        )
        if sums is None:
            term_names = list(run.loss_fn.last_terms)
            sums = torch.zeros(len(term_names) + 1, device=run.device)
        sums[:-1] += torch.stack([run.loss_fn.last_terms[name].float() for name in term_names]) * y.shape[0]
        sums[-1:] += correct_top_k(student_logits, y, ks=(1,))
        seen += y.shape[0]
        bar.update(1)

    totals = all_reduce_sum(torch.cat([sums, sums.new_tensor([seen])])).tolist()  # the epoch's one read
    count = totals[-1]
    train_terms = {f"train_{name}": total / count for name, total in zip(term_names, totals)}
    if not all(math.isfinite(value) for value in train_terms.values()):
        raise FloatingPointError(
            f"the training loss became NaN or infinite in epoch {epoch} ({train_terms}); "
            + (f"{run.out_dir / LATEST} still holds the last good epoch. " if run.writes else "")
            + "Lower lr, check the inputs, or use amp='none'."
        )
    row = {
        "epoch": epoch,
        "lr": lr,
        **train_terms,
        "train_top1": 100.0 * totals[-2] / count,
        **run.evaluate(run.student, run.test_batches),
    }
    if run.val_batches is not None:
        row.update(_renamed(run.evaluate(run.student, run.val_batches), "test_", "val_"))
    row["seconds"] = time.perf_counter() - started
    return row


def _report_epoch(row: dict[str, float], recipe: Recipe, bar, board) -> None:
    """The epoch's row on the progress bar, as a log line through the bar's writer, and on TensorBoard."""
    bar.set_postfix(epoch=row["epoch"], loss=f"{row['train_loss']:.3f}", test_top1=f"{row['test_top1']:.2f}")
    with logging_redirect_tqdm(tqdm_class=type(bar)):  # via the bar: one live bar, clean lines
        log.info(
            "%s · epoch %d/%d  lr %.4g  loss %.4f  train %.2f%%  test %.2f%% (top-5 %.2f%%)  %.1f s",
            run_label(recipe),
            row["epoch"],
            recipe.epochs,
            row["lr"],
            row["train_loss"],
            row["train_top1"],
            row["test_top1"],
            row["test_top5"],
            row["seconds"],
        )
    if board is not None:
        for name, value in row.items():
            if name != "epoch":
                board.add_scalar(name, value, row["epoch"])


def _finish(run: _Training, recipe: Recipe, history: History, teacher_metrics: dict) -> Run:
    """The student in eval mode and the run's summary (written as ``summary.json``)."""
    run.student.eval()
    summary = {
        **_summary(recipe, history, run.out_dir, teacher_metrics),
        **accuracy_record(history),
        "fingerprint": fingerprint(
            recipe, device=run.device, world_size=run.context.world_size, autocast_dtype=run.autocast_dtype
        ),
    }
    if run.teacher_info is not None and run.teacher_info["file_sha256"]:
        summary["teacher_sha256"] = run.teacher_info["file_sha256"]
    if run.writes:
        atomic_write_text(json.dumps(summary, indent=1), run.out_dir / "summary.json")
    return Run(model=run.student, history=history, recipe=recipe, summary=summary, out_dir=run.out_dir)


def _renamed(metrics: dict[str, float], old: str, new: str) -> dict[str, float]:
    return {new + name.removeprefix(old): value for name, value in metrics.items()}


def _summary(recipe: Recipe, history: History, out_dir: Path | None, teacher_metrics: dict) -> dict[str, Any]:
    if not len(history):
        raise ValueError(
            f"nothing to train: the run already finished its {recipe.epochs} epochs (raise epochs to continue it)"
        )
    last = history.last
    summary = {
        "top1": last["test_top1"],
        "top5": last["test_top5"],
        "epochs": last["epoch"],
        "seconds": sum(history.column("seconds")),
        "out_dir": str(out_dir) if out_dir else None,
        "model": recipe.model,
        "teacher": recipe.teacher if teacher_metrics else None,
        "loss": recipe.loss,
        "data": recipe.data,
        "recipe": recipe.name,
        "schedule": recipe.schedule,
        "seed": recipe.seed,
    }
    if "val_top1" in last:
        summary["val_top1"] = last["val_top1"]
    if teacher_metrics:
        summary["teacher_top1"] = teacher_metrics["test_top1"]
        summary.update({k: v for k, v in teacher_metrics.items() if k.startswith("teacher_published")})
    return summary


def compare_with_published(recipe: Recipe, teacher_top1: float, margin: float = DEFAULT_MARGIN) -> dict[str, Any]:
    """Check a CIFAR-100 teacher's measured test top-1 against its published accuracy before distilling.

    Returns ``{"teacher_published_top1": ..., "teacher_published_gap": published - measured}`` for a
    standard teacher on ``cifar100`` (empty otherwise), and warns with
    :class:`~ldrrld_core.models.TeacherBelowPublishedWarning` when the gap exceeds ``margin``
    points: a different file or normalisation, the usual cause of a failed reproduction.
    ``ldrrld teacher check`` gives the full report (hash, size) for one file.
    """
    published = published_teacher(recipe.teacher) if recipe.data == "cifar100" and recipe.teacher else None
    if published is None:
        return {}
    gap = published[0] - teacher_top1
    if gap > margin:
        warnings.warn(
            f"teacher {recipe.teacher} measures {teacher_top1:.2f}% test top-1, {gap:.2f} points below "
            f"its published {published[0]:.2f}% ({published[1]}); distilling from it will not "
            "reproduce the paper. Check the file with `ldrrld teacher check`.",
            TeacherBelowPublishedWarning,
            stacklevel=3,
        )
    return {"teacher_published_top1": published[0], "teacher_published_gap": gap}


def _warn_if_near_chance(top1: float, num_classes: int) -> None:
    chance = 100.0 / num_classes
    if top1 < 2 * chance:
        log.warning(
            "the teacher reaches only %.2f%% top-1 on the test split (chance is %.2f%%): a wrong "
            "checkpoint, a different normalisation or another data set is the usual cause",
            top1,
            chance,
        )


def run_label(recipe: Recipe) -> str:
    """The name of a run in progress bars and log lines: ``"kd seed 0 · resnet8"``."""
    return f"{recipe.loss} seed {recipe.seed} · {recipe.model}"


def _progress_bar(enabled: bool, total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="step", disable=not enabled, leave=False, dynamic_ncols=True)


def _tensorboard(out_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError(
            "tensorboard=True needs the tensorboard package: pip install -e '.[tensorboard]' in your checkout"
        ) from None
    return SummaryWriter(log_dir=str(out_dir / "tensorboard"))


# ----------------------------------------------------------------------------- the two recipes
def train_teacher(recipe: Recipe, **options: Any) -> Run:
    """Train the recipe's teacher architecture alone (loss ``ce``); the result can be passed as ``teacher=``.

    ``options`` are those of :func:`fit`. With an ``out_dir`` the teacher's files go to
    ``<out_dir>/teacher``. The recipe's own loss is checked against the data first, so a
    setting the students cannot use fails before the teacher trains.
    """
    teacher_recipe = recipe.for_teacher()
    if recipe.out_dir is not None:
        teacher_recipe = teacher_recipe.replace(out_dir=str(Path(recipe.out_dir) / "teacher"))
    data = options.pop("data", None)
    data = data if data is not None else load_data(recipe)
    check_loss_fits(recipe, data, warn=False)  # the students' loss: fail now, not after the teacher trains
    if recipe.teacher_data_options:  # the teacher learns from its own, larger training set
        data = load_data(teacher_recipe)
    return fit(teacher_recipe, data=data, **options)


def distill(recipe: Recipe, teacher: TeacherSource, **options: Any) -> Run:
    """Train the recipe's student with its loss from ``teacher`` (a module, a :class:`Run` or a checkpoint file)."""
    if not recipe.needs_teacher:
        raise ValueError(
            f"loss {recipe.loss!r} does not use a teacher; call fit(recipe) or choose a distillation "
            "loss such as 'kd', 'dkd' or 'ldrrld'"
        )
    return fit(recipe, teacher=teacher, **options)
