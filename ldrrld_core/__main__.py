"""``python -m ldrrld_core ...`` is the ``ldrrld`` command (and what ``torchrun -m ldrrld_core`` runs)."""

import sys

from .cli import main

sys.exit(main())
