"""Checks of rung 2's update rules (EECS 498 A3 ``optim``): one step against its closed
form, five steps against ``torch.optim``, and the course's default hyperparameters.

Every rule is ``rule(w, dw, config=None) -> (next_w, config)``; the returned config
carries the rule's state (velocity, cache, m, v, t) into the next call.
"""

from __future__ import annotations

import math

import torch

from deepclass.check.compare import as_tuple, tensor
from deepclass.check.registry import Fail, Outcome, check, course_name

_DOCS = {
    "sgd": (
        "Performs vanilla stochastic gradient descent: w -= learning_rate * dw.",
        "- learning_rate: Scalar learning rate (default 1e-2).",
    ),
    "sgd_momentum": (
        "Performs stochastic gradient descent with momentum:\n"
        "v = momentum * v - learning_rate * dw; next_w = w + v.",
        "- learning_rate: Scalar learning rate (default 1e-2).\n"
        "- momentum: Scalar between 0 and 1 giving the momentum value (default 0.9).\n"
        "- velocity: A tensor of the same shape as w and dw used to store a\n"
        "  moving average of the gradients (zeros when missing).",
    ),
    "rmsprop": (
        "Uses the RMSProp update rule, which uses a moving average of squared\n"
        "gradient values to set adaptive per-parameter learning rates.",
        "- learning_rate: Scalar learning rate (default 1e-2).\n"
        "- decay_rate: Scalar between 0 and 1 giving the decay rate for the squared\n"
        "  gradient cache (default 0.99).\n"
        "- epsilon: Small scalar used for smoothing to avoid dividing by zero (1e-8).\n"
        "- cache: Moving average of second moments of gradients.",
    ),
    "adam": (
        "Uses the Adam update rule, which incorporates moving averages of both the\n"
        "gradient and its square and a bias correction term. Increment t before\n"
        "using it (the first step has t = 1).",
        "- learning_rate: Scalar learning rate (default 1e-3).\n"
        "- beta1: Decay rate for moving average of first moment of gradient (0.9).\n"
        "- beta2: Decay rate for moving average of second moment of gradient (0.999).\n"
        "- epsilon: Small scalar used for smoothing to avoid dividing by zero (1e-8).\n"
        "- m: Moving average of gradient.\n"
        "- v: Moving average of squared gradient.\n"
        "- t: Iteration number.",
    ),
}
for _name, (_what, _config) in _DOCS.items():
    course_name(
        _name,
        "function",
        "optim",
        f"def {_name}(w, dw, config=None):",
        f"{_what}\n\nReturns (next_w, config). config format:\n{_config}",
    )

RULES = tuple(_DOCS)
DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
STATE = {"sgd": (), "sgd_momentum": ("velocity",), "rmsprop": ("cache",), "adam": ("m", "v", "t")}


def closed_form(
    name: str, w: torch.Tensor, dw: torch.Tensor, config: dict
) -> tuple[torch.Tensor, dict]:
    """One step of the rule written out (the course's formulas), on copies."""
    c = dict(DEFAULTS[name], **config)
    lr = c["learning_rate"]
    if name == "sgd":
        return w - lr * dw, c
    if name == "sgd_momentum":
        v = c["momentum"] * c.get("velocity", torch.zeros_like(w)) - lr * dw
        return w + v, dict(c, velocity=v)
    if name == "rmsprop":
        cache = (
            c["decay_rate"] * c.get("cache", torch.zeros_like(w)) + (1 - c["decay_rate"]) * dw**2
        )
        return w - lr * dw / (cache.sqrt() + c["epsilon"]), dict(c, cache=cache)
    t = c.get("t", 0) + 1
    m = c["beta1"] * c.get("m", torch.zeros_like(w)) + (1 - c["beta1"]) * dw
    v = c["beta2"] * c.get("v", torch.zeros_like(w)) + (1 - c["beta2"]) * dw**2
    m_hat, v_hat = m / (1 - c["beta1"] ** t), v / (1 - c["beta2"] ** t)
    return w - lr * m_hat / (v_hat.sqrt() + c["epsilon"]), dict(c, m=m, v=v, t=t)


def _course_inputs():
    """The notebook's test tensors: linspace weights, gradients and state, N x D = 4 x 5."""
    n, d = 4, 5
    lin = lambda a, b: torch.linspace(a, b, n * d, dtype=torch.float64).reshape(n, d)  # noqa: E731
    return lin(-0.4, 0.6), lin(-0.6, 0.4), lin(0.6, 0.9), lin(0.7, 0.5)


