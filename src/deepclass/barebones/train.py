"""Rung 3 training: the seed's hand-written SGD loop and accuracy check (seed 000).

Autograd computes the gradients; the update is written out by hand::

    loss.backward()
    with torch.no_grad():
        for w in params:
            w -= learning_rate * w.grad
            w.grad.zero_()

:func:`run_cifar10` is what ``deepclass barebones`` runs: CIFAR-10 from the
data layer (49,000/1,000/10,000), normalised per channel with the training
statistics, batches of 64.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from deepclass.errors import ConfigError

ModelFn = Callable[[torch.Tensor, Sequence[torch.Tensor]], torch.Tensor]

# seed 000's settings per model: learning rate and model hyperparameters
DEFAULTS: dict[str, dict] = {
    "two_layer_fc": {"learning_rate": 1e-2, "hidden_size": 4000},
    "three_layer_convnet": {"learning_rate": 3e-3, "channel_1": 32, "channel_2": 16},
}


def _batch(item, loader_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(item, (list, tuple)) and len(item) == 2):
        raise ConfigError(f"{loader_name} must yield (x, y) pairs, got {type(item).__name__}")
    x, y = item
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ConfigError(f"{loader_name} must yield (x, y) tensors")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ConfigError(
            f"{loader_name} yielded labels of shape {tuple(y.shape)} for x of shape "
            f"{tuple(x.shape)}; expected ({x.shape[0]},)"
        )
    return x, y


def check_accuracy(
    loader: Iterable,
    model_fn: ModelFn,
    params: Sequence[torch.Tensor],
    *,
    split: str = "val",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    log: Callable[[str], None] | None = print,
) -> float:
    """Accuracy of ``model_fn(x, params)`` over ``loader``'s ``(x, y)`` batches, without gradients.

    Logs the seed's two lines (``Checking accuracy on the val set`` and
    ``Got 412 / 1000 correct (41.20%)``); ``log=None`` is silent. x goes to
    ``device``/``dtype`` (default: those of ``params[0]``). Returns the fraction correct.
    """
    device = device if device is not None else params[0].device
    dtype = dtype if dtype is not None else params[0].dtype
    if log:
        log(f"Checking accuracy on the {split} set")
    num_correct = num_samples = 0
    with torch.no_grad():
        for item in loader:
            x, y = _batch(item, "loader")
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.int64)
            preds = model_fn(x, params).argmax(dim=1)
            num_correct += int((preds == y).sum())
            num_samples += preds.shape[0]
    if num_samples == 0:
        raise ConfigError(f"check_accuracy: the {split} loader yielded no samples")
    acc = num_correct / num_samples
    if log:
        log(f"Got {num_correct} / {num_samples} correct ({100 * acc:.2f}%)")
    return acc


def _check_params(params: Sequence[torch.Tensor]) -> None:
    if not isinstance(params, (list, tuple)) or not params:
        raise ConfigError("params must be a non-empty list of tensors")
    for i, w in enumerate(params):
        if not isinstance(w, torch.Tensor) or not w.is_leaf or not w.requires_grad:
            raise ConfigError(
                f"params[{i}] must be a leaf tensor with requires_grad=True "
                "(make it with random_weight or zero_weight)"
            )


def train(
    model_fn: ModelFn,
    params: Sequence[torch.Tensor],
    learning_rate: float,
    loader_train: Iterable,
    loader_val: Iterable,
    epochs: int = 1,
    print_every: int = 100,
    *,
    log: Callable[[str], None] | None = print,
) -> dict[str, list[float]]:
    """Train ``model_fn`` on ``loader_train`` with plain SGD, updating ``params`` in place.

    Each iteration: ``F.cross_entropy`` loss, ``loss.backward()``, then under
    ``torch.no_grad()`` ``w -= learning_rate * w.grad; w.grad.zero_()``.
    Every ``print_every`` iterations (counted over all epochs from 0) it logs
    ``Iteration t, loss = L`` and the validation accuracy; the accuracy is
    also checked after the last iteration of each epoch.

    Returns the history: ``loss`` (every iteration), ``val_iteration`` and
    ``val_acc`` (each check).
    """
    _check_params(params)
    if not (
        isinstance(learning_rate, (int, float))
        and math.isfinite(learning_rate)
        and learning_rate > 0
    ):
        raise ConfigError(f"learning_rate must be a positive number, got {learning_rate!r}")
    for v, n in ((epochs, "epochs"), (print_every, "print_every")):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{n} must be a positive int, got {v!r}")
    device, dtype = params[0].device, params[0].dtype
    history: dict[str, list[float]] = {"loss": [], "val_iteration": [], "val_acc": []}

    def validate(t: int) -> None:
        acc = check_accuracy(loader_val, model_fn, params, split="val", log=log)
        history["val_iteration"].append(t)
        history["val_acc"].append(acc)
        if log:
            log("")

    t = 0
    for _ in range(epochs):
        checked = True
        for item in loader_train:
            x, y = _batch(item, "loader_train")
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)

            scores = model_fn(x, params)
            loss = F.cross_entropy(scores, y)
            loss.backward()
            with torch.no_grad():
                for w in params:
                    w -= learning_rate * w.grad
                    w.grad.zero_()

            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise ConfigError(
                    f"training diverged: the loss became {loss_value} at iteration {t}; "
                    f"lower the learning rate (learning_rate={learning_rate})"
                )
            history["loss"].append(loss_value)
            checked = False
            if t % print_every == 0:
                if log:
                    log(f"Iteration {t}, loss = {loss_value:.4f}")
                validate(t)
                checked = True
            t += 1
        if t == 0:
            raise ConfigError("loader_train yielded no batches")
        if not checked:
            validate(t - 1)
    return history


# ---------------------------------------------------------------- CIFAR-10 run


@dataclass
class BarebonesResult:
    """What :func:`run_cifar10` measured."""

    model: str
    seed: int
    learning_rate: float
    epochs: int
    val_acc: float
    test_acc: float
    history: dict[str, list[float]]
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)


def run_cifar10(
    model: str = "two_layer_fc",
    *,
    epochs: int = 1,
    learning_rate: float | None = None,
    batch_size: int = 64,
    seed: int = 0,
    hidden_size: int | None = None,
    channels: tuple[int, int] | None = None,
    num_train: int | None = None,
    print_every: int = 100,
    data_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    out_dir: str | Path | None = None,
    log: Callable[[str], None] | None = print,
) -> BarebonesResult:
    """Train a barebones model on CIFAR-10 as seed 000 does and measure val and test accuracy.

    model: "two_layer_fc" or "three_layer_convnet". learning_rate,
    hidden_size, channels default to the seed's settings (1e-2 / 4000 and
    3e-3 / (32, 16)). num_train keeps only the first training images (a
    small real subset for quick runs). Images are scaled to [0, 1] and
    normalised per channel with the training-set mean and std. ``seed``
    fixes the initial weights and the batch order. With ``out_dir`` the
    loss curve is written to ``out_dir/loss.png``.
    """
    from deepclass.barebones.models import build_three_layer_convnet, build_two_layer_fc
    from deepclass.data import BatchIterator, channel_stats, load_dataset, normalize
    from deepclass.seed import seed_everything

    if model not in DEFAULTS:
        raise ConfigError(f"unknown barebones model {model!r}; valid: {', '.join(DEFAULTS)}")
    settings = DEFAULTS[model]
    lr = settings["learning_rate"] if learning_rate is None else learning_rate
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
    if num_train is not None and (not isinstance(num_train, int) or num_train < 1):
        raise ConfigError(f"num_train must be a positive int, got {num_train!r}")
    seed_everything(seed)

    splits = load_dataset("cifar10", data_dir, progress=log is not None)
    train_ds = splits.train
    if num_train is not None:
        train_ds = train_ds.subset(range(min(num_train, len(train_ds))))
    mean, std = channel_stats(train_ds.images)
    norm = lambda x: normalize(x, mean, std)  # noqa: E731

    def loader(ds, shuffle: bool) -> BatchIterator:
        return BatchIterator.from_dataset(
            ds, batch_size, shuffle=shuffle, seed=seed, transform=norm, device=device
        )

    loader_train, loader_val, loader_test = (
        loader(train_ds, True),
        loader(splits.val, False),
        loader(splits.test, False),
    )
    input_shape = train_ds.sample_shape
    if model == "two_layer_fc":
        net = build_two_layer_fc(
            input_shape=input_shape,
            num_classes=splits.num_classes,
            hidden_size=settings["hidden_size"] if hidden_size is None else hidden_size,
            device=device,
        )
    else:
        c1, c2 = (settings["channel_1"], settings["channel_2"]) if channels is None else channels
        net = build_three_layer_convnet(
            input_shape=input_shape,
            num_classes=splits.num_classes,
            channel_1=c1,
            channel_2=c2,
            device=device,
        )
    if log:
        log(
            f"{model}: {net.num_params():,} parameters, lr {lr:g}, batch {batch_size}, seed {seed}, "
            f"{len(train_ds)} training images, {epochs} epoch(s)"
        )
    start = time.perf_counter()
    history = train(net.fn, net.params, lr, loader_train, loader_val, epochs, print_every, log=log)
    seconds = time.perf_counter() - start
    test_acc = check_accuracy(loader_test, net.fn, net.params, split="test", log=log)

    result = BarebonesResult(
        model, seed, lr, epochs, history["val_acc"][-1], test_acc, history, seconds
    )
    if out_dir is not None:
        result.files["loss"] = plot_training(history, Path(out_dir) / "loss.png", title=model)
    return result


def plot_training(history: dict[str, list[float]], path: str | Path, *, title: str = "") -> Path:
    """The loss per iteration (with its running mean) and the validation accuracy at each check."""
    import numpy as np

    from deepclass.viz import plot_history

    loss = np.asarray(history["loss"], dtype=float)
    window = max(1, min(50, len(loss) // 5))
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    curves = {
        "loss": loss,
        f"running mean ({window})": smooth,
        "val_acc": history["val_acc"],
    }
    return plot_history(
        curves,
        path,
        panels={
            "training loss": ["loss", f"running mean ({window})"],
            "validation accuracy": ["val_acc"],
        },
        x={
            "loss": np.arange(len(loss)),
            f"running mean ({window})": np.arange(window - 1, len(loss)),
            "val_acc": history["val_iteration"],
        },
        xlabel="iteration",
        title=title,
    )
