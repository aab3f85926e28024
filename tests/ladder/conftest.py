"""The ladder tests run torch single-threaded: the tensors are small, and on a busy 2-core machine
intra-op thread synchronisation costs more than it saves."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
