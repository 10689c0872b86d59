"""TeKAP at the logit level (Hossain et al.): KD from the teacher and from noisy copies of it.

Each step draws ``K = 3`` perturbed teachers, ``0.9 z_t + 0.1 eps_k`` with ``eps_k ~ N(0, I)``, and
the student matches all of them: ``KD(z_s, z_t) + 0.8 * sum_k KD(z_s, 0.9 z_t + 0.1 eps_k)``, each
KD term ``T^2``-scaled. The noise acts as an ensemble of teachers that agree on the top classes and
disagree on the small logits. The pure :func:`tekap_loss` takes the noise as an argument; the
module draws it from its own generator, seeded by the trainer from the run's seed and saved with
the run, so a run repeats and resumes bitwise.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..relations import compute_dtype, full_precision, kl_from_logits, upcast
from .base import DistillationLoss, cross_entropy
from .checks import all_finite, check_logit_pair, check_non_negative, check_positive, check_target, check_weights
from .fused import fused_tekap, use_fused

__all__ = ["perturbed_teachers", "tekap_loss", "TeKAPLoss"]


def perturbed_teachers(teacher_logits: Tensor, noise: Tensor, noise_scale: float = 0.1) -> Tensor:
    """``(1 - s) z_t + s eps_k`` for every noise draw: ``(B, C), (K, B, C) -> (K, B, C)``."""
    return (1 - noise_scale) * teacher_logits + noise_scale * noise


def tekap_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    noise: Tensor,
    temperature: float = 4.0,
    *,
    noise_weight: float = 0.8,
    noise_scale: float = 0.1,
    validate: bool = True,
    fused: bool = True,
) -> Tensor:
    """``KD(z_s, z_t) + noise_weight * sum_k KD(z_s, (1 - s) z_t + s eps_k)``, KD ``T^2``-scaled.

    Args:
        student_logits, teacher_logits: ``(B, C)``.
        noise: ``(K, B, C)`` standard normal draws, one slice per perturbed teacher.
        temperature: ``T > 0``.
        noise_weight: the weight of each perturbed teacher's term (0.8).
        noise_scale: ``s``, the share of noise in a perturbed teacher (0.1).
        fused: ``True`` (the default): one autograd node, gradient ``(sum_k w_k) q - sum_k w_k p_k``
            in ``z_s / T`` (:func:`~ldrrld_core.losses.fused.fused_tekap`); ``False``: traced by
            autograd (double backward).

    Returns a scalar, at least float32; only the student's logits receive gradient.
    """
    check_positive("temperature", temperature)
    check_weights(noise_weight=noise_weight)
    check_non_negative("noise_scale", noise_scale)
    if not noise_scale <= 1:
        raise ValueError(f"noise_scale must lie in [0, 1] (the share of noise in a teacher), got {noise_scale!r}")
    if validate:
        check_logit_pair(student_logits, teacher_logits, finite=False)
        if not isinstance(noise, Tensor) or noise.dim() != 3 or noise.shape[1:] != student_logits.shape:
            shape = tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__
            raise ValueError(
                f"noise must be a (K, batch, classes) tensor matching the logits "
                f"{tuple(student_logits.shape)}, got {shape}"
            )
        if not all_finite(student_logits, teacher_logits, noise):  # one value read back when all is well
            check_logit_pair(student_logits, teacher_logits)  # names the logits, if they are the cause
            raise ValueError("noise holds non-finite values (NaN or inf); draw it from torch.randn")
    dtype = compute_dtype(student_logits, teacher_logits)
    with full_precision(student_logits.device):
        if use_fused(fused):
            return fused_tekap(student_logits, teacher_logits, noise, temperature, noise_weight, noise_scale, dtype)
        z_t = upcast(teacher_logits.detach(), dtype)
        teachers = torch.cat((z_t[None], perturbed_teachers(z_t, upcast(noise, dtype), noise_scale)))  # (1 + K, B, C)
        weights = z_t.new_full((teachers.shape[0],), noise_weight)
        weights[0] = 1.0
        z_s = upcast(student_logits, dtype)[None] / temperature  # (1, B, C), broadcast over the teachers
        kl = kl_from_logits(z_s.expand_as(teachers), teachers / temperature)  # (1 + K, B)
        return temperature**2 * (weights @ kl).mean()


class TeKAPLoss(DistillationLoss):
    """``ce_weight * CE + kd_weight * tekap_loss`` with fresh noise every call.

    Defaults are the authors' CIFAR-100 setting: T 4, CE 0.1, KD 0.9, 3 perturbed teachers of
    weight 0.8 and noise share 0.1. The noise comes from a generator of this module on the
    logits' device: :meth:`set_seed` seeds it, and its state travels in :meth:`state_dict`.
    """

    def __init__(
        self,
        temperature: float = 4.0,
        ce_weight: float = 0.1,
        kd_weight: float = 0.9,
        num_perturbed: int = 3,
        noise_weight: float = 0.8,
        noise_scale: float = 0.1,
        validate: bool = True,
        fused: bool = True,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_weights(ce_weight=ce_weight, kd_weight=kd_weight, noise_weight=noise_weight)
        if isinstance(num_perturbed, bool) or not isinstance(num_perturbed, int) or num_perturbed < 0:
            raise ValueError(f"num_perturbed must be a whole number >= 0, got {num_perturbed!r}")
        if not (isinstance(noise_scale, (int, float)) and 0 <= noise_scale <= 1):
            raise ValueError(f"noise_scale must lie in [0, 1] (the share of noise in a teacher), got {noise_scale!r}")
        self.temperature, self.ce_weight, self.kd_weight = temperature, ce_weight, kd_weight
        self.num_perturbed, self.noise_weight, self.noise_scale = num_perturbed, noise_weight, noise_scale
        self.validate, self.fused = validate, fused
        self._seed = 0
        self._generator: torch.Generator | None = None
        self._pending_state: Tensor | None = None

    def hparams(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "ce_weight": self.ce_weight,
            "kd_weight": self.kd_weight,
            "num_perturbed": self.num_perturbed,
            "noise_weight": self.noise_weight,
            "noise_scale": self.noise_scale,
        }

    def set_seed(self, seed: int) -> None:
        self._seed, self._generator, self._pending_state = int(seed), None, None

    def generator(self, device: torch.device) -> torch.Generator:
        """The noise generator on ``device``: made and seeded at first use, or restored from a saved state."""
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self._seed)
            if self._pending_state is not None:
                self._generator.set_state(self._pending_state)
                self._pending_state = None
        return self._generator

    def get_extra_state(self) -> dict[str, object]:
        state = None if self._generator is None else self._generator.get_state()
        return {"seed": self._seed, "generator": state if state is not None else self._pending_state}

    def set_extra_state(self, state: dict[str, object]) -> None:
        self._seed, self._generator, self._pending_state = int(state["seed"]), None, state["generator"]

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor) -> Tensor:
        if self.validate:
            check_logit_pair(student_logits, teacher_logits)
            check_target(target, *student_logits.shape, device=student_logits.device, soft=True)
        device = student_logits.device
        noise = torch.randn(
            (self.num_perturbed, *student_logits.shape), generator=self.generator(device), device=device
        )
        kd = tekap_loss(
            student_logits,
            teacher_logits,
            noise,
            self.temperature,
            noise_weight=self.noise_weight,
            noise_scale=self.noise_scale,
            validate=False,
            fused=self.fused,
        )
        ce = cross_entropy(student_logits, target)
        return self._record(self.ce_weight * ce + self.kd_weight * kd, ce=ce, kd=kd)
