"""Fixtures shared by every test file."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Run torch on one CPU thread, and restore the count afterwards.

    The models and batches of the tests are tiny: one thread runs them fastest (on a busy 2-core
    machine, two threads were up to ten times slower), and results do not depend on the core
    count. Restoring matters because some commands under test (``ldrrld demo``) set it themselves.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
