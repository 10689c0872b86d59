"""timm's architectures with the zoo's interface: the heterogeneous-distillation models of OFA's setting.

The CIFAR-100 table with heterogeneous teachers and students (Hao et al., NeurIPS 2023, "One-for-All",
Table 1 there; the seed's Table 4) uses timm's ImageNet architectures at 224 x 224. They are
registered here, in the family ``"timm"``, under two spellings that build the same network:

* the literature's names with a ``timm:`` prefix, e.g. ``timm:Swin-T``, ``timm:ResNet18``,
  ``timm:MobileNetV2`` (the prefix keeps them apart from the CIFAR zoo's ``MobileNetV2`` and from
  torchvision's ``resnet18``, which are other networks); the seven names that collide with nothing
  (``Swin-T``, ``ViT-S``, ``Mixer-B/16``, ``ConvNeXt-T``, ``DeiT-T``, ``ResMLP-S12``, ``Swin-P``) are
  registered without the prefix too;
* timm's own names with the prefix, e.g. ``timm:swin_tiny_patch4_window7_224``, ``timm:resnet18``.

``Swin-P`` is not a timm name: a ``SwinTransformer`` with patch 4, window 7, embed dim 48, depths
(2, 2, 2, 2) and heads (2, 4, 8, 16), about 5.2 M parameters at 100 classes.

Every model is built with ``pretrained=False`` (nothing is downloaded) and keeps timm's parameter
names, so timm's weight files load as they are. Checkpoints are files the user gives, read without
running code (:func:`load_timm_checkpoint`):

* an ImageNet checkpoint to fine-tune from (``imagenet_checkpoint=``): its classifier is dropped
  and the new head keeps its fresh initialisation; a :class:`HeadDroppedWarning` says so;
* a fine-tuned file of the model's own class count (``checkpoint=`` / ``finetuned_checkpoint=``),
  loaded strictly; a timm training checkpoint holding both raw and EMA weights needs
  ``weights="raw"`` or ``weights="ema"``.

``forward_stages`` returns four maps ``(B, C, H, W)`` (timm's ``forward_intermediates``: the four
stages of the convolutional models and of Swin, blocks 3, 6, 9 and 12 of the ViTs and MLPs, their
tokens laid out on the patch grid), then the pooled penultimate feature. ``forward_features`` is
the last unpooled map, timm's meaning, for the models that have one; ViT, DeiT, Mixer and ResMLP
have none (``has_feature_map = False``: their last features are tokens, and SDD refuses them).
timm is imported when a model is first built, not when the zoo is.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from functools import partial

from torch import Tensor, nn

from .base import FeatureClassifier
from .catalog import register_model

__all__ = [
    "HeadDroppedWarning",
    "SEED_NAMES",
    "TimmClassifier",
    "load_timm_checkpoint",
    "swin_pico",
    "timm_name",
]

#: The literature's (the seed's) name -> timm's name; ``Swin-P`` is built here (:func:`swin_pico`).
SEED_NAMES: dict[str, str] = {
    "Swin-T": "swin_tiny_patch4_window7_224",
    "ViT-S": "vit_small_patch16_224",
    "Mixer-B/16": "mixer_b16_224",
    "ConvNeXt-T": "convnext_tiny",
    "DeiT-T": "deit_tiny_patch16_224",
    "ResMLP-S12": "resmlp_12_224",
    "ResNet18": "resnet18",
    "MobileNetV2": "mobilenetv2_100",
    "Swin-P": "swin_pico",
}
#: Seed names that also denote another network of the zoo: registered only with the ``timm:`` prefix.
_COLLIDING = ("ResNet18", "MobileNetV2")
#: Models whose last features are tokens, not a spatial map.
_TOKEN_MODELS = ("VisionTransformer", "MlpMixer")
#: Swin-P's settings (not registered in timm).
SWIN_PICO = dict(img_size=224, patch_size=4, window_size=7, embed_dim=48, depths=(2, 2, 2, 2), num_heads=(2, 4, 8, 16))


class HeadDroppedWarning(UserWarning):
    """An ImageNet checkpoint was loaded without its classifier: the head is new and untrained."""


def timm_name(name: str) -> str:
    """timm's name of a registry name (``"timm:Swin-T"``, ``"Swin-T"`` or ``"timm:swin_tiny_..."``)."""
    bare = name.removeprefix("timm:")
    return SEED_NAMES.get(bare, bare)


def swin_pico(num_classes: int = 1000, **kwargs) -> nn.Module:
    """Swin-P: timm's ``SwinTransformer`` at patch 4, window 7, dim 48, depths (2, 2, 2, 2), heads (2, 4, 8, 16)."""
    from timm.models.swin_transformer import SwinTransformer

    return SwinTransformer(num_classes=num_classes, **{**SWIN_PICO, **kwargs})


