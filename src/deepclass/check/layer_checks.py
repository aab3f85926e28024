"""Checks of rung 2's layers (seed 002, EECS 498 A3): forward against ours, backward against
a numeric gradient and ours, inputs untouched, dropout's and batchnorm's train/test modes.

Every layer is graded the course's way: float64 inputs, a random upstream gradient
``dout``, the numeric gradient of ``sum(forward(...)[0] * dout)`` (the shared gradcheck)
against the student's ``backward``; bars 1e-7.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from deepclass.check.compare import (
    GRAD_BAR,
    VALUE_BAR,
    as_tuple,
    compare_scalar,
    compare_tensor,
    copies,
    describe,
    labels,
    numeric_gradient,
    randn,
    scalar,
    tensor,
    unchanged,
)
from deepclass.check.registry import Fail, Outcome, check, course_name
from deepclass.scratch import layer_utils as LU
from deepclass.scratch import layers as L


@dataclass
class Spec:
    """How to call a layer: its tensor inputs (with gradients, in backward's order), the
    trailing parameter dicts, and our implementation."""

    ref: type
    inputs: Callable[[], dict[str, torch.Tensor]]
    params: Callable[[], list] = list


def _conv_param():
    return {"stride": 2, "pad": 1}


def _same_conv():
    return {"stride": 1, "pad": 1}


def _pool():
    return {"pool_height": 2, "pool_width": 2, "stride": 2}


def _bn():
    return {"mode": "train"}


def _bn_inputs(shape, d):
    return lambda: {
        "x": randn(*shape, seed=1, scale=2.0) + 1.5,
        "gamma": randn(d, seed=2, scale=0.5) + 1.0,
        "beta": randn(d, seed=3),
    }


def _affine(x_shape, w_shape, f):
    return lambda: {
        "x": randn(*x_shape, seed=1),
        "w": randn(*w_shape, seed=2, scale=0.5),
        "b": randn(f, seed=3),
    }


def _affine_bn(x_shape, w_shape, f):
    return lambda: {
        "x": randn(*x_shape, seed=1),
        "w": randn(*w_shape, seed=2, scale=0.5),
        "b": randn(f, seed=3),
        "gamma": randn(f, seed=4, scale=0.5) + 1.0,
        "beta": randn(f, seed=5),
    }


SPECS: dict[str, Spec] = {
    "Linear": Spec(L.Linear, _affine((4, 2, 3), (6, 5), 5)),
    "ReLU": Spec(L.ReLU, lambda: {"x": randn(5, 6, seed=1)}),
    "Linear_ReLU": Spec(LU.Linear_ReLU, _affine((4, 2, 3), (6, 5), 5)),
    "BatchNorm": Spec(L.BatchNorm, _bn_inputs((8, 5), 5), lambda: [_bn()]),
    "SpatialBatchNorm": Spec(L.SpatialBatchNorm, _bn_inputs((3, 4, 3, 3), 4), lambda: [_bn()]),
    "Conv": Spec(L.Conv, _affine((2, 3, 5, 5), (2, 3, 3, 3), 2), lambda: [_conv_param()]),
    "MaxPool": Spec(L.MaxPool, lambda: {"x": randn(2, 3, 4, 4, seed=1)}, lambda: [_pool()]),
    "Conv_ReLU": Spec(
        LU.Conv_ReLU, _affine((2, 3, 5, 5), (2, 3, 3, 3), 2), lambda: [_conv_param()]
    ),
    "Conv_ReLU_Pool": Spec(
        LU.Conv_ReLU_Pool, _affine((2, 3, 6, 6), (3, 3, 3, 3), 3), lambda: [_same_conv(), _pool()]
    ),
    "Linear_BatchNorm_ReLU": Spec(
        LU.Linear_BatchNorm_ReLU, _affine_bn((6, 4), (4, 5), 5), lambda: [_bn()]
    ),
    "Conv_BatchNorm_ReLU": Spec(
        LU.Conv_BatchNorm_ReLU,
        _affine_bn((2, 3, 5, 5), (2, 3, 3, 3), 2),
        lambda: [_conv_param(), _bn()],
    ),
    "Conv_BatchNorm_ReLU_Pool": Spec(
        LU.Conv_BatchNorm_ReLU_Pool,
        _affine_bn((2, 3, 6, 6), (3, 3, 3, 3), 3),
        lambda: [_same_conv(), _bn(), _pool()],
    ),
}

_DOCS = {
    "Linear": (
        "def forward(x, w, b):\ndef backward(dout, cache):",
        """
Linear (fully-connected) layer.

forward(x, w, b): x (N, d_1, ..., d_k), reshaped to (N, D); w (D, M); b (M,).
  Returns a tuple of out (N, M) and cache (x, w, b).
backward(dout, cache): dout (N, M).
  Returns a tuple of dx (N, d_1, ..., d_k), dw (D, M), db (M,).
""",
    ),
    "ReLU": (
        "def forward(x):\ndef backward(dout, cache):",
        """
Rectified linear units. You should not change the input tensor with an in-place operation.

forward(x): x of any shape. Returns out (same shape) and cache (x).
backward(dout, cache): Returns dx, the gradient with respect to x.
""",
    ),
    "Linear_ReLU": (
        "def forward(x, w, b):\ndef backward(dout, cache):",
        """
Convenience layer: a linear transform followed by a ReLU.

forward(x, w, b): Returns out (from the ReLU) and cache (fc_cache, relu_cache).
backward(dout, cache): Returns dx, dw, db.
""",
    ),
    "Dropout": (
        "def forward(x, dropout_param):\ndef backward(dout, cache):",
        """
Inverted dropout.

forward(x, dropout_param): dropout_param has 'p' (the probability of DROPPING each
  unit), 'mode' ('train' or 'test'; test mode is the identity) and optionally 'seed'.
  In train mode, kept units are scaled by 1 / (1 - p). Returns out (x's shape) and cache.
backward(dout, cache): Returns dx.
""",
    ),
    "BatchNorm": (
        "def forward(x, gamma, beta, bn_param):\ndef backward(dout, cache):",
        """
Batch normalization.

forward(x, gamma, beta, bn_param): x (N, D); gamma, beta (D,); bn_param has 'mode'
  ('train' or 'test'), optional 'eps' (1e-5), 'momentum' (0.9), 'running_mean' and
  'running_var' ((D,), zeros when missing). In train mode, normalize with the batch
  mean and (biased) variance and update
      running_mean = momentum * running_mean + (1 - momentum) * sample_mean
      running_var = momentum * running_var + (1 - momentum) * sample_var
  storing them back in bn_param; in test mode, normalize with the running statistics.
  Returns out (N, D) and cache.
backward(dout, cache): Returns dx (N, D), dgamma (D,), dbeta (D,).
""",
    ),
    "SpatialBatchNorm": (
        "def forward(x, gamma, beta, bn_param):\ndef backward(dout, cache):",
        """
Spatial batch normalization: statistics per channel, over N, H and W.

forward(x, gamma, beta, bn_param): x (N, C, H, W); gamma, beta (C,); bn_param as BatchNorm.
backward(dout, cache): Returns dx (N, C, H, W), dgamma (C,), dbeta (C,).
""",
    ),
    "Conv": (
        "def forward(x, w, b, conv_param):\ndef backward(dout, cache):",
        """
Convolution (a naive implementation is fine).

forward(x, w, b, conv_param): x (N, C, H, W); w (F, C, HH, WW); b (F,); conv_param has
  'stride' and 'pad' (zero-padding on every side).
  H' = 1 + (H + 2 * pad - HH) // stride, W' likewise. Returns out (N, F, H', W') and cache.
backward(dout, cache): Returns dx, dw, db.
""",
    ),
    "MaxPool": (
        "def forward(x, pool_param):\ndef backward(dout, cache):",
        """
Max pooling (a naive implementation is fine).

forward(x, pool_param): x (N, C, H, W); pool_param has 'pool_height', 'pool_width', 'stride'.
  Returns out (N, C, H', W') and cache.
backward(dout, cache): Returns dx.
""",
    ),
    "Conv_ReLU": (
        "def forward(x, w, b, conv_param):\ndef backward(dout, cache):",
        "Conv - ReLU.\n\nbackward returns dx, dw, db.",
    ),
    "Conv_ReLU_Pool": (
        "def forward(x, w, b, conv_param, pool_param):\ndef backward(dout, cache):",
        "Conv - ReLU - MaxPool.\n\nbackward returns dx, dw, db.",
    ),
    "Linear_BatchNorm_ReLU": (
        "def forward(x, w, b, gamma, beta, bn_param):\ndef backward(dout, cache):",
        "Linear - BatchNorm - ReLU.\n\nbackward returns dx, dw, db, dgamma, dbeta.",
    ),
    "Conv_BatchNorm_ReLU": (
        "def forward(x, w, b, gamma, beta, conv_param, bn_param):\ndef backward(dout, cache):",
        "Conv - SpatialBatchNorm - ReLU.\n\nbackward returns dx, dw, db, dgamma, dbeta.",
    ),
    "Conv_BatchNorm_ReLU_Pool": (
        "def forward(x, w, b, gamma, beta, conv_param, bn_param, pool_param):\ndef backward(dout, cache):",
        "Conv - SpatialBatchNorm - ReLU - MaxPool.\n\nbackward returns dx, dw, db, dgamma, dbeta.",
    ),
}
for _name, (_sig, _doc) in _DOCS.items():
    course_name(_name, "layer", "layers", _sig, _doc)

LOSS_DOC = """
Inputs:
- x: Input data, of shape (N, C) where x[i, j] is the score for the jth class for the ith input.
- y: Vector of labels, of shape (N,) where y[i] is the label for x[i] and 0 <= y[i] < C

Returns a tuple of:
- loss: Scalar giving the loss (averaged over the N inputs)
- dx: Gradient of the loss with respect to x
"""
course_name(
    "softmax_loss",
    "function",
    "layers",
    "def softmax_loss(x, y):",
    "Computes the loss and gradient for softmax classification.\n" + LOSS_DOC,
)
course_name(
    "svm_loss",
    "function",
    "layers",
    "def svm_loss(x, y):",
    "Computes the loss and gradient for multiclass SVM classification.\n" + LOSS_DOC,
)

STANDARD = tuple(SPECS)
# Gradients here are O(1) (dout ~ N(0, 1)); a numeric one carries ~1e-10 of rounding noise,
# so a gradient that should be exactly zero (a bias before batchnorm) is compared on this scale.
NUMERIC_FLOOR = 1e-2
GRAD_NAMES = {"x": "dx", "w": "dw", "b": "db", "gamma": "dgamma", "beta": "dbeta"}


def _forward(cls, name: str, inputs: dict, params: list):
    out, cache = as_tuple(cls.forward(*inputs.values(), *params), 2, "(out, cache)")
    x = next(iter(inputs.values()))
    return tensor(out, "out", dtype=x.dtype), cache


def _grads(cls, name: str, dout, cache, inputs: dict) -> dict[str, torch.Tensor]:
    got = cls.backward(dout, cache)
    keys = list(inputs)
    if len(keys) == 1:
        if isinstance(got, (tuple, list)) and len(got) == 1:
            got = got[0]
        got = [got]
    else:
        want = ", ".join(GRAD_NAMES[k] for k in keys)
        got = as_tuple(got, len(keys), f"({want})")
    return {
        k: tensor(g, f"backward's {GRAD_NAMES[k]}", inputs[k].shape, inputs[k].dtype)
        for k, g in zip(keys, got, strict=True)
    }


@check(STANDARD, "forward vs ours", f"< {VALUE_BAR:.0e}")
def _forward_check(cls, module, name):
    spec = SPECS[name]
    out, _ = _forward(cls, name, spec.inputs(), spec.params())
    ref_out, _ = spec.ref.forward(*spec.inputs().values(), *spec.params())
    return compare_tensor("out", out, ref_out, bar=VALUE_BAR)


def _dout(name: str):
    spec = SPECS[name]
    ref_out, _ = spec.ref.forward(*spec.inputs().values(), *spec.params())
    return randn(*ref_out.shape, seed=9)


@check(STANDARD, "backward vs numeric gradient", f"< {GRAD_BAR:.0e}")
def _backward_numeric(cls, module, name):
    spec = SPECS[name]
    inputs, params = spec.inputs(), spec.params()
    dout = _dout(name)
    _, cache = _forward(cls, name, inputs, params)
    grads = _grads(cls, name, dout, cache, inputs)
    worst = None
    for k in inputs:
        probe = {kk: v.clone() for kk, v in inputs.items()}

        def f(t, _k=k, _probe=probe):
            _probe[_k] = t
            return _forward(cls, name, _probe, spec.params())[0]

        num = numeric_gradient(f, probe[k], dout, h=1e-5)
        out = compare_tensor(
            GRAD_NAMES[k],
            grads[k],
            num,
            against=" (against the numeric gradient)",
            floor=NUMERIC_FLOOR,
        )
        worst = out if worst is None or float(out.value) > float(worst.value) else worst
    return worst


@check(STANDARD, "backward vs ours", f"< {GRAD_BAR:.0e}")
def _backward_ours(cls, module, name):
    spec = SPECS[name]
    inputs = spec.inputs()
    dout = _dout(name)
    _, cache = _forward(cls, name, inputs, spec.params())
    grads = _grads(cls, name, dout, cache, inputs)
    _, ref_cache = spec.ref.forward(*spec.inputs().values(), *spec.params())
    ref_grads = spec.ref.backward(dout, ref_cache)
    ref_grads = ref_grads if isinstance(ref_grads, tuple) else (ref_grads,)
    worst = None
    for k, r in zip(inputs, ref_grads, strict=True):
        out = compare_tensor(GRAD_NAMES[k], grads[k], r)
        worst = out if worst is None or float(out.value) > float(worst.value) else worst
    return worst


@check((*STANDARD, "Dropout"), "inputs unchanged", "forward and backward")
def _inputs_unchanged(cls, module, name):
    if name == "Dropout":
        inputs, params = {"x": randn(20, 30, seed=1)}, [{"mode": "train", "p": 0.5}]
    else:
        spec = SPECS[name]
        inputs, params = spec.inputs(), spec.params()
    before = copies(inputs)
    out, cache = as_tuple(cls.forward(*inputs.values(), *params), 2, "(out, cache)")
    unchanged(inputs, before, f"{name}.forward")
    dout = randn(*tensor(out, "out").shape, seed=9).to(out.dtype)
    d0 = dout.clone()
    cls.backward(dout, cache)
    unchanged({"dout": dout}, {"dout": d0}, f"{name}.backward")
    return Outcome(True, "unchanged")


# ---------------------------------------------------------------- dropout


def _dropout(cls, x, p, mode, seed=None):
    param = {"p": p, "mode": mode}
    if seed is not None:
        param["seed"] = seed
    out, cache = as_tuple(cls.forward(x, param), 2, "(out, cache)")
    return tensor(out, "out", x.shape, x.dtype), cache


@check("Dropout", "train: drops a fraction p", "|fraction - p| < 0.01")
def _dropout_fraction(cls, module, name):
    x = randn(400, 500, seed=1) + 10
    worst = 0.0
    for p in (0.25, 0.4, 0.7):
        out, _ = _dropout(cls, x, p, "train")
        frac = float((out == 0).double().mean())
        if abs(frac - p) > 0.01:
            hint = (
                " (p is the probability of dropping a unit, not of keeping it)"
                if abs(frac - (1 - p)) < 0.01
                else ""
            )
            raise Fail(f"p = {p}: {frac:.3f} of the units are zero{hint}", f"{frac:.3f}")
        worst = max(worst, abs(frac - p))
    return Outcome(True, f"{worst:.4f}")


@check("Dropout", "train: kept units are x / (1 - p)", "< 1e-12")
def _dropout_scale(cls, module, name):
    x = randn(200, 300, seed=2) + 10
    p = 0.4
    out, _ = _dropout(cls, x, p, "train")
    kept = out != 0
    err = float((out[kept] - x[kept] / (1 - p)).abs().max()) if kept.any() else math.inf
    if err > 1e-12 * 20:
        if kept.any() and torch.allclose(out[kept], x[kept]):
            raise Fail(
                "kept units are x, not x / (1 - p): the course uses inverted dropout", f"{err:.1e}"
            )
        raise Fail(f"kept units differ from x / (1 - p) by up to {err:.2g}", f"{err:.1e}")
    return Outcome(True, f"{err:.1e}")


@check("Dropout", "test: identity", "out == x")
def _dropout_test(cls, module, name):
    x = randn(50, 60, seed=3) + 10
    out, _ = _dropout(cls, x, 0.4, "test")
    if not torch.equal(out, x):
        raise Fail(
            "test mode must return x unchanged (inverted dropout scales at train time)", "differs"
        )
    return Outcome(True, "equal")


@check("Dropout", "backward (train and test)", "dx = dout * mask")
def _dropout_backward(cls, module, name):
    x = randn(30, 40, seed=4) + 10
    dout = randn(30, 40, seed=5)
    out, cache = _dropout(cls, x, 0.3, "train", seed=123)
    dx = tensor(cls.backward(dout, cache), "dx", x.shape)
    want = dout * (out / x)  # mask = 0 or 1 / (1 - p): what forward applied to x
    compare_tensor("dx (train)", dx, want, bar=1e-12)
    out, cache = _dropout(cls, x, 0.3, "test")
    dx = tensor(cls.backward(dout, cache), "dx", x.shape)
    return compare_tensor("dx (test)", dx, dout, bar=1e-12)


# ---------------------------------------------------------------- batch normalization

BN = ("BatchNorm", "SpatialBatchNorm")


def _bn_batches(name: str, k: int):
    shape = (16, 5) if name == "BatchNorm" else (4, 3, 4, 4)
    return [randn(*shape, seed=20 + i, scale=2.0) + 3.0 for i in range(k)]


def _bn_params(name):
    d = 5 if name == "BatchNorm" else 3
    return randn(d, seed=30, scale=0.5) + 1.0, randn(d, seed=31)


@check(BN, "running statistics (train)", f"< {VALUE_BAR:.0e}")
def _bn_running(cls, module, name):
    gamma, beta = _bn_params(name)
    mine, ours = {"mode": "train", "momentum": 0.9}, {"mode": "train", "momentum": 0.9}
    for x in _bn_batches(name, 3):
        _forward(cls, name, {"x": x, "gamma": gamma, "beta": beta}, [mine])
        getattr(L, name).forward(x, gamma, beta, ours)
    for key in ("running_mean", "running_var"):
        if key not in mine:
            raise Fail(f"bn_param has no {key!r} after train-mode calls: store it back in bn_param")
        got = tensor(mine[key], f"bn_param[{key!r}]", ours[key].shape)
        err = float((got - ours[key]).abs().max() / ours[key].abs().max())
        if err > VALUE_BAR:
            hint = ""
            alt = {"mode": "train", "momentum": 0.1}
            for x in _bn_batches(name, 3):
                getattr(L, name).forward(x, gamma, beta, alt)
            if torch.allclose(got, alt[key]):
                hint = " (momentum weighs the new batch: the course keeps momentum * running + (1 - momentum) * batch)"
            raise Fail(f"{key} after 3 batches is off by {err:.1e} (relative){hint}", f"{err:.1e}")
    return Outcome(True, "match")


@check(BN, "test mode uses the running statistics", f"< {VALUE_BAR:.0e}")
def _bn_test_mode(cls, module, name):
    gamma, beta = _bn_params(name)
    trained = {"mode": "train"}
    for x in _bn_batches(name, 5):
        getattr(L, name).forward(x, gamma, beta, trained)
    x = _bn_batches(name, 6)[-1] * 0.5 - 1.0  # a batch whose own statistics differ
    mine = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in trained.items()}
    mine["mode"] = "test"
    ours = dict(mine)
    out, _ = _forward(cls, name, {"x": x, "gamma": gamma, "beta": beta}, [mine])
    want, _ = getattr(L, name).forward(x, gamma, beta, ours)
    err = float((out - want).abs().max() / want.abs().max())
    if err > VALUE_BAR:
        batch_stats, _ = getattr(L, name).forward(x, gamma, beta, {"mode": "train"})
        if torch.allclose(out, batch_stats, atol=1e-9):
            raise Fail(
                "test mode normalizes with the batch's own mean and variance, not "
                "bn_param's running_mean / running_var",
                f"{err:.1e}",
            )
        raise Fail(f"test-mode output off by {err:.1e} (relative)", f"{err:.1e}")
    return Outcome(True, f"{err:.1e}")


@check(BN, "train output: mean beta, std gamma", "< 1e-6")
def _bn_stats(cls, module, name):
    gamma, beta = _bn_params(name)
    x = _bn_batches(name, 1)[0]
    out, _ = _forward(cls, name, {"x": x, "gamma": gamma, "beta": beta}, [{"mode": "train"}])
    axes = (0,) if out.ndim == 2 else (0, 2, 3)
    mean, std = out.mean(dim=axes), out.std(dim=axes, unbiased=False)
    err = max(
        float((mean - beta).abs().max()), float((std - gamma.abs()).abs().max() / gamma.abs().max())
    )
    if err > 1e-3:
        raise Fail(
            f"per-feature output mean / std differ from beta / gamma by {err:.2g}", f"{err:.1e}"
        )
    return Outcome(True, f"{err:.1e}")


# ---------------------------------------------------------------- losses on scores

LOSS_FNS = {"softmax_loss": L.softmax_loss, "svm_loss": L.svm_loss}
SCORE_N, SCORE_C = 20, 7


def _scores():
    return randn(SCORE_N, SCORE_C, seed=1), labels(SCORE_N, SCORE_C, seed=2)


def _loss_dx(fn, x, y):
    loss, dx = as_tuple(fn(x, y), 2, "(loss, dx)")
    return scalar(loss), tensor(dx, "dx", x.shape)


@check(tuple(LOSS_FNS), "returns (loss, dx)", "scalar, (N, C)")
def _loss_returns(fn, module, name):
    x, y = _scores()
    loss, dx = as_tuple(fn(x, y), 2, "(loss, dx)")
    scalar(loss)
    tensor(dx, "dx", x.shape, x.dtype)
    return Outcome(True, f"{describe(loss)}, dx {tuple(dx.shape)}")


@check(tuple(LOSS_FNS), "loss vs ours", f"< {VALUE_BAR:.0e}")
def _loss_vs_ours(fn, module, name):
    x, y = _scores()
    loss, _ = _loss_dx(fn, x, y)
    want, _ = LOSS_FNS[name](x, y)
    return compare_scalar("loss", loss, float(want), n=SCORE_N, c=SCORE_C)


@check(tuple(LOSS_FNS), "dx vs numeric gradient", f"< {GRAD_BAR:.0e}")
def _loss_dx_numeric(fn, module, name):
    x, y = _scores()
    _, dx = _loss_dx(fn, x, y)
    num = numeric_gradient(
        lambda t: torch.tensor(_loss_dx(fn, t, y)[0], dtype=torch.float64), x.clone()
    )
    return compare_tensor(
        "dx", dx, num, n=SCORE_N, c=SCORE_C, against=" (against the numeric gradient)"
    )


@check(tuple(LOSS_FNS), "small scores: loss ~ log(C) / C - 1", "|loss - expected| < 0.01")
def _loss_at_init(fn, module, name):
    x = randn(50, 10, seed=3, scale=1e-4)
    y = labels(50, 10, seed=4)
    loss, _ = _loss_dx(fn, x, y)
    want = math.log(10) if name == "softmax_loss" else 9.0
    if abs(loss - want) > 0.01:
        raise Fail(
            f"loss {loss:.4f} for near-zero scores of 10 classes, expected {want:.4f} "
            f"({'log(C)' if name == 'softmax_loss' else 'C - 1'})",
            f"{loss:.4f}",
        )
    return Outcome(True, f"{loss:.4f}")


@check(tuple(LOSS_FNS), "inputs unchanged", "x, y not modified")
def _loss_inputs(fn, module, name):
    x, y = _scores()
    args = {"x": x, "y": y}
    before = copies(args)
    fn(x, y)
    unchanged(args, before, name)
    return Outcome(True, "unchanged")
