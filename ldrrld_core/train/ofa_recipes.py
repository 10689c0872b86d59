"""OFA-KD's published CIFAR-100 recipes at 224 x 224 (Hao et al., NeurIPS 2023): their settings and data pieces.

The heterogeneous table (the seed's Table 4) trains timm's architectures on CIFAR-100 upsampled to
224 x 224 with the recipes of the authors' ``configs/cifar/*.yaml`` (repository ``Hao840/OFAKD``,
timm 0.6.5): one for CNN students (SGD, cosine) and one for transformer and MLP students (AdamW,
RandAugment, mixup, cutmix, random erasing, gradient clipping). ``docs/training.md`` lists them.

The data pieces are timm's own and are built here: :func:`ofa_transforms` (the training and the
evaluation transform of a recipe, for PIL images) and :func:`ofa_mixup` (mixup/cutmix with label
smoothing, on batches). The evaluation crop is pinned to timm 0.6.5's defaults of each student
(:data:`EVAL_DEFAULTS_TIMM_065`), since timm 1.x changed some (resnet18's to bicubic, crop 0.95).

The trainer runs them: the presets ``cifar100-224-cnn`` and ``cifar100-224-vit`` of
:func:`~ldrrld_core.train.get_recipe` carry these numbers into a :class:`~ldrrld_core.train.Recipe`
(optimiser, cosine schedule to ``min_lr`` after a warm-up from ``warmup_lr``, clipping, label
smoothing, mixup/cutmix) on the data set ``cifar100-224`` (the CIFAR-100 files through
:func:`ofa_transforms`, :func:`ldrrld_core.data.cifar100.load_cifar100_224`). :func:`require_runnable`
raises a ``NotImplementedError`` naming what the trainer still lacks for a recipe (today nothing),
so that a missing piece is never trained as something else under the recipe's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "EVAL_DEFAULTS_TIMM_065",
    "OFA_RECIPES",
    "OFARecipe",
    "ofa_mixup",
    "ofa_recipe",
    "ofa_transforms",
    "require_runnable",
]

#: CIFAR-100's per-channel mean and standard deviation (OFA-KD's configs).
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


@dataclass(frozen=True)
class OFARecipe:
    """One of OFA-KD's CIFAR-100 recipes, field by field as the authors' configuration sets it.

    ``batch_size`` is per GPU in their repository; its README runs 8 GPUs (1024 in all) while
    follow-up work runs one (128): a run must say which it used.
    """

    name: str
    students: str
    optimizer: str
    lr: float
    min_lr: float
    warmup_epochs: int
    warmup_lr: float
    weight_decay: float
    epochs: int = 300
    batch_size: int = 128
    schedule: str = "cosine"
    momentum: float | None = None
    label_smoothing: float = 0.1
    clip_grad: float | None = None
    rand_augment: str | None = None
    color_jitter: float | None = None
    random_erasing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    image_size: int = 224
    train_crop: tuple = ("RandomResizedCrop", 224, (0.08, 1.0), (3 / 4, 4 / 3))
    horizontal_flip: bool = True
    mean: tuple = CIFAR100_MEAN
    std: tuple = CIFAR100_STD
    evaluation: str = "resize to 224 / crop_pct, centre crop 224, with the student's timm 0.6.5 defaults"
    source: str = "Hao840/OFAKD configs/cifar/*.yaml (timm 0.6.5)"
    missing: tuple[str, ...] = field(default=())


OFA_RECIPES: dict[str, OFARecipe] = {
    "cifar100-224-cnn": OFARecipe(
        name="cifar100-224-cnn",
        students="CNN students (timm's resnet18, mobilenetv2_100)",
        optimizer="SGD",
        momentum=0.9,
        lr=0.05,
        min_lr=1e-3,
        warmup_epochs=3,
        warmup_lr=1e-4,
        weight_decay=2e-3,
    ),
    "cifar100-224-vit": OFARecipe(
        name="cifar100-224-vit",
        students="transformer and MLP students (deit_tiny_patch16_224, Swin-P, resmlp_12_224)",
        optimizer="AdamW",
        lr=5e-4,
        min_lr=1e-5,
        warmup_epochs=20,
        warmup_lr=5e-7,
        weight_decay=0.05,
        clip_grad=5.0,
        rand_augment="rand-m9-mstd0.5-inc1",
        color_jitter=0.4,
        random_erasing=0.25,
        mixup=0.8,
        cutmix=1.0,
    ),
}


def ofa_recipe(name: str) -> OFARecipe:
    """The recipe ``name`` (``cifar100-224-cnn`` or ``cifar100-224-vit``)."""
    if name not in OFA_RECIPES:
        raise ValueError(f"unknown OFA-KD recipe {name!r}; there are {', '.join(OFA_RECIPES)}")
    return OFA_RECIPES[name]


def require_runnable(name: str) -> None:
    """Raise ``NotImplementedError`` naming what the trainer lacks to run recipe ``name`` faithfully."""
    recipe = ofa_recipe(name)
    if recipe.missing:
        raise NotImplementedError(
            f"recipe {name!r} (OFA-KD's CIFAR-100 recipe for {recipe.students}, {recipe.source}) is defined "
            f"but cannot run yet: the trainer lacks {'; '.join(recipe.missing)} (docs/training.md)."
        )


#: timm 0.6.5's evaluation defaults (interpolation, crop_pct) of the table's students, which OFA-KD's
#: evaluation used. resnet18's (bilinear, 0.875) is read from timm 0.6's ``resnet.py``; the others
#: are the ``_cfg`` defaults of their families in that version (EfficientNet/MobileNet and ResMLP:
#: bicubic, 0.875; ViT/DeiT and Swin: bicubic, 0.9); Swin-P, built by OFA-KD, is taken as Swin's.
#: These are what OFA-KD's ``validate.py`` uses; the per-epoch validation inside its ``train.py`` keeps
#: each crop_pct but sets bilinear for every student on CIFAR-100 (``data_config['interpolation'] =
#: 'bilinear'``): which of the two the published numbers come from, the repository does not say.
EVAL_DEFAULTS_TIMM_065: dict[str, tuple[str, float]] = {
    "resnet18": ("bilinear", 0.875),
    "mobilenetv2_100": ("bicubic", 0.875),
    "deit_tiny_patch16_224": ("bicubic", 0.9),
    "swin_pico": ("bicubic", 0.9),
    "resmlp_12_224": ("bicubic", 0.875),
}


def ofa_transforms(name: str, student: str, *, image_size: int | None = None):
    """``(train, evaluation)`` transforms of recipe ``name`` for ``student`` (a registry or timm name), timm's pieces.

    Training: RandomResizedCrop 224 (scale (0.08, 1), ratio (3/4, 4/3)), horizontal flip, and for the
    transformer recipe RandAugment, colour jitter and random erasing; CIFAR-100's mean and std. The
    training resizes pick bilinear or bicubic at random: OFA-KD's ``train.py`` keeps timm's
    ``--train-interpolation random``, which its configs do not change.
    Evaluation: resize to 224 / crop_pct and centre crop 224, with the student's timm 0.6.5 defaults.
    ``image_size`` replaces 224 in both (smaller sizes for tests), at the same fractions.
    """
    from timm.data import create_transform

    from ..models.timm_models import timm_name

    recipe = ofa_recipe(name)
    arch = timm_name(student)
    if arch not in EVAL_DEFAULTS_TIMM_065:
        raise ValueError(
            f"no pinned evaluation defaults for {student!r}; students: {', '.join(EVAL_DEFAULTS_TIMM_065)}"
        )
    interpolation, crop_pct = EVAL_DEFAULTS_TIMM_065[arch]
    _, scale, ratio = recipe.train_crop[1:]
    size = recipe.image_size if image_size is None else image_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {size!r}")
    train = create_transform(
        size,
        is_training=True,
        scale=scale,
        ratio=ratio,
        hflip=0.5 if recipe.horizontal_flip else 0.0,
        color_jitter=recipe.color_jitter if recipe.color_jitter is not None else 0.0,
        auto_augment=recipe.rand_augment,
        interpolation="random",
        mean=recipe.mean,
        std=recipe.std,
        re_prob=recipe.random_erasing,
        re_mode="pixel",
    )
    _posterize_as_in_timm_065(train)
    evaluation = create_transform(
        size,
        is_training=False,
        interpolation=interpolation,
        mean=recipe.mean,
        std=recipe.std,
        crop_pct=crop_pct,
    )
    return train, evaluation


def _posterize_as_in_timm_065(transform) -> None:
    """Let RandAugment's ``PosterizeIncreasing`` keep 0 bits, as it did in OFA-KD's runs.

    At magnitude 10 (``rand-m9-mstd0.5`` draws it about one time in 40) timm asks Pillow to keep 0
    bits, which older Pillow turned into a black image and Pillow 13 refuses with a ``ValueError``,
    ending the run. The ops of this transform's RandAugment (only this instance) get the old result.
    """
    from timm.data.auto_augment import RandAugment, posterize

    for step in getattr(transform, "transforms", ()):
        if isinstance(step, RandAugment):
            for op in step.ops:
                if op.aug_fn is posterize:
                    op.aug_fn = _posterize_zero_bits_black


def _posterize_zero_bits_black(image, bits_to_keep: int, **options):
    """timm's ``posterize``, except that keeping 0 bits gives a black image (Pillow before 13)."""
    from PIL import Image
    from timm.data.auto_augment import posterize

    if bits_to_keep <= 0:
        return Image.new(image.mode, image.size)
    return posterize(image, bits_to_keep, **options)


def ofa_mixup(name: str, num_classes: int = 100, *, seed: int = 0, rank: int = 0):
    """The recipe's mixup/cutmix with label smoothing (timm's ``Mixup``), or ``None`` where it uses none.

    Called on a batch ``(images, labels)`` it returns mixed images and soft targets ``(B, num_classes)``;
    its draws are process ``rank``'s of seed ``seed`` (:class:`ldrrld_core.data.mixing.RankMixup`).
    """
    from ..data.mixing import soft_targets

    recipe = ofa_recipe(name)
    if not (recipe.mixup or recipe.cutmix):
        return None
    return soft_targets(
        num_classes,
        label_smoothing=recipe.label_smoothing,
        mixup=recipe.mixup,
        cutmix=recipe.cutmix,
        seed=seed,
        rank=rank,
    )
