"""A terminal shows one live progress bar and clean epoch lines, not a staircase of both."""

import logging
import sys

from ldrrld_core.data import load_dataset
from ldrrld_core.train import fit, get_recipe


def test_epoch_lines_go_through_the_progress_bar(capsys):
    """Each epoch line starts a fresh line: the bar is cleared first (tqdm.write), not appended to."""
    handler = logging.StreamHandler(sys.stderr)  # what `ldrrld`'s logging.basicConfig installs
    handler.setFormatter(logging.Formatter("%(message)s"))
    root, logger = logging.getLogger(), logging.getLogger("ldrrld")
    old_level = logger.level
    root.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        recipe = get_recipe("digits", loss="ce", epochs=2, warmup_epochs=0, decay_epochs=())
        fit(recipe, data=load_dataset("digits"), progress=True)
    finally:
        root.removeHandler(handler)
        logger.setLevel(old_level)
    err = capsys.readouterr().err
    epoch_lines = [line for line in err.split("\n") if "epoch 1/2" in line or "epoch 2/2" in line]
    assert len(epoch_lines) == 2, err
    assert any("%|" in line for line in err.split("\n")), "the progress bar was drawn"
    for line in epoch_lines:  # after the last carriage return only the message: no bar text before it
        # and the line names its run, so it still says which run it was once the bar is gone
        assert line.split("\r")[-1].startswith(f"ce seed {recipe.seed} · {recipe.model} · epoch "), repr(line)
    assert f"ce seed {recipe.seed} · {recipe.model}" in err.split("\n")[0], "the bar names its run"
