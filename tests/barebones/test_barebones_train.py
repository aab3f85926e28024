"""Rung 3 training: the SGD update, the seed's log lines, accuracy, real CIFAR-10, errors."""

from __future__ import annotations

import importlib
import inspect
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepclass.barebones.models import (
    random_weight,
    three_layer_convnet,
    three_layer_convnet_params,
    two_layer_fc,
    two_layer_fc_params,
)
from deepclass.barebones.train import (
    check_accuracy,
    check_accuracy_part2,
    set_default_loaders,
    train,
    train_part2,
)
from deepclass.data import BatchIterator, channel_stats, normalize
from deepclass.errors import ConfigError
from deepclass.metrics import accuracy
from deepclass.seed import seed_everything

# the module (deepclass.barebones.train is the function train on the package)
train_module = importlib.import_module("deepclass.barebones.train")


def toy_batches(n_batches=3, n=8, d=6, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(n, d, generator=g), torch.randint(0, c, (n,), generator=g))
        for _ in range(n_batches)
    ]


def test_one_step_is_plain_sgd():
    torch.manual_seed(0)
    params = two_layer_fc_params(6, 5, 3, dtype=torch.float64)
    before = [p.detach().clone() for p in params]
    (x, y) = toy_batches(1)[0]
    x = x.double()
    # independent reference: gradients of a fresh copy, update by hand
    ref = [p.clone().requires_grad_(True) for p in before]
    F.cross_entropy(two_layer_fc(x, ref), y).backward()
    expected = [p.detach() - 0.1 * p.grad for p in ref]

    train(two_layer_fc, params, 0.1, [(x, y)], [(x, y)], log=None)
    for p, e in zip(params, expected, strict=True):
        assert torch.allclose(p.detach(), e, rtol=0, atol=1e-12)
        assert p.grad is not None and not p.grad.any()  # zeroed after the update


def test_log_lines_follow_the_seed():
    lines: list[str] = []
    params = two_layer_fc_params(6, 5, 3)
    history = train(
        two_layer_fc,
        params,
        1e-2,
        toy_batches(5),
        toy_batches(2, seed=1),
        epochs=2,
        print_every=4,
        log=lines.append,
    )
    iters = [line for line in lines if line.startswith("Iteration")]
    assert [re.match(r"Iteration (\d+), loss = \d+\.\d{4}$", s).group(1) for s in iters] == [
        "0",
        "4",
        "8",
    ]
    assert lines[1] == "Checking accuracy on the val set"
    assert re.fullmatch(r"Got \d+ / 16 correct \(\d+\.\d\d%\)", lines[2])
    assert len(history["loss"]) == 10
    # checks at iterations 0, 4, 8 and at the end of each epoch (4, 9): 0, 4, 8, 9
    assert history["val_iteration"] == [0, 4, 8, 9]
    assert len(history["val_acc"]) == 4 and all(0 <= a <= 1 for a in history["val_acc"])


def test_check_accuracy_matches_metrics():
    torch.manual_seed(3)
    params = two_layer_fc_params(6, 5, 3)
    batches = toy_batches(4, seed=5)
    got = check_accuracy(batches, two_layer_fc, params, log=None)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    assert got == pytest.approx(accuracy(two_layer_fc(x, params), y))


def test_two_layer_fc_beats_35_percent_on_real_cifar10(cifar10):
    """A short real run: 16,000 CIFAR-10 images, one epoch, hidden 1000, lr 1e-2, batch 64."""
    train_ds = cifar10.train.subset(range(16000))
    mean, std = channel_stats(train_ds.images)
    norm = lambda x: normalize(x, mean, std)  # noqa: E731
    seed_everything(0)
    params = two_layer_fc_params(3 * 32 * 32, 1000, 10)
    loader_train = BatchIterator.from_dataset(train_ds, 64, shuffle=True, seed=0, transform=norm)
    loader_val = BatchIterator.from_dataset(cifar10.val, 500, shuffle=False, transform=norm)
    history = train(
        two_layer_fc, params, 1e-2, loader_train, loader_val, print_every=10**6, log=None
    )
    assert history["val_acc"][-1] > 0.35, history["val_acc"]
    assert history["loss"][-1] < history["loss"][0]


def test_errors():
    params = two_layer_fc_params(6, 5, 3)
    batches = toy_batches(1)
    with pytest.raises(ConfigError, match="learning_rate must be a finite number > 0"):
        train(two_layer_fc, params, -1.0, batches, batches, log=None)
    with pytest.raises(ConfigError, match="epochs must be a positive int"):
        train(two_layer_fc, params, 0.1, batches, batches, epochs=0, log=None)
    frozen = [params[0], params[1].detach()]
    with pytest.raises(
        ConfigError, match=r"params\[1\] must be a leaf tensor with requires_grad=True"
    ):
        train(two_layer_fc, frozen, 0.1, batches, batches, log=None)
    with pytest.raises(ConfigError, match=r"loader_train must yield \(x, y\) pairs"):
        train(two_layer_fc, params, 0.1, [batches[0][0]], batches, log=None)
    with pytest.raises(ConfigError, match="loader_train yielded no batches"):
        train(two_layer_fc, params, 0.1, [], batches, log=None)
    with pytest.raises(ConfigError, match=r"labels of shape \(8, 1\)"):
        train(
            two_layer_fc, params, 0.1, [(batches[0][0], batches[0][1][:, None])], batches, log=None
        )
    huge = [random_weight((6, 5)), random_weight((5, 3))]
    with pytest.raises(ConfigError, match="training diverged"):
        train(two_layer_fc, huge, 1e30, toy_batches(3), batches, log=None)


