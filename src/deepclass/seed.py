"""Seeding and random-number state, shared by every rung."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from deepclass.errors import ConfigError


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    Returns the seed so callers can log it. ``seed`` must be an int in
    ``[0, 2**32)`` (NumPy's limit).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ConfigError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def get_rng_state() -> dict[str, Any]:
    """Every random-number state a training run uses, as one picklable dict.

    Saved in checkpoints so that a resumed run continues the same random
    stream as an uninterrupted one.
    """
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states captured by :func:`get_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def make_generator(seed: int | None, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed`` (or from torch's global stream if None)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
    else:
        gen.manual_seed(int(seed))
    return gen
