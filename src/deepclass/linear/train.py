"""Minibatch SGD for a linear classifier ``scores = X @ W`` (EECS 498 A2, seed 001)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from deepclass.checks import check_positive_int
from deepclass.errors import ConfigError
from deepclass.linear.losses import check_labels, check_reg, check_weights, linear_scores

LossFunc = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]
]


class DivergedError(ConfigError):
    """The training loss became NaN or Inf: the learning rate is too large for this reg.

    ``iteration`` is where it happened; ``loss_history`` holds the losses up to it.
    """

    def __init__(self, message: str, iteration: int, loss_history: list[float]) -> None:
        super().__init__(message)
        self.iteration = iteration
        self.loss_history = loss_history


def _learning_rate(value: float) -> float:
    try:
        lr = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"learning_rate must be a number > 0, got {value!r}") from None
    if not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"learning_rate must be a finite number > 0, got {value!r}")
    return lr


def sample_batch(
    X: torch.Tensor, y: torch.Tensor, num_train: int, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` examples drawn with replacement from the first ``num_train`` rows.

    X: (N, D), y: (N,). Returns ``(X_batch (batch_size, D), y_batch (batch_size,))``.
    Indices come from ``torch.randint`` (torch's global generator, so
    ``seed_everything`` makes the batches reproducible).
    """
    for name, t in (("X", X), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ConfigError(
                f"sample_batch: {name} must be a torch.Tensor, got {type(t).__name__} "
                f"(torch.from_numpy({name}) converts an array)"
            )
    batch_size = check_positive_int(batch_size, "batch_size")
    num_train = check_positive_int(num_train, "num_train")
    if num_train > X.shape[0] or num_train > y.shape[0]:
        raise ConfigError(
            f"num_train must be <= the number of examples: got num_train={num_train} for "
            f"X of shape {tuple(X.shape)} and y of shape {tuple(y.shape)}"
        )
    batch_indices = torch.randint(0, num_train, (batch_size,), device=X.device)
    return X[batch_indices], y[batch_indices]


def train_linear_classifier(
    loss_func: LossFunc,
    W: torch.Tensor | None,
    X: torch.Tensor,
    y: torch.Tensor,
    learning_rate: float = 1e-3,
    reg: float = 1e-5,
    num_iters: int = 100,
    batch_size: int = 200,
    verbose: bool = False,
    *,
    callback: Callable[[int, float], bool | None] | None = None,
    batch_indices: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Train ``W`` with minibatch SGD on ``loss_func``.

    loss_func: ``(W, X_batch, y_batch, reg) -> (loss, dW)``. W: (D, C), or
    None to start from ``0.000001 * randn(D, C)`` on X's device and dtype with
    ``C = max(y) + 1``. X: (N, D), y: (N,) int64. Each of ``num_iters`` steps
    samples ``batch_size`` examples with replacement and takes
    ``W -= learning_rate * dW`` (W is updated in place when given).
    verbose prints ``iteration i / num_iters: loss L`` every 100 steps;
    callback(i, loss) is called after every step (progress bars); a callback
    returning True ends training after that step.
    batch_indices: ``(num_iters, batch_size)`` int64 rows of X; step i uses
    ``X[batch_indices[i]]`` instead of a random draw (so other code can feed
    the very same batches, e.g. ``deepclass ladder --same-model``).

    Returns ``(W, loss_history)``, the losses as Python floats. Raises
    ``DivergedError`` as soon as the loss is NaN or Inf.
    """
    learning_rate = _learning_rate(learning_rate)
    reg = check_reg(reg)
    num_iters = check_positive_int(num_iters, "num_iters")
    batch_size = check_positive_int(batch_size, "batch_size")
    if W is None:
        if not isinstance(X, torch.Tensor) or X.ndim != 2 or not X.is_floating_point():
            got = (
                f"shape {tuple(X.shape)} dtype {X.dtype}"
                if isinstance(X, torch.Tensor)
                else type(X).__name__
            )
            raise ConfigError(f"X must be a 2-D float tensor (N, D), got {got}")
        if X.shape[0] == 0:
            raise ConfigError(f"X is an empty batch: shape {tuple(X.shape)}; need examples")
        check_labels(y, X.shape[0], None)
        num_classes = int(y.max()) + 1
        W = 0.000001 * torch.randn(X.shape[1], num_classes, device=X.device, dtype=X.dtype)
    check_weights(W, X)  # also rejects NaN/Inf in X once, before any work
    check_labels(y, X.shape[0], W.shape[1])
    if y.device != X.device:
        raise ConfigError(f"y must be on X's device {X.device}, got {y.device}")
    num_train = X.shape[0]
    if batch_indices is not None:
        _check_batch_indices(batch_indices, num_iters, batch_size, num_train)
        batch_indices = batch_indices.to(X.device)

    loss_history: list[float] = []
    for it in range(num_iters):
        if batch_indices is None:
            X_batch, y_batch = sample_batch(X, y, num_train, batch_size)
        else:
            X_batch, y_batch = X[batch_indices[it]], y[batch_indices[it]]
        loss, grad = loss_func(W, X_batch, y_batch, reg)
        loss_value = loss.item()
        loss_history.append(loss_value)
        if not math.isfinite(loss_value):
            raise DivergedError(
                f"loss diverged ({loss_value}) at iteration {it} with "
                f"learning_rate={learning_rate:g}, reg={reg:g}: lower the learning rate",
                it,
                loss_history,
            )
        W -= learning_rate * grad
        if verbose and it % 100 == 0:
            print(f"iteration {it} / {num_iters}: loss {loss_value:f}")
        if callback is not None and callback(it, loss_value):
            break
    return W, loss_history


def _check_batch_indices(idx, num_iters: int, batch_size: int, num_train: int) -> None:
    if not isinstance(idx, torch.Tensor) or idx.is_floating_point() or idx.dtype == torch.bool:
        raise ConfigError(
            f"batch_indices must be an int64 tensor (num_iters, batch_size), got "
            f"{getattr(idx, 'dtype', type(idx).__name__)}"
        )
    if tuple(idx.shape) != (num_iters, batch_size):
        raise ConfigError(
            f"batch_indices must have shape (num_iters, batch_size) = ({num_iters}, "
            f"{batch_size}), got {tuple(idx.shape)}"
        )
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= num_train):
        raise ConfigError(
            f"batch_indices must be rows of X in [0, {num_train}), got values in "
            f"[{int(idx.min())}, {int(idx.max())}]"
        )


def predict_linear_classifier(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Predicted labels ``(N,)`` int64 in ``[0, C)``: the argmax of ``X @ W``.

    W: (D, C), X: (N, D) on the same device and dtype.
    """
    check_weights(W, X)
    return linear_scores(W, X).argmax(dim=1)
