"""Rung 3 models: shapes, the seed's reference implementation, Kaiming init, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from deepclass.barebones.models import (
    FunctionalModel,
    flatten,
    random_weight,
    three_layer_convnet,
    three_layer_convnet_params,
    two_layer_fc,
    two_layer_fc_params,
    zero_weight,
)
from deepclass.errors import ConfigError
from deepclass.gradcheck import compute_numeric_gradient, grad_check_sparse, rel_error
from deepclass.registry import build_model, model_names


def seed_three_layer_convnet(x, params):
    """Seed 000's own solution, verbatim apart from names: the independent reference."""
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = params
    x1 = torch.nn.functional.conv2d(x, conv_w1, padding=2) + conv_b1.view(1, -1, 1, 1)
    x2 = torch.nn.functional.conv2d(x1.clamp(min=0), conv_w2, padding=1) + conv_b2.view(1, -1, 1, 1)
    return x2.view(x1.shape[0], -1).clamp(min=0).mm(fc_w) + fc_b


def test_flatten_keeps_batch_and_order():
    x = torch.arange(12).view(2, 1, 3, 2)
    out = flatten(x)
    assert out.shape == (2, 6)
    assert out.tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]


def test_two_layer_fc_seed_shape_test():
    x = torch.zeros((64, 50))
    w1 = torch.zeros((50, 42), requires_grad=True)
    w2 = torch.zeros((42, 10), requires_grad=True)
    assert two_layer_fc(x, [w1, w2]).shape == (64, 10)


def test_two_layer_fc_matches_closed_form():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 2, 2, dtype=torch.float64)
    w1 = torch.randn(12, 7, dtype=torch.float64)
    w2 = torch.randn(7, 4, dtype=torch.float64)
    expected = torch.clamp(x.reshape(5, 12) @ w1, min=0) @ w2
    torch.testing.assert_close(two_layer_fc(x, [w1, w2]), expected, rtol=0, atol=1e-12)


def test_three_layer_convnet_seed_shape_test():
    x = torch.zeros((64, 3, 32, 32))
    params = [
        torch.zeros((6, 3, 5, 5)),
        torch.zeros((6,)),
        torch.zeros((9, 6, 3, 3)),
        torch.zeros((9,)),
        torch.zeros((9 * 32 * 32, 10)),
        torch.zeros(10),
    ]
    assert three_layer_convnet(x, params).shape == (64, 10)


