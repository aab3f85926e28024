"""Seed 004 (nn versus nn.functional): the worked convolution example through deepclass's code.

The seed's example, a 3x3 filter over a 1x1x3x3 input of ones, is run through deepclass's
hand-derived convolutions (rung 2's naive ``Conv`` and ``FastConv``): their forward and their
own backward must give what autograd gives for ``F.conv2d`` (weights passed in) and for an
``nn.Conv2d`` module (weights it owns). The functional and module forms of deepclass's
networks (rung 3's functions, rung 4's modules) are compared in ``test_nn_models.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepclass.scratch.fast_layers import FastConv
from deepclass.scratch.layers import Conv

LAYERS = [Conv, FastConv]
NO_PAD = {"stride": 1, "pad": 0}


@pytest.mark.parametrize("layer", LAYERS, ids=["Conv", "FastConv"])
def test_the_functional_example_all_ones(layer):
    """F.conv2d(ones, ones): 9 products of 1 * 1; d(out)/dx is the filter, d(out)/dw the input."""
    x, w = torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3)
    out, cache = layer.forward(x, w, torch.zeros(1), NO_PAD)
    assert out.shape == (1, 1, 1, 1) and out.item() == 9.0
    dx, dw, db = layer.backward(torch.ones_like(out), cache)
    x_ref = x.clone().requires_grad_(True)
    ref = F.conv2d(x_ref, w)
    ref.backward()
    assert out.item() == ref.item()
    assert torch.equal(dx, x_ref.grad) and torch.equal(dx, w)
    assert torch.equal(dw, x) and db.item() == 1.0


@pytest.mark.parametrize("layer", LAYERS, ids=["Conv", "FastConv"])
def test_the_module_example_with_nn_conv2ds_own_weight(layer):
    """nn.Conv2d(1, 1, 3) makes its own weight and bias: out = weight.sum() + bias, and
    d(out)/dx equals the weight, for the module and for deepclass given that weight."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 1, 3).double()
    x = torch.ones(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    ref = conv(x)
    ref.backward()
    w, b = conv.weight.detach(), conv.bias.detach()
    out, cache = layer.forward(x.detach(), w, b, NO_PAD)
    assert out.item() == pytest.approx(ref.item(), abs=1e-12)
    assert out.item() == pytest.approx((w.sum() + b).item(), abs=1e-12)
    dx, dw, db = layer.backward(torch.ones_like(out), cache)
    assert torch.allclose(dx, x.grad, atol=1e-12) and torch.allclose(dx, w, atol=1e-12)
    assert torch.allclose(dw, conv.weight.grad, atol=1e-12)
    assert torch.allclose(db, conv.bias.grad, atol=1e-12)


@pytest.mark.parametrize("layer", LAYERS, ids=["Conv", "FastConv"])
def test_module_and_functional_agree_with_deepclass_on_a_real_shape(layer):
    """Padding 1, several channels: nn.Conv2d, F.conv2d with its weight, and deepclass's layer."""
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    x = torch.randn(4, 2, 5, 5, dtype=torch.float64)
    w, b = conv.weight.detach(), conv.bias.detach()
    out, _ = layer.forward(x, w, b, {"stride": 1, "pad": 1})
    assert torch.allclose(conv(x), F.conv2d(x, w, b, padding=1))
    assert torch.allclose(out, conv(x).detach(), atol=1e-12)
