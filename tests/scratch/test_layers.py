"""Every layer's backward against the numeric gradient and against torch.autograd.

Numeric checks run in float64 on small shapes (centered differences over every
entry), with the course's bar: rel_error < 1e-7. The autograd references run
the same computation with torch.nn.functional on leaf tensors.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepclass.errors import ConfigError
from deepclass.gradcheck import compute_numeric_gradient, rel_error
from deepclass.scratch import fast_layers as FL
from deepclass.scratch import layer_utils as LU
from deepclass.scratch import layers as L

DT = torch.float64
TOL = 1e-7


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def randn(*shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, dtype=DT) * scale + shift


def away_from_zero(*shape):
    """Values with |v| >= 0.1: no ReLU kink within the numeric step."""
    x = randn(*shape)
    return x + 0.1 * torch.sign(x)


def distinct(*shape):
    """A random permutation of well-separated values: max-pool winners are unambiguous."""
    n = int(torch.tensor(shape).prod())
    return (torch.randperm(n).to(DT) * 0.1 - n * 0.05).reshape(shape)


def numeric(f, x, dout):
    return compute_numeric_gradient(f, x, dout)


def autograd_grads(op, inputs, dout):
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    out = op(*leaves)
    out.backward(dout)
    return out.detach(), [t.grad for t in leaves]


def check_all(forward, backward, inputs, ref_op, names):
    """forward(*inputs) -> (out, cache); backward(dout, cache) -> grads per name.

    Checks every gradient against the numeric one (rel < 1e-7) and the output
    and every gradient against autograd on ``ref_op``.
    """
    out, cache = forward(*inputs)
    dout = randn(*out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(names)
    ref_out, ref_grads = autograd_grads(ref_op, inputs, dout)
    assert rel_error(out, ref_out) < TOL
    for i, (name, g) in enumerate(zip(names, grads, strict=True)):
        num = numeric(lambda _, i=i: forward(*inputs)[0], inputs[i], dout)
        assert g.shape == inputs[i].shape, name
        if ref_grads[i].abs().max() < 1e-12:  # an exactly-zero gradient (a bias before batchnorm)
            assert g.abs().max() < 1e-12 and num.abs().max() < 1e-6, name
            continue
        assert rel_error(g, num) < TOL, f"d{name} vs numeric: {rel_error(g, num)}"
        assert rel_error(g, ref_grads[i]) < TOL, f"d{name} vs autograd"


# --------------------------------------------------------------------------------------


def test_linear():
    x, w, b = randn(3, 2, 4), randn(8, 5), randn(5)
    check_all(
        L.Linear.forward,
        L.Linear.backward,
        [x, w, b],
        lambda x, w, b: x.reshape(3, -1) @ w + b,
        "xwb",
    )
    out, cache = L.Linear.forward(x, w, b)
    assert out.shape == (3, 5) and cache.x is x and cache.w is w


def test_relu_and_linear_relu():
    x = away_from_zero(4, 6)
    check_all(L.ReLU.forward, L.ReLU.backward, [x], F.relu, "x")
    out, _ = L.ReLU.forward(x)
    assert out is not x and (x < 0).any()  # a new tensor; the input is untouched
    xi, w, b = randn(3, 5), randn(5, 4), randn(4)
    check_all(
        LU.Linear_ReLU.forward,
        LU.Linear_ReLU.backward,
        [xi, w, b],
        lambda x, w, b: F.relu(x @ w + b),
        "xwb",
    )


def test_dropout_train_and_test():
    x = randn(200, 100, shift=5.0)
    param = {"mode": "train", "p": 0.3}
    out, cache = L.Dropout.forward(x, param)
    dropped = (out == 0).double().mean().item()
    assert abs(dropped - 0.3) < 0.02  # p is the probability of dropping (EECS 498)
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / 0.7)  # inverted dropout scales at train time
    dout = randn(200, 100)
    assert torch.equal(L.Dropout.backward(dout, cache), dout * cache.mask)
    out_t, cache_t = L.Dropout.forward(x, {"mode": "test", "p": 0.3})
    assert torch.equal(out_t, x) and torch.equal(L.Dropout.backward(dout, cache_t), dout)


def test_dropout_seed_is_repeatable_and_private():
    x = randn(10, 10)
    state = torch.get_rng_state()
    a, _ = L.Dropout.forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    b, _ = L.Dropout.forward(x, {"mode": "train", "p": 0.5, "seed": 123})
    assert torch.equal(a, b)
    assert torch.equal(state, torch.get_rng_state())  # the global stream is untouched
    param = {"mode": "train", "p": 0.4, "seed": 7}
    check_all(
        lambda x: L.Dropout.forward(x, param),
        L.Dropout.backward,
        [x],
        lambda x: x * L.Dropout.forward(torch.ones_like(x), param)[0],
        "x",
    )


def _bn_ref():
    def op(x, g, b):
        return F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)

    return op


@pytest.mark.parametrize("backward", ["backward", "backward_alt"])
def test_batchnorm_train_gradients(backward):
    x, gamma, beta = randn(6, 5, scale=3, shift=2), randn(5), randn(5)
    bwd = getattr(L.BatchNorm, backward)
    check_all(
        lambda x, g, b: L.BatchNorm.forward(x, g, b, {"mode": "train"}),
        bwd,
        [x, gamma, beta],
        _bn_ref(),
        ["x", "gamma", "beta"],
    )


def test_batchnorm_backward_and_alt_agree():
    x, gamma, beta = randn(16, 7, scale=2), randn(7), randn(7)
    _, cache = L.BatchNorm.forward(x, gamma, beta, {"mode": "train"})
    dout = randn(16, 7)
    for a, b in zip(
        L.BatchNorm.backward(dout, cache), L.BatchNorm.backward_alt(dout, cache), strict=True
    ):
        assert rel_error(a, b) < 1e-12


def test_batchnorm_forward_statistics():
    x = randn(200, 3, scale=4, shift=7)
    gamma, beta = torch.tensor([1.0, 2.0, 3.0], dtype=DT), torch.tensor([0.0, -1.0, 5.0], dtype=DT)
    out, _ = L.BatchNorm.forward(x, gamma, beta, {"mode": "train"})
    assert torch.allclose(out.mean(0), beta, atol=1e-10)
    assert torch.allclose(out.std(0, unbiased=False), gamma, atol=1e-4)


def test_batchnorm_running_statistics_follow_the_course_formula():
    """running = momentum * running + (1 - momentum) * batch statistic, biased variance."""
    D = 4
    param = {"mode": "train", "momentum": 0.8}
    gamma, beta = torch.ones(D, dtype=DT), torch.zeros(D, dtype=DT)
    rm, rv = torch.zeros(D, dtype=DT), torch.zeros(D, dtype=DT)
    for _ in range(5):
        x = randn(32, D, scale=2, shift=3)
        L.BatchNorm.forward(x, gamma, beta, param)
        rm = 0.8 * rm + 0.2 * x.mean(0)
        rv = 0.8 * rv + 0.2 * x.var(0, unbiased=False)
        assert torch.allclose(param["running_mean"], rm, atol=1e-12)
        assert torch.allclose(param["running_var"], rv, atol=1e-12)
    # torch's convention differs: its momentum weighs the new batch and it keeps the unbiased var
    trm, trv = torch.zeros(D, dtype=DT), torch.ones(D, dtype=DT)
    F.batch_norm(x, trm, trv, training=True, momentum=0.2)
    assert not torch.allclose(trv, 0.8 + 0.2 * x.var(0, unbiased=False))


def test_batchnorm_test_mode_uses_running_statistics():
    D = 3
    param = {"mode": "train"}  # default momentum 0.9, eps 1e-5
    gamma, beta = randn(D), randn(D)
    for _ in range(50):
        L.BatchNorm.forward(randn(64, D, scale=2, shift=-1), gamma, beta, param)
    param["mode"] = "test"
    x = randn(10, D, scale=2, shift=-1)
    out, _ = L.BatchNorm.forward(x, gamma, beta, param)
    expected = (x - param["running_mean"]) / (param["running_var"] + 1e-5).sqrt() * gamma + beta
    assert torch.allclose(out, expected, atol=1e-12)
    # the test-time layer is a fixed affine map: check its gradients too
    rm, rv = param["running_mean"], param["running_var"]
    check_all(
        lambda x, g, b: L.BatchNorm.forward(x, g, b, dict(param)),
        L.BatchNorm.backward,
        [x, gamma, beta],
        lambda x, g, b: F.batch_norm(x, rm, rv, g, b, training=False, eps=1e-5),
        ["x", "gamma", "beta"],
    )


def test_spatial_batchnorm():
    x, gamma, beta = randn(3, 4, 3, 5, scale=2, shift=1), randn(4), randn(4)
    check_all(
        lambda x, g, b: L.SpatialBatchNorm.forward(x, g, b, {"mode": "train"}),
        L.SpatialBatchNorm.backward,
        [x, gamma, beta],
        _bn_ref(),
        ["x", "gamma", "beta"],
    )
    # the same numbers as the course's transpose to (N*H*W, C) through BatchNorm
    param_a, param_b = {"mode": "train"}, {"mode": "train"}
    out_a, _ = L.SpatialBatchNorm.forward(x, gamma, beta, param_a)
    flat = x.permute(0, 2, 3, 1).reshape(-1, 4)
    out_b, _ = L.BatchNorm.forward(flat, gamma, beta, param_b)
    assert torch.allclose(out_a, out_b.reshape(3, 3, 5, 4).permute(0, 3, 1, 2), atol=1e-12)
    assert torch.allclose(param_a["running_var"], param_b["running_var"], atol=1e-12)


CONV_CASES = [  # N, C, H, W, F, K, stride, pad
    (2, 3, 5, 5, 3, 3, 1, 1),
    (2, 2, 7, 5, 3, 3, 2, 1),
    (1, 2, 6, 6, 2, 4, 2, 0),
    (2, 1, 5, 5, 2, 5, 1, 2),
]


@pytest.mark.parametrize(
    "layer,case",
    [(FL.FastConv, c) for c in CONV_CASES] + [(L.Conv, c) for c in CONV_CASES],
    ids=[f"fast{i}" for i in range(4)] + [f"naive{i}" for i in range(4)],
)
def test_conv_gradients(layer, case):
    N, C, H, W, Fo, K, s, p = case
    x, w, b = randn(N, C, H, W), randn(Fo, C, K, K), randn(Fo)
    cp = {"stride": s, "pad": p}
    check_all(
        lambda x, w, b: layer.forward(x, w, b, cp),
        layer.backward,
        [x, w, b],
        lambda x, w, b: F.conv2d(x, w, b, stride=s, padding=p),
        "xwb",
    )


def test_naive_and_fast_conv_agree():
    x, w, b = randn(4, 3, 11, 9), randn(5, 3, 3, 3), randn(5)
    for cp in ({"stride": 1, "pad": 1}, {"stride": 2, "pad": 0}, {"stride": 2, "pad": 2}):
        out_n, cache_n = L.Conv.forward(x, w, b, cp)
        out_f, cache_f = FL.FastConv.forward(x, w, b, cp)
        assert rel_error(out_n, out_f) < 1e-12
        dout = randn(*out_n.shape)
        for gn, gf in zip(
            L.Conv.backward(dout, cache_n), FL.FastConv.backward(dout, cache_f), strict=True
        ):
            assert rel_error(gn, gf) < 1e-12


POOL_CASES = [  # N, C, H, W, ph, pw, stride
    (2, 3, 4, 4, 2, 2, 2),
    (2, 2, 5, 7, 3, 3, 2),  # overlapping windows
    (1, 2, 6, 4, 2, 1, 1),
]


@pytest.mark.parametrize("layer", [L.MaxPool, FL.FastMaxPool], ids=["naive", "fast"])
@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_gradients(layer, case):
    N, C, H, W, ph, pw, s = case
    x = distinct(N, C, H, W)
    pp = {"pool_height": ph, "pool_width": pw, "stride": s}
    check_all(
        lambda x: layer.forward(x, pp),
        layer.backward,
        [x],
        lambda x: F.max_pool2d(x, (ph, pw), s),
        "x",
    )


def test_naive_and_fast_pool_agree_with_ties():
    x = torch.randint(0, 3, (3, 2, 8, 8)).to(DT)  # many ties: both route to the first maximum
    for pp in (
        {"pool_height": 2, "pool_width": 2, "stride": 2},
        {"pool_height": 3, "pool_width": 3, "stride": 1},
    ):
        out_n, cache_n = L.MaxPool.forward(x, pp)
        out_f, cache_f = FL.FastMaxPool.forward(x, pp)
        assert torch.equal(out_n, out_f)
        dout = randn(*out_n.shape)
        dn, df = L.MaxPool.backward(dout, cache_n), FL.FastMaxPool.backward(dout, cache_f)
        assert rel_error(dn, df) < 1e-14
        assert torch.allclose(dn.sum(), dout.sum())  # every window's gradient goes to one place


def _conv_bn_relu_pool_ref(pool, bn):
    def op(x, w, b, g=None, be=None):
        a = F.conv2d(x, w, b, padding=1)
        if bn:
            a = F.batch_norm(a, None, None, g, be, training=True, eps=1e-5)
        a = F.relu(a)
        return F.max_pool2d(a, 2, 2) if pool else a

    return op


@pytest.mark.parametrize(
    "layer,pool,bn",
    [
        (LU.Conv_ReLU, False, False),
        (LU.Conv_ReLU_Pool, True, False),
        (LU.Conv_BatchNorm_ReLU, False, True),
        (LU.Conv_BatchNorm_ReLU_Pool, True, True),
    ],
)
def test_conv_sandwiches(layer, pool, bn):
    x, w, b = randn(2, 3, 4, 4), randn(3, 3, 3, 3), randn(3)
    cp, pp = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    inputs, names = [x, w, b], ["x", "w", "b"]
    if bn:
        inputs += [randn(3), randn(3)]
        names += ["gamma", "beta"]

    def fwd(*args):
        extra = ({"mode": "train"},) if bn else ()
        extra += (pp,) if pool else ()
        return layer.forward(*args, cp, *extra)

    check_all(fwd, layer.backward, inputs, _conv_bn_relu_pool_ref(pool, bn), names)


def test_linear_batchnorm_relu():
    inputs = [randn(5, 4), randn(4, 6), randn(6), randn(6), randn(6)]
    check_all(
        lambda x, w, b, g, be: LU.Linear_BatchNorm_ReLU.forward(x, w, b, g, be, {"mode": "train"}),
        LU.Linear_BatchNorm_ReLU.backward,
        inputs,
        lambda x, w, b, g, be: F.relu(F.batch_norm(x @ w + b, None, None, g, be, training=True)),
        ["x", "w", "b", "gamma", "beta"],
    )


def test_softmax_loss():
    x, y = randn(6, 5), torch.tensor([0, 4, 2, 2, 1, 3])
    loss, dx = L.softmax_loss(x, y)
    xr = x.clone().requires_grad_()
    ref = F.cross_entropy(xr, y)
    ref.backward()
    assert rel_error(loss, ref.detach()) < TOL and rel_error(dx, xr.grad) < TOL
    num = numeric(lambda _: L.softmax_loss(x, y)[0], x, None)
    assert rel_error(dx, num) < TOL
    # random scores near 0 give loss ~ log(C); huge scores do not overflow
    assert (
        abs(
            L.softmax_loss(randn(500, 10) * 1e-3, torch.randint(10, (500,)))[0]
            - torch.log(torch.tensor(10.0))
        )
        < 1e-2
    )
    assert torch.isfinite(L.softmax_loss(x * 1e4, y)[0])


def test_svm_loss():
    x, y = randn(6, 5), torch.tensor([0, 4, 2, 2, 1, 3])
    loss, dx = L.svm_loss(x, y)
    xr = x.clone().requires_grad_()
    ref = F.multi_margin_loss(xr, y, margin=1.0) * 5  # torch divides by C as well
    ref.backward()
    assert rel_error(loss, ref.detach()) < TOL and rel_error(dx, xr.grad) < TOL
    num = numeric(lambda _: L.svm_loss(x, y)[0], x, None)
    assert rel_error(dx, num) < TOL
    assert abs(L.svm_loss(torch.zeros(4, 10, dtype=DT), torch.arange(4))[0] - 9.0) < 1e-12


# --------------------------------------------------------------------------------------
# errors


def test_shape_mismatches_name_the_shapes():
    with pytest.raises(ConfigError, match=r"Linear: x \(2, 3, 4\) has D = 12.*w \(10, 5\)"):
        L.Linear.forward(randn(2, 3, 4), randn(10, 5), randn(5))
    with pytest.raises(ConfigError, match=r"b \(4,\)"):
        L.Linear.forward(randn(2, 10), randn(10, 5), randn(4))
    with pytest.raises(ConfigError, match=r"x \(2, 3, 8, 8\) has C = 3.*w \(4, 2, 3, 3\)"):
        FL.FastConv.forward(randn(2, 3, 8, 8), randn(4, 2, 3, 3), randn(4), {"stride": 1, "pad": 1})
    with pytest.raises(ConfigError, match=r"x must have shape \(N, C, H, W\), got shape \(8, 8\)"):
        L.Conv.forward(randn(8, 8), randn(4, 2, 3, 3), randn(4), {"stride": 1, "pad": 1})
    with pytest.raises(ConfigError, match=r"gamma and beta must have shape \(5,\)"):
        L.BatchNorm.forward(randn(4, 5), randn(4), randn(5), {"mode": "train"})
    with pytest.raises(ConfigError, match="dtype and device"):
        L.Linear.forward(randn(2, 3), torch.randn(3, 4), torch.randn(4))


def test_windows_that_do_not_tile_the_input():
    with pytest.raises(ConfigError, match="does not tile the input height 8"):
        FL.FastConv.forward(randn(1, 1, 8, 8), randn(1, 1, 3, 3), randn(1), {"stride": 2, "pad": 0})
    with pytest.raises(ConfigError, match="does not tile the input width 5"):
        L.MaxPool.forward(randn(1, 1, 4, 5), {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(ConfigError, match="stride must be an int >= 1"):
        FL.FastMaxPool.forward(randn(1, 1, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 0})
    with pytest.raises(ConfigError, match="key 'pad'"):
        L.Conv.forward(randn(1, 1, 4, 4), randn(1, 1, 3, 3), randn(1), {"stride": 1})


def test_bad_labels_and_params():
    with pytest.raises(
        ConfigError, match=r"labels must be in \[0, C\) = \[0, 5\), got range \[0, 7\]"
    ):
        L.softmax_loss(randn(3, 5), torch.tensor([0, 7, 1]))
    with pytest.raises(ConfigError, match="got range"):
        L.svm_loss(randn(3, 5), torch.tensor([0, -1, 1]))
    with pytest.raises(ConfigError, match=r"y must have shape \(N,\) = \(3,\)"):
        L.softmax_loss(randn(3, 5), torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="integer tensor"):
        L.softmax_loss(randn(3, 5), torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ConfigError, match=r"p \(drop probability\) must be in \[0, 1\)"):
        L.Dropout.forward(randn(3), {"mode": "train", "p": 1.0})
    with pytest.raises(ConfigError, match="mode must be 'train' or 'test'"):
        L.Dropout.forward(randn(3), {"mode": "eval", "p": 0.5})
    with pytest.raises(ConfigError, match=r"bn_param\['mode'\]"):
        L.BatchNorm.forward(randn(3, 2), randn(2), randn(2), {})


def test_autograd_is_never_used(monkeypatch):
    """Every forward/backward runs with autograd's entry points disabled, and builds no graph."""

    def forbidden(*a, **k):
        raise AssertionError("autograd was used")

    monkeypatch.setattr(torch.autograd, "backward", forbidden)
    monkeypatch.setattr(torch.autograd, "grad", forbidden)
    monkeypatch.setattr(torch.Tensor, "backward", forbidden)
    x = randn(2, 3, 8, 8)
    cp, pp = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    outs = []
    for layer, args in [
        (L.Conv, (x, randn(4, 3, 3, 3), randn(4), cp)),
        (FL.FastConv, (x, randn(4, 3, 3, 3), randn(4), cp)),
        (L.MaxPool, (x, pp)),
        (FL.FastMaxPool, (x, pp)),
        (L.SpatialBatchNorm, (x, randn(3), randn(3), {"mode": "train"})),
        (
            LU.Conv_BatchNorm_ReLU_Pool,
            (x, randn(4, 3, 3, 3), randn(4), randn(4), randn(4), cp, {"mode": "train"}, pp),
        ),
        (
            LU.Linear_BatchNorm_ReLU,
            (x, randn(192, 5), randn(5), randn(5), randn(5), {"mode": "train"}),
        ),
        (L.Dropout, (x, {"mode": "train", "p": 0.5})),
    ]:
        out, cache = layer.forward(*args)
        grads = layer.backward(torch.ones_like(out), cache)
        outs += [out, *(grads if isinstance(grads, tuple) else (grads,))]
    outs += list(L.softmax_loss(randn(3, 4), torch.tensor([0, 1, 2])))
    assert all(t.grad_fn is None and not t.requires_grad for t in outs)


