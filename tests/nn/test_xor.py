"""Seed 003's XOR experiment: exact reproduction of the book's loop, the headline accuracies, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from deepclass.errors import ConfigError
from deepclass.nn.xor import build_xor_model, run_xor, train_xor, xor_tensors


def book_training(model_factory, lr, num_epochs, seed=1, noisy=False):
    """Seed 003's data and training loop, verbatim apart from names: the independent reference."""
    np.random.seed(1)
    x = np.random.uniform(low=-1, high=1, size=(200, 2))
    y = np.ones(len(x))
    y[x[:, 0] * x[:, 1] < 0] = 0
    n_train, batch_size = 100, 2
    x_train = torch.tensor(x[:n_train, :], dtype=torch.float32)
    y_train = torch.tensor(y[:n_train], dtype=torch.float32)
    x_valid = torch.tensor(x[n_train:, :], dtype=torch.float32)
    y_valid = torch.tensor(y[n_train:], dtype=torch.float32)
    torch.manual_seed(seed)
    train_dl = DataLoader(TensorDataset(x_train, y_train), batch_size, shuffle=True)
    model = model_factory()
    loss_fn = nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    torch.manual_seed(seed)
    hist = [[0.0] * num_epochs for _ in range(4)]
    for epoch in range(num_epochs):
        for x_batch, y_batch in train_dl:
            pred = model(x_batch, True)[:, 0] if noisy else model(x_batch)[:, 0]
            loss = loss_fn(pred, y_batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            hist[0][epoch] += loss.item()
            hist[1][epoch] += ((pred >= 0.5).float() == y_batch).float().mean().item()
        hist[0][epoch] /= n_train / batch_size
        hist[1][epoch] /= n_train / batch_size
        pred = model(x_valid)[:, 0]
        hist[2][epoch] = loss_fn(pred, y_valid).item()
        hist[3][epoch] = ((pred >= 0.5).float() == y_valid).float().mean().item()
    return hist


class BookNoisy(nn.Module):
    """Seed 003's MyNoisyModule built from our NoisyLinear, called the book's way."""

    def __init__(self):
        super().__init__()
        from deepclass.nn.layers import NoisyLinear

        self.l1 = NoisyLinear(2, 4, 0.07)
        self.rest = nn.Sequential(
            nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid()
        )

    def forward(self, x, training=False):
        return self.rest(self.l1(x, training))


def test_data_is_the_seeds():
    x_train, y_train, x_valid, y_valid = xor_tensors()
    np.random.seed(1)
    x = np.random.uniform(low=-1, high=1, size=(200, 2))
    assert torch.equal(torch.cat([x_train, x_valid]), torch.tensor(x, dtype=torch.float32))
    assert torch.equal(
        torch.cat([y_train, y_valid]), torch.tensor(x[:, 0] * x[:, 1] >= 0, dtype=torch.float32)
    )


@pytest.mark.parametrize(
    ("name", "factory", "noisy"),
    [
        (
            "mlp",
            lambda: nn.Sequential(
                nn.Linear(2, 4),
                nn.ReLU(),
                nn.Linear(4, 4),
                nn.ReLU(),
                nn.Linear(4, 1),
                nn.Sigmoid(),
            ),
            False,
        ),
        ("linear", lambda: nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), False),
        ("noisy", BookNoisy, True),
    ],
)
def test_fit_reproduces_the_books_loop_exactly(name, factory, noisy):
    ref = book_training(factory, lr=0.015, num_epochs=6, noisy=noisy)
    run = train_xor(name, lr=0.015, epochs=6, seed=1)
    h = run.history
    for got, want in zip(
        (h["train_loss"], h["train_acc"], h["valid_loss"], h["valid_acc"]), ref, strict=True
    ):
        assert got == pytest.approx(want, abs=1e-6)


def best_line_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """The highest accuracy any straight line reaches on ``(x (N, 2), y (N,))``: every
    direction (0.05 degree steps) and every threshold between two projected points."""
    best, n = 0.0, len(y)
    for theta in np.linspace(0, np.pi, 3601):
        ys = y[np.argsort(x @ np.array([np.cos(theta), np.sin(theta)]))]
        ones_below = np.concatenate([[0], np.cumsum(ys)])
        right = (np.arange(n + 1) - ones_below) + (ys.sum() - ones_below)  # 0 below, 1 above
        best = max(best, np.maximum(right, n - right).max() / n)
    return float(best)


