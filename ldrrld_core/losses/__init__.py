"""Distillation losses: pure functions of logits, thin modules, and a registry by name."""

from .base import CrossEntropyLoss, DistillationLoss
from .dkd import DKDLoss, dkd_loss, dkd_terms
from .kd import KDLoss, kd_loss
from .ldrrld import RANK_SOURCES, LDRRLDLoss, LDRRLDTerms, ldrrld_loss
from .registry import LOSSES, create_loss, list_losses, register_loss

__all__ = [
    "CrossEntropyLoss",
    "DistillationLoss",
    "DKDLoss",
    "dkd_loss",
    "dkd_terms",
    "KDLoss",
    "kd_loss",
    "RANK_SOURCES",
    "LDRRLDLoss",
    "LDRRLDTerms",
    "ldrrld_loss",
    "LOSSES",
    "create_loss",
    "list_losses",
    "register_loss",
]
