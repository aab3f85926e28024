"""Memory budgets: what this machine can give a run, and what the run will need, before it starts.

- ``available_memory()``: the smaller of the kernel's ``MemAvailable`` and
  the room left under this process's cgroup memory limit (v2 ``memory.max``
  minus ``memory.current``, or v1's ``limit_in_bytes`` minus
  ``usage_in_bytes``); ``$DEEPCLASS_MEMORY_LIMIT`` (e.g. ``8G``) caps it.
- ``model_memory(build, input_shape, ...)``: parameters, gradients and
  optimizer state, and the activations of a training and an evaluation
  batch, from one forward pass on the meta device (shapes only: no memory is
  allocated and nothing is computed, so a model too big for the machine can
  still be measured) that records every tensor each operation allocates.
- ``RunEstimate``: the parts of a run's peak memory, compared with what is
  available less ``HEADROOM``.

The estimates are upper-leaning, not exact: training activations count every
allocated tensor twice (kept for backward, and its gradient), which overstates
a network whose backward frees as it goes.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from deepclass.errors import ConfigError

LIMIT_ENV = "DEEPCLASS_MEMORY_LIMIT"
HEADROOM = 0.85  # a run may plan to use this fraction of the memory available
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1.5g"``, ``"1048576"`` -> bytes (binary units)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise ConfigError(f"{LIMIT_ENV} must be a size like 8G or 512M, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def fmt_bytes(n: float) -> str:
    """``28.8 GB``, ``512 MB``: decimal units, three significant figures."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            v = n / size
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{int(n)} B"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _meminfo_available() -> int | None:
    text = _read(Path("/proc/meminfo"))
    m = re.search(r"^MemAvailable:\s+(\d+) kB", text or "", re.M)
    return int(m.group(1)) * 1024 if m else None


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup memory limit; None when there is no limit."""
    lines = (_read(Path("/proc/self/cgroup")) or "").splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            limit, usage = _read(base / "memory.max"), _read(base / "memory.current")
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            limit = _read(base / "memory.limit_in_bytes")
            usage = _read(base / "memory.usage_in_bytes")
        else:
            continue
        if limit is None or usage is None or limit == "max" or int(limit) >= 2**60:
            continue
        return max(0, int(limit) - int(usage))
    return None


def available_memory() -> tuple[int, str]:
    """``(bytes, where the figure comes from)``: the memory a new allocation can count on."""
    found = []
    avail = _meminfo_available()
    if avail is not None:
        found.append((avail, "MemAvailable"))
    room = _cgroup_room()
    if room is not None:
        found.append((room, "cgroup limit"))
    env = os.environ.get(LIMIT_ENV, "").strip()
    if env:
        found.append((max(0, parse_bytes(env) - process_rss()), LIMIT_ENV))
    if not found:  # not Linux: assume what torch's process can see is free
        return 2**62, "unknown"
    return min(found)


def process_rss() -> int:
    """This process's resident memory now (bytes; 0 where /proc is missing)."""
    m = re.search(r"^VmRSS:\s+(\d+) kB", _read(Path("/proc/self/status")) or "", re.M)
    return int(m.group(1)) * 1024 if m else 0


@dataclass
class ModelMemory:
    """What a model costs: parameters and the activations of one batch (bytes)."""

    parameters: int  # count
    state_bytes: int  # parameters + gradients + optimizer state
    train_activation_bytes: int  # one training batch (forward outputs + their gradients)
    eval_activation_bytes: int  # one evaluation batch (the two largest outputs alive at once)
    exact: bool = True  # False: the meta-device pass failed and activations are a guess

    @property
    def peak_bytes(self) -> int:
        return self.state_bytes + max(self.train_activation_bytes, self.eval_activation_bytes)


OPTIMIZER_STATES = {"sgd": 1, "adam": 2, "adamw": 2}  # tensors of state per parameter
# Peak resident memory over the tensors counted: allocator fragmentation and the convolution
# library's workspaces (calibrated on benchmarks/photo_folders.md's streaming runs)
ALLOCATOR_SLACK = 1.5


class _OutputSizes(TorchDispatchMode):
    """Records the element count of every tensor an operation allocates (views excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not any(r.alias_info is not None for r in func._schema.returns):
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    self.sizes.append(t.numel())
        return out


def model_memory(
    build: Callable[[], nn.Module],
    input_shape: Sequence[int],
    *,
    batch_size: int,
    eval_batch_size: int,
    optimizer: str = "adam",
    dtype_bytes: int = 4,
) -> ModelMemory:
    """Memory of training ``build()`` on inputs ``(batch, *input_shape)``, from shapes alone.

    The model is built and run on the meta device for a batch of one; a
    dispatch mode records every tensor an operation allocates (functional
    ``torch.relu`` included, views not). Training keeps them all for
    backward and makes a gradient of each (x2); evaluation holds one
    operation's input and output at a time (the largest consecutive pair).
    Both are scaled by the batch and by ``ALLOCATOR_SLACK``.
    """
    with torch.device("meta"):
        net = build()
    n_params = sum(p.numel() for p in net.parameters())
    state = n_params * dtype_bytes * (2 + OPTIMIZER_STATES.get(optimizer, 2))
    x = torch.empty((1, *(int(s) for s in input_shape)), device="meta")
    rec = _OutputSizes()
    try:
        with torch.no_grad(), rec:
            net(x)
        sizes, exact = rec.sizes, True
    except Exception:  # a model the meta device cannot run: guess from the input size
        sizes, exact = [x.numel() * 8], False
    seq = [x.numel(), *sizes]
    pair = max(a + b for a, b in itertools.pairwise(seq)) if sizes else seq[0]
    scale = ALLOCATOR_SLACK * dtype_bytes
    return ModelMemory(
        n_params,
        state,
        int(2 * sum(seq) * batch_size * scale),
        int(pair * eval_batch_size * scale),
        exact,
    )


@dataclass
class RunEstimate:
    """The parts of a run's peak memory (bytes, by name) against what is available."""

    parts: dict[str, int] = field(default_factory=dict)
    available: int = 0
    source: str = ""

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def fits(self) -> bool:
        return self.total <= HEADROOM * self.available

    def breakdown(self) -> str:
        """``decoded images 28.8 GB + model 2.1 GB + ...`` (largest first)."""
        items = sorted(self.parts.items(), key=lambda kv: -kv[1])
        return " + ".join(f"{k} {fmt_bytes(v)}" for k, v in items if v > 0)

    def summary(self) -> str:
        """``needs about 1.2 GB more, 21.3 GB available``."""
        return f"needs about {fmt_bytes(self.total)} more, {fmt_bytes(self.available)} available"
