"""The shared numeric-gradient tools against closed-form derivatives."""

from __future__ import annotations

import pytest
import torch

from deepclass.errors import ConfigError
from deepclass.gradcheck import compute_numeric_gradient, grad_check_sparse, rel_error


def test_numeric_gradient_of_a_known_function():
    x = torch.randn(3, 4, dtype=torch.float64)
    g = compute_numeric_gradient(lambda t: (t**3).sum(), x)
    assert rel_error(g, 3 * x**2) < 1e-7


def test_numeric_gradient_with_upstream_gradient_applies_the_chain_rule():
    x = torch.randn(5, dtype=torch.float64)
    w = torch.randn(3, 5, dtype=torch.float64)
    dout = torch.randn(3, dtype=torch.float64)
    g = compute_numeric_gradient(lambda t: w @ torch.tanh(t), x, dout)
    expected = (w.T @ dout) * (1 - torch.tanh(x) ** 2)
    assert rel_error(g, expected) < 1e-7


def test_point_is_restored():
    x = torch.randn(4, dtype=torch.float64)
    before = x.clone()
    compute_numeric_gradient(lambda t: t.sum(), x)
    assert torch.equal(x, before)


def test_rel_error_closed_form():
    a = torch.tensor([1.0, 2.0])
    b = torch.tensor([1.0, 3.0])
    assert rel_error(a, b) == pytest.approx(1.0 / 5.0)
    assert rel_error(a, a) == 0.0
    with pytest.raises(ConfigError, match="same shape"):
        rel_error(a, torch.ones(3))


def test_sparse_check_separates_right_from_wrong(capsys):
    x = torch.randn(6, 7, dtype=torch.float64)
    f = lambda t: (t.sin() * 2).sum()  # noqa: E731
    good = grad_check_sparse(f, x, 2 * x.cos(), num_checks=8)
    assert len(good) == 8 and max(good) < 1e-7
    assert "relative error" in capsys.readouterr().out
    bad = grad_check_sparse(f, x, 2 * x.cos() + 0.5, num_checks=8, verbose=False)
    assert min(bad) > 1e-3


def test_bad_points_are_rejected():
    with pytest.raises(ConfigError, match="floating-point"):
        compute_numeric_gradient(lambda t: t.sum(), torch.arange(3))
    with pytest.raises(ConfigError, match="analytic_grad must have x's shape"):
        grad_check_sparse(lambda t: t.sum(), torch.zeros(3, dtype=torch.float64), torch.zeros(2))
