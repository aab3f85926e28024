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

from deepclass.checks import check_number, check_positive_int
from deepclass.errors import ConfigError

ModelFn = Callable[[torch.Tensor, Sequence[torch.Tensor]], torch.Tensor]

# seed 000's settings per model: learning rate and model hyperparameters
DEFAULTS: dict[str, dict] = {
    "two_layer_fc": {"learning_rate": 1e-2, "hidden_size": 4000},
    "three_layer_convnet": {"learning_rate": 3e-3, "channel_1": 32, "channel_2": 16},
}


# The loaders seed 000's notebook keeps in globals (``loader_train``, ``loader_val``,
# ``loader_test``), for the seed-signature functions below; see set_default_loaders.
DEFAULT_LOADERS: dict[str, Iterable | None] = {"train": None, "val": None, "test": None}


def set_default_loaders(
    loader_train: Iterable | None = None,
    loader_val: Iterable | None = None,
    loader_test: Iterable | None = None,
) -> None:
    """Set the loaders that :func:`train_part2` and :func:`check_accuracy_part2` use by default
    (the seed's notebook globals), e.g. ``set_default_loaders(*cifar10_loaders())``.

    A loader given as None keeps the one set before.
    """
    for split, loader in (("train", loader_train), ("val", loader_val), ("test", loader_test)):
        if loader is not None:
            DEFAULT_LOADERS[split] = loader


def _default_loader(split: str, caller: str) -> Iterable:
    loader = DEFAULT_LOADERS[split]
    if loader is None:
        raise ConfigError(
            f"{caller}: no loader_{split}: pass loader_{split}=..., or set the defaults once "
            "with deepclass.barebones.set_default_loaders(*cifar10_loaders())"
        )
    return loader


def split_of(loader: Iterable) -> str | None:
    """The split a loader holds: ``train``/``val``/``test`` for the default loaders, the seed's
    rule (``'val' if loader.dataset.train else 'test'``) for a torchvision-style loader,
    ``loader.split`` where a loader has one, else None."""
    for split, default in DEFAULT_LOADERS.items():
        if default is loader:
            return split
    split = getattr(loader, "split", None)
    if isinstance(split, str):
        return split
    train_flag = getattr(getattr(loader, "dataset", None), "train", None)
    if isinstance(train_flag, bool):
        return "val" if train_flag else "test"
    return None


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
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ConfigError(
            f"{loader_name} yielded labels of dtype {y.dtype}: labels must be integer class "
            "indices (int64); convert them with y.long() only if they are whole numbers"
        )
    return x, y


def _check_label_range(y: torch.Tensor, scores: torch.Tensor, loader_name: str) -> None:
    """Labels in ``[0, C)`` for scores ``(N, C)`` (torch's own message is an IndexError)."""
    if scores.ndim != 2:
        raise ConfigError(f"the model must return scores (N, C), got shape {tuple(scores.shape)}")
    C = scores.shape[1]
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= C:
        raise ConfigError(
            f"{loader_name} yielded labels in [{lo}, {hi}] but the model scores {C} classes: "
            f"labels must be in [0, {C})"
        )


def check_accuracy(
    loader: Iterable,
    model_fn: ModelFn,
    params: Sequence[torch.Tensor],
    *,
    split: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    log: Callable[[str], None] | None = print,
) -> float:
    """Accuracy of ``model_fn(x, params)`` over ``loader``'s ``(x, y)`` batches, without gradients.

    Logs the seed's two lines (``Checking accuracy on the val set`` and
    ``Got 412 / 1000 correct (41.20%)``); ``log=None`` is silent. split names
    the set in the first line; None takes it from the loader (:func:`split_of`),
    and a loader that does not say is announced as "the given set". x goes to
    ``device``/``dtype`` (default: those of ``params[0]``). Returns the fraction correct.
    """
    _check_params(params, require_grad=False)
    device = device if device is not None else params[0].device
    dtype = dtype if dtype is not None else params[0].dtype
    split = split or split_of(loader)
    if log:
        log(
            f"Checking accuracy on the {split} set"
            if split
            else "Checking accuracy on the given set"
        )
    num_correct = num_samples = 0
    with torch.no_grad():
        for item in loader:
            x, y = _batch(item, "loader")
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.int64)
            scores = model_fn(x, params)
            _check_label_range(y, scores, "loader")
            preds = scores.argmax(dim=1)
            num_correct += int((preds == y).sum())
            num_samples += preds.shape[0]
    if num_samples == 0:
        raise ConfigError(f"check_accuracy: the {split or 'given'} loader yielded no samples")
    acc = num_correct / num_samples
    if log:
        log(f"Got {num_correct} / {num_samples} correct ({100 * acc:.2f}%)")
    return acc


def check_accuracy_part2(
    loader: Iterable, model_fn: ModelFn, params: Sequence[torch.Tensor]
) -> float:
    """Seed 000's ``check_accuracy_part2(loader, model_fn, params)``: prints the split and
    ``Got 412 / 1000 correct (41.20%)``. deepclass also returns the accuracy (the seed
    returns nothing); the split comes from the loader (:func:`split_of`)."""
    return check_accuracy(loader, model_fn, params)


def train_part2(
    model_fn: ModelFn,
    params: Sequence[torch.Tensor],
    learning_rate: float,
    *,
    loader_train: Iterable | None = None,
    loader_val: Iterable | None = None,
    print_every: int = 100,
) -> dict[str, list[float]]:
    """Seed 000's ``train_part2(model_fn, params, learning_rate)``: one epoch of plain SGD.

    The seed reads ``loader_train``, ``loader_val`` and ``print_every`` from notebook
    globals; here they are keyword arguments defaulting to :func:`set_default_loaders`'s
    loaders and the seed's 100. Prints the seed's lines and returns :func:`train`'s history
    (the seed returns nothing).
    """
    return train(
        model_fn,
        params,
        learning_rate,
        loader_train if loader_train is not None else _default_loader("train", "train_part2"),
        loader_val if loader_val is not None else _default_loader("val", "train_part2"),
        print_every=print_every,
    )


