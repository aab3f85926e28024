"""Seed 003's XOR experiment: which models can separate XOR?

The exact data of the seed (``load_dataset("xor")``: 100 training and 100
validation points, uniform in [-1, 1)^2, label 1 where ``x1 * x2 >= 0``), and
the book's recipe: ``torch.manual_seed(seed)`` before building the model and
again before training, a shuffling ``DataLoader`` with batches of 2,
``nn.BCELoss`` on sigmoid outputs, plain SGD (lr 0.001 for the no-hidden-layer
baseline, 0.015 for the others) for 200 epochs, trained by :func:`fit`.

Models (registry names of the "nn" rung, built with ``output="sigmoid"``):
``linear`` (no hidden layer), ``mlp`` (hidden layers in an ``nn.Sequential``),
``modulelist`` (the same in an ``nn.ModuleList``) and ``noisy`` (a
``NoisyLinear`` first layer). ``hidden`` sets the hidden widths (default the
seed's ``(4, 4)``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from deepclass.checks import check_number, check_positive_int, is_int
from deepclass.errors import ConfigError
from deepclass.nn.fit import History, fit
from deepclass.registry import build_model

XOR_MODELS = ("linear", "mlp", "modulelist", "noisy")
BOOK_LR = {"linear": 0.001, "mlp": 0.015, "modulelist": 0.015, "noisy": 0.015}
DEFAULT_HIDDEN = (4, 4)


@dataclass
class XorRun:
    """One trained XOR model and its per-epoch history."""

    name: str
    model: nn.Module
    history: History
    lr: float
    hidden: tuple[int, ...] | None
    seed: int
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def valid_acc(self) -> float:
        """Validation accuracy after the last epoch."""
        return self.history["valid_acc"][-1]

    @property
    def train_acc(self) -> float:
        return self.history["train_acc"][-1]

    @property
    def label(self) -> str:
        width = f" {'x'.join(map(str, self.hidden))}" if self.hidden else ""
        return f"{self.name}{width} (lr {self.lr:g})"


def train(
    model: nn.Module,
    num_epochs: int,
    train_dl,
    x_valid: torch.Tensor,
    y_valid: torch.Tensor,
    *,
    loss_fn: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Seed 003's ``train(model, num_epochs, train_dl, x_valid, y_valid)``, run by :func:`fit`.

    The seed reads ``loss_fn`` and ``optimizer`` from notebook globals; here they are
    keyword arguments defaulting to the seed's ``nn.BCELoss()`` and
    ``SGD(model.parameters(), lr=0.015)``. Returns the seed's four per-epoch lists:
    ``loss_hist_train, loss_hist_valid, accuracy_hist_train, accuracy_hist_valid``.
    """
    loss_fn = loss_fn if loss_fn is not None else nn.BCELoss()
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=BOOK_LR["mlp"])
    h = fit(model, loss_fn, optimizer, train_dl, [(x_valid, y_valid)], num_epochs, log_every=0)
    return h["train_loss"], h["valid_loss"], h["train_acc"], h["valid_acc"]


def _check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    if is_int(hidden) or isinstance(hidden, str) or not hidden:
        raise ConfigError(f"hidden must be a non-empty list of positive ints, got {hidden!r}")
    return tuple(check_positive_int(h, "hidden[i]") for h in hidden)


def build_xor_model(name: str, hidden: Sequence[int] = DEFAULT_HIDDEN) -> nn.Module:
    """The XOR model ``name``: 2 inputs, one sigmoid output (a probability, for ``nn.BCELoss``)."""
    kwargs: dict = {"input_shape": (2,), "num_classes": 1, "output": "sigmoid"}
    if name != "linear":
        kwargs["hidden_units"] = tuple(hidden)
    return build_model("nn", name, **kwargs)


def xor_tensors(splits=None) -> tuple[torch.Tensor, ...]:
    """``(x_train, y_train, x_valid, y_valid)``: float32 ``(100, 2)`` features, float32 ``(100,)`` labels."""
    from deepclass.data import load_dataset

    splits = splits or load_dataset("xor", progress=False)
    out = []
    for ds in (splits.train, splits.val):
        out += [torch.from_numpy(ds.images), torch.from_numpy(ds.labels).float()]
    return tuple(out)


