"""Checks of rung 3 (seed 000): ``flatten``, ``two_layer_fc``, ``three_layer_convnet``,
``random_weight`` and ``zero_weight``.

The model functions: the seed's own shape tests on zeros, the scores against ours on
random float64 inputs, and autograd's gradients of the parameters against ours. The
initialisers: shapes, ``requires_grad``, and Kaiming's ``std = sqrt(2 / fan_in)``.
"""

from __future__ import annotations

import math

import torch

from deepclass.barebones import models as B
from deepclass.check.compare import VALUE_BAR, compare_tensor, randn, tensor
from deepclass.check.registry import Fail, Outcome, check, course_name

course_name(
    "flatten",
    "function",
    "barebones",
    "def flatten(x):",
    """
x: a tensor of shape (N, C, H, W) (or any (N, d1, ..., dM)).
Returns a view of shape (N, C * H * W): one vector per datapoint.
""",
)
course_name(
    "two_layer_fc",
    "function",
    "barebones",
    "def two_layer_fc(x, params):",
    """
A fully-connected network: fully connected -> ReLU -> fully connected (no biases).

Inputs:
- x: A PyTorch Tensor of shape (N, d1, ..., dM) giving a minibatch of input data.
- params: A list [w1, w2] of PyTorch Tensors giving weights for the network;
  w1 has shape (D, H) and w2 has shape (H, C).

Returns:
- scores: A PyTorch Tensor of shape (N, C) giving classification scores for x.
""",
)
course_name(
    "three_layer_convnet",
    "function",
    "barebones",
    "def three_layer_convnet(x, params):",
    """
conv (channel_1 filters KH1 x KW1, zero-padding 2) -> ReLU
-> conv (channel_2 filters KH2 x KW2, zero-padding 1) -> ReLU -> fully connected (with bias).

Inputs:
- x: A PyTorch Tensor of shape (N, 3, H, W) giving a minibatch of images
- params: [conv_w1 (channel_1, 3, KH1, KW1), conv_b1 (channel_1,),
  conv_w2 (channel_2, channel_1, KH2, KW2), conv_b2 (channel_2,),
  fc_w (channel_2 * H * W, C), fc_b (C,)]

Returns:
- scores: PyTorch Tensor of shape (N, C) giving classification scores for x
""",
)
course_name(
    "random_weight",
    "function",
    "barebones",
    "def random_weight(shape):",
    """
A random weight tensor with requires_grad=True, Kaiming normal: std sqrt(2 / fan_in),
fan_in = shape[0] for a fully-connected weight (D_in, D_out) and prod(shape[1:]) for
a conv weight (C_out, C_in, KH, KW). Uses the globals device and dtype.
""",
)
course_name(
    "zero_weight",
    "function",
    "barebones",
    "def zero_weight(shape):",
    "An all-zero tensor of the given shape with requires_grad=True (uses device and dtype).",
)


@check("flatten", "shape and values", "(N, C*H*W), x's order")
def _flatten(fn, module, name):
    for x in (torch.arange(12).view(2, 1, 3, 2), randn(4, 3, 2, 5)):
        out = tensor(fn(x), "flatten(x)", (x.shape[0], x[0].numel()))
        if not torch.equal(out, x.reshape(x.shape[0], -1)):
            raise Fail("the values are not x's, row by row (x.view(N, -1))")
    return Outcome(True, "(4, 30)")


def _fc_params(seed=0, scale=0.3):
    return [randn(20, 9, seed=seed, scale=scale), randn(9, 4, seed=seed + 1, scale=scale)]


def _conv_params(c1=4, c2=3, h=6, w=6, classes=5, seed=0):
    return [
        randn(c1, 3, 5, 5, seed=seed, scale=0.2),
        randn(c1, seed=seed + 1, scale=0.1),
        randn(c2, c1, 3, 3, seed=seed + 2, scale=0.2),
        randn(c2, seed=seed + 3, scale=0.1),
        randn(c2 * h * w, classes, seed=seed + 4, scale=0.1),
        randn(classes, seed=seed + 5, scale=0.1),
    ]


@check("two_layer_fc", "seed's test: zeros (64, 50) -> (64, 10)", "shape")
def _fc_shape(fn, module, name):
    x = torch.zeros((64, 50))
    w1 = torch.zeros((50, 42), requires_grad=True)
    w2 = torch.zeros((42, 10), requires_grad=True)
    tensor(fn(x, [w1, w2]), "scores", (64, 10))
    return Outcome(True, "(64, 10)")


@check("three_layer_convnet", "seed's test: zeros (64, 3, 32, 32) -> (64, 10)", "shape")
def _conv_shape(fn, module, name):
    x = torch.zeros((64, 3, 32, 32))
    params = [
        torch.zeros((6, 3, 5, 5), requires_grad=True),
        torch.zeros((6,), requires_grad=True),
        torch.zeros((9, 6, 3, 3), requires_grad=True),
        torch.zeros((9,), requires_grad=True),
        torch.zeros((9 * 32 * 32, 10), requires_grad=True),
        torch.zeros(10, requires_grad=True),
    ]
    tensor(fn(x, params), "scores", (64, 10))
    return Outcome(True, "(64, 10)")


