"""The generic ``fit`` loop: history values against closed forms, outputs it writes, CIFAR-10, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from deepclass.data import ArrayTorchDataset, BatchIterator, channel_stats, normalize
from deepclass.errors import ConfigError
from deepclass.metrics import accuracy
from deepclass.nn.fit import LiveCurves, evaluate, fit, has_display
from deepclass.nn.models import MLP, LinearModel
from deepclass.registry import build_model

KEYS = {"train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "seconds"}


def batches(x, y, size):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def threshold_data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    y = (x[:, 0] > 0.2).long()
    return x, y


def fixed_linear(output: str) -> LinearModel:
    model = LinearModel((2,), 1, output)
    with torch.no_grad():
        model.model[1].weight.copy_(torch.tensor([[1.0, 0.0]]))
        model.model[1].bias.zero_()
    return model


@pytest.mark.parametrize(
    ("output", "loss_fn"), [("logits", nn.BCEWithLogitsLoss()), ("sigmoid", nn.BCELoss())]
)
def test_binary_history_matches_closed_form(output, loss_fn):
    """lr = 0: every epoch scores the same model; logit x1 >= 0 <=> p >= 0.5."""
    x, y = threshold_data()
    model = fixed_linear(output)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    h = fit(model, loss_fn, opt, batches(x, y, 16), batches(x, y, 50), epochs=2, log_every=0)
    assert set(h) == KEYS and all(len(v) == 2 for v in h.values())
    expected_acc = float(np.mean((x[:, 0].numpy() >= 0) == (y.numpy() == 1)))
    expected_loss = F.binary_cross_entropy_with_logits(x[:, 0], y.float()).item()
    for split in ("train", "valid"):
        assert h[f"{split}_acc"] == pytest.approx([expected_acc] * 2, abs=1e-12)
        assert h[f"{split}_loss"] == pytest.approx([expected_loss] * 2, rel=1e-5)
    assert 0.85 < expected_acc < 0.95  # the threshold test is not trivial


def test_multiclass_history_matches_a_full_batch_reference():
    torch.manual_seed(0)
    x, y = torch.randn(70, 5), torch.randint(0, 4, (70,))
    model = nn.Linear(5, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        batches(x, y, 32),
        batches(x, y, 9),
        epochs=1,
        log_every=0,
    )
    with torch.no_grad():
        scores = model(x)
    assert h["train_loss"][0] == pytest.approx(F.cross_entropy(scores, y).item(), rel=1e-6)
    assert h["valid_loss"][0] == pytest.approx(F.cross_entropy(scores, y).item(), rel=1e-6)
    assert h["train_acc"][0] == h["valid_acc"][0] == pytest.approx(accuracy(scores, y))
    assert evaluate(model, nn.CrossEntropyLoss(), batches(x, y, 13)) == pytest.approx(
        (F.cross_entropy(scores, y).item(), accuracy(scores, y)), rel=1e-6
    )


def test_fit_learns_and_logs(capsys):
    x, y = threshold_data(300)
    torch.manual_seed(0)
    model = build_model("nn", "mlp", input_shape=(2,), num_classes=2, hidden_units=(16,))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        batches(x, y, 32),
        batches(x, y, 100),
        epochs=20,
        log_every=10,
    )
    assert h["valid_acc"][-1] > 0.95 and h["train_loss"][-1] < h["train_loss"][0] / 3
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 10/20  train loss ")
    assert "| valid loss " in lines[1]


def test_evaluate_restores_the_mode():
    model = build_model("nn", "noisy", input_shape=(2,), num_classes=1)
    x, y = threshold_data(20)
    model.train()
    evaluate(model, nn.BCEWithLogitsLoss(), [(x, y)])
    assert model.training
    model.eval()
    evaluate(model, nn.BCEWithLogitsLoss(), [(x, y)])
    assert not model.training


def test_without_valid_loader_and_with_schedulers():
    x, y = threshold_data(48)
    model = LinearModel((2,), 2)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        batches(x, y, 16),
        None,
        epochs=3,
        scheduler=sched,
        log_every=0,
    )
    assert h["lr"] == [1.0, 0.5, 0.25] and h["valid_loss"] == [] and len(h["train_acc"]) == 3
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = fit(
        model, nn.CrossEntropyLoss(), opt, batches(x, y, 16), None, epochs=2,
        scheduler=sched, scheduler_interval="step", log_every=0,
    )  # fmt: skip
    assert h["lr"] == [1.0, 0.125]  # three batches per epoch


class RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """ReduceLROnPlateau that records the metric fit() gives it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.metrics: list[float] = []

    def step(self, metrics, *args, **kwargs):
        self.metrics.append(float(metrics))
        return super().step(metrics, *args, **kwargs)


