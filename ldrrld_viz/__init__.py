"""ldrrld_viz: pictures and live widgets of what LDRRLD does, drawn from ``ldrrld_core.analysis``.

Every figure function returns a plotly figure (``backend="plotly"``, interactive, the default) or a
matplotlib figure (``backend="matplotlib"``, static)::

    import ldrrld_viz as viz
    viz.weight_heatmaps(depth=7, decay=0.05)
    viz.weight_panel(student_logits=s[0], teacher_logits=t[0])   # sliders for d, decay and T

``ldrrld_viz`` imports ``ldrrld_core``; ``ldrrld_core`` never imports it.
"""

from .class_relations import MAX_CLASSES, class_mean_gaps, correlation_gaps
from .colors import palette
from .curves import training_curves
from .embedding import tsne_scatter
from .fidelity import fidelity_heatmaps
from .fidelity_accuracy import fidelity_vs_accuracy
from .render import BACKENDS, draw
from .sample import gradient_bars, local_distributions, pair_contributions
from .tables import format_table
from .weights import weight_curves, weight_heatmaps, weight_share
from .widgets import WeightPanel, weight_panel

__all__ = [
    "BACKENDS",
    "draw",
    "palette",
    "format_table",
    "weight_heatmaps",
    "weight_curves",
    "weight_share",
    "local_distributions",
    "pair_contributions",
    "gradient_bars",
    "MAX_CLASSES",
    "class_mean_gaps",
    "correlation_gaps",
    "tsne_scatter",
    "fidelity_heatmaps",
    "fidelity_vs_accuracy",
    "training_curves",
    "weight_panel",
    "WeightPanel",
]
