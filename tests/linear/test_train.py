"""Minibatch sampling, the SGD loop and prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepclass.errors import ConfigError
from deepclass.linear import (
    DivergedError,
    predict_linear_classifier,
    sample_batch,
    softmax_loss_vectorized,
    svm_loss_vectorized,
    train_linear_classifier,
)
from deepclass.seed import seed_everything


def blobs(n_per_class=100, D=20, C=4, *, seed=0, dtype=torch.float32):
    """C well-separated Gaussian blobs with a bias column: ``X (C*n, D+1)``, ``y (C*n,)``."""
    g = torch.Generator().manual_seed(seed)
    centers = 3 * torch.randn(C, D, generator=g, dtype=dtype)
    y = torch.arange(C).repeat_interleave(n_per_class)
    X = centers[y] + torch.randn(len(y), D, generator=g, dtype=dtype)
    X = torch.cat([X, torch.ones(len(y), 1, dtype=dtype)], dim=1)
    return X, y


def test_sample_batch_draws_matching_rows_with_replacement():
    # row i of X encodes i, so every sampled row can be checked against its label
    X = torch.arange(10, dtype=torch.float32)[:, None].repeat(1, 3)
    y = torch.arange(10) * 7
    seed_everything(0)
    Xb, yb = sample_batch(X, y, num_train=4, batch_size=50)
    assert Xb.shape == (50, 3) and yb.shape == (50,)
    idx = Xb[:, 0].long()
    assert (idx < 4).all(), "only the first num_train rows may be drawn"
    assert torch.equal(yb, y[idx]) and torch.equal(Xb, X[idx])
    assert len(torch.unique(idx)) < 50, "50 draws from 4 rows must repeat (with replacement)"
    seed_everything(0)
    Xb2, yb2 = sample_batch(X, y, 4, 50)
    assert torch.equal(Xb, Xb2) and torch.equal(yb, yb2)


@pytest.mark.parametrize(
    ("num_train", "batch_size", "match"),
    [
        (4, 0, "batch_size must be a positive int"),
        (11, 5, "num_train must be <= .*\\(10, 3\\)"),
        (0, 5, "num_train must be a positive int"),
    ],
)
def test_sample_batch_errors(num_train, batch_size, match):
    X, y = torch.zeros(10, 3), torch.zeros(10, dtype=torch.long)
    with pytest.raises(ConfigError, match=match):
        sample_batch(X, y, num_train, batch_size)


def test_sample_batch_refuses_numpy_arrays_and_accepts_numpy_sizes():
    X, y = np.zeros((10, 3), np.float32), np.zeros(10, np.int64)
    with pytest.raises(ConfigError, match=r"sample_batch: X must be a torch.Tensor, got ndarray"):
        sample_batch(X, torch.from_numpy(y), 4, 5)
    with pytest.raises(ConfigError, match=r"sample_batch: y must be a torch.Tensor, got ndarray"):
        sample_batch(torch.from_numpy(X), y, 4, 5)
    Xb, yb = sample_batch(torch.from_numpy(X), torch.from_numpy(y), np.int64(4), np.int32(5))
    assert isinstance(Xb, torch.Tensor) and Xb.shape == (5, 3) and yb.shape == (5,)


def test_one_sgd_step_is_w_minus_lr_times_grad():
    X, y = blobs(dtype=torch.float64)
    W0 = 0.01 * torch.randn(X.shape[1], 4, dtype=torch.float64)
    seed_everything(3)
    Xb, yb = sample_batch(X, y, X.shape[0], 32)
    _, grad = softmax_loss_vectorized(W0, Xb, yb, 0.1)
    expected = W0 - 0.05 * grad
    seed_everything(3)
    W, hist = train_linear_classifier(
        softmax_loss_vectorized,
        W0.clone(),
        X,
        y,
        learning_rate=0.05,
        reg=0.1,
        num_iters=1,
        batch_size=32,
    )
    assert torch.allclose(W, expected, rtol=0, atol=1e-14)
    assert len(hist) == 1 and isinstance(hist[0], float)


def test_w_none_is_initialised_tiny_on_x_dtype():
    X, y = blobs(dtype=torch.float64)
    seed_everything(0)
    W, _ = train_linear_classifier(
        svm_loss_vectorized, None, X, y, learning_rate=1e-12, num_iters=1
    )
    assert W.shape == (X.shape[1], int(y.max()) + 1) and W.dtype == torch.float64
    assert 0.7e-6 < W.std().item() < 1.3e-6


@pytest.mark.parametrize("loss_fn", [svm_loss_vectorized, softmax_loss_vectorized])
def test_training_learns_separable_blobs(loss_fn):
    X, y = blobs()
    seed_everything(0)
    W, hist = train_linear_classifier(loss_fn, None, X, y, 1e-2, 1e-4, num_iters=300, batch_size=64)
    assert len(hist) == 300
    assert sum(hist[-20:]) / 20 < 0.2 * hist[0]
    assert (predict_linear_classifier(W, X) == y).double().mean().item() > 0.97


def test_verbose_prints_every_100_iterations(capsys):
    X, y = blobs()
    train_linear_classifier(svm_loss_vectorized, None, X, y, num_iters=250, verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == [
        "iteration 0 / 250",
        "iteration 100 / 250",
        "iteration 200 / 250",
    ]
    assert all(ln.split(": loss ")[1] for ln in lines)


def test_callback_sees_every_step():
    X, y = blobs()
    seen = []
    _, hist = train_linear_classifier(
        svm_loss_vectorized, None, X, y, num_iters=7, callback=lambda i, l: seen.append((i, l))
    )
    assert seen == list(enumerate(hist))


def test_divergence_raises_with_history():
    X, y = blobs()
    seed_everything(0)
    with pytest.raises(DivergedError, match="lower the learning rate") as info:
        train_linear_classifier(svm_loss_vectorized, None, X, y, learning_rate=1e38, num_iters=50)
    assert isinstance(info.value, ValueError)
    assert info.value.iteration < 50
    assert len(info.value.loss_history) == info.value.iteration + 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rate": 0.0}, "learning_rate must be a finite number > 0"),
        ({"learning_rate": -1e-3}, "learning_rate must be a finite number > 0"),
        ({"reg": -1.0}, "reg must be a finite number >= 0"),
        ({"num_iters": 0}, "num_iters must be a positive int"),
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"batch_size": 2.5}, "batch_size must be a positive int"),
    ],
)
def test_train_argument_errors(kwargs, match):
    X, y = blobs()
    with pytest.raises(ConfigError, match=match):
        train_linear_classifier(svm_loss_vectorized, None, X, y, **kwargs)


def test_train_data_errors():
    X, y = blobs()
    bad = X.clone()
    bad[3, 3] = float("nan")
    with pytest.raises(ConfigError, match="contains NaN or Inf"):
        train_linear_classifier(svm_loss_vectorized, None, bad, y)
    with pytest.raises(ConfigError, match=r"y must have shape \(400,\).*\(399,\)"):
        train_linear_classifier(svm_loss_vectorized, None, X, y[:-1])
    with pytest.raises(ConfigError, match=r"X is an empty batch.*\(0, 21\)"):
        train_linear_classifier(svm_loss_vectorized, None, X[:0], y[:0])
    with pytest.raises(
        ConfigError, match=r"W must have one row per column of X.*\(5, 4\).*\(400, 21\)"
    ):
        train_linear_classifier(svm_loss_vectorized, torch.zeros(5, 4), X, y)
    with pytest.raises(ConfigError, match=r"y must hold labels in \[0, 3\).*\[0, 3\]"):
        train_linear_classifier(svm_loss_vectorized, torch.zeros(21, 3), X, y)


def test_predict_is_argmax_of_scores():
    g = torch.Generator().manual_seed(0)
    W, X = torch.randn(6, 5, generator=g), torch.randn(30, 6, generator=g)
    pred = predict_linear_classifier(W, X)
    assert pred.dtype == torch.int64 and pred.shape == (30,)
    for i in range(30):  # reference: a class whose score no other class beats
        scores = [float(X[i] @ W[:, c]) for c in range(5)]
        assert scores[pred[i]] == max(scores)
    with pytest.raises(ConfigError, match=r"W .*\(6, 5\).*X .*\(30, 5\)"):
        predict_linear_classifier(W, X[:, :5])
