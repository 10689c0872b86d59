"""ldrrld_core: the LDRRLD loss, its baselines, the CIFAR model zoo, data sets and a trainer.

The losses and the method's vocabulary are importable from here directly::

    from ldrrld_core import LDRRLDLoss, ldrrld_loss

Models, data and training live in their subpackages (``ldrrld_core.models``,
``ldrrld_core.data``, ``ldrrld_core.train``), so importing the loss stays light.
"""

from .losses import (
    LOSSES,
    DKDLoss,
    KDLoss,
    LDRRLDLoss,
    LDRRLDTerms,
    create_loss,
    dkd_loss,
    kd_loss,
    ldrrld_loss,
    list_losses,
)
from .relations import (
    adw_weights,
    binary_kl_from_gaps,
    class_mask,
    erd,
    irw,
    kl_excluding,
    kl_from_logits,
    num_pairs,
    pair_logits,
    pair_weights,
    rank_pairs,
    top_classes,
)

__version__ = "0.1.0"

__all__ = [
    "LOSSES",
    "DKDLoss",
    "KDLoss",
    "LDRRLDLoss",
    "LDRRLDTerms",
    "create_loss",
    "dkd_loss",
    "kd_loss",
    "ldrrld_loss",
    "list_losses",
    "adw_weights",
    "binary_kl_from_gaps",
    "class_mask",
    "erd",
    "irw",
    "kl_excluding",
    "kl_from_logits",
    "num_pairs",
    "pair_logits",
    "pair_weights",
    "rank_pairs",
    "top_classes",
]
