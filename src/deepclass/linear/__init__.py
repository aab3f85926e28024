"""Rung 1: linear classifiers with hand-derived gradients (EECS 498 A2, seed 001).

- ``losses``: ``svm_loss_naive`` / ``svm_loss_vectorized``,
  ``softmax_loss_naive`` / ``softmax_loss_vectorized`` -> ``(loss, dW)``
- ``train``: ``sample_batch``, ``train_linear_classifier``,
  ``predict_linear_classifier``
- ``classifiers``: ``LinearClassifier``, ``LinearSVM``, ``Softmax``
  (``train/predict/loss/save/load`` and ``fit/predict/score``)
- ``search``: ``svm_get_search_params``, ``softmax_get_search_params``,
  ``test_one_param_set``, ``grid_search``

Shapes everywhere: ``W (D, C)``, ``X (N, D)``, ``y (N,)`` int64 in ``[0, C)``.
"""

from deepclass.linear.classifiers import LinearClassifier, LinearSVM, Softmax
from deepclass.linear.losses import (
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)
from deepclass.linear.search import (
    SearchResult,
    grid_search,
    softmax_get_search_params,
    svm_get_search_params,
    test_one_param_set,
)
from deepclass.linear.train import (
    DivergedError,
    predict_linear_classifier,
    sample_batch,
    train_linear_classifier,
)

__all__ = [
    "DivergedError",
    "LinearClassifier",
    "LinearSVM",
    "SearchResult",
    "Softmax",
    "grid_search",
    "predict_linear_classifier",
    "sample_batch",
    "softmax_get_search_params",
    "softmax_loss_naive",
    "softmax_loss_vectorized",
    "svm_get_search_params",
    "svm_loss_naive",
    "svm_loss_vectorized",
    "test_one_param_set",
    "train_linear_classifier",
]
