"""Test-session setup shared by the unit tests and the notebooks (pytest --nbval)."""

import os

# Notebooks run in their small CI-sized mode and never open windows.
os.environ.setdefault("LDRRLD_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYTHONHASHSEED", "0")

try:
    from nbval.plugin import IPyNbFile
except ImportError:  # nbval missing: unit tests still run
    IPyNbFile = None

if IPyNbFile is not None:
    _nbval_init = IPyNbFile.__init__

    def _init_with_volatile_outputs_skipped(self, *args, **kwargs):
        _nbval_init(self, *args, **kwargs)
        # Compared: plain text results and stdout. Not compared: interactive figures (plotly
        # JSON, HTML with random ids), stderr (progress bars, warnings) and images (pixels).
        self.skip_compare = tuple(self.skip_compare) + (
            "application/vnd.plotly.v1+json",
            "text/html",
            "stderr",
            "image/png",
            "image/svg+xml",
        )

    IPyNbFile.__init__ = _init_with_volatile_outputs_skipped
