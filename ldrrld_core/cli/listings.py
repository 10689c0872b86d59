"""``ldrrld recipes``, ``ldrrld losses`` and ``ldrrld models``: what the toolkit knows."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_commands", "run_recipes", "run_losses", "run_models"]


def add_commands(commands) -> None:
    """Add ``recipes``, ``losses`` and ``models`` to the ``ldrrld`` subcommands ``commands``."""
    from ..models.catalog import FAMILIES

    recipes = commands.add_parser("recipes", help="list the recipe presets, or show one recipe's fields")
    recipes.add_argument("name", nargs="?", help="a preset to show in full")
    recipes.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the preset as a recipe file (--recipe-file reads it); no FILE: stdout",
    )
    recipes.set_defaults(run=run_recipes, trains=False)
    losses = commands.add_parser("losses", help="list the losses")
    losses.set_defaults(run=run_losses, trains=False)
    models = commands.add_parser("models", help="list the model names")
    models.add_argument("--family", choices=tuple(FAMILIES), help="only this family")
    models.set_defaults(run=run_models, trains=False)


def run_recipes(args: argparse.Namespace) -> int:
    """List the presets, show one as JSON, or write it as a recipe file (``--json FILE``)."""
    from ..train import describe_recipe, get_recipe, list_recipes

    if args.json and not args.name:
        raise ValueError("--json writes one preset: `ldrrld recipes NAME --json FILE`")
    if args.name:
        recipe = get_recipe(args.name)
        if args.json and args.json != "-":
            from ..train.recipe_files import write_recipe_file
            from .options import check_output_file

            check_output_file(args.json, "--json", f"{args.name}.json")

            written = write_recipe_file(recipe, args.json)
            print(f"wrote {written}; run it with `ldrrld train|distill --recipe-file {args.json}`", file=sys.stderr)
        else:
            print(json.dumps(recipe.to_dict(), indent=1))
        return 0
    for name in list_recipes():
        print(f"{name:<18} {describe_recipe(name)}")
    return 0


def run_losses(args: argparse.Namespace) -> int:
    """List the losses of the registry, one line each, then the seed's methods that are not built and why."""
    from ..losses import LOSSES, NOT_BUILT, list_losses

    for name in list_losses():
        print(f"{name:<22} {LOSSES.describe(name)}")
    print("\nthe seed also compares with (not built here):")
    for name, reason in NOT_BUILT.items():
        print(f"  {name:<20} {reason}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    """List the model names of every family (or of ``--family``)."""
    from ..models import list_models

    families = [args.family] if args.family else ["digits", "cifar", "imagenet", "timm"]
    for family in families:
        print(f"{family}: {' '.join(list_models(family))}")
    return 0
