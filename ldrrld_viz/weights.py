"""Pictures of the pair weights: IRW, ERD and ADW over the rank grid and over rank distance."""

from __future__ import annotations

import math

from ldrrld_core.analysis import WeightMaps, pair_matrix, weight_maps

from .class_relations import MAX_CLASSES
from .panels import Heatmap, Lines, blank_diagonal
from .render import Figure, draw

__all__ = ["weight_heatmaps", "weight_curves", "weight_share", "weight_panels", "share_panel"]


def _ranks(depth: int) -> list[str]:
    return [str(r) for r in range(1, depth + 1)]


def _maps(
    depth: int | WeightMaps, decay: float, irw_scale: float, irw_offset: float, figure: str = "this figure"
) -> WeightMaps:
    """The maps to draw; a depth beyond :data:`~ldrrld_viz.MAX_CLASSES` is refused before any work
    (``weight_heatmaps(10000)`` took 36 s, ``weight_curves(5000)`` wrote 565 MB)."""
    size = depth.depth if isinstance(depth, WeightMaps) else depth
    if isinstance(size, int) and not isinstance(size, bool) and size > MAX_CLASSES:
        raise ValueError(
            f"{figure} draws {size} x {size} = {size**2:,} pair weights; it draws at most {MAX_CLASSES} ranks "
            "(ldrrld_viz.MAX_CLASSES): the weights of deeper ranks are tiny, draw a smaller depth"
        )
    if isinstance(depth, WeightMaps):
        return depth
    return weight_maps(depth, decay, irw_scale=irw_scale, irw_offset=irw_offset)


def _settings(maps: WeightMaps) -> str:
    return f"d = {maps.depth}, decay = {maps.decay:g}, IRW = {maps.irw_scale:g} / ({maps.irw_offset:g} + |i - j|)"


def weight_heatmaps(
    depth: int | WeightMaps = 7,
    decay: float = 0.05,
    *,
    irw_scale: float = 2.0,
    irw_offset: float = 1.5,
    backend: str = "plotly",
) -> Figure:
    """IRW, ERD and ADW = IRW x ERD as three ``d x d`` heatmaps over ranks (1 = largest logit).

    Pass a depth and the weight settings, or a :class:`~ldrrld_core.analysis.WeightMaps`.
    Each panel has its own colour scale starting at zero; the diagonal (no pair) is blank. At most
    :data:`~ldrrld_viz.MAX_CLASSES` ranks (a ``ValueError`` beyond, before any work).
    """
    maps = _maps(depth, decay, irw_scale, irw_offset, "weight_heatmaps")
    return draw(weight_panels(maps), title=f"Pair weights, {_settings(maps)}", backend=backend)


def weight_panels(maps: WeightMaps) -> list[Heatmap]:
    """The IRW, ERD and ADW heatmap panels of :func:`weight_heatmaps`, to compose other figures."""
    ranks = _ranks(maps.depth)
    return [
        Heatmap(
            blank_diagonal(matrix),
            title=name,
            x_labels=ranks,
            y_labels=ranks,
            x_title="rank j",
            y_title="rank i",
            zmin=0.0,
        )
        for name, matrix in (
            ("IRW (close ranks)", maps.irw),
            ("ERD (top ranks)", maps.erd),
            ("ADW = IRW x ERD", maps.adw),
        )
    ]


def weight_curves(
    depth: int | WeightMaps = 7,
    decay: float = 0.05,
    *,
    irw_scale: float = 2.0,
    irw_offset: float = 1.5,
    backend: str = "plotly",
) -> Figure:
    """ADW over rank distance ``|i - j|``, one curve per first rank ``i``, with IRW dashed.

    IRW alone depends on the distance only; ERD lowers the curve of every later first rank. At most
    :data:`~ldrrld_viz.MAX_CLASSES` ranks (a ``ValueError`` beyond, before any work).
    """
    maps = _maps(depth, decay, irw_scale, irw_offset, "weight_curves")
    curves = maps.by_distance()
    series = {f"ADW, from rank {i + 1}": curves[i] for i in range(maps.depth - 1)}
    series["IRW"] = maps.irw_by_distance()
    panel = Lines(
        range(1, maps.depth),
        series,
        title="weight over rank distance",
        x_title="rank distance |i - j|",
        y_title="weight",
        dashed=("IRW",),
    )
    return draw([panel], title=_settings(maps), backend=backend, panel_size=(6.0, 3.4))


def weight_share(
    depth: int | WeightMaps = 7,
    decay: float = 0.05,
    *,
    irw_scale: float = 2.0,
    irw_offset: float = 1.5,
    backend: str = "plotly",
) -> Figure:
    """The share of one sample's local term each pair carries when every KL is equal.

    A ``d x d`` heatmap of ``w_ij / (sum w + 1)`` (each pair shown in both halves, counted once);
    the top-d set term carries the rest, given in the title. At most :data:`~ldrrld_viz.MAX_CLASSES` ranks.
    """
    maps = _maps(depth, decay, irw_scale, irw_offset, "weight_share")
    return draw(
        [share_panel(maps)],
        title=f"{_settings(maps)}; the top-{maps.depth} set carries {maps.topd_share:.1%}",
        backend=backend,
        panel_size=(4.4, 3.6),
    )


def share_panel(maps: WeightMaps) -> Heatmap:
    """The heatmap panel of :func:`weight_share`."""
    ranks = _ranks(maps.depth)
    return Heatmap(
        pair_matrix(maps.share, maps.depth, diagonal=math.nan),
        title="share of the local term (equal KLs)",
        x_labels=ranks,
        y_labels=ranks,
        x_title="rank j",
        y_title="rank i",
        zmin=0.0,
    )