# --------------------------------------------------------------------------------------
# fast paths: memory layouts and batch slices


@pytest.mark.parametrize("C", [3, 16], ids=["channel-major columns", "nhwc columns"])
@pytest.mark.parametrize("cp", [{"stride": 1, "pad": 1}, {"stride": 2, "pad": 1}])
def test_fast_conv_any_layout_and_slicing(monkeypatch, C, cp):
    """FastConv gives the naive results for both column layouts, for channels-last and
    non-contiguous inputs, and when the batch is cut into one-example slices."""
    x, w, b = randn(3, C, 7, 7), randn(4, C, 3, 3), randn(4)
    out_ref, cache_ref = L.Conv.forward(x, w, b, cp)
    dout = randn(*out_ref.shape)
    grads_ref = L.Conv.backward(dout, cache_ref)
    variants = [
        x.contiguous(memory_format=torch.channels_last),
        randn(3, C, 7, 14)[:, :, :, ::2].copy_(x),  # a strided, non-contiguous view
    ]
    for slice_bytes in (1, 4 << 20):  # one example per slice, or the whole batch at once
        monkeypatch.setattr(FL, "_CHUNK_BYTES", slice_bytes)
        for xv in [x, *variants]:
            out, cache = FL.FastConv.forward(xv, w, b, cp)
            assert rel_error(out, out_ref) < 1e-12
            for g, r in zip(FL.FastConv.backward(dout, cache), grads_ref, strict=True):
                assert rel_error(g, r) < 1e-12
        d_cl = dout.contiguous(memory_format=torch.channels_last)
        for g, r in zip(FL.FastConv.backward(d_cl, cache), grads_ref, strict=True):
            assert rel_error(g, r) < 1e-12


