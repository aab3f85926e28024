"""Checks of rung 2's models (seed 002): TwoLayerNet and FullyConnectedNet.

The course's: parameter names and shapes at initialisation, scores in test mode,
the loss at initialisation near log(C), ``reg * sum(W * W)`` with no 1/2, and the
gradients of ``loss(X, y)`` against numeric ones, all in float64. Loss and
gradients are also compared with ours on the student's own parameters.
"""

from __future__ import annotations

import math

import torch

from deepclass.check.compare import (
    GRAD_BAR,
    VALUE_BAR,
    as_tuple,
    compare_scalar,
    compare_tensor,
    labels,
    numeric_gradient,
    randn,
    regularisation,
    scalar,
    tensor,
)
from deepclass.check.registry import Fail, Outcome, check, course_name
from deepclass.scratch import models as M

course_name(
    "TwoLayerNet",
    "model",
    "models",
    "def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, "
    "reg=0.0, dtype=torch.float32, device='cpu'):\ndef loss(self, X, y=None):",
    """
A two-layer fully-connected network: affine - relu - affine - softmax.

__init__: weights from a Gaussian with std weight_scale, biases zero, stored in
  self.params as 'W1', 'b1', 'W2', 'b2'; self.reg = reg (L2, no 0.5 factor).
loss(X, y=None): X (N, d_1, ..., d_k); y (N,) int64. If y is None, return the
  scores (N, C); else (loss, grads) with grads[k] the gradient of self.params[k].
""",
)
course_name(
    "FullyConnectedNet",
    "model",
    "models",
    "def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=0.0, reg=0.0, "
    "weight_scale=1e-2, seed=None, dtype=torch.float, device='cpu'):\ndef loss(self, X, y=None):",
    """
A fully-connected network with any number of hidden layers:
{affine - relu - [dropout]} x (L - 1) - affine - softmax.

__init__: params 'W1'..'WL', 'b1'..'bL' (Gaussian std weight_scale, zero biases);
  dropout is the probability of dropping a unit (0: no dropout); seed fixes the
  dropout masks (pass it on in the dropout_param) for gradient checks.
loss(X, y=None): as TwoLayerNet.
""",
)

MODELS = ("TwoLayerNet", "FullyConnectedNet")
D, H, C, N = 12, 7, 5, 6
HIDDEN = [6, 5]


def _build(cls, name: str, reg: float = 0.0, weight_scale: float = 5e-2, **kw):
    if name == "TwoLayerNet":
        model = cls(
            input_dim=D,
            hidden_dim=H,
            num_classes=C,
            weight_scale=weight_scale,
            reg=reg,
            dtype=torch.float64,
            **kw,
        )
    else:
        model = cls(
            HIDDEN,
            input_dim=D,
            num_classes=C,
            reg=reg,
            weight_scale=weight_scale,
            dtype=torch.float64,
            **kw,
        )
    if not isinstance(getattr(model, "params", None), dict):
        raise Fail(f"{name}(...) must keep its weights in a dict self.params")
    return model


def _shapes(name: str) -> dict[str, tuple[int, ...]]:
    dims = [D, H, C] if name == "TwoLayerNet" else [D, *HIDDEN, C]
    out = {}
    for i in range(1, len(dims)):
        out[f"W{i}"] = (dims[i - 1], dims[i])
        out[f"b{i}"] = (dims[i],)
    return out


def _ours(name: str, params: dict, reg: float, **kw):
    """Our model of the same architecture, holding the student's parameters."""
    if name == "TwoLayerNet":
        ref = M.TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, reg=reg, dtype=torch.float64)
    else:
        ref = M.FullyConnectedNet(
            HIDDEN, input_dim=D, num_classes=C, reg=reg, dtype=torch.float64, **kw
        )
    ref.params = {k: v.detach().clone() for k, v in params.items()}
    return ref


def _data(seed: int = 0):
    return randn(N, D, seed=seed), labels(N, C, seed=seed + 1)


def _loss_grads(model, X, y, keys):
    loss, grads = as_tuple(model.loss(X, y), 2, "(loss, grads)")
    if not isinstance(grads, dict):
        raise Fail(f"grads must be a dict like self.params, got {type(grads).__name__}")
    missing = [k for k in keys if k not in grads]
    if missing:
        raise Fail(f"grads has no {', '.join(missing)} (one gradient per key of self.params)")
    return scalar(loss), grads


