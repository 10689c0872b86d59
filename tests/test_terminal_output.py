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


def test_a_batch_of_runs_prints_no_glued_line_and_no_per_run_chatter(capsys, tmp_path):
    """A study's bar: lines logged while runs train start fresh lines, and a run's own chatter waits for -v."""
    import argparse

    from ldrrld_core.cli.verbosity import apply_verbosity
    from ldrrld_core.study.protocol import _train_all

    class Chatty:
        """An executor whose runs log a batch-level warning and a run-level info line, then finish."""

        def run_each(self, task, specs, arguments, record, **_):
            for spec in specs:
                logging.getLogger("ldrrld.study").warning("batch line %s", spec[3])
                logging.getLogger("ldrrld.train").info("run chatter %s", spec[3])
                record(spec, [])

    recipe = get_recipe("digits", loss="ce", epochs=1)
    plan = {("ce", "default", 0.1, seed): recipe.replace(seed=seed) for seed in range(3)}
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root, logger, train_logger = logging.getLogger(), logging.getLogger("ldrrld"), logging.getLogger("ldrrld.train")
    levels = logger.level, train_logger.level
    root.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with apply_verbosity(argparse.Namespace(verbose=False)):
            options = dict(weights="", teacher=None, device="cpu", threads=1, progress=True, executor=Chatty())
            _train_all(plan, tmp_path, stage="selection: the grid", **options)
        assert train_logger.level == levels[1], "the run logger's level is restored after the block"
    finally:
        root.removeHandler(handler)
        logger.setLevel(levels[0])
        train_logger.setLevel(levels[1])
    lines = capsys.readouterr().err.split("\n")
    batch = [line for line in lines if "batch line" in line]
    assert len(batch) == 3 and all(line.split("\r")[-1].startswith("batch line") for line in batch), lines
    assert not any("run chatter" in line for line in lines), "per-run lines only with --verbose"
    assert any("selection: the grid" in line and "%|" in line for line in lines), "the bar names its stage"
