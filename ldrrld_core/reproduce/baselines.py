"""The baselines' own settings per teacher -> student pair, each with where it was published.

KD and DKD are run as their authors' public configurations run them, not with one setting for
every pair:

* **KD**: CE weight 0.1, KD weight 0.9, T = 4 for every pair. This is RepDistiller's
  ``scripts/run_cifar_distill.sh`` (``-r 0.1 -a 0.9``, ``kd_T`` 4), the code behind the CRD
  paper whose KD numbers the main table quotes; mdistiller's ``mdistiller/engine/cfg.py``
  (``KD.LOSS.CE_WEIGHT`` 0.1, ``KD_WEIGHT`` 0.9, ``TEMPERATURE`` 4) is the same.
* **DKD**: alpha 1, T = 4, CE weight 1 and a 20-epoch linear warm-up (mdistiller's
  ``engine/cfg.py`` defaults, which no CIFAR-100 config overrides), and beta per pair from
  mdistiller's ``configs/cifar100/dkd/<pair>.yaml``: 2 for resnet56 -> resnet20 (and
  resnet110 -> resnet32), 6 for vgg13 -> vgg8 and wrn_40_2 -> wrn_16_2, and the default 8
  where the file sets none (resnet32x4 -> resnet8x4, -> ShuffleV1, -> ShuffleV2, ResNet50 ->
  MobileNetV2).

resnet110 -> resnet20 has **no** published DKD setting (mdistiller ships resnet110 -> resnet32);
the kit uses beta 2 from that closest pair (same teacher) and says so. The kit passes every
option explicitly (``--loss-option``), so the runs do not depend on a loss's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..tables import markdown_table
from .paper import MAIN, Pair

__all__ = [
    "BaselineSetting",
    "MDISTILLER",
    "KD_SETTING",
    "DKD_DEFAULTS",
    "DKD_BETA",
    "baseline_setting",
    "baseline_settings",
    "settings_markdown",
]

#: The repository and commit whose configuration files the DKD settings were read from.
MDISTILLER = "megvii-research/mdistiller@e8c5bb3"


@dataclass(frozen=True)
class BaselineSetting:
    """One baseline's loss options for one pair.

    Attributes:
        loss: the loss name (``kd`` or ``dkd``).
        options: every hyperparameter, passed to the loss explicitly.
        source: where the setting was published.
        published: ``False`` when no public configuration covers this pair (the source says
            what was used instead).
    """

    loss: str
    options: Mapping[str, float | int] = field(default_factory=dict)
    source: str = ""
    published: bool = True

    def arguments(self) -> list[str]:
        """``--loss-option KEY=VALUE`` for every option, in a fixed order."""
        return [word for key, value in self.options.items() for word in ("--loss-option", f"{key}={value}")]


#: KD: RepDistiller's and mdistiller's CIFAR-100 weights (the same for every pair).
KD_SETTING = BaselineSetting(
    loss="kd",
    options={"temperature": 4.0, "ce_weight": 0.1, "kd_weight": 0.9},
    source="HobbitLong/RepDistiller scripts/run_cifar_distill.sh (-r 0.1 -a 0.9, kd_T 4: the CRD "
    "paper's KD); the same in mdistiller/engine/cfg.py",
)

#: DKD's settings that no CIFAR-100 config of mdistiller overrides (``mdistiller/engine/cfg.py``).
DKD_DEFAULTS: dict[str, float | int] = {
    "alpha": 1.0,
    "beta": 8.0,
    "temperature": 4.0,
    "ce_weight": 1.0,
    "warmup_epochs": 20,
}

#: DKD's beta per (teacher, student) and the mdistiller config file it is read from.
DKD_BETA: dict[tuple[str, str], tuple[float, str]] = {
    ("resnet56", "resnet20"): (2.0, "configs/cifar100/dkd/res56_res20.yaml (BETA 2.0)"),
    ("resnet110", "resnet32"): (2.0, "configs/cifar100/dkd/res110_res32.yaml (BETA 2.0)"),
    ("resnet32x4", "resnet8x4"): (8.0, "configs/cifar100/dkd/res32x4_res8x4.yaml (no BETA: default 8.0)"),
    ("wrn_40_2", "wrn_16_2"): (6.0, "configs/cifar100/dkd/wrn40_2_wrn_16_2.yaml (BETA 6.0)"),
    ("vgg13", "vgg8"): (6.0, "configs/cifar100/dkd/vgg13_vgg8.yaml (BETA 6.0)"),
    ("resnet32x4", "ShuffleV1"): (8.0, "configs/cifar100/dkd/res32x4_shuv1.yaml (no BETA: default 8.0)"),
    ("resnet32x4", "ShuffleV2"): (8.0, "configs/cifar100/dkd/res32x4_shuv2.yaml (no BETA: default 8.0)"),
    ("ResNet50", "MobileNetV2"): (8.0, "configs/cifar100/dkd/res50_mv2.yaml (no BETA: default 8.0)"),
}

#: Pairs of the paper without a published DKD setting: the pair whose beta stands in for theirs.
_DKD_STAND_INS: dict[tuple[str, str], tuple[str, str]] = {
    ("resnet110", "resnet20"): ("resnet110", "resnet32"),
}


def _dkd_setting(pair: Pair) -> BaselineSetting:
    key = (pair.teacher, pair.student)
    if key in DKD_BETA:
        beta, config = DKD_BETA[key]
        return BaselineSetting("dkd", {**DKD_DEFAULTS, "beta": beta}, f"{MDISTILLER} {config}")
    if key in _DKD_STAND_INS:
        stand_in = _DKD_STAND_INS[key]
        beta, config = DKD_BETA[stand_in]
        return BaselineSetting(
            "dkd",
            {**DKD_DEFAULTS, "beta": beta},
            f"no published setting for this pair; beta of {' -> '.join(stand_in)} ({MDISTILLER} {config})",
            published=False,
        )
    known = ", ".join(" -> ".join(key) for key in (*DKD_BETA, *_DKD_STAND_INS))
    raise ValueError(
        f"no DKD setting for {pair.label}: neither mdistiller's configs nor this table have "
        f"one; pairs with one: {known}"
    )


def baseline_setting(pair: Pair, loss: str) -> BaselineSetting | None:
    """The setting the kit runs ``loss`` with for ``pair``; ``None`` for a loss that is not a baseline."""
    if loss == "kd":
        return KD_SETTING
    if loss == "dkd":
        return _dkd_setting(pair)
    return None


def baseline_settings(pairs=MAIN.pairs) -> list[dict[str, object]]:
    """One row per pair and baseline: the table the kit, ``docs/reproduce.md`` and notebook 05 show."""
    rows = []
    for pair in pairs:
        for loss in ("kd", "dkd"):
            setting = baseline_setting(pair, loss)
            rows.append(
                {
                    "pair": pair.label,
                    "loss": loss,
                    **setting.options,
                    "published": setting.published,
                    "source": setting.source,
                }
            )
    return rows


def settings_markdown(pairs=MAIN.pairs) -> str:
    """:func:`baseline_settings` as a markdown table."""
    rows = []
    for pair in pairs:
        for loss in ("kd", "dkd"):
            setting = baseline_setting(pair, loss)
            options = ", ".join(f"{key} {value:g}" for key, value in setting.options.items())
            rows.append([pair.label, loss, options, "yes" if setting.published else "**no**", setting.source])
    return markdown_table(["teacher -> student", "loss", "settings", "published", "source"], rows)
