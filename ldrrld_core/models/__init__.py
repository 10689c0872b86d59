"""The model zoo: the literature's CIFAR architectures, digits models, ImageNet models and timm's (``timm:``).

>>> from ldrrld_core.models import create_model, list_models
>>> model = create_model("resnet8x4")          # CIFAR-100 head by default
>>> logits = model(images)                      # (B, 100)
>>> features = model.forward_stages(images)   # per-stage maps, then the pooled (B, 256)

Every model is a :class:`FeatureClassifier`. Checkpoints load strictly and without running code
(``create_model(name, checkpoint=path)``, :func:`load_checkpoint`).
"""

from . import cifar, imagenet, small, timm_models  # noqa: F401  (importing registers the architectures)
from .base import FeatureClassifier
from .checkpoint import (
    STATE_DICT_ENTRIES,
    CheckpointMismatchError,
    extract_state_dict,
    load_checkpoint,
    load_state_dict_strict,
    strip_wrapper_prefixes,
)
from .registry import FAMILIES, ModelInfo, create_model, list_models, model_info, register_model
from .teachers import (
    DEFAULT_MARGIN,
    TEACHER_ACCURACY,
    TEACHER_CHECKPOINT,
    TEACHER_SOURCE,
    TeacherBelowPublishedWarning,
    load_standard_teacher,
    published_teacher,
    standard_teacher_path,
)

__all__ = [
    "FAMILIES",
    "STATE_DICT_ENTRIES",
    "TEACHER_ACCURACY",
    "TEACHER_SOURCE",
    "DEFAULT_MARGIN",
    "TeacherBelowPublishedWarning",
    "published_teacher",
    "TEACHER_CHECKPOINT",
    "CheckpointMismatchError",
    "FeatureClassifier",
    "ModelInfo",
    "create_model",
    "extract_state_dict",
    "list_models",
    "load_checkpoint",
    "load_standard_teacher",
    "load_state_dict_strict",
    "model_info",
    "register_model",
    "standard_teacher_path",
    "strip_wrapper_prefixes",
]
