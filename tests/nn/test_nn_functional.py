"""Seed 004: nn versus nn.functional, the worked convolution example."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def test_functional_conv2d_with_an_all_ones_filter():
    x = torch.ones(1, 1, 3, 3, requires_grad=True)
    weight = torch.ones(1, 1, 3, 3)  # nn.functional needs the weight passed in
    out = F.conv2d(x, weight)
    assert out.shape == (1, 1, 1, 1) and out.item() == 9.0
    assert out.grad_fn is not None
    out.backward()
    assert torch.equal(x.grad, torch.ones(1, 1, 3, 3))


def test_module_conv2d_owns_its_weight_and_bias():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 1, 3)
    assert {n for n, _ in conv.named_parameters()} == {"weight", "bias"}
    x = torch.ones(1, 1, 3, 3, requires_grad=True)
    out = conv(x)
    assert x.grad is None  # nothing until backward
    assert torch.allclose(out.view(()), conv.weight.sum() + conv.bias[0])
    out.backward()
    assert torch.equal(x.grad, conv.weight.detach())  # d(out)/dx is the filter itself


def test_module_and_functional_agree_given_the_same_weight():
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 2, 5, 5)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1))
