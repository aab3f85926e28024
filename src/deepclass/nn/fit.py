"""The one training loop for ``nn`` models: ``fit`` (and ``evaluate``).

Used by the XOR experiment, the CIFAR-10 models and the Lightning rung's
plain-PyTorch comparison; nothing else in deepclass writes its own epoch loop
for an ``nn.Module``.

Each epoch: ``model.train()``, one optimizer step per batch of
``train_loader``, the running mean of the loss and accuracy over the epoch's
batches (seed 003's ``loss_hist_train`` / ``accuracy_hist_train``); then
``model.eval()`` and the loss and accuracy over ``valid_loader``. The history
can be watched while it grows: TensorBoard scalars (``log_dir``), a PNG of
the curves rewritten after each epoch (``plot_path``) and, where a display
exists, an updating matplotlib window (``live=True``).

Tasks, from the model's output:

- multiclass: scores ``(N, K)`` with ``K > 1``; targets ``(N,)`` class indices;
  accuracy from the argmax (``nn.CrossEntropyLoss`` and friends).
- binary: ``(N, 1)`` or ``(N,)`` (squeezed to ``(N,)``, as seed 003's
  ``model(x)[:, 0]``); targets 0/1 passed to the loss as floats; the
  prediction is ``p >= 0.5`` for probabilities (``nn.BCELoss`` after a
  sigmoid) and ``logit >= 0`` for logits (``nn.BCEWithLogitsLoss``).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from deepclass.checks import check_int, check_positive_int
from deepclass.errors import ConfigError

History = dict[str, list[float]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PANELS = {"loss": ["train_loss", "valid_loss"], "accuracy": ["train_acc", "valid_acc"]}
SCORES = ("auto", "probs", "logits")


def resolve_scores(loss_fn: LossFn, scores: str = "auto") -> str:
    """ "probs" or "logits": what a binary model's single output is.

    "auto": probabilities for ``nn.BCELoss`` (it needs them), logits for anything else.
    """
    if scores not in SCORES:
        raise ConfigError(f"scores must be one of {', '.join(SCORES)}, got {scores!r}")
    if scores == "auto":
        return "probs" if isinstance(loss_fn, nn.BCELoss) else "logits"
    return scores


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _batch(item, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(item, (list, tuple)) and len(item) == 2):
        raise ConfigError(f"{name} must yield (x, y) pairs, got {type(item).__name__}")
    x, y = item
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ConfigError(f"{name} must yield (x, y) tensors")
    return x, y


# losses that take class scores (N, K): a one-output (binary) model must not be paired with them
MULTICLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)
MULTICLASS_FUNCTIONS = (F.cross_entropy, F.nll_loss, F.multi_margin_loss)
# losses that take one output per example (N,)
BINARY_LOSSES = (nn.BCELoss, nn.BCEWithLogitsLoss)
BINARY_FUNCTIONS = (F.binary_cross_entropy, F.binary_cross_entropy_with_logits)


def _loss_name(loss_fn: LossFn) -> str:
    return getattr(loss_fn, "__name__", None) or type(loss_fn).__name__


def check_loss_fits(loss_fn: LossFn, out: torch.Tensor, model: nn.Module | None = None) -> None:
    """Raise ``ConfigError`` when ``loss_fn`` does not take what the model outputs.

    A one-output model (``(N, 1)`` or ``(N,)``: binary) with a multiclass loss
    (``nn.CrossEntropyLoss`` ...) would be squeezed and silently trained on nonsense;
    a K-class model with ``nn.BCELoss`` fails inside torch with a shape error.
    Losses deepclass does not know (any other callable) are the caller's business.
    """
    what = f"the model ({type(model).__name__})" if model is not None else "the model"
    binary_out = out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1)
    multiclass = isinstance(loss_fn, MULTICLASS_LOSSES) or loss_fn in MULTICLASS_FUNCTIONS
    binary = isinstance(loss_fn, BINARY_LOSSES) or loss_fn in BINARY_FUNCTIONS
    if binary_out and multiclass:
        raise ConfigError(
            f"loss_fn {_loss_name(loss_fn)} takes class scores (N, K) with K >= 2, but {what} "
            f"has one output {tuple(out.shape)}: for two classes use nn.BCEWithLogitsLoss "
            "(logits) or nn.BCELoss (after a sigmoid), or build the model with num_classes=K"
        )
    if not binary_out and binary:
        raise ConfigError(
            f"loss_fn {_loss_name(loss_fn)} takes one output per example, but {what} scores "
            f"{out.shape[1]} classes {tuple(out.shape)}: use nn.CrossEntropyLoss, or build the "
            "model with num_classes=1 for a binary task"
        )


def _check_batch(out: torch.Tensor, x: torch.Tensor, y: torch.Tensor, name: str) -> None:
    """First-batch checks: shapes and label range, so mistakes fail here and not deep in a loss."""
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ConfigError(
            f"{name} yielded labels of shape {tuple(y.shape)} for x of shape {tuple(x.shape)}; "
            f"expected ({x.shape[0]},)"
        )
    if out.shape[0] != x.shape[0] or out.ndim not in (1, 2):
        raise ConfigError(
            f"the model must map x {tuple(x.shape)} to scores (N, K) or (N,), "
            f"got {tuple(out.shape)}"
        )
    if out.ndim == 2 and out.shape[1] > 1:
        k = out.shape[1]
        if y.numel() and (
            y.min() < 0 or y.max() >= k or (y.is_floating_point() and (y != y.round()).any())
        ):
            raise ConfigError(
                f"{name} yielded labels in [{y.min().item()}, {y.max().item()}] "
                f"but the model scores {k} classes (labels must be integers in [0, {k}))"
            )
    elif y.numel() and not ((y == 0) | (y == 1)).all():
        raise ConfigError(
            f"the model has one output (a binary classifier) but {name} yielded labels other "
            "than 0 and 1; use num_classes=K for K classes"
        )


def _loss_and_correct(
    out: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, number correct)`` for one batch of model outputs ``out`` and labels ``y (N,)``."""
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim == 1:
        loss = loss_fn(out, y.to(out.dtype))
        correct = ((out >= threshold).long() == y.long()).sum()
    else:
        y = y.long()
        loss = loss_fn(out, y)
        correct = (out.argmax(dim=1) == y).sum()
    return loss, correct


def evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    loader: Iterable,
    *,
    device: str | torch.device | None = None,
    scores: str = "auto",
) -> tuple[float, float]:
    """``(mean loss, accuracy)`` of ``model`` over ``loader`` in eval mode without gradients.

    The loss is the per-sample mean over the whole loader (batch means
    weighted by batch size). The model's train/eval mode is restored after.
    """
    threshold = 0.5 if resolve_scores(loss_fn, scores) == "probs" else 0.0
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    try:
        with torch.no_grad():
            for i, item in enumerate(loader):
                x, y = _batch(item, "loader")
                x, y = x.to(device), y.to(device)
                out = model(x)
                if i == 0:
                    _check_batch(out, x, y, "loader")
                    check_loss_fits(loss_fn, out, model)
                loss, correct = _loss_and_correct(out, y, loss_fn, threshold)
                total_loss += loss.detach().double() * x.shape[0]
                total_correct += correct
                n += x.shape[0]
    finally:
        model.train(was_training)
    if n == 0:
        raise ConfigError("evaluate: the loader yielded no samples")
    return total_loss.item() / n, total_correct.item() / n


def has_display() -> bool:
    """True when matplotlib runs an interactive backend (a window can be opened)."""
    import matplotlib

    import deepclass.viz.figures  # noqa: F401  (picks Agg on headless machines)

    try:
        from matplotlib.backends import BackendFilter, backend_registry

        interactive = {b.lower() for b in backend_registry.list_builtin(BackendFilter.INTERACTIVE)}
    except ImportError:  # matplotlib < 3.9
        from matplotlib import rcsetup

        interactive = {b.lower() for b in rcsetup.interactive_bk}
    return matplotlib.get_backend().lower() in interactive


class LiveCurves:
    """A matplotlib window with the loss and accuracy curves, redrawn after each epoch."""

    def __init__(self, title: str = "") -> None:
        import matplotlib.pyplot as plt

        self.plt = plt
        plt.ion()
        self.fig, axes = plt.subplots(1, len(PANELS), figsize=(12, 4))
        self.axes = list(axes)
        self.title = title
        if title:
            self.fig.suptitle(title)

    def draw(self, history: History) -> None:
        """Redraw both panels from ``history`` (no event processing)."""
        from deepclass.viz import draw_history

        for ax, (name, keys) in zip(self.axes, PANELS.items(), strict=True):
            ax.clear()
            draw_history(ax, history, keys, title=name)

    def update(self, history: History) -> None:
        """Redraw and let the window process its events."""
        self.draw(history)
        self.fig.canvas.draw_idle()
        self.plt.pause(0.001)

    def close(self) -> None:
        """Leave interactive mode; the window stays until the caller closes it (``plt.show()``)."""
        self.plt.ioff()


