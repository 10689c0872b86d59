"""What every training loss looks like to the trainer, and the plain cross-entropy baseline."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..relations import full_precision, upcast
from .checks import as_labels, check_logits, check_target

__all__ = ["DistillationLoss", "CrossEntropyLoss"]


class DistillationLoss(nn.Module):
    """A training loss called as ``loss(student_logits, teacher_logits, target) -> scalar``.

    Subclasses hold hyperparameters only and call a pure function of the logits. After each
    call, :attr:`last_terms` maps the name of every term (``"ce"``, ``"kd"``, ...) and ``"loss"``
    to a detached copy of the scalar, for logging without a host synchronisation.

    A loss may hold parameters of its own (CTKD's temperature): the trainer optimises them with
    the student's, saves them in ``latest.pth`` and resumes them.
    """

    #: False for losses that ignore the teacher, so a trainer can skip the teacher's forward pass.
    needs_teacher: bool = True
    #: Check every call's inputs (shapes, finiteness, labels). The check reads a value back from
    #: the device, so a trainer that checks once before its first step may switch it off.
    validate: bool = True
    #: Soft targets (``(B, C)`` class probabilities: label smoothing, mixup, cutmix) are taken by every
    #: loss: the cross-entropy term reads them whole (:func:`cross_entropy`) and a term that needs one
    #: class per sample reads their most probable class (:func:`~.checks.as_labels`), the label itself
    #: under label smoothing. A loss for which that class means nothing on a mixed image says why here;
    #: a recipe with mixup or cutmix then refuses it (docs/training.md, "Soft targets").
    mixup_refusal: str | None = None

    def __init__(self) -> None:
        super().__init__()
        self.last_terms: dict[str, Tensor] = {}

    def model_outputs(self, model: nn.Module) -> nn.Module:
        """What this loss reads of ``model``: a module whose output it takes in place of logits.

        The trainer runs the student and the teacher through it, so a loss that needs more than
        logits (SDD's region logits) says so here instead of the trainer naming a method. The
        default is ``model`` itself: ``(B, C)`` logits.
        """
        return model

    def logits_of(self, outputs: Tensor) -> Tensor:
        """The ``(B, C)`` logits inside what :meth:`model_outputs` produced (for accuracy counts)."""
        return outputs

    def set_seed(self, seed: int) -> None:
        """Seed the loss's own random draws (TeKAP's noise); the trainer calls it with the run's seed."""

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at the start of every 1-based epoch (for schedules such as DKD's warm-up)."""

    def check_num_classes(self, num_classes: int, *, source: str = "the data") -> None:
        """Raise a ``ValueError`` if this loss cannot work on ``num_classes`` classes (from ``source``).

        Called by the trainer before the first step; losses with a setting bounded by the class
        count (LDRRLD's depth) override it.
        """

    def _record(self, total: Tensor, **terms: Tensor) -> Tensor:
        # Copies, not views: editing a logged value in place never touches the loss or its graph.
        self.last_terms = {name: value.detach().clone() for name, value in terms.items()}
        self.last_terms["loss"] = total.detach().clone()
        return total

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())

    def hparams(self) -> dict[str, object]:
        """The hyperparameters of this loss, as a plain dictionary (logged with every run)."""
        return {}


def cross_entropy(student_logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy, computed in at least float32 (also under autocast). ``(B, C), (B,) -> ()``.

    Labels of any integer dtype are taken (converted to ``int64``). Soft targets ``(B, C)`` (class
    probabilities: label smoothing, mixup, cutmix) give the soft-target cross-entropy
    ``mean_b -sum_c t_bc log p_bc``, timm's ``SoftTargetCrossEntropy`` (and, for smoothed one-hot
    targets, its ``LabelSmoothingCrossEntropy``).
    """
    with full_precision(student_logits.device):
        logits = upcast(student_logits)
        if target.is_floating_point():
            return F.cross_entropy(logits, target.to(logits.dtype))
        return F.cross_entropy(logits, as_labels(target))


class CrossEntropyLoss(DistillationLoss):
    """The student trained alone: ``CE(z_s, y)``. The teacher's logits are ignored (may be ``None``).

    ``validate=True`` checks the logits and labels as the distillation losses do.
    """

    needs_teacher = False

    def __init__(self, validate: bool = True) -> None:
        super().__init__()
        self.validate = validate

    def forward(self, student_logits: Tensor, teacher_logits: Tensor | None, target: Tensor) -> Tensor:
        if self.validate:
            check_logits(student_logits)
            check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
        ce = cross_entropy(student_logits, target)
        return self._record(ce, ce=ce)