def test_loader_with_the_wrong_image_shape_is_named():
    params = three_layer_convnet_params((3, 8, 8), 4, 2, 3)
    gray = [(torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long))]
    with pytest.raises(ConfigError, match=r"param conv_w1 .* channels of x \(4, 1, 8, 8\)"):
        train(three_layer_convnet, params, 0.1, gray, gray, log=None)


@pytest.fixture
def no_default_loaders(monkeypatch):
    monkeypatch.setattr(train_module, "DEFAULT_LOADERS", {"train": None, "val": None, "test": None})


def test_seed_signatures_train_part2_and_check_accuracy_part2(no_default_loaders, capsys):
    """Seed 000's own calls: ``train_part2(model_fn, params, learning_rate)`` reading the
    notebook's loaders, ``check_accuracy_part2(loader, model_fn, params)``."""
    assert list(inspect.signature(train_part2).parameters)[:3] == [
        "model_fn",
        "params",
        "learning_rate",
    ]
    assert list(inspect.signature(check_accuracy_part2).parameters) == [
        "loader",
        "model_fn",
        "params",
    ]
    torch.manual_seed(0)
    params = two_layer_fc_params(6, 5, 3)
    with pytest.raises(ConfigError, match="train_part2: no loader_train: pass loader_train"):
        train_part2(two_layer_fc, params, 1e-2)
    train_b, val_b, test_b = toy_batches(5), toy_batches(2, seed=1), toy_batches(2, seed=2)
    set_default_loaders(train_b, val_b, test_b)
    # the same run as train() with those loaders and the seed's print_every = 100
    ref = [p.detach().clone().requires_grad_(True) for p in params]
    history = train_part2(two_layer_fc, params, 1e-2)
    expected = train(two_layer_fc, ref, 1e-2, train_b, val_b, print_every=100, log=None)
    assert history == expected
    assert all(torch.equal(a, b) for a, b in zip(params, ref, strict=True))
    capsys.readouterr()
    acc = check_accuracy_part2(test_b, two_layer_fc, params)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Checking accuracy on the test set"  # not "val": it is the test loader
    assert out[1] == f"Got {round(acc * 16)} / 16 correct ({100 * acc:.2f}%)"
    check_accuracy_part2(val_b, two_layer_fc, params)
    assert capsys.readouterr().out.startswith("Checking accuracy on the val set")


def test_check_accuracy_reports_the_split_it_was_given(no_default_loaders):
    params = two_layer_fc_params(6, 5, 3)
    batches = toy_batches(1)

    class SeedLoader(list):  # torchvision's CIFAR10 says train=True/False; the seed reads it
        def __init__(self, items, train):
            super().__init__(items)
            self.dataset = type("D", (), {"train": train})()

    for loader, kwargs, said in (
        (batches, {"split": "test"}, "test"),
        (SeedLoader(batches, train=False), {}, "test"),
        (SeedLoader(batches, train=True), {}, "val"),
        (batches, {}, "given"),
    ):
        lines: list[str] = []
        check_accuracy(loader, two_layer_fc, params, log=lines.append, **kwargs)
        assert lines[0] == f"Checking accuracy on the {said} set"


def test_labels_must_be_class_indices_in_range():
    params = two_layer_fc_params(6, 5, 3)
    x = toy_batches(1)[0][0]
    cases = (
        (torch.full((8,), 1.7), r"labels of dtype torch.float32: labels must be integer"),
        (torch.full((8,), 3), r"labels in \[3, 3\] but the model scores 3 classes"),
        (torch.full((8,), -1), r"labels in \[-1, -1\] but the model scores 3 classes"),
    )
    for y, msg in cases:
        with pytest.raises(ConfigError, match=msg):
            train(two_layer_fc, params, 0.1, [(x, y)], [(x, y.long())], log=None)
        with pytest.raises(ConfigError, match=msg):
            check_accuracy([(x, y)], two_layer_fc, params, log=None)


def test_numpy_numbers_are_numbers():
    """The seed computes fan-in with np.prod and keeps hyperparameters as NumPy scalars."""
    assert random_weight((np.int64(3), 5)).shape == (3, 5)
    assert random_weight(np.array([4, 3, 2, 2])).shape == (4, 3, 2, 2)
    torch.manual_seed(0)
    params = two_layer_fc_params(6, 5, 3, dtype=torch.float64)
    ref = [p.detach().clone().requires_grad_(True) for p in params]
    batches = [(x.double(), y) for x, y in toy_batches(2)]
    train(two_layer_fc, params, np.float32(0.5), batches, batches, epochs=np.int64(2), log=None)
    train(two_layer_fc, ref, float(np.float32(0.5)), batches, batches, epochs=2, log=None)
    assert all(torch.equal(a, b) for a, b in zip(params, ref, strict=True))
    with pytest.raises(ConfigError, match=r"two_layer_fc: x must be a torch.Tensor, got ndarray"):
        two_layer_fc(np.zeros((64, 6), np.float32), params)
    with pytest.raises(ConfigError, match=r"three_layer_convnet: x must be a torch.Tensor"):
        three_layer_convnet(np.zeros((2, 3, 8, 8)), three_layer_convnet_params((3, 8, 8), 2, 2, 3))
