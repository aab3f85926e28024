"""The Solver: log format, training on real data, checkpoints, early stops, errors."""

from __future__ import annotations

import math
import re

import pytest
import torch

from deepclass.data import preprocess_cifar10
from deepclass.errors import ConfigError
from deepclass.metrics import accuracy
from deepclass.scratch.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet, load_model
from deepclass.scratch.solver import Solver
from deepclass.seed import seed_everything

ITER_LINE = re.compile(r"^\(Time \d+\.\d\d sec; Iteration (\d+) / (\d+)\) loss: \d+\.\d{6}$")
EPOCH_LINE = re.compile(r"^\(Epoch (\d+) / (\d+)\) train acc: [01]\.\d{6}; val_acc: [01]\.\d{6}$")


@pytest.fixture(scope="module")
def cifar_small(data_dir):
    """The first 1,000 real CIFAR-10 training images (800 train / 200 val), (N, 3, 32, 32)."""
    return preprocess_cifar10(flatten=False, data_dir=data_dir, num_train=1000, num_test=200)


def toy_data(n=200, d=5, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 3
    y = torch.randint(c, (n,), generator=g)
    X = centers[y] + torch.randn(n, d, generator=g)
    return {
        "X_train": X[: n // 2],
        "y_train": y[: n // 2],
        "X_val": X[n // 2 :],
        "y_val": y[n // 2 :],
    }


def test_log_format_matches_the_course(capsys):
    seed_everything(0)
    data = toy_data()
    model = TwoLayerNet(input_dim=5, hidden_dim=10, num_classes=3, weight_scale=0.1)
    solver = Solver(model, data, num_epochs=2, batch_size=25, print_every=3)
    solver.train()
    lines = capsys.readouterr().out.strip().splitlines()
    iters = [ITER_LINE.match(ln) for ln in lines]
    epochs = [EPOCH_LINE.match(ln) for ln in lines]
    assert all(a or b for a, b in zip(iters, epochs, strict=True)), lines
    # 100 examples / 25 = 4 iterations per epoch, 8 in all; printed at t = 0, 3, 6 (1-based 1, 4, 7)
    assert [(m.group(1), m.group(2)) for m in iters if m] == [("1", "8"), ("4", "8"), ("7", "8")]
    assert [(m.group(1), m.group(2)) for m in epochs if m] == [("0", "2"), ("1", "2"), ("2", "2")]
    assert ITER_LINE.match(lines[0]) and EPOCH_LINE.match(lines[1])  # the seed's order
    assert len(solver.loss_history) == 8 and len(solver.val_acc_history) == 3
    assert solver.best_val_acc == max(solver.val_acc_history)
    assert solver.stop_reason is None


def test_best_params_and_lr_decay():
    seed_everything(1)
    data = toy_data()
    model = TwoLayerNet(input_dim=5, hidden_dim=10, num_classes=3, weight_scale=0.1)
    solver = Solver(
        model,
        data,
        update_rule="sgd_momentum",
        optim_config={"learning_rate": 0.1},
        lr_decay=0.5,
        num_epochs=3,
        batch_size=20,
        verbose=False,
    )
    solver.train()
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.1 * 0.5**3)
    for k, v in model.params.items():
        assert torch.equal(v, solver.best_params[k])
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == pytest.approx(
        accuracy(model.loss(data["X_val"]), data["y_val"])
    )


def test_overfits_50_real_examples_fully_connected(cifar_small):
    seed_everything(0)
    small = {k: v[:50] if k.endswith("train") else v for k, v in cifar_small.items()}
    model = FullyConnectedNet([100, 100], weight_scale=1e-2)
    solver = Solver(
        model,
        small,
        update_rule="adam",
        optim_config={"learning_rate": 3e-3},
        num_epochs=25,
        batch_size=25,
        verbose=False,
    )
    solver.train(return_best_params=False)  # the final params, not the best-validation ones
    assert solver.check_accuracy(small["X_train"], small["y_train"]) == 1.0
    assert solver.train_acc_history[-1] == 1.0
    assert max(solver.val_acc_history) < 0.5  # memorized, not learned


def test_overfits_50_real_examples_convnet(cifar_small):
    seed_everything(0)
    small = {k: v[:50] if k.endswith("train") else v for k, v in cifar_small.items()}
    small["X_val"], small["y_val"] = small["X_val"][:50], small["y_val"][:50]
    model = ThreeLayerConvNet(num_filters=8, filter_size=5, hidden_dim=100, weight_scale=1e-2)
    solver = Solver(
        model,
        small,
        update_rule="adam",
        optim_config={"learning_rate": 5e-3},
        num_epochs=25,
        batch_size=25,
        verbose=False,
    )
    solver.train(return_best_params=False)
    assert solver.check_accuracy(small["X_train"], small["y_train"]) == 1.0


def test_learns_on_real_data(cifar_small):
    """800 real images, 4 epochs: well above chance (10%) on the 200 held-out ones."""
    seed_everything(0)
    model = FullyConnectedNet([100], weight_scale=1e-2, normalization="batchnorm")
    solver = Solver(
        model,
        cifar_small,
        update_rule="adam",
        optim_config={"learning_rate": 1e-3},
        num_epochs=4,
        batch_size=50,
        verbose=False,
    )
    solver.train()
    assert solver.best_val_acc >= 0.25


def test_checkpoint_reloads_to_the_same_accuracy(tmp_path, cifar_small, capsys):
    seed_everything(0)
    model = FullyConnectedNet([20], weight_scale=1e-2, normalization="batchnorm")
    name = tmp_path / "ck" / "fc"
    solver = Solver(
        model,
        cifar_small,
        update_rule="adam",
        num_epochs=2,
        batch_size=100,
        checkpoint_name=str(name),
        print_every=1000,
    )
    solver.train()
    assert 'Saving checkpoint to "' in capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert files == ["fc_epoch_0.pkl", "fc_epoch_1.pkl", "fc_epoch_2.pkl"]  # nothing half-written
    for epoch in (1, 2):
        restored = load_model(f"{name}_epoch_{epoch}.pkl")
        acc = accuracy(restored.loss(cifar_small["X_val"]), cifar_small["y_val"])
        assert acc == solver.val_acc_history[epoch]
    ckpt = torch.load(f"{name}_epoch_2.pkl", weights_only=True)
    assert ckpt["solver"]["epoch"] == 2 and ckpt["solver"]["update_rule"] == "adam"
    assert ckpt["solver"]["val_acc_history"] == solver.val_acc_history


class _Diverging(TwoLayerNet):
    """A TwoLayerNet whose training loss turns NaN from the 6th call on."""

    calls = 0

    def loss(self, X, y=None):
        out = super().loss(X, y)
        if y is None:
            return out
        self.calls += 1
        return (torch.tensor(float("nan")) if self.calls > 5 else out[0]), out[1]


def test_nan_loss_stops_and_keeps_the_best_params(capsys):
    seed_everything(0)
    data = toy_data()
    model = _Diverging(input_dim=5, hidden_dim=10, num_classes=3, weight_scale=0.1)
    solver = Solver(model, data, num_epochs=5, batch_size=25, verbose=False)
    solver.train()
    out = capsys.readouterr().out
    assert "Stopping: loss is nan at iteration 6" in out and "keeping the best parameters" in out
    assert "nan" in solver.stop_reason
    assert len(solver.loss_history) == 6 and math.isnan(solver.loss_history[-1])
    assert solver.epoch == 1 and len(solver.val_acc_history) == 2
    for k, v in model.params.items():
        assert torch.isfinite(v).all() and torch.equal(v, solver.best_params[k])


def test_time_limit(capsys):
    data = toy_data()
    model = TwoLayerNet(input_dim=5, hidden_dim=10, num_classes=3)
    solver = Solver(model, data, num_epochs=50, batch_size=10)
    solver.train(time_limit=0.0)
    out = capsys.readouterr().out
    assert "End of training; next iteration will exceed the time limit." in out
    assert len(solver.loss_history) == 1 and "time limit" in solver.stop_reason


def test_custom_update_rule_and_check_accuracy_subset():
    calls = []

    def rule(w, dw, config=None):
        calls.append(w.shape)
        return w - 0.1 * dw, config or {}

    data = toy_data()
    solver = Solver(
        TwoLayerNet(input_dim=5, hidden_dim=4, num_classes=3),
        data,
        update_rule=rule,
        num_epochs=1,
        batch_size=50,
        verbose=False,
    )
    solver.train()
    assert len(calls) == 2 * 4  # 2 iterations x 4 parameters
    acc = solver.check_accuracy(data["X_val"], data["y_val"], num_samples=30, batch_size=7)
    assert acc * 30 == pytest.approx(round(acc * 30))


def test_errors():
    data = toy_data()
    model = TwoLayerNet(input_dim=5, hidden_dim=4, num_classes=3)
    with pytest.raises(ConfigError, match="data is missing key 'y_val'"):
        Solver(model, {k: v for k, v in data.items() if k != "y_val"})
    with pytest.raises(
        ConfigError, match="unknown update_rule 'sgdd'; valid: sgd, sgd_momentum, rmsprop, adam"
    ):
        Solver(model, data, update_rule="sgdd")
    with pytest.raises(ConfigError, match="unrecognized arguments learning_rate"):
        Solver(model, data, learning_rate=0.1)
    bad = dict(data, y_train=data["y_train"] + 5)
    with pytest.raises(
        ConfigError, match=r"y_train labels must be in \[0, 3\) for this model, got range \[5, 7\]"
    ):
        Solver(model, bad)
    with pytest.raises(ConfigError, match="y_val must be int64 or int32"):
        Solver(model, dict(data, y_val=data["y_val"].float()))
    with pytest.raises(
        ConfigError, match=r"y_train must have shape \(N,\) with N = X_train.shape\[0\] = 100"
    ):
        Solver(model, dict(data, y_train=data["y_train"][:5]))
    with pytest.raises(ConfigError, match="batch_size must be a positive int"):
        Solver(model, data, batch_size=0)


def test_a_misspelt_optim_config_key_is_an_error_not_ignored():
    data = toy_data()
    model = TwoLayerNet(input_dim=5, hidden_dim=4, num_classes=3)
    with pytest.raises(ConfigError, match=r"optim_config: sgd: unknown config key\(s\) 'lr'"):
        Solver(model, data, optim_config={"lr": 1.0})
    with pytest.raises(ConfigError, match="adam uses learning_rate, beta1, beta2, epsilon"):
        Solver(model, data, update_rule="adam", optim_config={"beta_1": 0.5})

    # a rule of the user's own may take any keys
    def mine(w, dw, config=None):
        return w - config["step"] * dw, config

    Solver(model, data, update_rule=mine, optim_config={"step": 0.1}, verbose=False)


def test_int32_labels_train_exactly_as_int64(capsys):
    data = toy_data()
    runs = []
    for dtype in (torch.int64, torch.int32):
        seed_everything(0)
        model = TwoLayerNet(input_dim=5, hidden_dim=10, num_classes=3, weight_scale=0.1)
        d = {k: (v.to(dtype) if k.startswith("y") else v) for k, v in data.items()}
        solver = Solver(
            model,
            d,
            optim_config={"learning_rate": 0.5},
            num_epochs=10,
            batch_size=25,
            verbose=False,
        )
        solver.train()
        runs.append((solver.loss_history, solver.val_acc_history))
    assert runs[0] == runs[1] and runs[0][1][-1] > 0.9  # the blobs are separable


def test_model_dtype_by_name_and_bad_dtypes():
    assert (
        TwoLayerNet(input_dim=5, hidden_dim=4, dtype="float64").params["W1"].dtype == torch.float64
    )
    with pytest.raises(
        ConfigError, match="TwoLayerNet: dtype must be a floating-point torch dtype"
    ):
        TwoLayerNet(input_dim=5, hidden_dim=4, dtype="flaot64")
    with pytest.raises(ConfigError, match="FullyConnectedNet: dtype must be a floating-point"):
        FullyConnectedNet([4], input_dim=5, dtype=torch.int64)
