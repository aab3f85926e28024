"""Rung 3 training: the SGD update, the seed's log lines, accuracy, real CIFAR-10, errors."""

from __future__ import annotations

import re

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
from deepclass.barebones.train import check_accuracy, train
from deepclass.data import BatchIterator, channel_stats, normalize
from deepclass.errors import ConfigError
from deepclass.metrics import accuracy
from deepclass.seed import seed_everything


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
    with pytest.raises(ConfigError, match="learning_rate must be a positive number"):
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