def _finite(value: float, what: str, epoch: int, optimizer: torch.optim.Optimizer) -> None:
    if not math.isfinite(value):
        lr = optimizer.param_groups[0].get("lr")
        raise ConfigError(
            f"training diverged: the {what} became {value} in epoch {epoch}; "
            f"lower the learning rate (lr={lr})"
        )


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    train_loader: Iterable,
    valid_loader: Iterable | None = None,
    epochs: int = 1,
    *,
    device: str | torch.device | None = None,
    scores: str = "auto",
    scheduler=None,
    scheduler_interval: str = "epoch",
    log_dir: str | os.PathLike | None = None,
    plot_path: str | os.PathLike | None = None,
    refresh_seconds: float = 2.0,
    live: bool = False,
    log_every: int = 1,
    progress: bool = False,
    on_epoch_end: Callable[[int, History], bool | None] | None = None,
    on_step: Callable[[int, float], bool | None] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch history.

    model: any ``nn.Module`` mapping ``x`` to scores ``(N, K)`` or one binary
        output ``(N, 1)`` / ``(N,)`` (see the module docstring).
    loss_fn: ``loss_fn(outputs, targets)``, e.g. ``nn.CrossEntropyLoss()``,
        ``nn.BCELoss()`` (probabilities) or ``nn.BCEWithLogitsLoss()``.
    optimizer: over ``model.parameters()``; ``zero_grad``/``step`` per batch.
    train_loader, valid_loader: iterables of ``(x, y)`` batches (a
        ``DataLoader``, a ``BatchIterator``, a list); ``y (N,)`` labels.
        Batches are moved to ``device`` (default: the model's device).
        Without ``valid_loader`` the ``valid_*`` lists stay empty.
    scores: binary outputs are "probs" or "logits"; "auto" = probs for
        ``nn.BCELoss``, logits otherwise.
    scheduler: optional LR scheduler, stepped after every epoch
        (``scheduler_interval="epoch"``; ``ReduceLROnPlateau`` gets the valid
        loss, else the train loss) or after every batch ("step").
    log_dir: write TensorBoard scalars there (``loss/train``, ``loss/valid``,
        ``accuracy/train``, ``accuracy/valid``, ``lr``), flushed each epoch.
    plot_path: PNG of the loss and accuracy curves, rewritten after an epoch
        once ``refresh_seconds`` have passed since the last write (0: every
        epoch) and always at the end, also when training stops early.
    live: also show the curves in a matplotlib window updated every epoch;
        without a display this warns and carries on.
    log_every: print one line every N epochs (and the last); 0 is silent.
    progress: a tqdm bar over each epoch's batches.
    on_epoch_end: ``f(epoch, history)`` after each epoch (1-based); returning
        True stops training.
    on_step: ``f(step, loss)`` after each optimizer step (0-based over all
        epochs; the batch's loss as a float); returning True ends the epoch
        there (it still gets its history row) and stops training.

    Returns ``{"train_loss", "train_acc", "valid_loss", "valid_acc", "lr",
    "seconds"}``: one float per epoch run. Random draws happen only in the
    loaders and the model, so a seeded run is reproducible.
    """
    epochs = check_positive_int(epochs, "epochs")
    log_every = check_int(log_every, "log_every", 0)
    if scheduler_interval not in ("epoch", "step"):
        raise ConfigError(
            f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}"
        )
    if not callable(loss_fn):
        raise ConfigError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if refresh_seconds < 0:
        raise ConfigError(f"refresh_seconds must be >= 0, got {refresh_seconds!r}")
    threshold = 0.5 if resolve_scores(loss_fn, scores) == "probs" else 0.0
    device = torch.device(device) if device is not None else _model_device(model)

    history: History = {
        k: [] for k in ("train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "seconds")
    }
    writer = _summary_writer(log_dir) if log_dir is not None else None
    window = _open_window(model) if live else None
    last_plot, plotted = -math.inf, 0

    def refresh(force: bool) -> None:
        nonlocal last_plot, plotted
        if plot_path is None or plotted == len(history["train_loss"]):
            return
        if force or time.monotonic() - last_plot >= refresh_seconds:
            from deepclass.viz import plot_history

            plot_history(history, plot_path, panels=PANELS)
            last_plot, plotted = time.monotonic(), len(history["train_loss"])

    steps = [0]  # optimizer steps so far, shared with _train_epoch
    stop = [False]
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            lr = float(optimizer.param_groups[0].get("lr", float("nan")))
            train_loss, train_acc = _train_epoch(
                model, loss_fn, optimizer, train_loader, device, threshold,
                scheduler if scheduler_interval == "step" else None,
                check=epoch == 1,
                bar=f"epoch {epoch}/{epochs}" if progress else None,
                on_step=on_step, steps=steps, stop=stop,
            )  # fmt: skip
            _finite(train_loss, "training loss", epoch, optimizer)
            history["train_loss"].append(train_loss)
            history["train_acc"].append(train_acc)
            if valid_loader is not None:
                valid_loss, valid_acc = evaluate(
                    model, loss_fn, valid_loader, device=device, scores=scores
                )
                history["valid_loss"].append(valid_loss)
                history["valid_acc"].append(valid_acc)
            history["lr"].append(lr)
            history["seconds"].append(time.perf_counter() - start)
            if scheduler is not None and scheduler_interval == "epoch":
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(
                        history["valid_loss"][-1] if valid_loader is not None else train_loss
                    )
                else:
                    scheduler.step()

            if writer is not None:
                _write_scalars(writer, history, epoch)
            if log_every and (epoch % log_every == 0 or epoch == epochs):
                print(_epoch_line(history, epoch, epochs), flush=True)
            refresh(force=epoch == epochs)
            if window is not None:
                window.update(history)
            if on_epoch_end is not None and on_epoch_end(epoch, history):
                break
            if stop[0]:
                break
    finally:
        refresh(force=True)
        if writer is not None:
            writer.close()
        if window is not None:
            window.close()
    return history


def _train_epoch(
    model: nn.Module,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    loader: Iterable,
    device: torch.device,
    threshold: float,
    step_scheduler,
    *,
    check: bool,
    bar: str | None,
    on_step: Callable[[int, float], bool | None] | None = None,
    steps: list[int] | None = None,
    stop: list[bool] | None = None,
) -> tuple[float, float]:
    """One pass over ``loader``; returns the running-mean ``(loss, accuracy)`` over its samples.

    on_step(step, loss) after each update (``steps[0]`` counts them); a True return sets
    ``stop[0]`` and ends the pass."""
    model.train()
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    batches = loader
    if bar is not None:
        from tqdm.auto import tqdm

        batches = tqdm(loader, desc=bar, leave=False, total=_len_or_none(loader))
    for i, item in enumerate(batches):
        x, y = _batch(item, "train_loader")
        x, y = x.to(device), y.to(device)
        out = model(x)
        if check and i == 0:
            _check_batch(out, x, y, "train_loader")
            check_loss_fits(loss_fn, out, model)
        loss, correct = _loss_and_correct(out, y, loss_fn, threshold)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step_scheduler is not None:
            step_scheduler.step()
        total_loss += loss.detach().double() * x.shape[0]
        total_correct += correct
        n += x.shape[0]
        if on_step is not None:
            step = steps[0] if steps is not None else i
            if steps is not None:
                steps[0] += 1
            if on_step(step, loss.item()):
                if stop is not None:
                    stop[0] = True
                break
    if n == 0:
        raise ConfigError("train_loader yielded no batches")
    return total_loss.item() / n, total_correct.item() / n


def _len_or_none(loader: Iterable) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _epoch_line(history: History, epoch: int, epochs: int) -> str:
    width = len(str(epochs))
    line = (
        f"epoch {epoch:>{width}}/{epochs}  train loss {history['train_loss'][-1]:.4f} "
        f"acc {history['train_acc'][-1]:.4f}"
    )
    if history["valid_loss"]:
        line += f" | valid loss {history['valid_loss'][-1]:.4f} acc {history['valid_acc'][-1]:.4f}"
    return line + f" | {history['seconds'][-1]:.1f} s"


def _summary_writer(log_dir: str | os.PathLike):
    from torch.utils.tensorboard import SummaryWriter

    Path(log_dir).mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(log_dir))


def _write_scalars(writer, history: History, epoch: int) -> None:
    for key, tag in (
        ("train_loss", "loss/train"),
        ("valid_loss", "loss/valid"),
        ("train_acc", "accuracy/train"),
        ("valid_acc", "accuracy/valid"),
        ("lr", "lr"),
    ):
        if history[key]:
            writer.add_scalar(tag, history[key][-1], epoch)
    writer.flush()


def _open_window(model: nn.Module) -> LiveCurves | None:
    if not has_display():
        warnings.warn(
            "live=True: no display (matplotlib runs a non-interactive backend); "
            "watch the PNG curves or TensorBoard instead",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return LiveCurves(type(model).__name__)
