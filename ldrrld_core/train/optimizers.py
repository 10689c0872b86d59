"""The optimiser a recipe names: SGD (momentum, Nesterov) or AdamW, over the student's and the loss's parameters.

A loss's own parameters (CTKD's temperature, OFA's stage heads) learn with the student. With
``decay_norm_and_bias=True`` (every recipe before the OFA-KD ones) one group holds them all and every
one is decayed, exactly as before. With ``False`` the parameters are grouped as timm's
``create_optimizer_v2`` groups them in OFA-KD's runs (timm's ``param_groups_weight_decay``): biases,
normalisation weights and other 1-D tensors, and the names a model lists in ``no_weight_decay()``
(a ViT's position embedding and class token), take no weight decay.
"""

from __future__ import annotations

import torch
from torch import nn

from .recipes import Recipe

__all__ = ["build_optimizer", "clip_gradients"]


def build_optimizer(recipe: Recipe, *modules: nn.Module) -> torch.optim.Optimizer:
    """``recipe.optimizer`` (``"sgd"`` or ``"adamw"``) over the parameters of ``modules``, at ``recipe.lr``."""
    if recipe.decay_norm_and_bias:
        groups = [{"params": [p for module in modules for p in module.parameters()]}]
    else:
        from timm.optim import param_groups_weight_decay

        groups = []
        for module in modules:
            exempt = module.no_weight_decay() if hasattr(module, "no_weight_decay") else ()
            groups += param_groups_weight_decay(module, recipe.weight_decay, no_weight_decay_list=exempt)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(
        groups,
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        nesterov=recipe.nesterov,
    )


def clip_gradients(optimizer: torch.optim.Optimizer, max_norm: float) -> torch.Tensor:
    """Scale the gradients of every parameter ``optimizer`` steps so that their total 2-norm is at most ``max_norm``.

    torch's ``clip_grad_norm_``, as timm's ``dispatch_clip_grad(mode="norm")`` calls it in OFA-KD's
    runs (over the student and the distiller's own parameters). Returns the norm before clipping.
    """
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    return nn.utils.clip_grad_norm_(parameters, max_norm)
