"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_thread():
    """Torch on one thread: faster than 2 contended threads at these sizes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
