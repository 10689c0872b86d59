"""One call at the top of every notebook: seeds, determinism, plot settings and the run mode."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ldrrld_core.runtime import default_device, fast_mode, seed_everything, set_deterministic

__all__ = ["NotebookSettings", "setup"]


@dataclass(frozen=True)
class NotebookSettings:
    """What a notebook needs to know about this session."""

    fast: bool  #: small CI-sized settings (LDRRLD_FAST=1, or no GPU)
    device: torch.device  #: where to train
    seed: int

    def __repr__(self) -> str:
        mode = "fast (CI-sized)" if self.fast else "full"
        return f"NotebookSettings(mode={mode}, device={self.device.type}, seed={self.seed})"


def setup(seed: int = 0, threads: int | None = 1) -> NotebookSettings:
    """Seed everything, switch on deterministic kernels, pin the plot renderers.

    Plotly renders as a MIME bundle (JupyterLab shows it; tests ignore its JSON), matplotlib
    inline at a modest resolution so committed outputs stay small. ``threads`` CPU threads for
    torch: one by default, because float sums (and so trained results) depend on how work is
    split between threads, and the small models of the fast mode run fastest on one anyway;
    ``None`` keeps torch's default.
    """
    import matplotlib as mpl
    import plotly.io as pio

    if threads is not None:
        torch.set_num_threads(threads)
    seed_everything(seed)
    set_deterministic(True)
    pio.renderers.default = "plotly_mimetype"
    mpl.rcParams.update(
        {
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "figure.figsize": (6.4, 3.6),
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return NotebookSettings(fast=fast_mode(), device=default_device(), seed=seed)
