"""Shared test set-up."""

import pytest
import torch

from tests import app_support


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models gain nothing from 2 threads, and thread spinning makes them crawl when the machine
    is shared; restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _stop_app_trainings():
    """The trainings started in AppTest sessions (tests/app_support.py) stop when their test ends."""
    yield
    app_support.stop_trainings()