@check(MODELS, "params: names, shapes, init", "W std ~ weight_scale, b = 0")
def _params(cls, module, name):
    model = _build(cls, name, weight_scale=0.3)
    want = _shapes(name)
    keys = sorted(model.params)
    if keys != sorted(want):
        raise Fail(f"self.params has keys {keys}, expected {sorted(want)}", ", ".join(keys))
    for k, shape in want.items():
        tensor(model.params[k], f"params[{k!r}]", shape, torch.float64)
    for k in want:
        p = model.params[k]
        if k.startswith("b") and p.abs().max() != 0:
            raise Fail(f"params[{k!r}] must start at zero")
    ws = torch.cat([model.params[k].reshape(-1) for k in want if k.startswith("W")])
    std = float(ws.std())
    if not 0.2 < std < 0.4:
        raise Fail(f"the weights' std is {std:.3g} for weight_scale = 0.3", f"{std:.3g}")
    return Outcome(True, f"std {std:.3f}")


@check(MODELS, "scores (y None)", "(N, C)")
def _scores(cls, module, name):
    model = _build(cls, name)
    X, _ = _data()
    scores = tensor(model.loss(X), "loss(X) (the scores)", (N, C))
    ref = _ours(name, model.params, 0.0).loss(X)
    return compare_tensor("scores", scores, ref, bar=VALUE_BAR)


@check(MODELS, "loss at init ~ log(C)", "|loss - log C| < 0.05")
def _init_loss(cls, module, name):
    model = _build(cls, name, weight_scale=1e-3)
    X, y = _data(3)
    loss, _ = _loss_grads(model, X, y, ())
    if abs(loss - math.log(C)) > 0.05:
        raise Fail(
            f"loss {loss:.4f} at initialisation, expected about log({C}) = {math.log(C):.4f}",
            f"{loss:.4f}",
        )
    return Outcome(True, f"{loss:.4f}")


@check(MODELS, "loss and grads vs ours", f"< {GRAD_BAR:.0e}")
def _vs_ours(cls, module, name):
    reg = 0.1
    model = _build(cls, name, reg=reg)
    X, y = _data(4)
    loss, grads = _loss_grads(model, X, y, _shapes(name))
    ref_loss, ref_grads = _ours(name, model.params, reg).loss(X, y)
    compare_scalar("loss", loss, float(ref_loss), n=N, c=C)
    worst = None
    for k in _shapes(name):
        out = compare_tensor(f"grads[{k!r}]", grads[k], ref_grads[k])
        worst = out if worst is None or float(out.value) > float(worst.value) else worst
    return worst


@check(MODELS, "regularisation (no 1/2)", "reg*sum(W*W), 2*reg*W")
def _reg(cls, module, name):
    model = _build(cls, name, reg=0.0)
    X, y = _data(5)
    l0, g0 = _loss_grads(model, X, y, _shapes(name))
    model.reg = 0.4
    l1, g1 = _loss_grads(model, X, y, _shapes(name))
    weights = [k for k in _shapes(name) if k.startswith("W")]
    reg_sum = 0.4 * sum(float((model.params[k] ** 2).sum()) for k in weights)
    return regularisation(
        l1 - l0, reg_sum, {f"grads[{k!r}]": (g1[k] - g0[k], 0.8 * model.params[k]) for k in weights}
    )


def _numeric_check(model, name, X, y):
    _, grads = _loss_grads(model, X, y, _shapes(name))
    worst = None
    for k in _shapes(name):
        p = model.params[k]

        def f(t, _k=k):
            model.params[_k] = t
            return torch.tensor(_loss_grads(model, X, y, ())[0], dtype=torch.float64)

        num = numeric_gradient(f, p.detach().clone())
        model.params[k] = p
        out = compare_tensor(
            f"grads[{k!r}]", grads[k], num, against=" (against the numeric gradient)"
        )
        worst = out if worst is None or float(out.value) > float(worst.value) else worst
    return worst


@check(MODELS, "grads vs numeric gradient", f"< {GRAD_BAR:.0e}")
def _numeric(cls, module, name):
    model = _build(cls, name, reg=0.1)
    X, y = _data(6)
    return _numeric_check(model, name, X, y)


@check("FullyConnectedNet", "with dropout (seeded): grads vs numeric", f"< {GRAD_BAR:.0e}")
def _numeric_dropout(cls, module, name):
    model = _build(cls, name, reg=0.0, dropout=0.25, seed=123)
    X, y = _data(7)
    return _numeric_check(model, name, X, y)