SHIFTED_CASES = [  # N, C, H, W, F, K, pad: stride 1, >= 16 channels
    (2, 16, 6, 5, 3, 3, 1),  # 96 rows: two blocks of 64 when blocks are made tiny
    (1, 16, 4, 4, 2, 3, 0),
    (2, 17, 5, 7, 4, 5, 2),
    (3, 16, 3, 3, 2, 1, 0),  # 1x1 filters: one product, nothing thrown away
    (2, 16, 3, 4, 3, 3, 3),  # pad wider than the filter: the output outgrows the input
    (2, 16, 5, 6, 3, (3, 5), 1),  # a 3x5 filter with pad 1: output narrower than x
]


@pytest.mark.parametrize("case", SHIFTED_CASES, ids=[f"shifted{i}" for i in range(6)])
def test_fast_conv_shifted_products_gradients(monkeypatch, case):
    """The column-free path (shifted row products) against numeric gradients and autograd,
    with row blocks of 64 so that products cross block and image boundaries."""
    monkeypatch.setattr(FL, "_SHIFT_MAX_WASTE", 1e9)  # take it for these small maps too
    monkeypatch.setattr(FL, "_SHIFT_BLOCK_BYTES", 1)
    N, C, H, W, Fo, K, p = case
    KH, KW = (K, K) if isinstance(K, int) else K
    x, w, b = randn(N, C, H, W), randn(Fo, C, KH, KW), randn(Fo)
    Ho, Wo = H + 2 * p - KH + 1, W + 2 * p - KW + 1
    assert FL._use_shifted(
        FL._Layout(C, KH, KW, 1, Ho, Wo), FL._grid((H, W), (KH, KW), p, (Ho, Wo))
    )
    check_all(
        lambda x, w, b: FL.FastConv.forward(x, w, b, {"stride": 1, "pad": p}),
        FL.FastConv.backward,
        [x, w, b],
        lambda x, w, b: F.conv2d(x, w, b, padding=p),
        "xwb",
    )


