"""First-order update rules (EECS 498 A3's ``optim``).

Every rule has the signature ``rule(w, dw, config=None) -> (next_w, config)``:

- w: the current weights (any shape); dw: the gradient of the loss, w's shape;
- config: a dict of hyperparameters and of the rule's state (moving averages),
  filled with the course defaults where keys are missing and returned so that
  the next call continues from it. The Solver keeps one config per parameter.

``w`` is not modified: the updated weights are a new tensor. A config key a
rule does not know (``{"lr": 1e-2}`` for ``learning_rate``) is an error, never
ignored: see :data:`CONFIG_KEYS`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from deepclass.errors import ConfigError

UpdateRule = Callable[[torch.Tensor, torch.Tensor, dict | None], tuple[torch.Tensor, dict]]

# every key each rule reads or writes: its hyperparameters, then its state
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "sgd": ("learning_rate",),
    "sgd_momentum": ("learning_rate", "momentum", "velocity"),
    "rmsprop": ("learning_rate", "decay_rate", "epsilon", "cache"),
    "adam": ("learning_rate", "beta1", "beta2", "epsilon", "m", "v", "t"),
}


def check_config(rule: str, config: dict) -> None:
    """Raise ``ConfigError`` for a key of ``config`` that update rule ``rule`` does not use."""
    if not isinstance(config, dict):
        raise ConfigError(f"{rule}: config must be a dict or None, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS[rule]), key=str)
    if unknown:
        raise ConfigError(
            f"{rule}: unknown config key(s) {', '.join(map(repr, unknown))}; "
            f"{rule} uses {', '.join(CONFIG_KEYS[rule])}"
        )


def _start(rule: str, w: torch.Tensor, dw: torch.Tensor, config: dict | None) -> dict:
    if config is None:
        config = {}
    check_config(rule, config)
    if not isinstance(w, torch.Tensor) or not isinstance(dw, torch.Tensor):
        raise ConfigError(f"{rule}: w and dw must be tensors")
    if dw.shape != w.shape:
        raise ConfigError(f"{rule}: dw must have w's shape {tuple(w.shape)}, got {tuple(dw.shape)}")
    return config


def sgd(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None):
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    config: ``learning_rate`` (1e-2).
    """
    config = _start("sgd", w, dw, config)
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None):
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; w + v``.

    config: ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros, w's shape).
    """
    config = _start("sgd_momentum", w, dw, config)
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity")
    if v is None:
        v = torch.zeros_like(w)
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def rmsprop(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None):
    """RMSProp: a moving average of squared gradients scales each coordinate's step.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw^2;
    w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    config: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8),
    ``cache`` (zeros, w's shape).
    """
    config = _start("rmsprop", w, dw, config)
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache")
    if cache is None:
        cache = torch.zeros_like(w)
    cache = config["decay_rate"] * cache + (1 - config["decay_rate"]) * dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (cache.sqrt() + config["epsilon"]), config


def adam(w: torch.Tensor, dw: torch.Tensor, config: dict | None = None):
    """Adam: bias-corrected moving averages of the gradient and its square.

    ``t += 1; m = beta1 m + (1 - beta1) dw; v = beta2 v + (1 - beta2) dw^2;
    w - learning_rate * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)``.
    The step counter is incremented *before* use, so the first step has t = 1.

    config: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999),
    ``epsilon`` (1e-8), ``m``, ``v`` (zeros, w's shape), ``t`` (0).
    """
    config = _start("adam", w, dw, config)
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("t", 0)
    m, v = config.get("m"), config.get("v")
    if m is None:
        m = torch.zeros_like(w)
    if v is None:
        v = torch.zeros_like(w)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw * dw
    config["m"], config["v"] = m, v
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return w - config["learning_rate"] * m_hat / (v_hat.sqrt() + config["epsilon"]), config


UPDATE_RULES: dict[str, UpdateRule] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "rmsprop": rmsprop,
    "adam": adam,
}


def get_update_rule(rule: str | UpdateRule) -> UpdateRule:
    """An update rule by name (``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam``) or a callable."""
    if callable(rule):
        return rule
    if rule not in UPDATE_RULES:
        raise ConfigError(f"unknown update_rule {rule!r}; valid: {', '.join(UPDATE_RULES)}")
    return UPDATE_RULES[rule]