def _check_params(params: Sequence[torch.Tensor], require_grad: bool = True) -> None:
    if not isinstance(params, (list, tuple)) or not params:
        raise ConfigError("params must be a non-empty list of tensors")
    for i, w in enumerate(params):
        if not isinstance(w, torch.Tensor):
            raise ConfigError(f"params[{i}] must be a tensor, got {type(w).__name__}")
        if require_grad and (not w.is_leaf or not w.requires_grad):
            raise ConfigError(
                f"params[{i}] must be a leaf tensor with requires_grad=True "
                "(make it with random_weight or zero_weight)"
            )


def train(
    model_fn: ModelFn,
    params: Sequence[torch.Tensor],
    learning_rate: float,
    loader_train: Iterable,
    loader_val: Iterable | None,
    epochs: int = 1,
    print_every: int = 100,
    *,
    log: Callable[[str], None] | None = print,
    on_step: Callable[[int, float], bool | None] | None = None,
) -> dict[str, list[float]]:
    """Train ``model_fn`` on ``loader_train`` with plain SGD, updating ``params`` in place.

    Each iteration: ``F.cross_entropy`` loss, ``loss.backward()``, then under
    ``torch.no_grad()`` ``w -= learning_rate * w.grad; w.grad.zero_()``.
    Every ``print_every`` iterations (counted over all epochs from 0) it logs
    ``Iteration t, loss = L`` and the validation accuracy; the accuracy is
    also checked after the last iteration of each epoch. ``loader_val=None``
    checks nothing (``val_*`` stay empty). on_step(t, loss) is called after
    every update; returning True ends training there.

    Returns the history: ``loss`` (every iteration), ``val_iteration`` and
    ``val_acc`` (each check).
    """
    _check_params(params)
    learning_rate = check_number(learning_rate, "learning_rate", low=0, low_open=True)
    epochs = check_positive_int(epochs, "epochs")
    print_every = check_positive_int(print_every, "print_every")
    device, dtype = params[0].device, params[0].dtype
    history: dict[str, list[float]] = {"loss": [], "val_iteration": [], "val_acc": []}

    def validate(t: int) -> None:
        if loader_val is None:
            return
        acc = check_accuracy(loader_val, model_fn, params, split="val", log=log)
        history["val_iteration"].append(t)
        history["val_acc"].append(acc)
        if log:
            log("")

    t = 0
    stop = False
    for _ in range(epochs):
        checked = True
        for item in loader_train:
            x, y = _batch(item, "loader_train")
            x = x.to(device=device, dtype=dtype)
            y = y.to(device=device, dtype=torch.long)

            scores = model_fn(x, params)
            _check_label_range(y, scores, "loader_train")
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
            if on_step is not None and on_step(t - 1, loss_value):
                stop = True
                break
        if t == 0:
            raise ConfigError("loader_train yielded no batches")
        if not checked:
            validate(t - 1)
        if stop:
            break
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


def _cifar10(batch_size: int, num_train: int | None, seed: int, data_dir, device, progress: bool):
    """``(loaders (train, val, test), splits, train_ds)``: see :func:`cifar10_loaders`."""
    from deepclass.data import BatchIterator, channel_stats, load_dataset, normalize

    batch_size = check_positive_int(batch_size, "batch_size")
    if num_train is not None:
        num_train = check_positive_int(num_train, "num_train")
    splits = load_dataset("cifar10", data_dir, progress=progress)
    train_ds = splits.train
    if num_train is not None:
        train_ds = train_ds.subset(range(min(num_train, len(train_ds))))
    mean, std = channel_stats(train_ds.images)
    norm = lambda x: normalize(x, mean, std)  # noqa: E731

    def loader(ds, shuffle: bool) -> BatchIterator:
        return BatchIterator.from_dataset(
            ds, batch_size, shuffle=shuffle, seed=seed, transform=norm, device=device
        )

    loaders = (loader(train_ds, True), loader(splits.val, False), loader(splits.test, False))
    return loaders, splits, train_ds


def cifar10_loaders(
    batch_size: int = 64,
    *,
    num_train: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[Iterable, Iterable, Iterable]:
    """Seed 000's ``loader_train, loader_val, loader_test`` over CIFAR-10 (49,000 / 1,000 /
    10,000 images, batches of 64): ``(x (N, 3, 32, 32) float32, y (N,) int64)`` batches,
    scaled to [0, 1] and normalised per channel with the training-set mean and std; the
    training loader reshuffles every epoch (from ``seed``). num_train keeps only the first
    training images. ``set_default_loaders(*cifar10_loaders())`` makes them the defaults of
    :func:`train_part2` and :func:`check_accuracy_part2`.
    """
    return _cifar10(batch_size, num_train, seed, data_dir, device, progress)[0]


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
    from deepclass.seed import seed_everything

    if model not in DEFAULTS:
        raise ConfigError(f"unknown barebones model {model!r}; valid: {', '.join(DEFAULTS)}")
    settings = DEFAULTS[model]
    lr = settings["learning_rate"] if learning_rate is None else learning_rate
    lr = check_number(lr, "learning_rate", low=0, low_open=True)
    seed_everything(seed)
    (loader_train, loader_val, loader_test), splits, train_ds = _cifar10(
        batch_size, num_train, seed, data_dir, device, progress=log is not None
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