def test_baseline_cannot_separate_xor():
    """The trained baseline is as good as a line gets and no better: its training loss is the
    logistic-regression optimum (an untrained model: 0.697) and its valid accuracy that of the
    optimal line (about 71%), under the best any line reaches on these points (74%)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    x_train, y_train, x_valid, y_valid = (t.numpy() for t in xor_tensors())
    reference = LogisticRegression(C=1e6).fit(x_train, y_train)  # the optimal linear model
    best_loss = log_loss(y_train, reference.predict_proba(x_train)[:, 1])
    run = train_xor("linear", lr=0.015, seed=1)
    assert len(run.history["valid_acc"]) == 200
    run.model.eval()
    with torch.no_grad():
        p = run.model(torch.from_numpy(x_train))[:, 0].double().numpy()
    assert log_loss(y_train, p) < best_loss + 0.002  # trained to the optimum
    assert abs(run.valid_acc - reference.score(x_valid, y_valid)) <= 0.02
    assert 0.6 < run.valid_acc <= best_line_accuracy(x_valid, y_valid) < 0.8


def test_wide_mlp_separates_xor():
    run = train_xor("mlp", hidden=(16, 16), seed=1)
    assert run.valid_acc >= 0.95 and run.lr == 0.015


def test_build_xor_model_outputs_probabilities():
    for name in ("linear", "mlp", "modulelist", "noisy"):
        p = build_xor_model(name, (3, 5))(torch.rand(4, 2))
        assert p.shape == (4, 1) and ((p > 0) & (p < 1)).all()


def test_run_xor_writes_every_png_and_tensorboard(tmp_path):
    runs = run_xor(["linear", "noisy"], hidden=(8, 8), epochs=3, out_dir=tmp_path)
    assert list(runs) == ["linear", "noisy"]
    assert runs["linear"].lr == 0.001 and runs["noisy"].hidden == (8, 8)
    for name in runs:
        for kind in ("curves", "regions"):
            path = tmp_path / f"xor_{name}_{kind}.png"
            assert runs[name].files[kind] == path and path.stat().st_size > 10_000
        assert any((tmp_path / "tensorboard" / name).glob("events.out.tfevents.*"))
    assert (tmp_path / "xor_all.png").stat().st_size > 30_000


def test_errors():
    with pytest.raises(
        ConfigError, match="unknown XOR model 'svm'; valid: linear, mlp, modulelist, noisy"
    ):
        train_xor("svm")
    with pytest.raises(ConfigError, match=r"unknown XOR model\(s\) \['svm'\]"):
        run_xor(["mlp", "svm"])
    with pytest.raises(ConfigError, match="lr must be a finite number > 0"):
        train_xor("mlp", lr=0.0)
    with pytest.raises(ConfigError, match="hidden must be a non-empty list of positive ints"):
        train_xor("mlp", hidden=(), epochs=1)


def test_seed_003_train_mymodule_and_mynoisymodule_by_their_own_names():
    """The seed's own calls: ``model = MyModule()``, ``train(model, num_epochs, train_dl,
    x_valid, y_valid)`` with the global loss_fn/optimizer, and ``MyNoisyModule().predict``."""
    from deepclass.nn import MyModule, MyNoisyModule
    from deepclass.nn.xor import train

    ref = book_training(
        lambda: nn.Sequential(
            nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid()
        ),
        lr=0.015,
        num_epochs=6,
    )
    x_train, y_train, x_valid, y_valid = xor_tensors()
    torch.manual_seed(1)
    train_dl = DataLoader(TensorDataset(x_train, y_train), 2, shuffle=True)
    model = MyModule()
    torch.manual_seed(1)
    loss_train, loss_valid, acc_train, acc_valid = train(model, 6, train_dl, x_valid, y_valid)
    for got, want in zip((loss_train, acc_train, loss_valid, acc_valid), ref, strict=True):
        assert got == pytest.approx(want, abs=1e-6)

    torch.manual_seed(0)
    noisy = MyNoisyModule()
    assert noisy.training  # the seed never calls eval(): forward(x) is noise-free anyway
    assert torch.equal(noisy(x_valid), noisy(x_valid))
    assert not torch.equal(noisy(x_valid, True), noisy(x_valid))
    pred = noisy.predict(x_valid.numpy())
    assert torch.equal(pred, (noisy(x_valid)[:, 0] >= 0.5).float())
