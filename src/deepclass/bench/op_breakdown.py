"""Where a training step's time goes: torch.profiler's op times grouped into a few parts.

``step_breakdown(step, steps)`` profiles ``steps`` calls of a training-step
closure and sums every profiled op's *self* time (its time minus that of
the ops it called) into the parts of ``PARTS``. An op's part is decided by
the op itself or, failing that, by the nearest enclosing op or labelled
region that names one (``categorise``): the ``aten::add_`` inside
``Optimizer.step#SGD.step`` is optimizer time, the ``aten::empty`` inside
``aten::mkldnn_convolution`` convolution time, the kernels under
``ConvolutionBackward0`` convolution backward. Self times add up to the
profiled time without counting anything twice.

Used by ``deepclass bench cifar`` for the per-op table of SpeedNet's step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile, record_function

PARTS = (
    "conv forward",
    "conv backward",
    "norm/activation/pool",
    "optimizer",
    "data",
    "other",
)
DATA_LABEL = "deepclass:data"  # the record_function label a step puts around its data fetch

_NORM_ACT_POOL = ("batch_norm", "batchnorm", "gelu", "max_pool", "maxpool", "adaptive_max")


def categorise(names: Sequence[str]) -> str:
    """The part of ``PARTS`` an op belongs to.

    names: the op's name first, then its enclosing ops and regions, innermost
    first (e.g. ``["aten::add_", "aten::_foreach_add_", "Optimizer.step#SGD.step"]``).
    The first name that identifies a part wins; an op nothing identifies is "other"
    (the loss, the linear head, autocast casts, copies, fills).
    """
    for name in names:
        low = name.lower()
        if low.startswith("optimizer.") or low.startswith("deepclass:optimizer"):
            return "optimizer"
        if low == DATA_LABEL:
            return "data"
        if "conv" in low:  # aten::convolution(_backward), mkldnn_convolution, ConvolutionBackward0
            return "conv backward" if "backward" in low else "conv forward"
        if any(k in low for k in _NORM_ACT_POOL):
            return "norm/activation/pool"
    return "other"


@dataclass
class Breakdown:
    """Seconds per step of each part (``seconds``), the profiled and the wall time per step."""

    seconds: dict[str, float]
    profiled_s: float  # sum of the self times per step
    wall_s: float  # wall time per step under the profiler

    def share(self, part: str) -> float:
        """Fraction of the profiled time in ``part``."""
        return self.seconds[part] / self.profiled_s if self.profiled_s > 0 else 0.0


def step_breakdown(step: Callable[[], None], steps: int = 3, warmup: int = 1) -> Breakdown:
    """Profile ``steps`` calls of ``step`` (after ``warmup`` unprofiled ones); CPU ops only.

    ``step`` should wrap its data fetch in ``record_function(DATA_LABEL)``.
    Returns the per-step seconds of each part of ``PARTS``.
    """
    for _ in range(warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - t0
    totals = dict.fromkeys(PARTS, 0.0)
    for ev in prof.events():
        names = [ev.name]
        parent = ev.cpu_parent
        while parent is not None:
            names.append(parent.name)
            parent = parent.cpu_parent
        totals[categorise(names)] += ev.self_cpu_time_total / 1e6
    per_step = {k: v / steps for k, v in totals.items()}
    return Breakdown(per_step, sum(per_step.values()), wall / steps)


def profiled_data(fetch: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``fetch()`` inside the data label (what ``step_breakdown`` counts as data)."""
    with record_function(DATA_LABEL):
        return fetch()
