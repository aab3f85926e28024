"""Hyperparameter search over learning rate x regularisation (EECS 498 A2, seed 001).

``svm_get_search_params`` / ``softmax_get_search_params`` return the grids
this project's own search on the shared CIFAR-10 copy found best (course
preprocessing, 40,000/10,000 split, 2,000 iterations of batch 200);
``test_one_param_set`` trains and scores one combination; ``grid_search``
runs every combination, keeps the best by validation accuracy and marks
combinations whose loss diverged (NaN/Inf) instead of crashing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from deepclass.checks import is_real
from deepclass.errors import ConfigError
from deepclass.linear.classifiers import LinearClassifier
from deepclass.linear.train import DivergedError
from deepclass.seed import seed_everything

DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


def svm_get_search_params() -> tuple[list[float], list[float]]:
    """Candidate ``(learning_rates, regularization_strengths)`` for ``LinearSVM``.

    At least two values each and fewer than 25 combinations. Chosen from a
    wider search (lr 1e-4 .. 1e-1, reg 1e-4 .. 5e-2) on the full 40,000/10,000
    split: lr near 5e-3 is best, larger ones get noisier, and reg barely
    matters in 2,000 steps. The seed's lr 4.2e-4 reaches only ~0.36 val.
    """
    learning_rates = [3e-3, 5e-3, 1e-2]
    regularization_strengths = [1e-4, 1e-3, 5e-3]
    return learning_rates, regularization_strengths


def softmax_get_search_params() -> tuple[list[float], list[float]]:
    """Candidate ``(learning_rates, regularization_strengths)`` for ``Softmax``.

    At least two values each and fewer than 25 combinations. Chosen from a
    wider search (lr 1e-3 .. 1e-1, reg 1e-3 .. 5e-2): softmax wants larger
    steps than the SVM and little regularisation in 2,000 steps; the seed's
    lr 1e-3 reaches only ~0.33 val.
    """
    learning_rates = [1e-2, 3e-2, 1e-1]
    regularization_strengths = [1e-4, 5e-4, 1e-3, 5e-3]
    return learning_rates, regularization_strengths


# The best (lr, reg) by validation accuracy of each grid above (seed 0; `deepclass
# linear --loss L --search`): what a run without a search, and the benchmark, use.
BEST_PARAMS: dict[str, tuple[float, float]] = {
    "svm": (5e-3, 1e-4),
    "softmax": (1e-1, 5e-4),
}

SEARCH_PARAMS: dict[str, Callable[[], tuple[list[float], list[float]]]] = {
    "svm": svm_get_search_params,
    "softmax": softmax_get_search_params,
}


def _check_data_dict(data_dict: Mapping[str, torch.Tensor]) -> None:
    missing = [k for k in DATA_KEYS if k not in data_dict]
    if missing:
        raise ConfigError(
            f"data_dict must have the keys {', '.join(DATA_KEYS)}; missing {', '.join(missing)}"
        )


def test_one_param_set(
    cls: LinearClassifier,
    data_dict: Mapping[str, torch.Tensor],
    lr: float,
    reg: float,
    num_iters: int = 2000,
    *,
    batch_size: int = 200,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[LinearClassifier, float, float]:
    """Train ``cls`` once for ``num_iters`` iterations on ``X_train, y_train``; score it.

    cls: a new ``LinearClassifier`` (trained in place). data_dict: the
    course's dict with ``X_train (N, D), y_train (N,), X_val, y_val``.
    Returns ``(cls, train_acc, val_acc)``, accuracies as Python floats.
    Raises ``DivergedError`` if the loss becomes NaN/Inf.
    """
    _check_data_dict(data_dict)
    cls.train(
        data_dict["X_train"],
        data_dict["y_train"],
        lr,
        reg,
        num_iters,
        batch_size,
        callback=callback,
    )
    train_acc = cls.score(data_dict["X_train"], data_dict["y_train"])
    val_acc = cls.score(data_dict["X_val"], data_dict["y_val"])
    return cls, train_acc, val_acc


test_one_param_set.__test__ = False  # a course name, not a pytest test: never collect it


@dataclass
class SearchResult:
    """What :func:`grid_search` found.

    results: ``{(lr, reg): (train_acc, val_acc)}`` (the course's dict), NaN
    accuracies for a diverged combination; diverged: those ``(lr, reg)``;
    best_*: the combination with the highest validation accuracy, its
    trained model and loss history (None if every combination diverged).
    """

    learning_rates: list[float]
    regularization_strengths: list[float]
    results: dict[tuple[float, float], tuple[float, float]] = field(default_factory=dict)
    diverged: list[tuple[float, float]] = field(default_factory=list)
    best_params: tuple[float, float] | None = None
    best_val: float = -1.0
    best_model: LinearClassifier | None = None
    best_loss_history: list[float] = field(default_factory=list)

    def val_grid(self) -> np.ndarray:
        """Validation accuracy ``(len(learning_rates), len(regularization_strengths))``, NaN if diverged."""
        grid = np.full((len(self.learning_rates), len(self.regularization_strengths)), np.nan)
        for i, lr in enumerate(self.learning_rates):
            for j, reg in enumerate(self.regularization_strengths):
                if (lr, reg) in self.results:
                    grid[i, j] = self.results[(lr, reg)][1]
        return grid

    def table(self) -> str:
        """The results as an aligned text table, the best row marked with ``*``."""
        lines = [f"  {'lr':>10}  {'reg':>10}  {'train acc':>9}  {'val acc':>7}"]
        for (lr, reg), (tr, va) in sorted(self.results.items()):
            if (lr, reg) in self.diverged:
                cells = f"{'diverged':>9}  {'-':>7}"
            else:
                cells = f"{tr:>9.4f}  {va:>7.4f}"
            mark = "*" if (lr, reg) == self.best_params else " "
            lines.append(f"{mark} {lr:>10.3e}  {reg:>10.3e}  {cells}")
        return "\n".join(lines)


def check_grid(values: Sequence[float], name: str, positive: bool | None = None) -> list[float]:
    """``values`` as a duplicate-free list of floats, each finite and ``> 0`` (``positive``;
    None: for ``learning_rates``) or ``>= 0``. ``name`` is what the error calls them (an
    argument, or the CLI flag they came from)."""
    if positive is None:
        positive = name == "learning_rates"
    if is_real(values):
        values = [values]
    values = [float(v) for v in values]
    if not values:
        raise ConfigError(f"{name} must hold at least one value, got an empty list")
    bad = [v for v in values if not math.isfinite(v) or v < 0 or (positive and v == 0)]
    if bad:
        what = "> 0" if positive else ">= 0"
        raise ConfigError(f"{name} must be finite and {what}, got {bad}")
    return list(dict.fromkeys(values))  # drop duplicates, keep order


def grid_search(
    model_factory: Callable[[], LinearClassifier],
    data_dict: Mapping[str, torch.Tensor],
    learning_rates: Sequence[float],
    regularization_strengths: Sequence[float],
    num_iters: int = 2000,
    *,
    batch_size: int = 200,
    seed: int | None = 0,
    progress: bool = True,
    desc: str = "search",
) -> SearchResult:
    """Train one model per ``(lr, reg)`` with :func:`test_one_param_set`; keep the best by val acc.

    model_factory: returns a fresh classifier (a class such as ``LinearSVM``
    works). seed: re-seeds torch before every combination, so all of them
    see the same minibatches and differ only by (lr, reg). A diverged
    combination (NaN/Inf loss) is recorded in ``diverged`` and the search
    goes on. progress: one tqdm bar over all iterations of all combinations.
    """
    _check_data_dict(data_dict)
    lrs = check_grid(learning_rates, "learning_rates")
    regs = check_grid(regularization_strengths, "regularization_strengths")
    result = SearchResult(lrs, regs)
    total = len(lrs) * len(regs) * num_iters
    with tqdm(total=total, desc=desc, unit="it", disable=not progress, leave=False) as bar:
        for lr in lrs:
            for reg in regs:
                if seed is not None:
                    seed_everything(seed)
                bar.set_postfix(lr=f"{lr:.2e}", reg=f"{reg:.2e}")
                done = 0

                def step(it: int, loss: float) -> None:
                    nonlocal done
                    done += 1
                    bar.update(1)

                try:
                    model, train_acc, val_acc = test_one_param_set(
                        model_factory(),
                        data_dict,
                        lr,
                        reg,
                        num_iters,
                        batch_size=batch_size,
                        callback=step,
                    )
                except DivergedError:
                    result.results[(lr, reg)] = (math.nan, math.nan)
                    result.diverged.append((lr, reg))
                    bar.update(num_iters - done)
                    continue
                result.results[(lr, reg)] = (train_acc, val_acc)
                if val_acc > result.best_val:
                    result.best_val = val_acc
                    result.best_params = (lr, reg)
                    result.best_model = model
                    result.best_loss_history = list(model.loss_history)
    return result
