"""``python -m ldrrld_core ...`` is the ``ldrrld`` command (and what ``torchrun -m ldrrld_core`` runs)."""

from .cli import run_and_exit

run_and_exit()
