"""Multiclass SVM and softmax losses with hand-derived gradients (EECS 498 A2, seed 001).

Every function takes ``W: (D, C)``, ``X: (N, D)``, ``y: (N,)`` int64 in
``[0, C)`` and ``reg >= 0``, and returns ``(loss, dW)``: ``loss`` a 0-d tensor
and ``dW`` a tensor like ``W``. The data loss is averaged over the N
examples; the regularisation is ``reg * sum(W * W)`` with no 1/2 (so ``dW``
gets ``2 * reg * W``). float32 and float64, on any device.

The ``_naive`` versions loop over examples and classes (the teaching
version); the ``_vectorized`` ones compute the same numbers with matrix
operations.
"""

from __future__ import annotations

import math

import torch

from deepclass.errors import ConfigError


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_weights(W: torch.Tensor, X: torch.Tensor) -> None:
    """Raise ``ConfigError`` unless ``W (D, C)`` and ``X (N, D)`` are float tensors that fit.

    NaN or Inf in ``X`` is an error too (it would silently poison W).
    """
    if not isinstance(W, torch.Tensor):
        raise ConfigError(f"W must be a torch.Tensor of shape (D, C), got {type(W).__name__}")
    if not isinstance(X, torch.Tensor):
        raise ConfigError(f"X must be a torch.Tensor of shape (N, D), got {type(X).__name__}")
    if W.ndim != 2 or not W.is_floating_point():
        raise ConfigError(
            f"W must be a 2-D float tensor (D, C), got shape {_shape(W)} dtype {W.dtype}"
        )
    if X.ndim != 2 or not X.is_floating_point():
        raise ConfigError(
            f"X must be a 2-D float tensor (N, D), got shape {_shape(X)} dtype {X.dtype}"
        )
    if W.shape[0] != X.shape[1]:
        raise ConfigError(
            f"W must have one row per column of X: W has shape {_shape(W)}, X has shape {_shape(X)}"
        )
    if W.dtype != X.dtype or W.device != X.device:
        raise ConfigError(
            f"W and X must share dtype and device: W is {W.dtype} on {W.device}, "
            f"X is {X.dtype} on {X.device}"
        )
    if X.shape[0] == 0:
        raise ConfigError(f"X is an empty batch: shape {_shape(X)}; need at least one example")
    # One reduction is the cheap test (NaN and Inf propagate into the sum); only a
    # non-finite sum, which an overflow could also cause, pays for the exact check.
    if not torch.isfinite(X.sum()) and not torch.isfinite(X).all():
        raise ConfigError(f"X (shape {_shape(X)}) contains NaN or Inf values")


def check_labels(y: torch.Tensor, num_examples: int, num_classes: int | None) -> None:
    """Raise ``ConfigError`` unless ``y`` is ``(num_examples,)`` integers in ``[0, num_classes)``."""
    if not isinstance(y, torch.Tensor):
        raise ConfigError(f"y must be a torch.Tensor of shape (N,), got {type(y).__name__}")
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise ConfigError(f"y must hold integer class labels (int64), got dtype {y.dtype}")
    if y.ndim != 1 or y.shape[0] != num_examples:
        raise ConfigError(
            f"y must have shape ({num_examples},), one label per row of X; got shape {_shape(y)}"
        )
    if y.numel() == 0:
        raise ConfigError("y is empty: need at least one label")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or (num_classes is not None and hi >= num_classes):
        bound = f"[0, {num_classes})" if num_classes is not None else "[0, C)"
        raise ConfigError(f"y must hold labels in {bound}, got values in [{lo}, {hi}]")


