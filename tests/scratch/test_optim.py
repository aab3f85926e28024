"""Each update rule against torch.optim on the same values, and against closed forms."""

from __future__ import annotations

import pytest
import torch

from deepclass.errors import ConfigError
from deepclass.gradcheck import rel_error
from deepclass.scratch import optim

DT = torch.float64


def _run_ours(rule, w0, grads, config):
    w = w0.clone()
    for g in grads:
        w, config = rule(w, g, config)
    return w, config


def _run_torch(make_opt, w0, grads):
    p = torch.nn.Parameter(w0.clone())
    opt = make_opt([p])
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach()


@pytest.fixture
def values():
    gen = torch.Generator().manual_seed(0)
    w0 = torch.randn(4, 5, generator=gen, dtype=DT)
    grads = [torch.randn(4, 5, generator=gen, dtype=DT) for _ in range(6)]
    return w0, grads


def test_sgd_matches_torch(values):
    w0, grads = values
    ours, _ = _run_ours(optim.sgd, w0, grads, {"learning_rate": 0.1})
    ref = _run_torch(lambda p: torch.optim.SGD(p, lr=0.1), w0, grads)
    assert rel_error(ours, ref) < 1e-12


def test_sgd_momentum_matches_torch(values):
    """Course: v = mu v - lr dw, w += v. torch: b = mu b + dw, w -= lr b: the same with v = -lr b."""
    w0, grads = values
    ours, config = _run_ours(
        optim.sgd_momentum, w0, grads, {"learning_rate": 0.05, "momentum": 0.8}
    )
    ref = _run_torch(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8), w0, grads)
    assert rel_error(ours, ref) < 1e-12
    assert config["velocity"].shape == w0.shape


def test_rmsprop_matches_torch(values):
    """torch's RMSprop(alpha=decay_rate) adds eps outside the square root, as the course."""
    w0, grads = values
    ours, _ = _run_ours(
        optim.rmsprop, w0, grads, {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8}
    )
    ref = _run_torch(lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8), w0, grads)
    assert rel_error(ours, ref) < 1e-12


def test_adam_matches_torch(values):
    """Both bias-correct with t incremented before the step; torch folds the corrections into
    the step size, which is the same number (rounding aside)."""
    w0, grads = values
    ours, config = _run_ours(optim.adam, w0, grads, {"learning_rate": 1e-2})
    ref = _run_torch(
        lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.9, 0.999), eps=1e-8), w0, grads
    )
    assert rel_error(ours, ref) < 1e-10
    assert config["t"] == len(grads)


def test_adam_first_step_closed_form():
    """With m_hat = dw and v_hat = dw^2 the first step is lr * dw / (|dw| + eps): about lr * sign."""
    w = torch.zeros(5, dtype=DT)
    dw = torch.tensor([-3.0, -0.5, 1e-3, 2.0, 10.0], dtype=DT)
    nxt, _ = optim.adam(w, dw, {"learning_rate": 0.1})
    assert rel_error(nxt, -0.1 * dw / (dw.abs() + 1e-8)) < 1e-12


def test_rmsprop_first_step_closed_form():
    w, dw = torch.ones(3, dtype=DT), torch.tensor([2.0, -4.0, 0.5], dtype=DT)
    nxt, config = optim.rmsprop(w, dw, {"learning_rate": 1e-2})
    cache = 0.01 * dw**2  # default decay 0.99
    assert torch.allclose(config["cache"], cache)
    assert rel_error(nxt, w - 1e-2 * dw / (cache.sqrt() + 1e-8)) < 1e-12


def test_defaults_and_state_keys():
    w, dw = torch.ones(2, 3), torch.ones(2, 3)
    _, c = optim.sgd(w, dw)
    assert c == {"learning_rate": 1e-2}
    _, c = optim.sgd_momentum(w, dw)
    assert c["learning_rate"] == 1e-2 and c["momentum"] == 0.9 and "velocity" in c
    _, c = optim.rmsprop(w, dw)
    assert (c["learning_rate"], c["decay_rate"], c["epsilon"]) == (
        1e-2,
        0.99,
        1e-8,
    ) and "cache" in c
    _, c = optim.adam(w, dw)
    assert (c["learning_rate"], c["beta1"], c["beta2"], c["epsilon"], c["t"]) == (
        1e-3,
        0.9,
        0.999,
        1e-8,
        1,
    )
    assert c["m"].shape == c["v"].shape == w.shape


def test_rules_do_not_modify_w():
    for rule in optim.UPDATE_RULES.values():
        w = torch.ones(3)
        nxt, _ = rule(w, torch.ones(3), None)
        assert torch.equal(w, torch.ones(3)) and not torch.equal(nxt, w)


def test_errors():
    with pytest.raises(
        ConfigError, match="unknown update_rule 'nesterov'; valid: sgd, sgd_momentum, rmsprop, adam"
    ):
        optim.get_update_rule("nesterov")
    assert optim.get_update_rule("adam") is optim.adam
    assert optim.get_update_rule(optim.sgd) is optim.sgd
    with pytest.raises(ConfigError, match=r"dw must have w's shape \(2, 3\), got \(3, 2\)"):
        optim.adam(torch.ones(2, 3), torch.ones(3, 2))
    with pytest.raises(ConfigError, match="config must be a dict"):
        optim.sgd(torch.ones(2), torch.ones(2), [0.1])


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
def test_rules_refuse_a_key_they_do_not_use(rule):
    w = torch.zeros(2, 2, dtype=DT)
    with pytest.raises(
        ConfigError, match=rf"{rule}: unknown config key\(s\) 'lr'; {rule} uses learning_rate"
    ):
        optim.UPDATE_RULES[rule](w, w, {"lr": 0.5})
    # every key a rule writes into its config is accepted back on the next call
    _, config = optim.UPDATE_RULES[rule](w, w, {"learning_rate": 0.5})
    assert set(config) == set(optim.CONFIG_KEYS[rule])
    optim.UPDATE_RULES[rule](w, w, config)
