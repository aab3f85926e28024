"""Accuracy and confusion matrices, shared by every rung.

These work on plain tensors or arrays so rungs 1-4 need no metrics library;
the Lightning rung uses torchmetrics for its epoch-accumulated metrics.
"""

from __future__ import annotations

import numpy as np
import torch

from deepclass.errors import ConfigError


def _as_tensor(a: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a)
    if isinstance(a, torch.Tensor):
        return a
    raise ConfigError(f"{name} must be a tensor or array, got {type(a).__name__}")


def predictions(scores: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Class predictions from scores ``(N, C)`` (argmax), or binary probabilities ``(N,)``.

    A 1-D float input is taken as the probability of class 1 (threshold 0.5);
    a 1-D integer input is already a prediction and is returned unchanged.
    """
    s = _as_tensor(scores, "scores")
    if s.ndim == 2:
        return s.argmax(dim=1)
    if s.ndim == 1:
        return (s >= 0.5).long() if s.is_floating_point() else s.long()
    raise ConfigError(
        f"scores must be (N, C) scores or (N,) predictions, got shape {tuple(s.shape)}"
    )


def accuracy(scores_or_preds: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> float:
    """Fraction of correct predictions.

    scores_or_preds: ``(N, C)`` scores, ``(N,)`` integer predictions or ``(N,)``
    probabilities of class 1. y: ``(N,)`` integer labels. Returns a Python float.
    """
    pred = predictions(scores_or_preds)
    target = _as_tensor(y, "y").reshape(-1)
    if pred.shape[0] != target.shape[0]:
        raise ConfigError(
            f"y must have one label per prediction: got {target.shape[0]} labels "
            f"for {pred.shape[0]} predictions"
        )
    if target.numel() == 0:
        raise ConfigError("accuracy of an empty set is undefined (got 0 labels)")
    return (pred.to(target.device) == target.long()).double().mean().item()


def confusion_matrix(
    preds: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, num_classes: int
) -> np.ndarray:
    """Confusion matrix ``(C, C)`` int64: row = true class, column = predicted class."""
    p = predictions(preds).cpu().long().reshape(-1)
    t = _as_tensor(y, "y").cpu().long().reshape(-1)
    if p.shape != t.shape:
        raise ConfigError(f"preds and y must have the same length, got {len(p)} and {len(t)}")
    for name, v in (("preds", p), ("y", t)):
        if v.numel() and (v.min() < 0 or v.max() >= num_classes):
            raise ConfigError(
                f"{name} must be in [0, {num_classes}), got range [{v.min()}, {v.max()}]"
            )
    cm = torch.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return cm.reshape(num_classes, num_classes).numpy().astype(np.int64)


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Per-class recall from a confusion matrix ``(C, C)``; NaN for a class with no samples."""
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(cm) / np.maximum(totals, 1), np.nan)
