"""The 22 standard CIFAR architectures of the distillation literature, one file per family.

Importing this package registers them with :func:`ldrrld_core.models.create_model`.
"""

from . import mobilenetv2, resnet, resnetv2, shufflenetv1, shufflenetv2, vgg, wrn

__all__ = ["mobilenetv2", "resnet", "resnetv2", "shufflenetv1", "shufflenetv2", "vgg", "wrn"]
