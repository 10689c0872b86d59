"""The sweep's plan: its configuration, its grid of points, and every run in training order.

A point is ``(depth, decay, temperature)``. The grid is depth x decay at the default temperature,
plus the temperatures at the default depth and decay (:func:`grid_points`); every point trains
the study's student recipe with LDRRLD at that point (:func:`point_recipe`), on every seed, at the
study's chosen learning rate and loss setting (:func:`study_settings`: the point's ``d``, decay
and ``T`` over the setting's). :func:`plan_runs` orders the runs so that a sweep stopped early still
holds whole one-dimensional slices and the reference runs. :func:`local_term_scale` says how a
point scales the loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..train import Recipe
from .protocol import QUICK, StudyConfig
from .sweep_report import point_name

__all__ = [
    "SweepConfig",
    "QUICK_SWEEP",
    "NO_SETTING",
    "grid_points",
    "point_options",
    "point_recipe",
    "reference_recipe",
    "plan_runs",
    "study_settings",
    "local_term_scale",
]

#: The setting of a method whose study chose none (a ``results.json`` written before settings were
#: tuned): the loss's own defaults, under the recipe's ``loss_options``.
NO_SETTING = {"label": "loss defaults", "hparams": {}}


@dataclass(frozen=True)
class SweepConfig:
    """The grid of a sweep and the study it builds on.

    Attributes:
        study: the study's protocol (problem, teacher rule, validation split, epochs, overrides).
        depths, decays: the ``d`` x ``gamma`` grid, at ``default_temperature``.
        temperatures: the ``T`` values tried at ``default_depth`` and ``default_decay``.
        seeds: the training seeds of every point (the study's first seeds: same initial weights).
        default_depth, default_decay, default_temperature: the loss's defaults, the point every
            other point is compared with (paired by seed).
        references: baselines also trained on ``seeds`` at the study's rates, for their relation
            measures (their accuracy over all the study's seeds comes from the study itself).
    """

    study: StudyConfig = field(default_factory=StudyConfig)
    depths: tuple[int, ...] = (2, 3, 5, 7, 10, 15, 20)
    decays: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2)
    temperatures: tuple[float, ...] = (2.0, 4.0, 8.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    default_depth: int = 7
    default_decay: float = 0.05
    default_temperature: float = 4.0
    references: tuple[str, ...] = ("ce", "kd", "dkd")

    def __post_init__(self) -> None:
        for name in ("depths", "decays", "temperatures", "seeds", "references"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("decays", "temperatures"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        for name in ("default_decay", "default_temperature"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("depths", "decays", "temperatures", "seeds", "references"):
            values = getattr(self, name)
            if name != "references" and not values:
                raise ValueError(f"{name} must hold at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"{name} must not repeat, got {list(values)}")
        depths = (*self.depths, self.default_depth)
        if any(isinstance(d, bool) or not isinstance(d, int) or d < 2 for d in depths):
            raise ValueError(f"depths must be integers >= 2, got {list(self.depths)} and default {self.default_depth}")
        if any(not g >= 0 for g in (*self.decays, self.default_decay)):
            raise ValueError(f"decays must be >= 0, got {list(self.decays)} and default {self.default_decay}")
        if any(not t > 0 for t in (*self.temperatures, self.default_temperature)):
            raise ValueError(
                f"temperatures must be > 0, got {list(self.temperatures)} and default {self.default_temperature}"
            )
        unknown = [m for m in self.references if m not in self.study.methods or m == "ldrrld"]
        if unknown:
            raise ValueError(
                f"references must be baselines of the study ({', '.join(self.study.methods)}, "
                f"ldrrld excluded), got {unknown}"
            )

    @property
    def default_point(self) -> tuple[int, float, float]:
        """``(depth, decay, temperature)`` of the loss's defaults."""
        return self.default_depth, self.default_decay, self.default_temperature


#: ``--quick``: the study's toy protocol (without DKD), a 2 x 2 grid plus one temperature, 2 seeds, KD
#: as the one reference. It exercises the code in a minute or two; its numbers mean nothing.
QUICK_SWEEP = SweepConfig(
    study=replace(QUICK, methods=("ce", "kd", "ldrrld")),
    depths=(2, 7),
    decays=(0.0, 0.05),
    temperatures=(4.0, 8.0),
    seeds=(0, 1),
    references=("kd",),
)


def grid_points(config: SweepConfig, num_classes: int) -> tuple[list[tuple[int, float, float]], list[int]]:
    """The points ``(depth, decay, temperature)`` in report order, and the depths dropped (> classes)."""
    d0, g0, t0 = config.default_point
    points = [(d, g, t0) for d in config.depths for g in config.decays]
    points += [(d0, g0, t) for t in config.temperatures]
    unique = list(dict.fromkeys(points))
    dropped = sorted({d for d, _, _ in unique if d > num_classes})
    return [p for p in unique if p[0] <= num_classes], dropped


def _priority(point: tuple[int, float, float], config: SweepConfig) -> int:
    """Training order: the default point, the depth slice, the decay slice, the temperatures, (the
    reference methods,) the rest of the grid.

    A sweep stopped early then still holds whole one-dimensional slices and the references.
    """
    d0, g0, t0 = config.default_point
    d, g, t = point
    if point == config.default_point:
        return 0
    if (g, t) == (g0, t0):
        return 1
    if (d, t) == (d0, t0):
        return 2
    return 3 if t != t0 else 5


def study_settings(study: Mapping | None, methods: Sequence[str], where: str | None = None) -> dict[str, dict]:
    """The loss setting the study chose for each of ``methods``: ``{method: {"label", "hparams"}}``.

    A study that tunes a loss setting records ``results["methods"][m]["setting"] = {"label": str,
    "hparams": {loss hyperparameter: value}}`` (e.g. ``{"label": "weight 0.5", "hparams": {"alpha":
    5.25, "beta": 3.5}}``); a method without one, or no study at all, gets :data:`NO_SETTING`.
    ``where`` names the file in errors.
    """
    settings = {}
    for method in methods:
        setting = ((study or {}).get("methods", {}).get(method) or {}).get("setting")
        if setting is None:
            settings[method] = {"label": NO_SETTING["label"], "hparams": {}}
            continue
        if (
            not isinstance(setting, Mapping)
            or not isinstance(setting.get("label"), str)
            or not isinstance(setting.get("hparams"), Mapping)
            or not all(isinstance(k, str) for k in setting["hparams"])
        ):
            raise ValueError(
                f"{where or 'the study results'}: methods.{method}.setting must be "
                f"{{'label': str, 'hparams': {{loss hyperparameter: value}}}}, got {setting!r}; "
                "rerun `ldrrld study` or remove the field"
            )
        settings[method] = {"label": setting["label"], "hparams": dict(setting["hparams"])}
    return settings


def point_options(recipe: Recipe, point: tuple[int, float, float], hparams: Mapping | None = None) -> dict:
    """LDRRLD's hyperparameters at ``point``: the recipe's ``loss_options["ldrrld"]``, then the study's
    setting ``hparams``, then the point's ``depth``, ``decay`` and ``temperature`` (each later one wins)."""
    depth, decay, temperature = point
    return {
        **recipe.loss_options.get("ldrrld", {}),
        **(hparams or {}),
        "depth": depth,
        "decay": decay,
        "temperature": temperature,
    }


def point_recipe(
    recipe: Recipe, point: tuple[int, float, float], lr: float, seed: int, hparams: Mapping | None = None
) -> Recipe:
    """The study's student recipe with LDRRLD at ``point = (depth, decay, temperature)``, ``lr``, ``seed``,
    over the study's setting ``hparams`` (:func:`point_options`)."""
    return recipe.with_loss("ldrrld", point_options(recipe, point, hparams), lr=lr, seed=seed)


def reference_recipe(recipe: Recipe, method: str, lr: float, seed: int, hparams: Mapping | None = None) -> Recipe:
    """The study's student recipe with the baseline ``method`` at its study ``lr`` and setting ``hparams``."""
    return recipe.with_loss(method, hparams, lr=lr, seed=seed)


def local_term_scale(depth: int, decay: float, *, temperature: float = 4.0, alpha: float = 10.5) -> dict[str, float]:
    """What LDRRLD's local term multiplies each KL by, for one sample (``P = d (d - 1) / 2`` pairs).

    Pair ``p`` gets ``alpha T^2 w_p / (P + 1)`` and the top-d set ``alpha T^2 / (P + 1)``, so
    changing ``d`` changes the loss's scale as well as its pairs. Returns ``pairs`` (``P``),
    ``top_pair`` (the coefficient of ranks 1 and 2), ``topd_set`` and ``total``
    (``alpha T^2 (sum_p w_p + 1) / (P + 1)``: the local term when every KL equals 1).
    """
    from ..analysis import weight_maps

    maps = weight_maps(depth, decay)
    pairs = maps.share.numel()
    factor = alpha * temperature**2 / (pairs + 1)
    return {
        "pairs": pairs,
        "top_pair": factor * float(maps.adw[0, 1]),
        "topd_set": factor,
        "total": factor * (float(maps.adw.sum()) / 2 + 1),
    }


def plan_runs(
    config: SweepConfig, recipe: Recipe, points: Sequence[tuple[int, float, float]], lr: float, study: Mapping | None
) -> dict[tuple[str, int], Recipe]:
    """Every run, ``{(name, seed): recipe}``, in training order: the slices first, references last.

    Every point trains at ``lr`` over the study's LDRRLD setting, every reference at its study rate and
    setting (:func:`study_settings`; none without a ``study``).
    """
    settings = study_settings(study, ("ldrrld", *config.references))
    runs = [
        (_priority(p, config), point_name(p), point_recipe(recipe, p, lr, seed, settings["ldrrld"]["hparams"]), seed)
        for p in points
        for seed in config.seeds
    ]
    if study is not None:
        runs += [
            (
                4,
                f"reference-{m}",
                reference_recipe(recipe, m, study["methods"][m]["lr"], seed, settings[m]["hparams"]),
                seed,
            )
            for m in config.references
            for seed in config.seeds
        ]
    return {(name, seed): run_recipe for _, name, run_recipe, seed in sorted(runs, key=lambda run: run[0])}