def test_three_layer_convnet_matches_the_seed_solution():
    torch.manual_seed(1)
    params = three_layer_convnet_params((3, 8, 8), 4, 3, 5, dtype=torch.float64)
    with torch.no_grad():  # non-zero biases so they are exercised
        params[1].normal_()
        params[3].normal_()
        params[5].normal_()
    x = torch.randn(6, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(
        three_layer_convnet(x, params), seed_three_layer_convnet(x, params), rtol=0, atol=1e-10
    )


def test_three_layer_convnet_other_kernel_sizes_give_the_fc_size():
    # 3x3 then 1x1 kernels with the fixed paddings 2 and 1: 8 -> 10 -> 12
    params = [
        torch.zeros(4, 3, 3, 3),
        torch.zeros(4),
        torch.zeros(2, 4, 1, 1),
        torch.zeros(2),
        torch.zeros(2 * 12 * 12, 3),
        torch.zeros(3),
    ]
    assert three_layer_convnet(torch.zeros(2, 3, 8, 8), params).shape == (2, 3)


def test_autograd_gradients_match_numeric_gradients():
    torch.manual_seed(2)
    x = torch.randn(3, 2, 5, 5, dtype=torch.float64)
    params = three_layer_convnet_params((2, 5, 5), 3, 2, 4, dtype=torch.float64)
    y = torch.tensor([0, 3, 1])
    F.cross_entropy(three_layer_convnet(x, params), y).backward()
    for i, p in enumerate(params):

        def loss_of(v, i=i):
            ps = [q.detach() for q in params]
            ps[i] = v
            return F.cross_entropy(three_layer_convnet(x, ps), y)

        point = p.detach().clone()
        errors = grad_check_sparse(loss_of, point, p.grad, num_checks=8, h=1e-6, verbose=False)
        assert max(errors) < 1e-6, f"param {i}: {errors}"
    # two_layer_fc: the whole numeric gradient of w1
    w1, w2 = two_layer_fc_params(6, 4, 3, dtype=torch.float64)
    xs = torch.randn(5, 6, dtype=torch.float64)
    ys = torch.tensor([0, 1, 2, 1, 0])
    F.cross_entropy(two_layer_fc(xs, [w1, w2]), ys).backward()
    numeric = compute_numeric_gradient(
        lambda v: F.cross_entropy(two_layer_fc(xs, [v, w2.detach()]), ys), w1.detach().clone()
    )
    assert rel_error(w1.grad, numeric) < 1e-6


@pytest.mark.parametrize(
    ("shape", "fan_in"),
    [((3 * 32 * 32, 4000), 3 * 32 * 32), ((32, 3, 5, 5), 75), ((64, 32, 3, 3), 288)],
)
def test_random_weight_is_kaiming_normal(shape, fan_in):
    torch.manual_seed(0)
    w = random_weight(shape)
    assert w.shape == shape and w.requires_grad and w.is_leaf and w.dtype == torch.float32
    expected = math.sqrt(2.0 / fan_in)
    assert abs(w.std().item() / expected - 1) < 0.03
    assert abs(w.mean().item()) < 0.03 * expected


def test_random_weight_dtype_and_device():
    w = random_weight((4, 5), dtype=torch.float64, device="cpu")
    assert w.dtype == torch.float64 and w.device.type == "cpu"


def test_zero_weight_int_and_tuple_shapes():
    b = zero_weight(32)
    w = zero_weight((3, 5))
    assert b.shape == (32,) and w.shape == (3, 5)
    assert b.requires_grad and w.requires_grad
    assert not b.any() and not w.any()


@pytest.mark.parametrize("shape", [(10,), (), (3, 0), (2, -1), (2.5, 3)])
def test_random_weight_rejects_bad_shapes(shape):
    with pytest.raises(ConfigError, match="random_weight"):
        random_weight(shape)


def test_param_builders_shapes():
    w1, w2 = two_layer_fc_params(3072, 4000, 10)
    assert (w1.shape, w2.shape) == ((3072, 4000), (4000, 10))
    shapes = [tuple(p.shape) for p in three_layer_convnet_params((3, 32, 32), 32, 16, 10)]
    assert shapes == [(32, 3, 5, 5), (32,), (16, 32, 3, 3), (16,), (16 * 32 * 32, 10), (10,)]
    biases = three_layer_convnet_params((3, 8, 8))[1::2]
    assert all(not b.any() for b in biases)


@pytest.mark.parametrize(
    ("index", "bad_shape", "name"),
    [(0, (3072, 100), "w1"), (1, (99, 10), "w2")],
)
def test_two_layer_fc_names_the_wrong_param(index, bad_shape, name):
    params = [torch.zeros(48, 100), torch.zeros(100, 10)]
    params[index] = torch.zeros(bad_shape)
    with pytest.raises(ConfigError, match=rf"two_layer_fc: param {name} must have shape"):
        two_layer_fc(torch.zeros(2, 3, 4, 4), params)


@pytest.mark.parametrize(
    ("index", "bad_shape", "name"),
    [
        (0, (6, 1, 5, 5), "conv_w1"),
        (1, (7,), "conv_b1"),
        (2, (9, 5, 3, 3), "conv_w2"),
        (3, (8,), "conv_b2"),
        (4, (9 * 16 * 16, 10), "fc_w"),
        (5, (11,), "fc_b"),
    ],
)
def test_three_layer_convnet_names_the_wrong_param(index, bad_shape, name):
    params = [
        torch.zeros(6, 3, 5, 5),
        torch.zeros(6),
        torch.zeros(9, 6, 3, 3),
        torch.zeros(9),
        torch.zeros(9 * 8 * 8, 10),
        torch.zeros(10),
    ]
    params[index] = torch.zeros(bad_shape)
    with pytest.raises(ConfigError, match=rf"three_layer_convnet: param {name} must have shape"):
        three_layer_convnet(torch.zeros(2, 3, 8, 8), params)


def test_wrong_number_of_params():
    with pytest.raises(ConfigError, match=r"list of 2 tensors \[w1, w2\], got 3 item"):
        two_layer_fc(torch.zeros(2, 4), [torch.zeros(4, 3)] * 3)
    with pytest.raises(ConfigError, match=r"list of 6 tensors \[conv_w1, conv_b1"):
        three_layer_convnet(torch.zeros(2, 3, 8, 8), [torch.zeros(1)] * 5)
    with pytest.raises(ConfigError, match="param w2 must be a tensor"):
        two_layer_fc(torch.zeros(2, 4), [torch.zeros(4, 3), None])


def test_wrong_image_shapes_are_named():
    params = three_layer_convnet_params((3, 8, 8), 4, 2, 10)
    with pytest.raises(ConfigError, match=r"x must be images \(N, C, H, W\), got shape \(2, 192\)"):
        three_layer_convnet(torch.zeros(2, 192), params)
    with pytest.raises(ConfigError, match=r"conv_w1 .* C = 1, the channels of x \(2, 1, 8, 8\)"):
        three_layer_convnet(torch.zeros(2, 1, 8, 8), params)
    with pytest.raises(ConfigError, match=r"fc_w .* = 2\*10\*10 = 200"):
        three_layer_convnet(torch.zeros(2, 3, 10, 10), params)
    with pytest.raises(ConfigError, match=r"w1 .* D = 784"):
        two_layer_fc(torch.zeros(2, 1, 28, 28), two_layer_fc_params(3072, 5, 10))


def test_dtype_mismatch_is_named():
    with pytest.raises(
        ConfigError, match=r"x has dtype torch\.float64 but the params are torch\.float32"
    ):
        two_layer_fc(torch.zeros(2, 4, dtype=torch.float64), two_layer_fc_params(4, 3, 2))


def test_registry_builds_functional_models():
    assert set(model_names("barebones")) >= {"two_layer_fc", "three_layer_convnet"}
    m = build_model(
        "barebones", "two_layer_fc", input_shape=(3, 8, 8), num_classes=5, hidden_size=7
    )
    assert isinstance(m, FunctionalModel) and m.fn is two_layer_fc
    assert [tuple(p.shape) for p in m.params] == [(192, 7), (7, 5)]
    assert m(torch.zeros(4, 3, 8, 8)).shape == (4, 5)
    c = build_model(
        "barebones", "three_layer_convnet", input_shape=(1, 6, 6), channel_1=3, channel_2=2
    )
    assert c(torch.zeros(2, 1, 6, 6)).shape == (2, 10)
    assert c.num_params() == sum(p.numel() for p in c.params)


def test_registry_errors():
    with pytest.raises(ConfigError, match=r"valid: .*two_layer_fc"):
        build_model("barebones", "resnet")
    with pytest.raises(ConfigError, match="does not take hidden_units; it takes: input_shape"):
        build_model("barebones", "two_layer_fc", hidden_units=(3,))
    with pytest.raises(ConfigError, match=r"input_shape must be \(C, H, W\)"):
        build_model("barebones", "three_layer_convnet", input_shape=(2,))
