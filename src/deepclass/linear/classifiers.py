"""``LinearClassifier`` with ``LinearSVM`` and ``Softmax`` (EECS 498 A2, seed 001).

The course interface::

    svm = LinearSVM()
    loss_history = svm.train(X_train, y_train, learning_rate=1e-3, reg=1e-5, num_iters=1500)
    y_pred = svm.predict(X_val)

``train`` continues from the current ``W`` (call it again to train more).
The scikit-learn habit works too: hyperparameters go to the constructor,
``fit(X, y)`` starts from a fresh ``W`` and returns the model,
``score(X, y)`` is the accuracy::

    Softmax(learning_rate=1e-3, reg=5e-3, num_iters=2000).fit(X_train, y_train).score(X_val, y_val)

Importing this module registers the models ``svm`` and ``softmax`` of rung
``linear`` (``deepclass.registry.build_model("linear", "svm")``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from deepclass.errors import CheckpointError, ConfigError
from deepclass.linear.losses import check_labels, softmax_loss_vectorized, svm_loss_vectorized
from deepclass.linear.train import predict_linear_classifier, train_linear_classifier
from deepclass.metrics import accuracy
from deepclass.registry import register_model

_FORMAT = "deepclass.linear/1"


class LinearClassifier:
    """A linear classifier ``scores = X @ W`` trained by minibatch SGD; subclasses pick the loss.

    W: ``(D, C)`` once trained (None before). The constructor's
    hyperparameters are what :meth:`fit` uses; :meth:`train` takes its own
    (the course's signature). ``loss_history`` holds the losses of the last
    ``train``/``fit`` call.
    """

    name = "linear"

    def __init__(
        self,
        learning_rate: float = 1e-3,
        reg: float = 1e-5,
        num_iters: int = 100,
        batch_size: int = 200,
        verbose: bool = False,
    ) -> None:
        self.W: torch.Tensor | None = None
        self.learning_rate = learning_rate
        self.reg = reg
        self.num_iters = num_iters
        self.batch_size = batch_size
        self.verbose = verbose
        self.loss_history: list[float] = []

    def __repr__(self) -> str:
        shape = "untrained" if self.W is None else f"W={tuple(self.W.shape)}"
        return (
            f"{type(self).__name__}(learning_rate={self.learning_rate:g}, reg={self.reg:g}, "
            f"num_iters={self.num_iters}, batch_size={self.batch_size}; {shape})"
        )

    # --- the course interface -------------------------------------------------------------
    def train(
        self,
        X_train: torch.Tensor,
        y_train: torch.Tensor,
        learning_rate: float = 1e-3,
        reg: float = 1e-5,
        num_iters: int = 100,
        batch_size: int = 200,
        verbose: bool = False,
        **kwargs: Any,
    ) -> list[float]:
        """Train ``W`` (from its current value, or a fresh one) with SGD; returns the loss history.

        X_train: (N, D), y_train: (N,) int64. Extra keyword arguments (e.g.
        ``callback``) go to :func:`train_linear_classifier`. The
        hyperparameters used replace the model's own, so :meth:`save`
        records what the weights were trained with.
        """
        self.W, self.loss_history = train_linear_classifier(
            self.loss,
            self.W,
            X_train,
            y_train,
            learning_rate,
            reg,
            num_iters,
            batch_size,
            verbose,
            **kwargs,
        )
        self.learning_rate, self.reg = float(learning_rate), float(reg)
        self.num_iters, self.batch_size = num_iters, batch_size
        return self.loss_history

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Predicted labels ``(N,)`` int64 for ``X (N, D)``."""
        return predict_linear_classifier(self._trained_weights("predict"), X)

    def loss(
        self, W: torch.Tensor, X_batch: torch.Tensor, y_batch: torch.Tensor, reg: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, dW)`` of this classifier's loss at ``W`` on a minibatch; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define a loss")

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``W`` and the hyperparameters to ``path`` (a tensors-only torch file)."""
        W = self._trained_weights("save")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "format": _FORMAT,
                "model": self.name,
                "W": W.detach().cpu(),
                "hyperparameters": {
                    "learning_rate": float(self.learning_rate),
                    "reg": float(self.reg),
                    "num_iters": int(self.num_iters),
                    "batch_size": int(self.batch_size),
                },
            },
            path,
        )
        return path

    def load(self, path: str | os.PathLike, map_location: str | torch.device = "cpu"):
        """Read ``W`` (and the hyperparameters) written by :meth:`save`; returns ``self``.

        Raises ``CheckpointError`` for a file that is not a linear-classifier
        checkpoint or holds the other model (an SVM file into ``Softmax``).
        """
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise CheckpointError(
                f"{path}: not a readable deepclass linear checkpoint ({e})"
            ) from e
        if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
            raise CheckpointError(f"{path}: not a deepclass linear-classifier checkpoint")
        if ckpt.get("model") != self.name:
            raise CheckpointError(
                f"{path} holds a {ckpt.get('model')!r} model, cannot load it into "
                f"{type(self).__name__} ({self.name!r})"
            )
        W = ckpt.get("W")
        if not isinstance(W, torch.Tensor) or W.ndim != 2 or not W.is_floating_point():
            raise CheckpointError(f"{path}: W must be a 2-D float tensor")
        self.W = W
        for key, value in ckpt.get("hyperparameters", {}).items():
            setattr(self, key, value)
        return self

    # --- the scikit-learn habit -----------------------------------------------------------
    def fit(self, X: torch.Tensor, y: torch.Tensor):
        """Train from a fresh ``W`` with the constructor's hyperparameters; returns ``self``."""
        self.W = None
        self.train(
            X, y, self.learning_rate, self.reg, self.num_iters, self.batch_size, self.verbose
        )
        return self

    def score(self, X: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy on ``X (N, D)``, ``y (N,)``: a Python float in [0, 1]."""
        check_labels(y, X.shape[0], None)
        return accuracy(self.predict(X), y)

    def _trained_weights(self, what: str) -> torch.Tensor:
        if self.W is None:
            raise ConfigError(
                f"{type(self).__name__} is not trained: call train or fit before {what}"
            )
        return self.W


@register_model("linear", "svm", "linear SVM: multiclass hinge loss, margin 1, L2 reg")
class LinearSVM(LinearClassifier):
    """A linear classifier trained with the multiclass SVM (hinge) loss."""

    name = "svm"

    def loss(
        self, W: torch.Tensor, X_batch: torch.Tensor, y_batch: torch.Tensor, reg: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return svm_loss_vectorized(W, X_batch, y_batch, reg)


@register_model("linear", "softmax", "softmax classifier: cross-entropy loss, L2 reg")
class Softmax(LinearClassifier):
    """A linear classifier trained with the softmax (cross-entropy) loss."""

    name = "softmax"

    def loss(
        self, W: torch.Tensor, X_batch: torch.Tensor, y_batch: torch.Tensor, reg: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return softmax_loss_vectorized(W, X_batch, y_batch, reg)
