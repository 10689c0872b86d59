"""Distillation losses: pure functions of logits, thin modules, and a registry by name."""

from .base import CrossEntropyLoss, DistillationLoss
from .ctkd import CTKDLoss, learned_temperature_kd
from .dist import DISTLoss, dist_loss, dist_terms
from .dkd import DKDLoss, dkd_loss, dkd_terms
from .kd import KDLoss, kd_loss
from .ldrrld import RANK_SOURCES, LDRRLDLoss, LDRRLDTerms, ldrrld_loss
from .lskd import LSKDLoss, lskd_loss
from .registry import LOSSES, NOT_BUILT, create_loss, list_losses, register_loss
from .sdd import PyramidLogits, SDDLoss, pyramid_logits, sdd_loss
from .standardize import standardize_logits
from .tekap import TeKAPLoss, tekap_loss
from .wttm import WTTMLoss, wttm_loss

__all__ = [
    "CTKDLoss",
    "learned_temperature_kd",
    "DISTLoss",
    "dist_loss",
    "dist_terms",
    "LSKDLoss",
    "lskd_loss",
    "NOT_BUILT",
    "PyramidLogits",
    "SDDLoss",
    "pyramid_logits",
    "sdd_loss",
    "standardize_logits",
    "TeKAPLoss",
    "tekap_loss",
    "WTTMLoss",
    "wttm_loss",
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
