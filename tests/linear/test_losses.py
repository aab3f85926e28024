"""The SVM and softmax losses: naive == vectorized, gradients vs numeric and autograd, stability, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from deepclass.errors import ConfigError
from deepclass.gradcheck import compute_numeric_gradient, grad_check_sparse, rel_error
from deepclass.linear import (
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)
from deepclass.linear.losses import linear_scores, weight_gradient

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
SVM = (svm_loss_naive, svm_loss_vectorized)
SOFTMAX = (softmax_loss_naive, softmax_loss_vectorized)
ALL_LOSSES = [*SVM, *SOFTMAX]


def problem(N=64, D=3073, C=10, *, dtype=torch.float64, scale=1e-2, seed=0, device="cpu"):
    """Random ``W (D, C)``, ``X (N, D)``, ``y (N,)`` from a private generator."""
    g = torch.Generator().manual_seed(seed)
    W = scale * torch.randn(D, C, generator=g, dtype=dtype)
    X = torch.randn(N, D, generator=g, dtype=dtype)
    y = torch.randint(0, C, (N,), generator=g)
    return W.to(device), X.to(device), y.to(device)


def svm_autograd(W, X, y, reg):
    """The SVM loss written with torch ops only; autograd gives its gradient."""
    W = W.detach().clone().requires_grad_(True)
    scores = X @ W
    correct = scores.gather(1, y[:, None])
    # the correct class's own margin is exactly 1 (s_y - s_y + 1) and has zero gradient
    loss = (torch.clamp(scores - correct + 1, min=0).sum() - X.shape[0]) / X.shape[0]
    loss = loss + reg * (W * W).sum()
    loss.backward()
    return loss.detach(), W.grad


def softmax_autograd(W, X, y, reg):
    W = W.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(X @ W, y) + reg * (W * W).sum()
    loss.backward()
    return loss.detach(), W.grad


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pair", [SVM, SOFTMAX], ids=["svm", "softmax"])
@pytest.mark.parametrize("reg", [0.0, 0.05])
def test_naive_equals_vectorized_float64(pair, reg, device):
    naive, vectorized = pair
    W, X, y = problem(N=128, device=device)
    loss_n, dW_n = naive(W, X, y, reg)
    loss_v, dW_v = vectorized(W, X, y, reg)
    assert loss_n.ndim == 0 and loss_v.ndim == 0
    assert dW_n.shape == dW_v.shape == W.shape
    assert dW_v.dtype == W.dtype and dW_v.device == W.device
    assert rel_error(loss_n, loss_v) < 1e-7
    assert rel_error(dW_n, dW_v) < 1e-7


@pytest.mark.parametrize("pair", [SVM, SOFTMAX], ids=["svm", "softmax"])
def test_naive_equals_vectorized_float32(pair):
    naive, vectorized = pair
    W, X, y = problem(N=32, D=200, dtype=torch.float32)
    (loss_n, dW_n), (loss_v, dW_v) = naive(W, X, y, 0.1), vectorized(W, X, y, 0.1)
    assert loss_v.dtype == dW_v.dtype == torch.float32
    assert rel_error(loss_n, loss_v) < 1e-5
    assert rel_error(dW_n, dW_v) < 1e-5


@pytest.mark.parametrize(
    ("loss_fn", "reference"),
    [
        (svm_loss_naive, svm_autograd),
        (svm_loss_vectorized, svm_autograd),
        (softmax_loss_naive, softmax_autograd),
        (softmax_loss_vectorized, softmax_autograd),
    ],
    ids=["svm_naive", "svm_vectorized", "softmax_naive", "softmax_vectorized"],
)
@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_against_autograd(loss_fn, reference, reg):
    W, X, y = problem(N=50, D=300, C=7, scale=0.05, seed=1)
    loss, dW = loss_fn(W, X, y, reg)
    ref_loss, ref_dW = reference(W, X, y, reg)
    assert rel_error(loss, ref_loss) < 1e-10
    assert rel_error(dW, ref_dW) < 1e-10


@pytest.mark.parametrize("loss_fn", ALL_LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("reg", [0.0, 2.0])
def test_against_numeric_gradient(loss_fn, reg):
    # full numeric gradient on a small problem ...
    W, X, y = problem(N=12, D=8, C=4, scale=0.3, seed=2)
    _, dW = loss_fn(W, X, y, reg)
    numeric = compute_numeric_gradient(lambda w: loss_fn(w, X, y, reg)[0], W.clone(), h=1e-6)
    assert rel_error(dW, numeric) < 1e-7
    # ... and the course's sparse check on a CIFAR-sized one
    W, X, y = problem(N=20, D=3073, scale=1e-3, seed=3)
    _, dW = loss_fn(W, X, y, reg)
    errors = grad_check_sparse(
        lambda w: loss_fn(w, X, y, reg)[0], W, dW, num_checks=10, h=1e-6, verbose=False
    )
    assert max(errors) < 1e-6


@pytest.mark.parametrize("loss_fn", SOFTMAX, ids=lambda f: f.__name__)
def test_initial_softmax_loss_is_log_c(loss_fn):
    # tiny W: every class gets probability ~1/C, so the loss is ~log(C)
    W, X, y = problem(N=200, scale=1e-6, dtype=torch.float32)
    loss, _ = loss_fn(W, X, y, 0.0)
    assert abs(loss.item() - math.log(10)) < 1e-2


@pytest.mark.parametrize("loss_fn", SVM, ids=lambda f: f.__name__)
def test_initial_svm_loss_is_c_minus_1(loss_fn):
    # tiny W: all scores ~0, each of the C - 1 wrong classes has margin ~1
    W, X, y = problem(N=200, scale=1e-6, dtype=torch.float32)
    loss, _ = loss_fn(W, X, y, 0.0)
    assert abs(loss.item() - 9.0) < 1e-2


def huge_scores(dtype):
    """Scores of exactly +1e4, -1e4 and 0 for every example (X is a column of ones)."""
    W = torch.tensor([[1e4, -1e4, 0.0]], dtype=dtype)
    X = torch.ones(6, 1, dtype=dtype)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    return W, X, y


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("loss_fn", SOFTMAX, ids=lambda f: f.__name__)
def test_softmax_is_stable_with_scores_of_1e4(loss_fn, dtype):
    W, X, y = huge_scores(dtype)
    loss, dW = loss_fn(W, X, y, 0.0)
    assert torch.isfinite(loss) and torch.isfinite(dW).all()
    # -log p_y = logsumexp(s) - s_y = 1e4 - s_y: 0, 2e4 and 1e4 for the three labels
    assert loss.item() == pytest.approx((0 + 2e4 + 1e4) / 3, rel=1e-6)
    # softmax = (1, 0, 0): the gradient per example is X (one) times (p - onehot(y))
    expected = torch.tensor([[0.0, -1 / 3, -1 / 3]], dtype=dtype)
    expected[0, 0] = 2 / 3
    assert torch.allclose(dW, expected, atol=1e-6)


@pytest.mark.parametrize("loss_fn", SVM, ids=lambda f: f.__name__)
def test_svm_finite_with_scores_of_1e4(loss_fn):
    W, X, y = huge_scores(torch.float32)
    loss, dW = loss_fn(W, X, y, 0.0)
    assert torch.isfinite(loss) and torch.isfinite(dW).all()
    # scores (1e4, -1e4, 0): y=0 violates nothing; y=1 violates both margins,
    # (2e4 + 1) + (1e4 + 1); y=2 violates class 0's, 1e4 + 1
    expected = (0 + (2e4 + 1) + (1e4 + 1) + (1e4 + 1)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("loss_fn", ALL_LOSSES, ids=lambda f: f.__name__)
def test_regularization_has_no_half(loss_fn):
    W, X, y = problem(N=10, D=20, C=3, scale=0.5)
    (l0, d0), (l1, d1) = loss_fn(W, X, y, 0.0), loss_fn(W, X, y, 0.7)
    assert (l1 - l0).item() == pytest.approx(0.7 * (W * W).sum().item(), rel=1e-12)
    assert rel_error(d1 - d0, 2 * 0.7 * W) < 1e-12


def _bad_inputs():
    W, X, y = problem(N=5, D=4, C=3, dtype=torch.float32)
    nan_X = X.clone()
    nan_X[2, 1] = float("nan")
    inf_X = X.clone()
    inf_X[0, 0] = float("inf")
    return [
        ("W_rows", (torch.zeros(3, 3), X, y, 0.1), r"W .*\(3, 3\).*X .*\(5, 4\)"),
        ("y_length", (W, X, y[:4], 0.1), r"y must have shape \(5,\).*\(4,\)"),
        ("y_float", (W, X, y.float(), 0.1), r"y must hold integer.*float32"),
        ("y_too_big", (W, X, torch.tensor([0, 1, 2, 3, 0]), 0.1), r"y .*\[0, 3\).*\[0, 3\]"),
        ("y_negative", (W, X, torch.tensor([0, -1, 2, 1, 0]), 0.1), r"y .*\[0, 3\).*\[-1, 2\]"),
        ("y_2d", (W, X, y[:, None], 0.1), r"y must have shape \(5,\).*\(5, 1\)"),
        ("negative_reg", (W, X, y, -0.1), r"reg .*>= 0.*-0\.1"),
        ("nan_reg", (W, X, y, float("nan")), r"reg must be a finite"),
        ("nan_X", (W, nan_X, y, 0.1), r"X \(shape \(5, 4\)\) contains NaN or Inf"),
        ("inf_X", (W, inf_X, y, 0.1), r"X \(shape \(5, 4\)\) contains NaN or Inf"),
        ("empty_batch", (W, X[:0], y[:0], 0.1), r"X is an empty batch.*\(0, 4\)"),
        ("X_1d", (W, X[0], y, 0.1), r"X must be a 2-D float tensor.*\(4,\)"),
        ("dtype_mismatch", (W.double(), X, y, 0.1), r"W and X must share dtype"),
        ("W_not_tensor", (W.numpy(), X, y, 0.1), r"W must be a torch.Tensor.*ndarray"),
    ]


@pytest.mark.parametrize("loss_fn", ALL_LOSSES, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("case", "args", "match"), _bad_inputs(), ids=[c[0] for c in _bad_inputs()]
)
def test_bad_inputs_raise_value_error(loss_fn, case, args, match):
    with pytest.raises(ConfigError, match=match) as info:
        loss_fn(*args)
    assert isinstance(info.value, ValueError)


def test_no_nan_when_x_is_large_but_finite():
    # a sum that overflows float32 must not be mistaken for NaN/Inf in X
    W = torch.zeros(2, 3)
    X = torch.full((4, 2), 3e38)
    y = torch.tensor([0, 1, 2, 0])
    loss, _ = svm_loss_vectorized(W, X, y, 0.0)
    assert loss.item() == pytest.approx(2.0)


def test_score_and_gradient_products_match_plain_matmul():
    W, X, _ = problem(N=37, D=300, C=10)
    S = torch.randn(37, 10, dtype=torch.float64)
    assert torch.allclose(linear_scores(W, X), X @ W, rtol=1e-12, atol=1e-12)
    dW = weight_gradient(X, S)
    assert dW.shape == (300, 10) and dW.is_contiguous()
    assert torch.allclose(dW, X.t() @ S, rtol=1e-12, atol=1e-12)