@pytest.mark.parametrize("with_valid", [True, False], ids=["valid loss", "train loss"])
def test_reduce_lr_on_plateau_gets_the_loss_and_drops_the_lr(with_valid):
    """The optimizer holds a parameter the model does not use: the loss stays flat, so with
    patience 0 every epoch after the first (which sets the best loss) cuts the lr by 10."""
    x, y = threshold_data(48)
    torch.manual_seed(0)
    model = LinearModel((2,), 2)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    plateau = RecordingPlateau(opt, patience=0, factor=0.1)
    h = fit(
        model, nn.CrossEntropyLoss(), opt, batches(x, y, 16),
        batches(x[:24], y[:24], 24) if with_valid else None,
        epochs=4, scheduler=plateau, log_every=0,
    )  # fmt: skip
    assert h["lr"] == pytest.approx([1.0, 1.0, 0.1, 0.01], rel=1e-9)  # lr at each epoch's start
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3, rel=1e-9)
    # ReduceLROnPlateau watches the valid loss when there is one, else the train loss
    assert plateau.metrics == h["valid_loss" if with_valid else "train_loss"]
    if with_valid:
        assert h["valid_loss"] != pytest.approx(h["train_loss"], rel=1e-3)  # two different series


def test_tensorboard_scalars_and_png_curves(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, y = threshold_data(40)
    model = LinearModel((2,), 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    png = tmp_path / "curves.png"
    h = fit(
        model, nn.BCEWithLogitsLoss(), opt, batches(x, y, 8), batches(x, y, 40), epochs=3,
        log_dir=tmp_path / "tb", plot_path=png, refresh_seconds=0, log_every=0,
    )  # fmt: skip
    assert png.stat().st_size > 10_000
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert tags == {"loss/train", "loss/valid", "accuracy/train", "accuracy/valid", "lr"}
    valid_acc = events.Scalars("accuracy/valid")
    assert [e.step for e in valid_acc] == [1, 2, 3]
    assert [e.value for e in valid_acc] == pytest.approx(h["valid_acc"])


def test_early_stop_still_writes_the_png(tmp_path):
    x, y = threshold_data(40)
    model = LinearModel((2,), 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    png = tmp_path / "curves.png"
    h = fit(
        model, nn.BCEWithLogitsLoss(), opt, batches(x, y, 8), None, epochs=10,
        plot_path=png, refresh_seconds=3600, log_every=0, on_epoch_end=lambda e, hist: e == 2,
    )  # fmt: skip
    assert len(h["train_loss"]) == 2 and png.exists()


def test_live_without_a_display_warns_and_trains():
    assert not has_display()  # the tests run matplotlib headless (MPLBACKEND=Agg)
    x, y = threshold_data(20)
    model = LinearModel((2,), 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(RuntimeWarning, match="no display"):
        h = fit(
            model, nn.BCEWithLogitsLoss(), opt, [(x, y)], None, epochs=2, live=True, log_every=0
        )
    assert len(h["train_loss"]) == 2


def test_live_curves_draw_every_series():
    import matplotlib.pyplot as plt

    live = LiveCurves("demo")
    history = {
        "train_loss": [1.0, 0.5],
        "valid_loss": [1.1, 0.7],
        "train_acc": [0.5, 0.7],
        "valid_acc": [0.4, 0.6],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Agg cannot show a window
        live.update(history)
    assert [len(ax.lines) for ax in live.axes] == [2, 2]
    assert list(live.axes[0].lines[1].get_ydata()) == [1.1, 0.7]
    live.close()
    plt.close(live.fig)


def test_fit_trains_a_cifar_convnet_on_a_real_subset(cifar10):
    train_ds = cifar10.train.subset(range(2000))
    mean, std = channel_stats(train_ds.images)
    norm = lambda x: normalize(x, mean, std)  # noqa: E731
    torch.manual_seed(0)
    model = build_model(
        "nn", "three_layer_convnet", input_shape=train_ds.sample_shape, num_classes=10
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_loader = BatchIterator.from_dataset(train_ds, 64, shuffle=True, seed=0, transform=norm)
    valid_loader = BatchIterator.from_dataset(cifar10.val, 500, shuffle=False, transform=norm)
    h = fit(model, nn.CrossEntropyLoss(), opt, train_loader, valid_loader, epochs=2, log_every=0)
    assert h["valid_acc"][-1] > 0.30, h
    assert h["train_loss"][1] < h["train_loss"][0]


def test_fit_accepts_a_dataloader_of_real_images(cifar10):
    ds = cifar10.train.subset(range(128))
    loader = DataLoader(ArrayTorchDataset(ds), batch_size=32, shuffle=True, num_workers=0)
    model = build_model("nn", "mlp", input_shape=ds.sample_shape, num_classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    h = fit(model, nn.CrossEntropyLoss(), opt, loader, loader, epochs=1, progress=True, log_every=0)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    # the valid metrics are those of the trained model on every image, whatever the batch order
    x, y = (
        torch.cat(t) for t in zip(*DataLoader(ArrayTorchDataset(ds), batch_size=128), strict=True)
    )
    model.eval()
    with torch.no_grad():
        scores = model(x)
    assert h["valid_acc"][0] == pytest.approx(accuracy(scores, y), abs=1e-12)
    assert h["valid_loss"][0] == pytest.approx(F.cross_entropy(scores, y).item(), rel=1e-5)
    assert np.isfinite(h["train_loss"][0])


def test_errors():
    x, y = threshold_data(16)
    model = LinearModel((2,), 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ce = nn.CrossEntropyLoss()
    with pytest.raises(ConfigError, match="epochs must be a positive int"):
        fit(model, ce, opt, [(x, y)], epochs=0)
    with pytest.raises(ConfigError, match="scores must be one of auto, probs, logits"):
        fit(model, ce, opt, [(x, y)], scores="prob")
    with pytest.raises(ConfigError, match=r"labels in \[0, 5\] but the model scores 3 classes"):
        fit(model, ce, opt, [(x, y * 5)], log_every=0)
    with pytest.raises(ConfigError, match=r"labels of shape \(16, 1\)"):
        fit(model, ce, opt, [(x, y[:, None])], log_every=0)
    with pytest.raises(ConfigError, match="train_loader yielded no batches"):
        fit(model, ce, opt, [], log_every=0)
    with pytest.raises(ConfigError, match=r"train_loader must yield \(x, y\) pairs"):
        fit(model, ce, opt, [x], log_every=0)
    binary = LinearModel((2,), 1)
    with pytest.raises(ConfigError, match="labels other than 0 and 1; use num_classes=K"):
        fit(
            binary,
            nn.BCEWithLogitsLoss(),
            torch.optim.SGD(binary.parameters(), lr=0.1),
            [(x, y * 2)],
            log_every=0,
        )
    with pytest.raises(ConfigError, match=r"scores \(N, K\) or \(N,\), got \(16, 3, 1\)"):
        fit(nn.Sequential(model, nn.Unflatten(1, (3, 1))), ce, opt, [(x, y)], log_every=0)
    # a loss that does not fit the model's output is named with the model
    one = MLP()  # seed 003's set-up: num_classes=1 by default, a binary model
    with pytest.raises(
        ConfigError,
        match=r"loss_fn CrossEntropyLoss takes class scores \(N, K\) with K >= 2, but the model "
        r"\(MLP\) has one output \(16, 1\)",
    ):
        fit(one, ce, torch.optim.SGD(one.parameters(), lr=0.1), [(x, (y > 0).float())], log_every=0)
    with pytest.raises(ConfigError, match="loss_fn cross_entropy takes class scores"):
        evaluate(one, F.cross_entropy, [(x, y > 0)])
    with pytest.raises(
        ConfigError, match=r"loss_fn BCEWithLogitsLoss takes one output per example, but the model"
    ):
        fit(model, nn.BCEWithLogitsLoss(), opt, [(x, y)], log_every=0)
    wild = LinearModel((2,), 3)
    with pytest.raises(ConfigError, match="training diverged: the training loss became"):
        fit(
            wild,
            ce,
            torch.optim.SGD(wild.parameters(), lr=1e38),
            [(x * 1e5, y)] * 3,
            epochs=3,
            log_every=0,
        )