class TimmClassifier(FeatureClassifier):
    """A timm model with the zoo's feature interface; its state-dict keys are timm's own.

    The timm network's children and parameters are adopted (registered on this module under their
    own names) and its methods are called on them, so ``state_dict()`` is exactly timm's.

    Args:
        arch: timm's model name, or ``"swin_pico"``.
        num_classes: size of the output.
        imagenet_checkpoint: optional ImageNet weights to fine-tune from (head dropped, warned).
        finetuned_checkpoint: optional weights of this very model and class count, loaded strictly.
        weights: ``"raw"`` or ``"ema"`` when a checkpoint holds both (timm's training checkpoints).
        **kwargs: passed to ``timm.create_model`` (e.g. ``drop_path_rate=0.1``).
    """

    def __init__(
        self,
        arch: str,
        num_classes: int = 1000,
        *,
        imagenet_checkpoint: str | os.PathLike | None = None,
        finetuned_checkpoint: str | os.PathLike | None = None,
        weights: str | None = None,
        **kwargs,
    ) -> None:
        if arch == "swin_pico":
            network = swin_pico(num_classes=num_classes, **kwargs)
        else:
            import timm

            network = timm.create_model(arch, pretrained=False, num_classes=num_classes, **kwargs)
        super().__init__(num_classes, network.num_features)
        for name, child in network.named_children():
            self.add_module(name, child)
        for name, parameter in network.named_parameters(recurse=False):
            self.register_parameter(name, parameter)
        for name, buffer in network.named_buffers(recurse=False):
            self.register_buffer(name, buffer, persistent=name not in network._non_persistent_buffers_set)
        object.__setattr__(self, "_network", network)  # not a child: its tensors are registered above
        self.timm_arch = arch
        kind = type(network).__name__
        self.has_feature_map = kind not in _TOKEN_MODELS
        #: Transformer and MLP stages (tokens, laid on the patch grid by ``forward_stages``): OFA's heads differ.
        self.token_stages = kind in (*_TOKEN_MODELS, "SwinTransformer")
        self._channels_last_map = kind == "SwinTransformer"  # timm's Swin keeps (B, H, W, C)
        self._norm_after_pool = kind == "ConvNeXt"  # its head normalises the pooled feature
        self.stage_indices = _stage_indices(network)
        if imagenet_checkpoint is not None:
            load_timm_checkpoint(self, imagenet_checkpoint, drop_head=True, weights=weights)
        if finetuned_checkpoint is not None:
            load_timm_checkpoint(self, finetuned_checkpoint, weights=weights)

    def _apply(self, fn, recurse=True):  # keep the hidden network's own tensors in step (they are ours)
        super()._apply(fn, recurse)
        for name, _ in list(self._network.named_parameters(recurse=False)):
            self._network._parameters[name] = self._parameters[name]
        for name, _ in list(self._network.named_buffers(recurse=False)):
            self._network._buffers[name] = self._buffers[name]
        return self

    def train(self, mode: bool = True) -> TimmClassifier:
        super().train(mode)
        self._network.training = mode
        return self

    def no_weight_decay(self) -> set[str]:
        """The parameter names timm exempts from weight decay (a ViT's ``pos_embed`` and ``cls_token``)."""
        listed = getattr(self._network, "no_weight_decay", None)
        return set(listed()) if listed is not None else set()

    def forward_features(self, x: Tensor) -> Tensor:
        """The last unpooled feature map ``(B, D, H, W)`` (timm's ``forward_features``, laid out NCHW)."""
        if not self.has_feature_map:
            raise ValueError(f"model {self.arch} has no spatial feature map (its last features are tokens)")
        features = self._network.forward_features(x)
        return features.permute(0, 3, 1, 2) if self._channels_last_map else features

    def penultimate(self, x: Tensor) -> Tensor:
        return self._pool(self._network.forward_features(x))

    def _pool(self, features: Tensor) -> Tensor:
        if self._norm_after_pool:
            return features.mean((2, 3))
        return self._network.forward_head(features, pre_logits=True)

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        final, stages = self._network.forward_intermediates(x, indices=self.stage_indices, output_fmt="NCHW")
        return [*stages, self._pool(final)]

    def get_classifier(self) -> nn.Module:
        if self._norm_after_pool:  # ConvNeXt: the head's LayerNorm2d acts on the pooled feature
            return _NormThenLinear(self._network.head.norm, self._network.head.fc)
        return self._network.get_classifier()

    def forward(self, x: Tensor) -> Tensor:
        return self.get_classifier()(self.penultimate(x))

    def head_keys(self) -> list[str]:
        """The state-dict keys of the classifier (what an ImageNet checkpoint's head is dropped from)."""
        head = self._network.get_classifier()
        prefix = next(name for name, module in self.named_modules() if module is head)
        return [f"{prefix}.{key}" for key in head.state_dict()]

    def load_checkpoint_file(
        self, path: str | os.PathLike, *, trusted: bool = False, sha256: str | None = None, weights: str | None = None
    ) -> None:
        """What ``create_model(name, checkpoint=path)`` runs: a strict load of a fine-tuned file."""
        load_timm_checkpoint(self, path, weights=weights, trusted=trusted, sha256=sha256)


