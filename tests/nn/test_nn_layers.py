"""NoisyLinear: its parameters, noise only in training, the explicit flag, gradients, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from deepclass.errors import ConfigError
from deepclass.nn.layers import NoisyLinear


def test_parameters_xavier_uniform_weight_and_zero_bias():
    torch.manual_seed(0)
    layer = NoisyLinear(300, 500, 0.1)
    names = dict(layer.named_parameters())
    assert set(names) == {"w", "b"} and all(isinstance(p, nn.Parameter) for p in names.values())
    assert layer.w.shape == (300, 500) and layer.b.shape == (500,) and not layer.b.any()
    bound = math.sqrt(6 / (300 + 500))
    assert layer.w.abs().max() <= bound
    assert (
        abs(layer.w.std().item() / (bound / math.sqrt(3)) - 1) < 0.02
    )  # uniform(-a, a): std a/sqrt(3)


def test_eval_mode_is_deterministic_and_linear():
    layer = NoisyLinear(4, 3, noise_stddev=1.0).eval()
    x = torch.randn(5, 4)
    out = layer(x)
    assert torch.equal(out, layer(x))
    assert torch.allclose(out, x @ layer.w + layer.b)


def test_train_mode_adds_input_noise_of_the_given_stddev():
    layer = NoisyLinear(64, 64, noise_stddev=0.3).train()
    with torch.no_grad():
        layer.w.copy_(torch.eye(64))  # out = x + noise
    x = torch.zeros(2000, 64)
    torch.manual_seed(0)
    noise = layer(x).detach()
    assert abs(noise.std().item() / 0.3 - 1) < 0.02 and abs(noise.mean().item()) < 0.01
    assert not torch.equal(layer(x), layer(x))


def test_explicit_training_flag_wins_over_the_mode():
    layer = NoisyLinear(4, 3, noise_stddev=0.5)
    x = torch.randn(6, 4)
    clean = x @ layer.w + layer.b
    layer.eval()
    assert not torch.allclose(layer(x, training=True), clean)
    layer.train()
    assert torch.equal(layer(x, training=False), clean)
    assert not torch.allclose(layer(x), clean)  # None follows self.training


def test_zero_noise_is_deterministic_in_training():
    layer = NoisyLinear(4, 3, noise_stddev=0).train()
    x = torch.randn(6, 4)
    assert torch.equal(layer(x), layer(x))


def test_gradients_are_the_linear_layers():
    layer = NoisyLinear(5, 3).eval()
    x = torch.randn(7, 5, requires_grad=True)
    dout = torch.randn(7, 3)
    layer(x).backward(dout)
    assert torch.allclose(layer.w.grad, x.detach().T @ dout, atol=1e-6)
    assert torch.allclose(layer.b.grad, dout.sum(0), atol=1e-6)
    assert torch.allclose(x.grad, dout @ layer.w.detach().T, atol=1e-6)


@pytest.mark.parametrize("std", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_noise_stddev(std):
    with pytest.raises(ConfigError, match="noise_stddev must be a finite number >= 0"):
        NoisyLinear(2, 4, std)


def test_bad_sizes_and_inputs():
    with pytest.raises(ConfigError, match="input_size must be a positive int, got 0"):
        NoisyLinear(0, 4)
    layer = NoisyLinear(2, 4)
    with pytest.raises(ConfigError, match=r"x must be \(N, 2\), got shape \(5, 3\)"):
        layer(torch.zeros(5, 3))
    assert "noise_stddev=0.1" in repr(layer)


def test_inputs_of_the_wrong_kind_get_a_message_naming_them():
    layer = NoisyLinear(2, 4)
    with pytest.raises(ConfigError, match=r"x must be a torch.Tensor, got ndarray"):
        layer(np.zeros((5, 2), np.float32))
    for x, got in (
        (torch.zeros(5, 2, dtype=torch.float64), "float64"),
        (torch.zeros(5, 2, dtype=torch.int64), "int64"),
    ):
        with pytest.raises(
            ConfigError, match=rf"dtype and device \(torch.float32 on cpu\), got torch.{got}"
        ):
            layer(x, training=True)
    for bad in ("yes", 1, None.__class__):
        with pytest.raises(ConfigError, match="training must be True, False or None"):
            layer(torch.zeros(5, 2), training=bad)
    # a float64 layer takes float64 inputs
    assert layer.double()(torch.zeros(5, 2, dtype=torch.float64)).dtype == torch.float64


def test_numpy_sizes_and_stddev_are_accepted():
    layer = NoisyLinear(np.int64(2), np.int32(4), np.float32(0.25))
    assert (layer.input_size, layer.output_size) == (2, 4) and type(layer.input_size) is int
    assert layer.noise_stddev == 0.25