@pytest.mark.parametrize(
    "C,K,pad,stride", [(16, 3, 1, 1), (16, 3, 3, 1), (3, 3, 1, 1), (16, 3, 1, 2)]
)
def test_fast_conv_reads_no_memory_it_did_not_write(monkeypatch, C, K, pad, stride):
    """Every buffer FastConv allocates uninitialised comes back full of NaN: a zero it
    forgot to write (grid gaps, padding) would turn outputs or gradients into NaN."""
    monkeypatch.setattr(FL, "_SHIFT_MAX_WASTE", 1e9)
    monkeypatch.setattr(FL, "_SHIFT_BLOCK_BYTES", 1)
    x, w, b = randn(2, C, 5, 5), randn(4, C, K, K), randn(4)
    cp = {"stride": stride, "pad": pad}
    out_ref, cache_ref = L.Conv.forward(x, w, b, cp)
    dout = randn(*out_ref.shape)
    grads_ref = L.Conv.backward(dout, cache_ref)
    new_empty = torch.Tensor.new_empty
    monkeypatch.setattr(
        torch.Tensor, "new_empty", lambda t, *a, **k: new_empty(t, *a, **k).fill_(float("nan"))
    )
    out, cache = FL.FastConv.forward(x, w, b, cp)
    assert rel_error(out, out_ref) < 1e-12
    for g, r in zip(FL.FastConv.backward(dout, cache), grads_ref, strict=True):
        assert rel_error(g, r) < 1e-12


