"""SpeedNet (the main job's CIFAR net): whitening, Dirac init, shapes, FLOPs, parameter groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepclass.errors import ConfigError
from deepclass.nn.speednet import (
    Conv,
    SpeedNet,
    build_speednet,
    flops_per_image,
    image_patches,
    whitening_filters,
)
from deepclass.registry import build_model


def test_image_patches_lists_every_window():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    p = image_patches(x, 2)
    assert p.shape == (2 * 3 * 4, 3, 2, 2)
    # the patch of image 1 at row 2, column 3
    assert torch.equal(p[1 * 12 + 2 * 4 + 3], x[1, :, 2:4, 3:5])


def test_whitening_filters_decorrelate_the_patches():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(12, 12, generator=g, dtype=torch.float64)
    patches = (torch.randn(20000, 12, generator=g, dtype=torch.float64) @ mix).reshape(-1, 3, 2, 2)
    eps = 1e-6
    f = whitening_filters(patches, eps=eps).double()
    assert f.shape == (24, 3, 2, 2)
    assert torch.allclose(f[12:], -f[:12])
    out = patches.reshape(len(patches), -1) @ f[:12].reshape(12, -1).T
    cov = out.T @ out / len(out)
    assert torch.allclose(cov, torch.eye(12, dtype=torch.float64), atol=1e-3)
    # largest-variance direction first: its filter is scaled by the smallest 1/sqrt(eigenvalue)
    norms = f[:12].reshape(12, -1).norm(dim=1)
    assert torch.all(norms[1:] >= norms[:-1])


def test_conv_starts_as_identity_on_its_input_channels():
    conv = Conv(4, 8)
    x = torch.randn(2, 4, 6, 6)
    out = conv(x)
    assert torch.allclose(out[:, :4], x, atol=1e-6)
    assert out.shape == (2, 8, 6, 6)


def test_forward_shape_frozen_parts_and_init_from_data():
    torch.manual_seed(0)
    net = SpeedNet(widths=(8, 16, 16), num_classes=7)
    x = torch.randn(5, 3, 32, 32)
    assert net(x).shape == (5, 7)
    assert not net.whiten.weight.requires_grad and net.whiten.bias.requires_grad
    assert all(not m.weight.requires_grad for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    net.init_from_data(torch.randn(50, 3, 32, 32))
    # i.i.d. unit-variance pixels are already white: the filters are a rotation (unit rows)
    f = net.whiten.weight.detach().reshape(24, 12)
    assert torch.allclose(f[:12].norm(dim=1), torch.ones(12), atol=0.1)
    assert torch.allclose(f[:12] @ f[:12].T, torch.eye(12), atol=0.15)
    with pytest.raises(ConfigError, match=r"images must be \(N, 3, H, W\)"):
        net.init_from_data(torch.randn(4, 1, 32, 32))


def test_logits_scale_and_gradients_reach_every_trainable_parameter():
    torch.manual_seed(0)
    net = SpeedNet(widths=(8, 16, 16), logit_scale=0.5)
    x = torch.randn(4, 3, 32, 32)
    net.logit_scale = 1.0
    full = net(x)
    net.logit_scale = 0.5
    assert torch.allclose(net(x), full * 0.5)
    net(x).sum().backward()
    for name, p in net.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_flops_per_image_matches_the_closed_form():
    net = SpeedNet(widths=(64, 256, 256))
    expect = 2 * (
        31 * 31 * 24 * 3 * 4  # whitening 2x2: 32 -> 31
        + 31 * 31 * 64 * 24 * 9
        + 15 * 15 * 64 * 64 * 9  # group 1 (pool 31 -> 15)
        + 15 * 15 * 256 * 64 * 9
        + 7 * 7 * 256 * 256 * 9  # group 2
        + 7 * 7 * 256 * 256 * 9
        + 3 * 3 * 256 * 256 * 9  # group 3
        + 256 * 10  # head
    )
    assert flops_per_image(net, (3, 32, 32)) == expect
    assert 230e6 < expect < 240e6  # airbench94's net: ~0.24 GFLOP per forward


def test_param_groups_scale_batchnorm_shift_lr_keep_decay_product():
    net = SpeedNet(widths=(8, 16, 16), bias_lr_scale=64.0)
    norm_g, other_g = net.optimizer_param_groups(lr=0.5, weight_decay=0.01)
    assert norm_g["lr"] == 32.0 and norm_g["lr"] * norm_g["weight_decay"] == pytest.approx(0.005)
    assert other_g["lr"] == 0.5 and other_g["weight_decay"] == 0.01
    n_trainable = sum(1 for p in net.parameters() if p.requires_grad)
    assert len(norm_g["params"]) == 6 and len(norm_g["params"]) + len(other_g["params"]) == (
        n_trainable
    )


def test_registry_builds_it_and_rejects_bad_arguments():
    net = build_model("nn", "speednet", input_shape=(3, 32, 32), num_classes=10, widths=[8, 8, 8])
    assert isinstance(net, SpeedNet)
    with pytest.raises(ConfigError, match="widths must be 3 positive ints"):
        build_speednet(widths=[8, 8])
    with pytest.raises(ConfigError, match="H, W >= 16"):
        build_speednet(input_shape=(3, 8, 8))
    with pytest.raises(ConfigError, match="bn_momentum"):
        build_speednet(bn_momentum=1.0)
