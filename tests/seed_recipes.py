"""The recipes the seed tables' commands build: each command parsed by the real CLI, as a user runs it."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from ldrrld_core.cli import build_parser
from ldrrld_core.cli.options import recipe_from
from ldrrld_core.reproduce.seed_tables import seed_commands


def seed_recipes(table) -> Iterator[tuple[str, str, object, object]]:
    """``(pair, column, args, recipe)`` for every runnable cell of ``table`` (comments are skipped).

    Building the recipe builds the loss with its options, so a setting the loss refuses fails here.
    """
    parser = build_parser()
    for pair, column, command in seed_commands(table):
        if command.startswith("#"):
            continue
        words = shlex.split(command)[1:]
        args = parser.parse_args(words)
        fixed = dict(model=args.model, loss="ce", teacher=None, teacher_checkpoint=None) if words[0] == "train" else {}
        yield pair, column, args, recipe_from(args, **fixed)
