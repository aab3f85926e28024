"""The small hooks the ladder added to the rungs: given batches, per-step callbacks, stopping,
a caller's clock; and the two scratch models and the barebones linear function it needs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepclass.errors import ConfigError
from deepclass.gradcheck import compute_numeric_gradient, rel_error

DT = torch.float64


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _data(n=40, d=6, c=3):
    return torch.randn(n, d, dtype=DT), torch.randint(0, c, (n,))


def test_train_linear_classifier_feeds_the_given_batches_and_stops_on_request():
    from deepclass.linear.losses import softmax_loss_vectorized
    from deepclass.linear.train import train_linear_classifier

    X, y = _data()
    idx = torch.randint(0, 40, (4, 5))
    W0 = 0.01 * torch.randn(6, 3, dtype=DT)
    W, hist = train_linear_classifier(
        softmax_loss_vectorized, W0.clone(), X, y, learning_rate=0.5, reg=0.0, num_iters=4,
        batch_size=5, batch_indices=idx,
    )  # fmt: skip
    W_ref = W0.clone()
    for k in range(4):  # the update by hand, from autograd
        w = W_ref.clone().requires_grad_()
        loss = F.cross_entropy(X[idx[k]] @ w, y[idx[k]])
        loss.backward()
        assert hist[k] == pytest.approx(loss.item(), rel=1e-12)
        W_ref = W_ref - 0.5 * w.grad
    assert torch.allclose(W, W_ref, rtol=0, atol=1e-12)

    seen = []
    _, hist = train_linear_classifier(
        softmax_loss_vectorized, W0.clone(), X, y, num_iters=4, batch_size=5,
        batch_indices=idx, callback=lambda i, loss: seen.append(i) or i == 1,
    )  # fmt: skip
    assert seen == [0, 1] and len(hist) == 2
    for bad, msg in (
        (idx[:3], r"shape \(num_iters, batch_size\) = \(4, 5\)"),
        (idx.double(), "int64 tensor"),
        (idx + 100, r"rows of X in \[0, 40\)"),
    ):
        with pytest.raises(ConfigError, match=msg):
            train_linear_classifier(softmax_loss_vectorized, W0.clone(), X, y, num_iters=4,
                                    batch_size=5, batch_indices=bad)  # fmt: skip


def test_scratch_linear_net_gradients_and_solver_step():
    from deepclass.scratch.models import LinearNet
    from deepclass.scratch.solver import Solver

    X, y = _data()
    model = LinearNet(6, 3, weight_scale=0.1, reg=0.01, dtype=DT)
    model.params["b"] += 0.1 * torch.randn(3, dtype=DT)
    loss, grads = model.loss(X, y)
    W, b = model.params["W"], model.params["b"]
    ref = F.cross_entropy(X @ W + b, y) + 0.01 * (W * W).sum()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    for k in ("W", "b"):
        num = compute_numeric_gradient(lambda _: model.loss(X, y)[0], model.params[k])
        assert rel_error(grads[k], num) < 1e-7, k
    assert model.loss(X).shape == (40, 3)

    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = Solver(model, data, optim_config={"learning_rate": 0.1}, verbose=False)
    before = {k: v.clone() for k, v in model.params.items()}
    rows = torch.tensor([3, 1, 4])
    assert solver.step(rows)
    _, g = LinearNet.loss(_with(model, before), X[rows], y[rows])
    for k in before:
        assert torch.allclose(model.params[k], before[k] - 0.1 * g[k], atol=1e-14)
    assert len(solver.loss_history) == 1


def _with(model, params):
    model2 = type(model).__new__(type(model))
    model2.__dict__.update(model.__dict__)
    model2.params = {k: v.clone() for k, v in params.items()}
    return model2


def test_seed000_convnet_matches_the_barebones_function_and_numeric_gradients():
    from deepclass.barebones.models import three_layer_convnet
    from deepclass.scratch.models import Seed000ConvNet

    x = torch.randn(3, 2, 6, 6, dtype=DT)
    y = torch.tensor([0, 2, 1])
    model = Seed000ConvNet((2, 6, 6), channel_1=4, channel_2=3, num_classes=3, dtype=DT)
    for k in ("b1", "b2", "b3"):
        model.params[k] += 0.1 * torch.randn_like(model.params[k])
    p = model.params
    assert p["W1"].shape == (4, 2, 5, 5) and p["W2"].shape == (3, 4, 3, 3)
    assert p["W3"].shape == (3 * 6 * 6, 3)
    leaves = [p[k].clone().requires_grad_() for k in ("W1", "b1", "W2", "b2", "W3", "b3")]
    scores = three_layer_convnet(x, leaves)
    assert torch.allclose(model.loss(x), scores, atol=1e-12)
    loss, grads = model.loss(x, y)
    F.cross_entropy(scores, y).backward()
    assert loss.item() == pytest.approx(F.cross_entropy(scores, y).item(), rel=1e-12)
    for k, leaf in zip(("W1", "b1", "W2", "b2", "W3", "b3"), leaves, strict=True):
        assert rel_error(grads[k], leaf.grad) < 1e-9, k
    num = compute_numeric_gradient(lambda _: model.loss(x, y)[0], p["b1"])
    assert rel_error(grads["b1"], num) < 1e-6


def test_barebones_linear_and_train_hooks():
    from deepclass.barebones.models import linear
    from deepclass.barebones.train import train

    X, y = _data()
    w = (0.1 * torch.randn(6, 3, dtype=DT)).requires_grad_()
    b = torch.zeros(3, dtype=DT, requires_grad=True)
    assert torch.equal(linear(X, [w, b]), X.mm(w) + b)
    with pytest.raises(
        ConfigError, match=r"linear: param b must have shape \(3\) \(C,\) with C = 3, got \(4,\)"
    ):
        linear(X, [w, torch.zeros(4, dtype=DT)])
    batches = [(X[i : i + 5], y[i : i + 5]) for i in range(0, 40, 5)]
    seen = []
    hist = train(linear, [w, b], 0.1, batches, None, epochs=3, log=None,
                 on_step=lambda t, loss: seen.append((t, loss)) or t == 9)  # fmt: skip
    assert [t for t, _ in seen] == list(range(10)) and hist["val_acc"] == []
    assert [loss for _, loss in seen] == hist["loss"]


def test_fit_on_step_sees_every_update_and_can_stop():
    from deepclass.nn.fit import fit

    X, y = _data()
    net = nn.Linear(6, 3).double()
    batches = [(X[i : i + 10], y[i : i + 10]) for i in range(0, 40, 10)]
    seen = []
    hist = fit(net, nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), lr=0.1), batches,
               epochs=3, log_every=0, on_step=lambda s, loss: seen.append(s) or s == 5)  # fmt: skip
    assert seen == [0, 1, 2, 3, 4, 5]
    assert len(hist["train_loss"]) == 2  # the second epoch ended early but has its row


def test_solver_train_callback_and_clock():
    from deepclass.scratch.models import LinearNet
    from deepclass.scratch.solver import Solver

    X, y = _data(200)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    solver = Solver(LinearNet(6, 3, dtype=DT), data, batch_size=10, num_epochs=5, verbose=False)
    seen = []
    solver.train(callback=lambda t, s: seen.append(t) or t == 6)
    assert seen == list(range(7)) and len(solver.loss_history) == 7
    assert "callback" in solver.stop_reason

    ticks = iter(range(1000))  # a clock that advances 1 s per reading: the limit is in its units
    solver = Solver(LinearNet(6, 3, dtype=DT), data, batch_size=10, num_epochs=5, verbose=False)
    solver.train(time_limit=5.5, clock=lambda: float(next(ticks)))
    assert 0 < len(solver.loss_history) < 100 and "time limit" in solver.stop_reason