def _start_config(name: str) -> dict:
    _w, _dw, s1, s2 = _course_inputs()
    return {
        "sgd": {"learning_rate": 1e-3},
        "sgd_momentum": {"learning_rate": 1e-3, "velocity": s1},
        "rmsprop": {"learning_rate": 1e-2, "cache": s1},
        "adam": {"learning_rate": 1e-2, "m": s1, "v": s2, "t": 5},
    }[name]


def _step(fn, w, dw, config):
    next_w, cfg = as_tuple(fn(w, dw, config), 2, "(next_w, config)")
    tensor(next_w, "next_w", w.shape)
    if not isinstance(cfg, dict):
        raise Fail(f"the returned config must be a dict, got {type(cfg).__name__}")
    return next_w, cfg


def _err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / max(float(b.abs().max()), 1e-12))


@check(RULES, "one step vs closed form", "< 1e-9")
def _one_step(fn, module, name):
    w, dw, _, _ = _course_inputs()
    config = _start_config(name)
    want_w, want_cfg = closed_form(
        name,
        w.clone(),
        dw.clone(),
        {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in config.items()},
    )
    next_w, cfg = _step(
        fn,
        w.clone(),
        dw.clone(),
        {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in config.items()},
    )
    err = _err(next_w, want_w)
    if err > 1e-9:
        raise Fail(
            f"next_w off by {err:.1e} (relative) from the closed-form {name} step", f"{err:.1e}"
        )
    for key in STATE[name]:
        if key not in cfg:
            raise Fail(f"the returned config has no {key!r}: the next step needs it", "missing")
        got, want = cfg[key], want_cfg[key]
        if key == "t":
            if got != want:
                raise Fail(
                    f"config['t'] is {got!r} after one step from t = 5, expected 6 (increment t first)",
                    str(got),
                )
            continue
        got = tensor(got, f"config[{key!r}]", w.shape)
        e = _err(got, want)
        if e > 1e-9:
            raise Fail(
                f"config[{key!r}] off by {e:.1e} (relative) from the closed form", f"{e:.1e}"
            )
    return Outcome(True, f"{err:.1e}")


def _torch_optimizer(name: str, p: torch.Tensor, cfg: dict):
    c = dict(DEFAULTS[name], **cfg)
    if name == "sgd":
        return torch.optim.SGD([p], lr=c["learning_rate"])
    if name == "sgd_momentum":
        # torch keeps v' = momentum v' + dw and steps by lr v': the same iterates as the course's
        return torch.optim.SGD([p], lr=c["learning_rate"], momentum=c["momentum"])
    if name == "rmsprop":
        return torch.optim.RMSprop(
            [p], lr=c["learning_rate"], alpha=c["decay_rate"], eps=c["epsilon"]
        )
    return torch.optim.Adam(
        [p], lr=c["learning_rate"], betas=(c["beta1"], c["beta2"]), eps=c["epsilon"]
    )


@check(RULES, "5 steps vs torch.optim", "< 1e-9")
def _vs_torch(fn, module, name):
    target = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(3, 4)
    w0 = torch.linspace(0.5, -0.3, 12, dtype=torch.float64).reshape(3, 4)
    cfg: dict = {"learning_rate": 0.05}
    w = w0.clone()
    p = w0.clone().requires_grad_(True)
    opt = _torch_optimizer(name, p, cfg)
    for step in range(1, 6):
        dw = (w - target) * torch.arange(1, 13, dtype=torch.float64).reshape(3, 4) / 6
        w, cfg = _step(fn, w.clone(), dw, cfg)
        opt.zero_grad()
        p.grad = (p.detach() - target) * torch.arange(1, 13, dtype=torch.float64).reshape(3, 4) / 6
        opt.step()
        err = _err(w, p.detach())
        if err > 1e-9:
            raise Fail(
                f"step {step}: w off by {err:.1e} (relative) from torch.optim.{type(opt).__name__} "
                "(is the state in config carried to the next step?)",
                f"{err:.1e}",
            )
    return Outcome(True, f"{err:.1e}")


@check(RULES, "course defaults (config None)", "lr and friends")
def _defaults(fn, module, name):
    w, dw, _, _ = _course_inputs()
    next_w, cfg = _step(fn, w.clone(), dw.clone(), None)
    for key, want in DEFAULTS[name].items():
        got = cfg.get(key)
        if not isinstance(got, (int, float)) or not math.isclose(got, want, rel_tol=1e-12):
            raise Fail(
                f"config[{key!r}] defaults to {got!r}, the course's default is {want:g}", repr(got)
            )
    want_w, _ = closed_form(name, w, dw, {})
    err = _err(next_w, want_w)
    if err > 1e-9:
        raise Fail(f"the first step with the defaults is off by {err:.1e}", f"{err:.1e}")
    return Outcome(True, "defaults")