def check_reg(reg: float) -> float:
    """``reg`` as a float; raise ``ConfigError`` unless it is finite and ``>= 0``."""
    try:
        value = float(reg)
    except (TypeError, ValueError):
        raise ConfigError(f"reg must be a number >= 0, got {reg!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"reg must be a finite number >= 0, got {reg!r}")
    return value


def check_loss_inputs(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float) -> float:
    """Validate the ``(W, X, y, reg)`` every loss takes; returns ``reg`` as a float."""
    check_weights(W, X)
    check_labels(y, X.shape[0], W.shape[1])
    if y.device != X.device:
        raise ConfigError(f"y must be on X's device {X.device}, got {y.device}")
    return check_reg(reg)


def linear_scores(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Class scores ``X @ W``: ``(N, C)`` from ``W (D, C)``, ``X (N, D)``.

    Computed as ``(W^T X^T)^T``, the same product: with C as small as 10,
    MKL makes a C-row result about 3x faster than a C-column one (measured
    on a 500 x 3073 batch). The result is a transposed view.
    """
    return W.t().mm(X.t()).t()


def weight_gradient(X: torch.Tensor, dscores: torch.Tensor) -> torch.Tensor:
    """``X^T @ dscores``: ``(D, C)`` contiguous from ``X (N, D)``, ``dscores (N, C)``.

    Computed as ``(dscores^T X)^T`` for the same reason as :func:`linear_scores`.
    """
    return dscores.t().mm(X).t().contiguous()


def svm_loss_naive(
    W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Structured SVM (multiclass hinge, margin 1) loss and gradient, with explicit loops.

    W: (D, C), X: (N, D), y: (N,) int64 in [0, C), reg: >= 0.
    Returns ``(loss, dW)``: a 0-d tensor and a tensor like W.
    """
    reg = check_loss_inputs(W, X, y, reg)
    dW = torch.zeros_like(W)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = torch.zeros((), dtype=W.dtype, device=W.device)
    for i in range(num_train):
        scores = W.t().mv(X[i])
        yi = int(y[i])
        correct_class_score = scores[yi]
        for j in range(num_classes):
            if j == yi:
                continue
            margin = scores[j] - correct_class_score + 1  # delta = 1
            if margin > 0:
                loss += margin
                # d margin / dW[:, j] = X[i], d margin / dW[:, y_i] = -X[i]
                dW[:, j] += X[i]
                dW[:, yi] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * torch.sum(W * W)
    dW += 2 * reg * W
    return loss, dW


def svm_loss_vectorized(
    W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Structured SVM loss and gradient without Python loops; same numbers as the naive version.

    W: (D, C), X: (N, D), y: (N,) int64 in [0, C), reg: >= 0.
    Returns ``(loss, dW)``: a 0-d tensor and a tensor like W.
    """
    reg = check_loss_inputs(W, X, y, reg)
    num_train = X.shape[0]
    rows = torch.arange(num_train, device=X.device)
    scores = linear_scores(W, X)  # (N, C)
    margins = scores - scores[rows, y].unsqueeze(1) + 1
    margins[rows, y] = 0  # the correct class contributes no margin
    positive = margins > 0
    loss = margins.clamp(min=0).sum() / num_train + reg * torch.sum(W * W)

    # Each positive margin adds X[i] to its class column and subtracts it from y_i's.
    coeff = positive.to(W.dtype)  # (N, C)
    coeff[rows, y] = -coeff.sum(dim=1)
    dW = weight_gradient(X, coeff) / num_train + 2 * reg * W
    return loss, dW


def softmax_loss_naive(
    W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax (cross-entropy) loss and gradient, with explicit loops.

    Numerically stable: scores are shifted by their maximum and the loss is
    computed as a log-sum-exp, so scores of 1e4 give a finite loss.
    W: (D, C), X: (N, D), y: (N,) int64 in [0, C), reg: >= 0.
    Returns ``(loss, dW)``: a 0-d tensor and a tensor like W.
    """
    reg = check_loss_inputs(W, X, y, reg)
    dW = torch.zeros_like(W)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = torch.zeros((), dtype=W.dtype, device=W.device)
    for i in range(num_train):
        scores = W.t().mv(X[i])
        scores = scores - scores.max()  # exp of the shifted scores cannot overflow
        yi = int(y[i])
        exp_scores = torch.exp(scores)
        sum_exp = exp_scores.sum()
        # -log p_y = log(sum_j e^{s_j}) - s_y: finite even when p_y underflows to 0
        loss += torch.log(sum_exp) - scores[yi]
        for j in range(num_classes):
            p_j = exp_scores[j] / sum_exp
            dW[:, j] += (p_j - (1.0 if j == yi else 0.0)) * X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * torch.sum(W * W)
    dW += 2 * reg * W
    return loss, dW


def softmax_loss_vectorized(
    W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, reg: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax loss and gradient without Python loops; same numbers as the naive version.

    W: (D, C), X: (N, D), y: (N,) int64 in [0, C), reg: >= 0.
    Returns ``(loss, dW)``: a 0-d tensor and a tensor like W.
    """
    reg = check_loss_inputs(W, X, y, reg)
    num_train = X.shape[0]
    rows = torch.arange(num_train, device=X.device)
    scores = linear_scores(W, X)
    scores = scores - scores.max(dim=1, keepdim=True).values
    log_sum_exp = torch.logsumexp(scores, dim=1)  # (N,)
    loss = (log_sum_exp - scores[rows, y]).sum() / num_train + reg * torch.sum(W * W)

    # dL/dscores = softmax(scores) - one_hot(y), averaged over the batch
    dscores = torch.exp(scores - log_sum_exp.unsqueeze(1))
    dscores[rows, y] -= 1
    dW = weight_gradient(X, dscores) / num_train + 2 * reg * W
    return loss, dW