def test_fast_conv_shifted_products_any_input_layout(monkeypatch):
    """Channels-last and strided inputs and upstream gradients give the naive results."""
    monkeypatch.setattr(FL, "_SHIFT_MAX_WASTE", 1e9)
    x, w, b = randn(3, 16, 6, 6), randn(5, 16, 3, 3), randn(5)
    cp = {"stride": 1, "pad": 1}
    out_ref, cache_ref = L.Conv.forward(x, w, b, cp)
    dout = randn(*out_ref.shape)
    grads_ref = L.Conv.backward(dout, cache_ref)
    for xv in (
        x,
        x.contiguous(memory_format=torch.channels_last),
        randn(3, 16, 6, 12)[:, :, :, ::2].copy_(x),
    ):
        out, cache = FL.FastConv.forward(xv, w, b, cp)
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert rel_error(out, out_ref) < 1e-12
        for d in (dout, dout.contiguous(memory_format=torch.channels_last)):
            for g, r in zip(FL.FastConv.backward(d, cache), grads_ref, strict=True):
                assert g.shape == r.shape and rel_error(g, r) < 1e-12


@pytest.mark.parametrize(
    "C,H,stride,pad,shifted",
    [
        (32, 32, 1, 1, True),  # 33x33 grid for 32x32 outputs: 1.06x the work
        (64, 16, 1, 1, True),  # 1.13x
        (128, 8, 1, 1, False),  # 1.27x: the columns are cheaper
        (32, 32, 2, 1, False),  # strided
        (3, 32, 1, 1, False),  # few channels: channel-major columns
    ],
)
def test_fast_conv_takes_the_shifted_path_where_it_pays(C, H, stride, pad, shifted):
    Ho = (H + 2 * pad - 3) // stride + 1
    lay = FL._Layout(C, 3, 3, stride, Ho, Ho)
    g = FL._grid((H, H), (3, 3), pad, (Ho, Ho))
    assert FL._use_shifted(lay, g) is shifted