def _model_inputs(name):
    if name == "two_layer_fc":
        return randn(6, 4, 5, seed=7), _fc_params()
    return randn(3, 3, 6, 6, seed=7), _conv_params()


@check(("two_layer_fc", "three_layer_convnet"), "scores vs ours", f"< {VALUE_BAR:.0e}")
def _model_values(fn, module, name):
    x, params = _model_inputs(name)
    scores = tensor(fn(x, params), "scores")
    want = getattr(B, name)(x, params)
    return compare_tensor("scores", scores, want.detach(), bar=VALUE_BAR)


@check(("two_layer_fc", "three_layer_convnet"), "autograd grads vs ours", f"< {VALUE_BAR:.0e}")
def _model_grads(fn, module, name):
    x, params = _model_inputs(name)
    mine = [p.clone().requires_grad_(True) for p in params]
    ours = [p.clone().requires_grad_(True) for p in params]
    dout = None
    scores = tensor(fn(x, mine), "scores")
    if not scores.requires_grad:
        raise Fail(
            "the scores do not depend on params through autograd (detached or rebuilt tensors?)"
        )
    ref = getattr(B, name)(x, ours)
    dout = randn(*ref.shape, seed=8)
    (scores * dout).sum().backward()
    (ref * dout).sum().backward()
    worst = None
    names = B.TWO_LAYER_FC_PARAMS if name == "two_layer_fc" else B.THREE_LAYER_CONVNET_PARAMS
    for pname, m, o in zip(names, mine, ours, strict=True):
        if m.grad is None:
            raise Fail(
                f"no gradient reaches {pname}: it is not used (or used through .data / a copy)"
            )
        out = compare_tensor(f"d{pname}", m.grad, o.grad, bar=VALUE_BAR)
        worst = out if worst is None or float(out.value) > float(worst.value) else worst
    return worst


def _init_call(fn, module, shape):
    module_dtype = getattr(module, "dtype", torch.float32)
    w = tensor(
        fn(shape),
        f"{fn.__name__}({shape!r})",
        tuple(shape) if not isinstance(shape, int) else (shape,),
    )
    if not w.requires_grad:
        raise Fail(
            f"{fn.__name__}({shape!r}) must have requires_grad=True (a leaf the optimizer updates)"
        )
    if not w.is_leaf:
        raise Fail(
            f"{fn.__name__}({shape!r}) is not a leaf tensor: set requires_grad after scaling"
        )
    if isinstance(module_dtype, torch.dtype) and w.dtype != module_dtype:
        raise Fail(f"{fn.__name__} returns {w.dtype}, not the file's dtype {module_dtype}")
    return w


@check("random_weight", "shape, requires_grad, leaf", "(3, 5), (4, 3, 5, 5)")
def _rw_shape(fn, module, name):
    for shape in ((3, 5), (4, 3, 5, 5)):
        _init_call(fn, module, shape)
    return Outcome(True, "ok")


@check("random_weight", "Kaiming std sqrt(2 / fan_in)", "within 3%, mean ~ 0")
def _rw_std(fn, module, name):
    worst = 0.0
    for shape, fan_in in (((1000, 400), 1000), ((64, 32, 3, 3), 32 * 9)):
        w = _init_call(fn, module, shape).detach().double()
        want = math.sqrt(2.0 / fan_in)
        std = float(w.std())
        rel = abs(std / want - 1)
        if rel > 0.03:
            hint = ""
            for other, label in (
                (math.sqrt(1.0 / fan_in), "sqrt(1 / fan_in)"),
                (1.0, "1 (no scaling)"),
            ):
                if abs(std / other - 1) < 0.03:
                    hint = f": that is {label}"
            if len(shape) == 4 and abs(std / math.sqrt(2.0 / shape[0]) - 1) < 0.03:
                hint = ": fan_in of a conv weight is C_in * KH * KW = prod(shape[1:])"
            raise Fail(
                f"std {std:.4g} for shape {shape}, expected sqrt(2 / {fan_in}) = {want:.4g}{hint}",
                f"{std:.4g}",
            )
        if abs(float(w.mean())) > 5 * want / math.sqrt(w.numel()) + 1e-12:
            raise Fail(
                f"mean {float(w.mean()):.3g}: Kaiming weights are zero-mean",
                f"{float(w.mean()):.2g}",
            )
        worst = max(worst, rel)
    return Outcome(True, f"{100 * worst:.1f}%")


@check("zero_weight", "zeros, shape, requires_grad", "(7,), (3, 4)")
def _zw(fn, module, name):
    for shape in (7, (3, 4)):
        w = _init_call(fn, module, shape)
        if w.detach().abs().max() != 0:
            raise Fail(f"zero_weight({shape!r}) is not all zeros")
    return Outcome(True, "ok")
