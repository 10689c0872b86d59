"""The ``ldrrld`` command: train, distil, compare, and list what the toolkit knows.

Every training command prints its progress on stderr and, as the last line on stdout, a JSON
summary that scripts can read (``... | tail -n 1 | jq .top1``). Runs launched with ``torchrun``
train on every process; rank 0 alone writes files and prints.

A mistake gets one line on stderr, ``ldrrld <command>: error: <what is wrong and how to fix it>``,
and exit status 2 (1 for a failing disk or an internal error, 130 for Ctrl-C, after which the run's
``latest.pth`` still holds its last finished epoch); ``--debug`` adds the Python traceback. A
closed stdout is an error too (status 2); a reader that goes away (``| head -1``) ends the
command quietly with status 141, as SIGPIPE ends other Unix tools.

One module per command or family of commands, each adding its parser and running it:

* :mod:`.train`: ``train`` and ``distill``;
* :mod:`.demo`: ``demo``;
* :mod:`.study`: ``study``;
* :mod:`.sweep`: ``sweep``;
* :mod:`.listings`: ``recipes``, ``losses`` and ``models``;
* :mod:`.teacher`: ``teacher check``;
* :mod:`.runs`: ``runs diff`` and ``runs table``;
* :mod:`.options`: what several commands share (run options, the recipe they describe, batch options);
* :mod:`.main`: :func:`main`, the list of commands, the process set-up and the one-line errors.

Only argparse and the standard library are imported before the arguments are parsed; each
command imports what it needs when it runs, so ``ldrrld --help`` starts about as fast as torch
imports (``benchmarks/cli_startup.py`` measures it).
"""

from .main import build_parser, main, run_and_exit

__all__ = ["main", "build_parser", "run_and_exit"]
