"""Logit standardisation (Sun et al., CVPR 2024): one transform that any logit loss can take first.

``standardize(z) = (z - mean(z)) / (eps + std(z))`` per row, ``std`` the unbiased (``N - 1``)
standard deviation and ``eps = 1e-7``, as the authors define it. Each model then speaks in
logits of mean 0 and standard deviation 1, so a student need not match the teacher's logit
*scale*, only its shape. LSKD is KD on standardised logits (:mod:`.lskd`); ``kd``, ``dkd`` and
``ldrrld`` take it as the option ``standardize=True``, the plug-in form of its paper.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "STANDARDIZE_EPS",
    "standardize_logits",
    "standardized_pair",
    "standardize_hparam",
    "check_standardizable",
]

#: The constant added to the standard deviation (the authors' ``1e-7``).
STANDARDIZE_EPS = 1e-7


def check_standardizable(num_classes: int) -> None:
    """Standardising needs at least two classes: the unbiased deviation of one value is undefined."""
    if num_classes < 2:
        raise ValueError("standardize=True needs at least 2 classes (the standard deviation of one logit is undefined)")


def standardize_logits(logits: Tensor) -> Tensor:
    """``(z - mean(z)) / (1e-7 + std(z))`` along the class axis: ``(B, C) -> (B, C)``.

    Differentiable; computed in the dtype of ``logits`` (callers upcast first).
    """
    check_standardizable(logits.shape[-1])
    std, mean = torch.std_mean(logits, dim=-1, keepdim=True, correction=1)
    return (logits - mean) / (std + STANDARDIZE_EPS)


def standardized_pair(student_logits: Tensor, teacher_logits: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Both logit sets ``(B, C)`` standardised in ``dtype`` (student first); the teacher's stays detached."""
    return standardize_logits(student_logits.to(dtype)), standardize_logits(teacher_logits.detach().to(dtype))


def standardize_hparam(standardize: bool) -> dict[str, bool]:
    """``{"standardize": True}`` when on, else nothing: runs recorded before the option keep their keys."""
    return {"standardize": True} if standardize else {}
