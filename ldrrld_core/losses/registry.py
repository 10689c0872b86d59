"""Losses by name, for the trainer and the CLI: the trainer never names a method itself."""

from __future__ import annotations

import functools
from typing import Callable

from ..registry import Registry
from .base import CrossEntropyLoss, DistillationLoss
from .ctkd import CTKDLoss
from .dist import DISTLoss
from .dkd import DKDLoss
from .kd import KDLoss
from .ldrrld import LDRRLDLoss
from .lskd import LSKDLoss
from .ofa import OFALoss
from .sdd import SDDLoss
from .tekap import TeKAPLoss
from .wttm import WTTMLoss

__all__ = ["LOSSES", "NOT_BUILT", "register_loss", "create_loss", "list_losses"]

LossFactory = Callable[..., DistillationLoss]

#: Name -> factory. Each factory takes the loss's hyperparameters as keyword arguments.
LOSSES: Registry[LossFactory] = Registry("loss", plural="losses")


def register_loss(name: str, factory: LossFactory, description: str = "", **defaults: object) -> None:
    """Register ``factory`` under ``name``; ``defaults`` preset some of its keyword arguments."""
    LOSSES.add(
        name,
        functools.partial(factory, **defaults) if defaults else factory,
        description or (factory.__doc__ or "").strip().splitlines()[0],
    )


def list_losses() -> list[str]:
    """The registered loss names, sorted."""
    return sorted(LOSSES)


def create_loss(name: str, **hparams: object) -> DistillationLoss:
    """Build the loss registered as ``name``; ``hparams`` override its defaults.

    >>> create_loss("ldrrld", depth=5).depth
    5
    """
    factory = LOSSES[name]  # an unknown name: a ValueError with suggestions
    try:
        return factory(**hparams)
    except TypeError as err:  # an unknown keyword: say which loss and what it takes
        raise ValueError(f"loss {name!r} does not accept these settings {sorted(hparams)}: {err}") from None


register_loss("ce", CrossEntropyLoss, "cross-entropy only: the student trained alone")
# Two KD settings, named apart: Hinton et al.'s sum (CE 1 + KD 1, the KD term carrying T^2) and the
# CIFAR-100 setting of mdistiller / RepDistiller (CE 0.1 + KD 0.9), which docs/training.md discusses.
register_loss(
    "kd", KDLoss, "Hinton KD: CE + T^2 KL of the softened distributions (weights 1 and 1)", ce_weight=1.0, kd_weight=1.0
)
register_loss(
    "kd-mdistiller", KDLoss, "KD as mdistiller runs it on CIFAR-100: 0.1 CE + 0.9 T^2 KL", ce_weight=0.1, kd_weight=0.9
)
register_loss("dkd", DKDLoss, "Decoupled KD: target (TCKD) and non-target (NCKD) parts")
register_loss("ldrrld", LDRRLDLoss, "LDRRLD: dense top-d pairs with ADW + remaining non-targets")
register_loss("ldrrld-no-adw", LDRRLDLoss, "LDRRLD ablation: every pair weight 1", weighting="uniform")
register_loss("ldrrld-irw", LDRRLDLoss, "LDRRLD ablation: IRW only (no ERD)", weighting="irw")
register_loss("ldrrld-erd", LDRRLDLoss, "LDRRLD ablation: ERD only (no IRW)", weighting="erd")
register_loss("ldrrld-no-rntk", LDRRLDLoss, "LDRRLD ablation: no remaining-class term", beta=0.0)
register_loss("ldrrld-teacher-rank", LDRRLDLoss, "LDRRLD ablation: the teacher ranks the classes", rank_by="teacher")

# The seed's comparison methods. Unsuffixed names carry the authors' CIFAR-100 settings, "-imagenet"
# their ImageNet ones (docs/method.md cites each source).
register_loss("dist", DISTLoss, "DIST: Pearson correlations of the class distributions, per sample and per class")
register_loss("dist-imagenet", DISTLoss, "DIST, the authors' ImageNet setting (T 1)", temperature=1.0)
register_loss("lskd", LSKDLoss, "LSKD: KD on per-sample standardised logits (T 2, 0.1 CE + 9 KD)")
register_loss("lskd-imagenet", LSKDLoss, "LSKD, the authors' ImageNet setting (T 2, CE 1 + 9 KD)", ce_weight=1.0)
register_loss("wttm", WTTMLoss, "WTTM: KL to the power-transformed teacher, weighted per sample")
register_loss("ctkd", CTKDLoss, "CTKD: KD at a temperature learned adversarially, on a cosine curriculum")
register_loss(
    "ctkd-imagenet",
    CTKDLoss,
    "CTKD, the authors' ImageNet setting (CE 1 + KD 1, 5 epochs of curriculum)",
    ce_weight=1.0,
    kd_weight=1.0,
    reversal_epochs=5,
)
register_loss("tekap", TeKAPLoss, "TeKAP: KD from the teacher and three noise-perturbed copies of it")
register_loss("sdd", SDDLoss, "SDD: KD on every region of a spatial pyramid of logits (scales 1, 2, 4)")
register_loss(
    "ofa",
    OFALoss,
    "OFA: (p_t + 1[y])^eps-weighted CE on the final logits and on stage heads (student=, num_classes=)",
)

#: Methods the seed compares against that this toolkit does not build, and why (``ldrrld losses`` prints them).
NOT_BUILT: dict[str, str] = {
    "ipwd": "IPWD (Niu et al., NeurIPS 2022) has no public code; its numbers are quoted, not run",
}
