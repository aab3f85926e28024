"""Numeric gradient checking, shared by every rung (the course's ``gradient_check``).

Centered differences::

    df/dx ~= (f(x + h) - f(x - h)) / (2h)

Use float64 inputs: with float32 the rounding error of f swamps h = 1e-7.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from deepclass.errors import ConfigError


def _check_point(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ConfigError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if not x.is_contiguous():
        raise ConfigError(f"{name} must be contiguous (f is evaluated on x in place)")


def compute_numeric_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    dLdf: torch.Tensor | None = None,
    h: float = 1e-7,
) -> torch.Tensor:
    """Numeric gradient of ``f`` at ``x``, same shape as ``x``.

    f: takes ``x`` (perturbed in place, one element at a time) and returns a
    tensor of any shape. dLdf: upstream gradient, same shape as ``f(x)``
    (ones if None), so that the chain rule dL/dx = df/dx . dL/df checks an
    intermediate layer. x is restored exactly after each probe.
    """
    _check_point(x)
    flat_x = x.view(-1)
    grad = torch.zeros_like(x)
    flat_grad = grad.view(-1)
    if dLdf is None:
        dLdf = torch.ones_like(f(x))
    dLdf = dLdf.reshape(-1).to(x.dtype)
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + h
        fxph = f(x).reshape(-1)
        flat_x[i] = old - h
        fxmh = f(x).reshape(-1)
        flat_x[i] = old
        flat_grad[i] = dLdf.dot((fxph - fxmh).to(x.dtype) / (2 * h))
    return grad


def rel_error(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-10) -> float:
    """Relative error ``max|x - y| / (max(|x| + |y|) clamped below by eps)``, a Python float."""
    if x.shape != y.shape:
        raise ConfigError(
            f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    x = x.double()
    y = y.double().to(x.device)
    top = (x - y).abs().max().item()
    bot = (x.abs() + y.abs()).clamp(min=eps).max().item()
    return top / bot


def grad_check_sparse(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    analytic_grad: torch.Tensor,
    num_checks: int = 10,
    h: float = 1e-7,
    seed: int = 0,
    verbose: bool = True,
) -> list[float]:
    """Compare ``analytic_grad`` with centered differences at ``num_checks`` random entries.

    f: returns a scalar tensor. Prints one line per entry in the course's
    format when ``verbose``; returns the relative errors. The entries are drawn
    from a private generator seeded with ``seed`` (global RNGs are untouched).
    """
    _check_point(x)
    if analytic_grad.shape != x.shape:
        raise ConfigError(
            f"analytic_grad must have x's shape {tuple(x.shape)}, got {tuple(analytic_grad.shape)}"
        )
    rng = random.Random(seed)
    errors = []
    for _ in range(num_checks):
        ix = tuple(rng.randrange(m) for m in x.shape)
        old = x[ix].item()
        x[ix] = old + h
        fxph = f(x).item()
        x[ix] = old - h
        fxmh = f(x).item()
        x[ix] = old
        num = (fxph - fxmh) / (2 * h)
        ana = analytic_grad[ix].item()
        err = abs(num - ana) / (abs(num) + abs(ana) + 1e-12)
        errors.append(err)
        if verbose:
            print(f"numerical: {num:f} analytic: {ana:f}, relative error: {err:e}")
    return errors
