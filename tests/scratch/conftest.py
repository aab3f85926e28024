"""Fixtures of the scratch-rung tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Run on one thread: these tests use tiny tensors, where a second OpenMP thread only
    adds synchronization (and on a busy 2-core machine, a lot of waiting)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
