"""Fixtures shared by every test file."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_thread_for_the_session():
    """Run torch on one CPU thread for the whole session, module-scoped fixtures included.

    The models and batches of the tests are tiny: one thread runs them fastest (on a busy 2-core
    machine, two threads were up to ten times slower), and results do not depend on the core
    count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_thread(one_thread_for_the_session):
    """Put the thread count back to one after each test (``ldrrld demo`` and others set it)."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def teacher_outputs_in_a_temporary_folder(tmp_path_factory):
    """Cached teacher logits (``ldrrld_core.train.teacher_outputs``) go to a folder of this session.

    Set in the environment, so subprocesses of the tests use it too; the user's cache stays untouched.
    """
    import os

    from ldrrld_core.train.teacher_outputs import ENV_FOLDER

    before = os.environ.get(ENV_FOLDER)
    os.environ[ENV_FOLDER] = str(tmp_path_factory.mktemp("teacher_outputs"))
    yield
    if before is None:
        os.environ.pop(ENV_FOLDER, None)
    else:
        os.environ[ENV_FOLDER] = before
