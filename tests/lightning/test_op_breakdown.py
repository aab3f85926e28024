"""``deepclass.bench.op_breakdown``: the profiler's op times grouped into a step's parts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepclass.bench.op_breakdown import (
    DATA_LABEL,
    PARTS,
    categorise,
    profiled_data,
    step_breakdown,
)


@pytest.mark.parametrize(
    ("names", "part"),
    [
        (["aten::mkldnn_convolution", "aten::_convolution", "aten::conv2d"], "conv forward"),
        (["aten::empty", "aten::mkldnn_convolution", "aten::conv2d"], "conv forward"),
        (
            [
                "aten::convolution_backward",
                "autograd::engine::evaluate_function: ConvolutionBackward0",
            ],
            "conv backward",
        ),
        (
            ["aten::fill_", "autograd::engine::evaluate_function: ConvolutionBackward0"],
            "conv backward",
        ),
        (["aten::native_batch_norm", "aten::batch_norm"], "norm/activation/pool"),
        (["aten::gelu_backward", "GeluBackward0"], "norm/activation/pool"),
        (["aten::max_pool2d_with_indices", "aten::max_pool2d"], "norm/activation/pool"),
        (["aten::add_", "aten::_foreach_add_", "Optimizer.step#SGD.step"], "optimizer"),
        (["aten::zero_", "Optimizer.zero_grad#SGD.zero_grad"], "optimizer"),
        (["aten::gather", DATA_LABEL], "data"),
        (["aten::mm", "aten::linear"], "other"),
        (["aten::_to_copy", "aten::to"], "other"),
    ],
)
def test_categorise_by_the_op_or_its_nearest_named_ancestor(names, part):
    assert categorise(names) == part


def _step(net: nn.Module, labelled_data: bool):
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, 12, 12, generator=g), torch.randint(0, 4, (16,), generator=g)

    def step() -> None:
        xb = profiled_data(lambda: x.flip(3) * 2.0) if labelled_data else x
        F.cross_entropy(net(xb), y).backward()
        opt.step()
        opt.zero_grad()

    return step


def test_a_tiny_convnet_step_splits_into_every_part():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.GELU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 6 * 6, 4),
    )  # fmt: skip
    b = step_breakdown(_step(net, True), steps=2)
    assert set(b.seconds) == set(PARTS)
    assert all(b.seconds[p] > 0 for p in PARTS), b.seconds
    assert sum(b.seconds.values()) == pytest.approx(b.profiled_s)
    assert sum(b.share(p) for p in PARTS) == pytest.approx(1.0)
    assert 0 < b.profiled_s <= b.wall_s * 1.05


def test_a_net_without_convolutions_or_labelled_data_has_none():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 12 * 12, 32), nn.ReLU(), nn.Linear(32, 4))
    b = step_breakdown(_step(net, False), steps=2)
    for part in ("conv forward", "conv backward", "norm/activation/pool", "data"):
        assert b.seconds[part] == 0.0
    assert b.seconds["optimizer"] > 0 and b.seconds["other"] > 0
