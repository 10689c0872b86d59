"""ldrrld_core: the LDRRLD loss, its baselines, the CIFAR model zoo, data sets and a trainer.

The losses and the method's vocabulary are importable from here directly::

    from ldrrld_core import LDRRLDLoss, ldrrld_loss

Models, data and training live in their subpackages (``ldrrld_core.models``,
``ldrrld_core.data``, ``ldrrld_core.train``), so importing the loss stays light. The names below
are loaded on first use (PEP 562), so ``import ldrrld_core`` itself, and with it ``ldrrld
--version`` and ``ldrrld --help``, does not wait for torch.
"""

from __future__ import annotations

from .lazy import exports_of, lazy_exports

__version__ = "0.1.0"

#: Every name this package exports, and the submodule that defines it.
_EXPORTS = {
    **exports_of(
        ".losses",
        (
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
        ),
    ),
    **exports_of(
        ".relations",
        (
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
        ),
    ),
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