class _NormThenLinear(nn.Module):
    """A 2-d norm on a pooled ``(B, D)`` feature (as ``(B, D, 1, 1)``), then the linear classifier."""

    def __init__(self, norm: nn.Module, fc: nn.Module) -> None:
        super().__init__()
        self.norm, self.fc = norm, fc

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])[:, :, None, None]
        return self.fc(self.norm(flat).flatten(1).reshape(*shape[:-1], -1))


def _stage_indices(network: nn.Module) -> list[int]:
    """The four stages ``forward_stages`` returns: the last four feature levels of a pyramid, or the
    blocks ending each quarter of an isotropic model (ViT, Mixer: every block has one resolution)."""
    infos = network.feature_info
    reductions = [info["reduction"] for info in infos]
    if len(set(reductions)) == 1:
        depth = len(infos)
        return [depth * k // 4 - 1 for k in (1, 2, 3, 4)]
    return list(range(len(infos)))[-4:]


def _pick_weights(obj: object, weights: str | None, source: str) -> object:
    """timm's training checkpoints hold ``state_dict`` and ``state_dict_ema``: the caller chooses."""
    if not isinstance(obj, Mapping) or "state_dict_ema" not in obj:
        if weights == "ema":
            raise ValueError(f"{source} holds no EMA weights ('state_dict_ema'); use weights='raw' or None")
        return obj
    if weights not in ("raw", "ema"):
        raise ValueError(
            f"{source} holds raw weights ('state_dict') and EMA weights ('state_dict_ema'); "
            "choose one with weights='raw' or weights='ema'"
        )
    return {"state_dict": obj["state_dict_ema" if weights == "ema" else "state_dict"]}


def load_timm_checkpoint(
    model: TimmClassifier,
    path: str | os.PathLike,
    *,
    drop_head: bool = False,
    weights: str | None = None,
    trusted: bool = False,
    sha256: str | None = None,
) -> list[str]:
    """Load a user's checkpoint into a :class:`TimmClassifier`, safely (``weights_only``) and strictly.

    Args:
        model: the network to fill.
        path: a timm state dict, ``{'model' | 'state_dict': ...}`` or a timm training checkpoint.
        drop_head: an ImageNet checkpoint to fine-tune: its classifier's tensors are left out and
            the model's new head is kept; everything else must fit exactly. Warns (``HeadDroppedWarning``).
        weights: ``"raw"`` or ``"ema"``: which of a training checkpoint's two state dicts to load
            (required when the file holds both; never guessed).
        trusted, sha256: as for :func:`ldrrld_core.models.load_checkpoint`.

    Returns:
        The keys dropped from the file (the old head's), empty unless ``drop_head``.
    """
    from ..io import load_file
    from .checkpoint import extract_state_dict, load_state_dict_strict, strip_wrapper_prefixes

    if weights not in (None, "raw", "ema"):
        raise ValueError(f"weights must be 'raw', 'ema' or None, got {weights!r}")
    source = f"Checkpoint {path}"
    obj = _pick_weights(load_file(path, map_location="cpu", trusted=trusted, sha256=sha256), weights, source)
    state_dict = extract_state_dict(obj, source=source)
    if not drop_head:
        load_state_dict_strict(model, state_dict, source=source)
        return []
    expected = model.state_dict()
    given = strip_wrapper_prefixes(state_dict, expected)
    head = model.head_keys()
    dropped = [key for key in head if key in given]
    old_classes = int(given[head[0]].shape[0]) if head and head[0] in given else None
    kept = {key: value for key, value in given.items() if key not in head}
    load_state_dict_strict(model, {**kept, **{key: expected[key] for key in head}}, source=source)
    warnings.warn(
        f"{source}: the classifier ({', '.join(dropped) or 'absent'}"
        f"{f', {old_classes} classes' if old_classes is not None else ''}) was dropped; the model's "
        f"new {model.num_classes}-class head starts from its fresh initialisation (fine-tuning)",
        HeadDroppedWarning,
        stacklevel=2,
    )
    return dropped


def _register() -> None:
    for seed, arch in SEED_NAMES.items():
        builder = partial(TimmClassifier, arch)
        builder.__doc__ = f"timm's {arch} ({seed}), 224x224 input"
        register_model(f"timm:{seed}", family="timm")(builder)
        if seed not in _COLLIDING:
            register_model(seed, family="timm")(builder)
        if arch != "swin_pico":
            register_model(f"timm:{arch}", family="timm")(builder)


_register()
