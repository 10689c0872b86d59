"""Warnings for settings a loss accepts but that make part of it vanish on the data at hand.

The trainer's pre-flight check (:func:`~ldrrld_core.train.loop.check_loss_fits`) calls
:func:`warn_degenerate_loss` once before a run starts; nothing here changes what the losses compute.
"""

from __future__ import annotations

import warnings

from ..losses import DKDLoss
from .recipes import Recipe

__all__ = ["DegenerateLossWarning", "degenerate_loss_reasons", "warn_degenerate_loss"]


class DegenerateLossWarning(UserWarning):
    """A loss term is identically zero or undefined for this number of classes."""


def degenerate_loss_reasons(recipe: Recipe, num_classes: int) -> list[str]:
    """Why the recipe's loss degenerates on ``num_classes`` classes (empty when it does not).

    * DKD with 2 classes: the non-target distribution has a single class, so NCKD is 0 and
      beta does nothing.
    * LDRRLD with depth ``d == C``: no class remains outside the top ``d``, so the remaining
      non-target term (RNTK) is 0 and beta does nothing.

    (A depth above ``C`` is an error, raised by the pre-flight check.)
    """
    loss = recipe.build_loss()
    hparams = loss.hparams()
    reasons = []
    if isinstance(loss, DKDLoss) and num_classes == 2:
        reasons.append(
            f"loss {recipe.loss!r} on 2 classes: the non-target part (NCKD) has a single class, "
            "so it is always 0 and DKD reduces to its target term; use KD for binary data"
        )
    depth = hparams.get("depth")
    if depth is not None and depth == num_classes and hparams.get("beta", 0):
        reasons.append(
            f"loss {recipe.loss!r} with depth {depth} on {num_classes} classes: no class remains "
            f"outside the top {depth}, so the remaining term (RNTK, beta {hparams['beta']}) is "
            f"always 0; choose depth < {num_classes} to keep it"
        )
    return reasons


def warn_degenerate_loss(recipe: Recipe, num_classes: int) -> list[str]:
    """Emit a :class:`DegenerateLossWarning` for each of :func:`degenerate_loss_reasons`; return them."""
    reasons = degenerate_loss_reasons(recipe, num_classes)
    for reason in reasons:
        warnings.warn(reason, DegenerateLossWarning, stacklevel=2)  # one place: shown once
    return reasons