def test_fast_conv_gradients_with_many_channels():
    x, w, b = randn(2, 16, 3, 3), randn(2, 16, 3, 3), randn(2)
    cp = {"stride": 1, "pad": 1}
    check_all(
        lambda x, w, b: FL.FastConv.forward(x, w, b, cp),
        FL.FastConv.backward,
        [x, w, b],
        lambda x, w, b: F.conv2d(x, w, b, padding=1),
        "xwb",
    )


def test_fast_layers_keep_channels_last():
    """The fast conv hands the next layers a channels-last map; they keep it (no copies),
    with the same numbers as on a contiguous map."""
    x, w, b = randn(2, 3, 8, 8), randn(4, 3, 3, 3), randn(4)
    gamma, beta = randn(4), randn(4)
    out, _ = FL.FastConv.forward(x, w, b, {"stride": 1, "pad": 1})
    assert out.is_contiguous(memory_format=torch.channels_last)
    bn, bn_cache = L.SpatialBatchNorm.forward(out, gamma, beta, {"mode": "train"})
    assert bn.is_contiguous(memory_format=torch.channels_last) and bn_cache.xhat.shape == (128, 4)
    bn_ref, bn_ref_cache = L.SpatialBatchNorm.forward(
        out.contiguous(), gamma, beta, {"mode": "train"}
    )
    assert rel_error(bn, bn_ref) < 1e-12
    pooled, pool_cache = FL.FastMaxPool.forward(
        bn, {"pool_height": 2, "pool_width": 2, "stride": 2}
    )
    assert pooled.is_contiguous(memory_format=torch.channels_last)
    dx = FL.FastMaxPool.backward(randn(*pooled.shape), pool_cache)
    assert dx.is_contiguous(memory_format=torch.channels_last)
    for g, r in zip(
        L.SpatialBatchNorm.backward(dx, bn_cache),
        L.SpatialBatchNorm.backward(dx.contiguous(), bn_ref_cache),
        strict=True,
    ):
        assert rel_error(g, r) < 1e-12
