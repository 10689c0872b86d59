"""CTKD (Li et al., AAAI 2023): KD at a temperature the student's own training learns, adversarially.

The temperature is one learnable number, ``T = T_min + (T_max - T_min) * sigmoid(theta)``. The
student descends the KD loss as usual, but ``theta`` receives the *reversed* gradient: it
ascends the loss, so the temperature keeps moving to where the student finds distillation
hardest. The reversal grows from 0 to full strength over the first ``reversal_epochs`` epochs
along a half cosine, ``lambda(e) = (1 - cos(pi * min(e, L) / L)) / 2``: an easy-to-hard
curriculum. ``theta`` starts at 1 and is optimised with the student (the trainer puts every
parameter of a loss in its optimiser, saves it in ``latest.pth`` and logs ``train_temperature``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..relations import compute_dtype, full_precision, kl_from_logits, upcast
from .base import DistillationLoss, cross_entropy
from .checks import check_logit_pair, check_non_negative, check_positive, check_target, check_weights
from .fused import fused_learned_temperature_kd, use_fused

__all__ = ["reverse_gradient", "reversal_strength", "learned_temperature_kd", "CTKDLoss"]


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``-strength``."""

    @staticmethod
    def forward(ctx, x: Tensor, strength: float) -> Tensor:
        ctx.strength = strength
        return x.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):
        return -ctx.strength * grad, None


def reverse_gradient(x: Tensor, strength: float) -> Tensor:
    """``x`` itself, through which the gradient flows back multiplied by ``-strength``."""
    return _ReverseGradient.apply(x, strength)


def reversal_strength(epoch: int, reversal_epochs: int) -> float:
    """``(1 - cos(pi * min(e, L) / L)) / 2``: 0 before training, 1 from epoch ``L`` on (1 at once if ``L = 0``)."""
    if reversal_epochs == 0:
        return 1.0
    progress = min(max(epoch, 0), reversal_epochs) / reversal_epochs
    return (1 - math.cos(math.pi * progress)) / 2


def learned_temperature_kd(
    student_logits: Tensor, teacher_logits: Tensor, temperature: Tensor, *, fused: bool = True, validate: bool = True
) -> Tensor:
    """``T^2 * mean_b KL(softmax(z_t / T) || softmax(z_s / T))`` for a tensor ``T`` that may learn.

    Shapes ``(B, C), (B, C), ()``; the gradient reaches the student's logits and ``T`` (through
    both the softmaxes and ``T^2``), never the teacher's logits. At least float32. ``fused=True``
    (the default): one autograd node with both derivatives in closed form
    (:func:`~ldrrld_core.losses.fused.fused_learned_temperature_kd`); ``False``: traced by
    autograd (double backward). ``validate`` checks the logits and that ``T`` is one finite number
    ``> 0`` (reads values back from the device).
    """
    if validate:
        check_logit_pair(student_logits, teacher_logits)
        if not isinstance(temperature, Tensor) or temperature.numel() != 1 or not temperature.is_floating_point():
            raise ValueError(f"temperature must be a one-element floating tensor, got {temperature!r}")
        if not (math.isfinite(value := float(temperature.detach())) and value > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {value!r}")
    dtype = compute_dtype(student_logits, teacher_logits)
    with full_precision(student_logits.device):
        if use_fused(fused):
            return fused_learned_temperature_kd(student_logits, teacher_logits, temperature, dtype)
        temperature = temperature.to(dtype)
        z_s = upcast(student_logits, dtype) / temperature
        z_t = upcast(teacher_logits.detach(), dtype) / temperature
        return temperature**2 * kl_from_logits(z_s, z_t).mean()


class CTKDLoss(DistillationLoss):
    """``ce_weight * CE + kd_weight * KD(T)`` with ``T`` learned adversarially (a parameter of this module).

    Defaults are the authors' CIFAR-100 setting: CE 0.1, KD 0.9, ``T`` in (1, 21), reversal over
    10 epochs. :meth:`set_epoch` sets the reversal strength; :attr:`last_terms` records
    ``temperature`` with ``ce``, ``kd`` and ``loss``.
    """

    def __init__(
        self,
        ce_weight: float = 0.1,
        kd_weight: float = 0.9,
        min_temperature: float = 1.0,
        max_temperature: float = 21.0,
        reversal_epochs: int = 10,
        validate: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        check_weights(ce_weight=ce_weight, kd_weight=kd_weight)
        check_positive("min_temperature", min_temperature)
        check_positive("max_temperature", max_temperature)
        if not max_temperature > min_temperature:
            raise ValueError(f"max_temperature ({max_temperature}) must exceed min_temperature ({min_temperature})")
        check_non_negative("reversal_epochs", reversal_epochs)
        if isinstance(reversal_epochs, bool) or not isinstance(reversal_epochs, int):
            raise ValueError(f"reversal_epochs must be a whole number of epochs, got {reversal_epochs!r}")
        self.ce_weight, self.kd_weight, self.validate, self.fused = ce_weight, kd_weight, validate, fused
        self.min_temperature, self.max_temperature = min_temperature, max_temperature
        self.reversal_epochs = reversal_epochs
        #: ``theta`` of ``T = T_min + (T_max - T_min) * sigmoid(theta)``; 1 at the start, as the authors'.
        self.theta = nn.Parameter(torch.ones(()))
        self.strength = reversal_strength(0, reversal_epochs)

    def hparams(self) -> dict[str, object]:
        return {
            "ce_weight": self.ce_weight,
            "kd_weight": self.kd_weight,
            "min_temperature": self.min_temperature,
            "max_temperature": self.max_temperature,
            "reversal_epochs": self.reversal_epochs,
        }

    def set_epoch(self, epoch: int) -> None:
        self.strength = reversal_strength(epoch, self.reversal_epochs)

    def temperature(self) -> Tensor:
        """The current temperature ``()``, through the gradient reversal (so it can be back-propagated)."""
        theta = reverse_gradient(self.theta, self.strength)
        return self.min_temperature + (self.max_temperature - self.min_temperature) * torch.sigmoid(theta)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        if self.validate:
            check_logit_pair(student_logits, teacher_logits)
            check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
        temperature = self.temperature()
        kd = learned_temperature_kd(student_logits, teacher_logits, temperature, fused=self.fused, validate=False)
        ce = cross_entropy(student_logits, target)
        return self._record(self.ce_weight * ce + self.kd_weight * kd, ce=ce, kd=kd, temperature=temperature)
