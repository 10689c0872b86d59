"""The interface every model of the zoo shares: logits from ``forward``, features by name.

Distillation losses only need logits, but analysis (t-SNE of the penultimate features, feature
maps per stage) needs more. Rather than flags that change what ``forward`` returns, every model
offers three methods and two attributes:

* ``forward(x) -> (B, num_classes)`` logits, always a single tensor;
* ``forward_stages(x) -> list[Tensor]``: one tensor per stage, ``(B, C_i, H_i, W_i)`` for the
  convolutional stages, and last the pooled penultimate feature ``(B, feature_dim)``;
* ``penultimate(x) -> (B, feature_dim)``: the input of the classifier;
* ``forward_features(x) -> (B, D, H, W)``: the last feature map, whose global average is the
  penultimate feature (timm's meaning; convolutional models only, SDD reads it);
* ``num_classes`` and ``feature_dim``.

A subclass writes ``forward_stages`` and ``get_classifier``; ``forward`` and ``penultimate``
follow from them, so the three can never disagree.

``forward_stages`` is not timm's ``forward_intermediates``; ``forward_features`` keeps timm's meaning.
Here ``forward_stages(x)[-2]`` is the last stage's map and ``forward_stages(x)[-1]`` its pooled vector.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["FeatureClassifier"]


class FeatureClassifier(nn.Module):
    """Base class of the zoo: an image classifier whose features can be read without hooks.

    Subclasses call ``super().__init__(num_classes, feature_dim)`` and implement
    :meth:`forward_stages` and :meth:`get_classifier`.

    Attributes:
        num_classes: number of logits ``forward`` returns.
        feature_dim: size ``D`` of the pooled penultimate feature.
        arch: the registry name the model was created under (set by ``create_model``; the class
            name otherwise).
    """

    def __init__(self, num_classes: int, feature_dim: int) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        self.arch = type(self).__name__

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """Per-stage features of ``x``; the last element is the pooled ``(B, feature_dim)`` one."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward_stages(x).")

    #: Whether :meth:`forward_features` gives a spatial map (False for MLPs); SDD needs one.
    has_feature_map: bool = True

    def forward_features(self, x: Tensor) -> Tensor:
        """The last feature map ``(B, D, H, W)``, whose global average is :meth:`penultimate` (timm's meaning).

        By default the stage before the pooled vector; a model that applies a head (a 1x1
        convolution, a final batch norm) between them overrides it.
        """
        if not self.has_feature_map:
            raise ValueError(f"model {self.arch} has no spatial feature map (it is not convolutional)")
        return self.forward_stages(x)[-2]

    def get_classifier(self) -> nn.Module:
        """The head that maps the penultimate ``(B, feature_dim)`` feature to logits."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_classifier().")

    def penultimate(self, x: Tensor) -> Tensor:
        """The pooled penultimate feature ``(B, feature_dim)``: what the classifier sees."""
        return self.forward_stages(x)[-1]

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` for a batch of inputs ``x``."""
        return self.get_classifier()(self.penultimate(x))

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, num_classes={self.num_classes}, feature_dim={self.feature_dim}"
