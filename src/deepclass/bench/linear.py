"""Rung 1 benchmarks: our linear classifiers vs scikit-learn, and naive vs vectorized losses.

1. Accuracy and training wall time, side by side, on the same preprocessed
   CIFAR-10 (``preprocess_cifar10(bias_trick=True)``: 40,000 train / 10,000
   val / 10,000 test, D = 3073): our ``Softmax`` and ``LinearSVM`` (the best
   (lr, reg) of our search, 2,000 minibatch-SGD steps of batch 200) against
   ``sklearn.linear_model.SGDClassifier`` with ``loss="log_loss"`` and
   ``loss="hinge"``, given the same budget of per-example gradient
   evaluations (2,000 x 200 = 10 epochs over the 40,000 images) and the
   same L2 strength (sklearn's ``alpha/2 ||w||^2`` = our ``reg ||W||^2``, so
   ``alpha = 2 reg``).
2. The loss and gradient on one 500 x 3073 batch: the naive (loops)
   versions against the vectorized ones, timed in the same process; the
   ratio is the speed-up.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from deepclass.bench import BenchConfig, Table, timeit
from deepclass.data import preprocess_cifar10
from deepclass.gradcheck import rel_error
from deepclass.linear import (
    LinearSVM,
    Softmax,
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss_naive,
    svm_loss_vectorized,
)
from deepclass.linear.search import BEST_PARAMS
from deepclass.seed import seed_everything


def _sizes(cfg: BenchConfig) -> dict:
    if cfg.quick:
        return {"num_train": 1000, "num_test": 200, "iters": 50, "batch": 100, "speed_n": 20}
    return {"num_train": None, "num_test": None, "iters": 2000, "batch": 200, "speed_n": 500}


def _ours(cls, data: dict, lr: float, reg: float, iters: int, batch: int, seed: int) -> dict:
    seed_everything(seed)
    model = cls()
    model.train(data["X_train"][:batch], data["y_train"][:batch], lr, reg, 2, batch)  # warm-up
    model.W = None
    seed_everything(seed)
    t = time.perf_counter()
    model.train(data["X_train"], data["y_train"], lr, reg, iters, batch)
    if model.W.is_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "val": model.score(data["X_val"], data["y_val"]),
        "test": model.score(data["X_test"], data["y_test"]),
    }


def _sklearn(loss: str, data: dict, reg: float, epochs: int, seed: int) -> dict:
    from sklearn.linear_model import SGDClassifier

    X_train = data["X_train"].cpu().numpy()
    y_train = data["y_train"].cpu().numpy()
    clf = SGDClassifier(
        loss=loss,
        alpha=2 * reg,
        max_iter=epochs,
        tol=None,  # run every epoch: the budget is fixed, not the convergence
        fit_intercept=False,  # the bias is already the last column
        n_jobs=torch.get_num_threads(),
        random_state=seed,
    )
    t = time.perf_counter()
    clf.fit(X_train, y_train)
    seconds = time.perf_counter() - t

    def acc(x: torch.Tensor, y: torch.Tensor) -> float:
        return float(np.mean(clf.predict(x.cpu().numpy()) == y.cpu().numpy()))

    return {
        "seconds": seconds,
        "val": acc(data["X_val"], data["y_val"]),
        "test": acc(data["X_test"], data["y_test"]),
    }


def _accuracy_table(cfg: BenchConfig, sizes: dict) -> Table:
    data = preprocess_cifar10(
        bias_trick=True,
        device=cfg.device,
        data_dir=cfg.data_dir,
        num_train=sizes["num_train"],
        num_test=sizes["num_test"],
    )
    n_train = data["X_train"].shape[0]
    iters, batch = sizes["iters"], sizes["batch"]
    epochs = max(1, round(iters * batch / n_train))
    table = Table(
        f"CIFAR-10 ({n_train} train, {data['X_val'].shape[0]} val, {data['X_test'].shape[0]} test, "
        f"D = {data['X_train'].shape[1]}): deepclass vs scikit-learn SGDClassifier",
        ["classifier", "loss", "budget", "train time (s)", "val acc", "test acc", "time / ours"],
    )
    for ours_cls, loss, sk_loss in ((Softmax, "softmax", "log_loss"), (LinearSVM, "svm", "hinge")):
        lr, reg = BEST_PARAMS[loss]
        mine = _ours(ours_cls, data, lr, reg, iters, batch, cfg.seed)
        sk = _sklearn(sk_loss, data, reg, epochs, cfg.seed)
        table.add(
            f"deepclass {ours_cls.__name__} (lr {lr:g}, reg {reg:g})",
            "softmax" if loss == "softmax" else "multiclass hinge",
            f"{iters} steps x {batch}",
            mine["seconds"],
            mine["val"],
            mine["test"],
            "1.00x",
        )
        table.add(
            f"sklearn SGDClassifier(loss={sk_loss!r}, alpha={2 * reg:g})",
            f"{sk_loss}, one-vs-rest",
            f"{epochs} epochs x {n_train}",
            sk["seconds"],
            sk["val"],
            sk["test"],
            f"{sk['seconds'] / mine['seconds']:.2f}x",
        )
    table.notes += [
        "same preprocessed tensors for both (sklearn gets them as NumPy float32); train time is "
        "the fit alone, excluding scoring",
        "deepclass: multinomial softmax / Weston-Watkins multiclass hinge trained jointly, "
        "minibatch SGD with a constant learning rate; sklearn: 10 one-vs-rest binary "
        f"classifiers, per-example SGD with its default 'optimal' schedule, "
        f"n_jobs={torch.get_num_threads()} (torch's thread count)",
        f"device for deepclass: {cfg.device}",
    ]
    return table


def _speed_table(cfg: BenchConfig, n: int) -> Table:
    seed_everything(cfg.seed)
    D, C = 3073, 10
    W = 0.0001 * torch.randn(D, C, device=cfg.device)
    X = torch.randn(n, D, device=cfg.device)
    y = torch.randint(0, C, (n,), device=cfg.device)
    reg = 5e-3
    naive_repeat = 1 if cfg.quick else 3
    table = Table(
        f"loss + gradient on one {n} x {D} float32 batch, C = {C}: naive loops vs vectorized",
        ["loss", "naive (ms)", "vectorized (ms)", "speed-up", "rel. error loss / dW"],
    )
    pairs = (
        ("svm", svm_loss_naive, svm_loss_vectorized),
        ("softmax", softmax_loss_naive, softmax_loss_vectorized),
    )

    def call(f):
        def go():
            f(W, X, y, reg)
            if X.is_cuda:
                torch.cuda.synchronize()

        return go

    for name, naive, vectorized in pairs:
        t_naive = timeit(call(naive), repeat=naive_repeat, warmup=1)
        t_vec = timeit(call(vectorized), repeat=50, warmup=5)
        (l1, d1), (l2, d2) = naive(W, X, y, reg), vectorized(W, X, y, reg)
        errs = f"{rel_error(l1, l2):.1e} / {rel_error(d1, d2):.1e}"
        table.add(name, 1e3 * t_naive, 1e3 * t_vec, f"{t_naive / t_vec:.0f}x", errs)
    table.notes.append(
        f"best of the repeats (naive: {naive_repeat}, vectorized: 50), both in this process one "
        "after the other; both include the same argument validation"
    )
    return table


def run(cfg: BenchConfig) -> list[Table]:
    sizes = _sizes(cfg)
    return [_accuracy_table(cfg, sizes), _speed_table(cfg, sizes["speed_n"])]
