"""Rung-1 fixtures.

The linear rung's tensors are tiny (a (200, 3073) @ (3073, 10) matmul per
step), far below where a second thread pays off; on a shared 2-core CI
machine each multi-threaded op can instead wait milliseconds for the other
thread to be scheduled. These tests therefore run single-threaded, and
restore torch's thread count afterwards.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
