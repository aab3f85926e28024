"""The 2-D XOR toy of seed 003, reproduced exactly.

``np.random.seed(1); x = np.random.uniform(low=-1, high=1, size=(200, 2))``;
label 0 where ``x0 * x1 < 0`` else 1; the first 100 points train, the last
100 validate. The test split is 200 further points from an independent
stream (seed + 1), so that the validation set can be used for choices.
"""

from __future__ import annotations

import numpy as np

CLASSES = ["0", "1"]


def make_xor(n: int = 200, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform in [-1, 1)^2: features ``(n, 2)`` float32 and labels ``(n,)`` int64."""
    x = np.random.RandomState(seed).uniform(low=-1, high=1, size=(n, 2))
    y = np.ones(n, dtype=np.int64)
    y[x[:, 0] * x[:, 1] < 0] = 0
    return x.astype(np.float32), y
