"""One call at the top of every notebook: seeds, determinism, plot settings and the run mode; and
:func:`say`, print for notebooks, whose lines a page never breaks inside a word."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import torch

from ldrrld_core.runtime import default_device, fast_mode, seed_everything, set_deterministic
from ldrrld_core.tables import wrap

__all__ = ["LINE_WIDTH", "NotebookSettings", "say", "say_command", "setup"]

#: Printed lines are at most this long. JupyterLab's output area in a 1280 x 800 window holds about
#: 110 characters of its monospace font and breaks longer lines anywhere, even inside a word.
LINE_WIDTH = 96


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


def say(*parts: object, width: int = LINE_WIDTH) -> None:
    """``print(*parts)``, wrapped at spaces into lines of at most ``width`` characters (continuation
    lines indented by two), so a notebook page never has to break a word. Line breaks in the text
    are kept."""
    text = " ".join(str(part) for part in parts)
    for paragraph in text.split("\n"):
        print("\n".join(wrap(paragraph, width, indent="  ")))


def say_command(command: str, width: int = LINE_WIDTH) -> None:
    """A shell command on lines of at most ``width`` characters, continued with `` \\`` as a shell
    reads it: a long option and its value stay on one line."""
    words, lines, line = shlex.split(command), [], ""
    tokens = []
    for word in words:  # an option and its value travel together
        if tokens and tokens[-1].startswith("-") and "=" not in tokens[-1] and not word.startswith("-"):
            tokens[-1] += " " + shlex.quote(word)
        else:
            tokens.append(shlex.quote(word))
    for token in tokens:
        if line and len(line) + 1 + len(token) > width - 2:
            lines.append(line + " \\")
            line = "    " + token
        else:
            line = f"{line} {token}" if line else token
    print("\n".join([*lines, line]))
