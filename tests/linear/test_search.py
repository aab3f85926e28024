"""Search grids, test_one_param_set and the grid search (divergence marked, never fatal)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepclass.errors import ConfigError
from deepclass.linear import (
    LinearSVM,
    Softmax,
    grid_search,
    softmax_get_search_params,
    svm_get_search_params,
    test_one_param_set,
)
from deepclass.linear.search import BEST_PARAMS, SEARCH_PARAMS


def blob_dict(seed=0):
    """A 4-class blob problem in the course's data_dict layout (train 320 / val 80)."""
    g = torch.Generator().manual_seed(seed)
    centers = 2 * torch.randn(4, 12, generator=g)
    y = torch.arange(4).repeat(100)
    X = torch.cat([centers[y] + torch.randn(400, 12, generator=g), torch.ones(400, 1)], 1)
    return {"X_train": X[:320], "y_train": y[:320], "X_val": X[320:], "y_val": y[320:]}


@pytest.mark.parametrize("getter", [svm_get_search_params, softmax_get_search_params])
def test_search_params_follow_the_course_rules(getter):
    lrs, regs = getter()
    assert len(lrs) >= 2 and len(regs) >= 2
    assert len(lrs) * len(regs) < 25
    assert all(isinstance(v, float) and v > 0 for v in lrs)
    assert all(isinstance(v, float) and v >= 0 for v in regs)


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_best_params_come_from_the_grid(loss):
    lrs, regs = SEARCH_PARAMS[loss]()
    lr, reg = BEST_PARAMS[loss]
    assert lr in lrs and reg in regs


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_one_param_set_trains_once_and_scores(cls):
    data = blob_dict()
    model = cls()
    torch.manual_seed(0)
    out, train_acc, val_acc = test_one_param_set(model, data, 1e-2, 1e-4, num_iters=120)
    assert out is model
    assert len(model.loss_history) == 120, "num_iters iterations in one train call"
    assert train_acc == model.score(data["X_train"], data["y_train"])
    assert val_acc == model.score(data["X_val"], data["y_val"])
    assert val_acc > 0.9


def test_one_param_set_needs_the_course_keys():
    data = blob_dict()
    del data["y_val"]
    with pytest.raises(ConfigError, match="missing y_val"):
        test_one_param_set(Softmax(), data, 1e-2, 1e-4, num_iters=5)


def test_grid_search_marks_diverged_and_goes_on():
    data = blob_dict()
    res = grid_search(
        LinearSVM, data, [1e-2, 1e38, 1e-3], [1e-4, 1e-1], num_iters=60, progress=False
    )
    assert len(res.results) == 6
    assert set(res.diverged) == {(1e38, 1e-4), (1e38, 1e-1)}
    assert all(math.isnan(v) for k in res.diverged for v in res.results[k])
    finite = {k: v for k, v in res.results.items() if k not in res.diverged}
    best = max(finite, key=lambda k: finite[k][1])
    assert res.best_params == best and res.best_val == finite[best][1]
    assert isinstance(res.best_model, LinearSVM) and len(res.best_loss_history) == 60
    grid = res.val_grid()
    assert grid.shape == (3, 2) and np.isnan(grid[1]).all() and not np.isnan(grid[[0, 2]]).any()
    assert grid[0, 0] == res.results[(1e-2, 1e-4)][1]
    table = res.table()
    assert table.count("diverged") == 2 and table.count("*") == 1


def test_grid_search_all_diverged_has_no_best():
    res = grid_search(Softmax, blob_dict(), [1e38], [0.0], num_iters=20, progress=False)
    assert res.diverged == [(1e38, 0.0)] and res.best_model is None and res.best_params is None


def test_grid_search_is_reproducible_with_a_seed():
    data = blob_dict()
    a = grid_search(Softmax, data, [1e-2, 1e-3], [1e-3], num_iters=30, seed=5, progress=False)
    b = grid_search(Softmax, data, [1e-2, 1e-3], [1e-3], num_iters=30, seed=5, progress=False)
    assert a.results == b.results
    assert torch.equal(a.best_model.W, b.best_model.W)


@pytest.mark.parametrize(
    ("lrs", "regs", "match"),
    [
        ([], [1e-3], "learning_rates must hold at least one value"),
        ([0.0], [1e-3], r"learning_rates must be finite and > 0, got \[0.0\]"),
        ([1e-3], [-1.0], r"regularization_strengths must be finite and >= 0, got \[-1.0\]"),
        ([float("nan")], [1e-3], "learning_rates must be finite"),
    ],
)
def test_grid_search_rejects_bad_grids(lrs, regs, match):
    with pytest.raises(ConfigError, match=match):
        grid_search(Softmax, blob_dict(), lrs, regs, num_iters=5, progress=False)
