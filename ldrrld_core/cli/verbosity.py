"""How much the commands that run many trainings (``study``, ``sweep``) say while they run.

By default they show one progress bar and the lines that matter to the whole batch; each run's own
chatter (its epochs, its checkpoint folder, where its teacher's outputs were read from) is for
``-v``. Every line goes through the bar's writer, so none is glued to the bar.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator

__all__ = ["add_verbose_option", "apply_verbosity"]

#: The logger of a single run's messages (the trainer's).
RUN_LOGGER = "ldrrld.train"


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    """Add ``-v/--verbose`` to a batch command."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print every run's own lines (its epochs, checkpoints and cached teacher outputs)",
    )


@contextlib.contextmanager
def apply_verbosity(args: argparse.Namespace) -> Iterator[None]:
    """Within the block, each run's info lines stay quiet unless ``--verbose`` (``--quiet`` silences
    everything below warnings); the logger's level is restored afterwards, so a command run in-process
    (tests, notebooks) leaves no trace on the next one."""
    logger = logging.getLogger(RUN_LOGGER)
    level = logger.level
    if not getattr(args, "verbose", False):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