def predict_classes(model: nn.Module, points: np.ndarray) -> np.ndarray:
    """0/1 class of each point ``(M, 2)`` (eval mode, sigmoid output >= 0.5)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        p = model(torch.as_tensor(points, dtype=torch.float32))[:, 0]
    model.train(was_training)
    return (p >= 0.5).long().numpy()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch single-threaded: a 2-4-4-1 network on batches of 2 gains nothing from
    intra-op threads, and on a busy machine their synchronisation costs 10-100x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_xor(
    name: str,
    *,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    seed: int = 1,
    lr: float | None = None,
    epochs: int = 200,
    batch_size: int = 2,
    out_dir: str | Path | None = None,
    live: bool = False,
    log_every: int = 0,
    splits=None,
) -> XorRun:
    """Train one XOR model the book's way; with ``out_dir`` write its PNGs and TensorBoard logs.

    lr: None means the book's (0.001 for "linear", 0.015 otherwise).
    Files: ``xor_<name>_curves.png`` (loss and accuracy, refreshed while
    training), ``xor_<name>_regions.png`` (decision regions over the
    validation points) and ``tensorboard/<name>/``.
    """
    if name not in XOR_MODELS:
        raise ConfigError(f"unknown XOR model {name!r}; valid: {', '.join(XOR_MODELS)}")
    lr = check_number(BOOK_LR[name] if lr is None else lr, "lr", low=0, low_open=True)
    batch_size = check_positive_int(batch_size, "batch_size")
    epochs = check_positive_int(epochs, "epochs")
    hidden = _check_hidden(hidden)
    x_train, y_train, x_valid, y_valid = xor_tensors(splits)

    torch.manual_seed(seed)
    model = build_xor_model(name, hidden)
    loss_fn = nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    torch.manual_seed(seed)
    train_dl = DataLoader(TensorDataset(x_train, y_train), batch_size, shuffle=True)
    valid = [(x_valid, y_valid)]  # the seed scores the whole validation set in one forward

    out = Path(out_dir) if out_dir is not None else None
    with _one_thread():
        history = fit(
            model,
            loss_fn,
            optimizer,
            train_dl,
            valid,
            epochs,
            plot_path=out / f"xor_{name}_curves.png" if out else None,
            log_dir=out / "tensorboard" / name if out else None,
            live=live,
            log_every=log_every,
        )
    run = XorRun(name, model, history, lr, tuple(hidden) if name != "linear" else None, seed)
    if out is not None:
        from deepclass.viz import plot_decision_regions

        run.files["curves"] = out / f"xor_{name}_curves.png"
        run.files["regions"] = plot_decision_regions(
            lambda pts: predict_classes(model, pts),
            x_valid.numpy(),
            y_valid.long().numpy(),
            out / f"xor_{name}_regions.png",
            title=f"{run.label}: valid acc {run.valid_acc:.2f}",
        )
    return run


def run_xor(
    models: Sequence[str] = XOR_MODELS,
    *,
    hidden: Sequence[int] = DEFAULT_HIDDEN,
    seed: int = 1,
    lr: float | None = None,
    epochs: int = 200,
    batch_size: int = 2,
    out_dir: str | Path | None = None,
    live: bool = False,
    log_every: int = 0,
) -> dict[str, XorRun]:
    """Train each of ``models`` (see :func:`train_xor`); with ``out_dir`` also ``xor_all.png``.

    ``xor_all.png`` puts the models side by side: decision regions, loss
    curves and accuracy curves, one column per model.
    """
    from deepclass.data import load_dataset

    bad = [m for m in models if m not in XOR_MODELS]
    if bad or not models:
        raise ConfigError(f"unknown XOR model(s) {bad}; valid: {', '.join(XOR_MODELS)}")
    # every argument is checked before the first model's banner
    hidden = _check_hidden(hidden)
    for m in models:
        check_number(BOOK_LR[m] if lr is None else lr, "lr", low=0, low_open=True)
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    splits = load_dataset("xor", progress=False)
    runs = {}
    for name in models:
        if log_every:
            print(f"== {name}", flush=True)
        runs[name] = train_xor(
            name,
            hidden=hidden,
            seed=seed,
            lr=lr,
            epochs=epochs,
            batch_size=batch_size,
            out_dir=out_dir,
            live=live,
            log_every=log_every,
            splits=splits,
        )
    if out_dir is not None:
        plot_xor_comparison(runs, splits, Path(out_dir) / "xor_all.png")
    return runs


def plot_xor_comparison(runs: dict[str, XorRun], splits, path: str | Path) -> Path:
    """One column per model: decision regions (validation points), loss curves, accuracy curves."""
    from deepclass.viz import draw_decision_regions, draw_history, new_figure, save_figure

    n = len(runs)
    fig, axes = new_figure(n, 3, size=(4.2 * n, 11))
    for j, run in enumerate(runs.values()):
        ax_regions, ax_loss, ax_acc = axes[j], axes[n + j], axes[2 * n + j]
        draw_decision_regions(
            ax_regions,
            lambda pts, m=run.model: predict_classes(m, pts),
            splits.val.images,
            splits.val.labels,
            title=f"{run.label}\nvalid acc {run.valid_acc:.2f}",
        )
        draw_history(ax_loss, run.history, ["train_loss", "valid_loss"], title="loss")
        draw_history(ax_acc, run.history, ["train_acc", "valid_acc"], title="accuracy")
        ax_acc.set_ylim(0, 1.02)
    return save_figure(fig, path)
