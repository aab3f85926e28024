"""The trainer's callbacks: progress, per-epoch report, RNG state, NaN guard, EMA.

- ``ThroughputProgressBar``: Lightning's ``RichProgressBar`` with images/s and
  the time left in the epoch and in the whole run.
- ``LineProgress``: the same numbers as plain lines every ``interval``
  seconds, for logs and pipes (a rich bar draws nothing useful there).
- ``EpochReport``: one line per epoch (losses, accuracies, images/s, time);
  flushes the loggers so a killed run keeps every finished epoch's metrics.
- ``RNGState``: saves Python/NumPy/torch RNG states in every checkpoint and
  restores them before the first batch after a resume.
- ``NonFiniteLossGuard``: stops at the first NaN/Inf loss, before the update.
- ``ema_callback``: Lightning's ``EMAWeightAveraging`` (validation, test and
  the saved ``state_dict`` use the averaged weights).
"""

from __future__ import annotations

import math
import sys
import time
from datetime import timedelta
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, RichProgressBar
from lightning.pytorch.utilities import rank_zero_only
from rich.progress import ProgressColumn
from rich.text import Text

from deepclass.errors import DeepclassError
from deepclass.seed import get_rng_state, set_rng_state


class NonFiniteLossError(DeepclassError):
    """The training loss became NaN or infinite; the run stopped."""


def _fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-:--:--"
    return str(timedelta(seconds=int(seconds)))


class _Throughput:
    """Images/s of the current epoch and the estimated time left in the run."""

    def __init__(self) -> None:
        self.run_start: float | None = None
        self.steps_at_start = 0
        self.epoch_start = 0.0
        self.last_batch_end = 0.0
        self.images = 0

    def start_run(self, trainer: L.Trainer) -> None:
        self.run_start = time.perf_counter()
        self.steps_at_start = trainer.global_step

    def start_epoch(self) -> None:
        self.epoch_start = self.last_batch_end = time.perf_counter()
        self.images = 0

    def batch_end(self, trainer: L.Trainer, batch: Any) -> None:
        y = batch[1] if isinstance(batch, (tuple, list)) else batch
        self.images += int(y.shape[0]) * trainer.world_size
        self.last_batch_end = time.perf_counter()

    def rate(self) -> float:
        dt = self.last_batch_end - self.epoch_start
        return self.images / dt if dt > 0 else 0.0

    def eta(self, trainer: L.Trainer) -> float | None:
        """Seconds left in the run, from the pace so far (validation included)."""
        if self.run_start is None:
            return None
        done = trainer.global_step - self.steps_at_start
        total = trainer.estimated_stepping_batches
        if done <= 0 or not math.isfinite(total):
            return None
        elapsed = time.perf_counter() - self.run_start
        return elapsed * (total - trainer.global_step) / done


class ImagesPerSecondColumn(ProgressColumn):
    """A rich column: batches/s of the task times its global batch size (train or eval)."""

    def __init__(self, train_batch: int, eval_batch: int, style: str = "grey70") -> None:
        self.train_batch, self.eval_batch, self.style = train_batch, eval_batch, style
        super().__init__()

    def render(self, task) -> Text:
        speed = task.speed
        if speed is None:
            return Text("", self.style)
        per_batch = self.train_batch if task.description.startswith("Epoch") else self.eval_batch
        return Text(f"{speed * per_batch:,.0f} img/s", self.style)


class ThroughputProgressBar(RichProgressBar):
    """``RichProgressBar`` showing images/s (per bar) and the run's time left (``eta``)."""

    def __init__(self, train_batch: int, eval_batch: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.train_batch, self.eval_batch = train_batch, eval_batch
        self.meter = _Throughput()

    def configure_columns(self, trainer: L.Trainer) -> list:
        cols = super().configure_columns(trainer)
        w = trainer.world_size  # replace the batches/s column with images/s
        return [*cols[:-1], ImagesPerSecondColumn(self.train_batch * w, self.eval_batch * w)]

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        self.meter.start_run(trainer)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self.meter.start_epoch()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.meter.batch_end(trainer, batch)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def get_metrics(self, trainer, pl_module) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        if "train_loss_step" in items:
            items = {"loss": items.pop("train_loss_step"), **items}
        if trainer.training:
            items["eta"] = _fmt_time(self.meter.eta(trainer))
        return items


class LineProgress(Callback):
    """Plain progress lines every ``interval`` seconds: batch, loss, images/s, time left."""

    def __init__(self, interval: float = 30.0, stream=None) -> None:
        self.interval, self.stream = interval, stream
        self.meter = _Throughput()
        self._last = 0.0

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_train_start(self, trainer, pl_module) -> None:
        self.meter.start_run(trainer)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.meter.start_epoch()
        self._last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.meter.batch_end(trainer, batch)
        now = time.perf_counter()
        if now - self._last < self.interval or not trainer.is_global_zero:
            return
        self._last = now
        loss = trainer.progress_bar_metrics.get("train_loss_step")
        self._print(
            f"  epoch {trainer.current_epoch + 1}/{trainer.max_epochs} "
            f"batch {batch_idx + 1}/{trainer.num_training_batches}"
            + (f" loss {float(loss):.4f}" if loss is not None else "")
            + f", {self.meter.rate():,.0f} img/s, run time left {_fmt_time(self.meter.eta(trainer))}"
        )


class EpochReport(Callback):
    """One line per epoch with the epoch's metrics; flushes the loggers.

    Reads the train metrics straight from the module's torchmetrics objects
    (their ``compute()`` is cached until the module resets them), because
    callbacks run before the module's own ``on_train_epoch_end``.
    """

    def __init__(self, stream=None) -> None:
        self.stream = stream
        self.meter = _Throughput()
        self.epoch_start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.meter.start_epoch()
        self.epoch_start = time.perf_counter()
        _flush_loggers(trainer)  # the previous epoch's train metrics, logged after validation

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.meter.batch_end(trainer, batch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        train_loss = float(pl_module.train_loss.compute())
        train_acc = float(pl_module.train_acc.compute())
        if not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        parts = [
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}",
            f"train_loss {train_loss:.4f}",
            f"train_acc {train_acc:.4f}",
        ]
        if "valid_acc" in m:
            parts += [
                f"valid_loss {float(m['valid_loss']):.4f}",
                f"valid_acc {float(m['valid_acc']):.4f}",
            ]
        parts.append(f"{self.meter.rate():,.0f} img/s")
        parts.append(f"{time.perf_counter() - self.epoch_start:.1f} s")
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            _flush_loggers(trainer)


@rank_zero_only
def _flush_loggers(trainer: L.Trainer) -> None:
    for logger in trainer.loggers:
        logger.save()


def _encode_rng(state: dict[str, Any]) -> dict[str, Any]:
    """RNG states as tensors and plain values, loadable with ``weights_only=True``."""
    version, internal, gauss = state["python"]
    name, keys, pos, has_gauss, cached = state["numpy"]
    out = {
        "python": [int(version), torch.tensor(internal, dtype=torch.int64), gauss],
        "numpy": [
            str(name),
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "torch": state["torch"],
    }
    if "cuda" in state:
        out["cuda"] = list(state["cuda"])
    return out


def _decode_rng(enc: dict[str, Any]) -> dict[str, Any]:
    version, internal, gauss = enc["python"]
    name, keys, pos, has_gauss, cached = enc["numpy"]
    state = {
        "python": (int(version), tuple(int(v) for v in internal.tolist()), gauss),
        "numpy": (name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)),
        "torch": enc["torch"],
    }
    if "cuda" in enc:
        state["cuda"] = enc["cuda"]
    return state


class RNGState(Callback):
    """Every random-number state the run uses, saved in each checkpoint, restored on resume.

    Saved at checkpoint time (the end of an epoch's validation); restored just
    before the first training batch after loading, so the resumed run draws
    the same dropout masks and noise as an uninterrupted one. The data order
    and augmentation are not drawn from these streams (see the data module).
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": _encode_rng(get_rng_state())}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = _decode_rng(state_dict["rng"])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending is not None:
            set_rng_state(self._pending)
            self._pending = None


class NonFiniteLossGuard(Callback):
    """Raise ``NonFiniteLossError`` at the first NaN/Inf loss, before its backward pass.

    The message names the step, epoch and batch and the best checkpoint so
    far, which is kept (the weights are never updated with the bad loss).
    Under DDP every process agrees on stopping, so none waits forever.
    """

    def __init__(self) -> None:
        self._batch_idx = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch_idx = batch_idx

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        if trainer.world_size > 1:
            finite = trainer.strategy.reduce_boolean_decision(finite, all=True)
        if finite:
            return
        ckpt = trainer.checkpoint_callback
        best = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
        value = loss.detach().float()
        shown = "nan" if torch.isnan(value).any() else "inf"
        raise NonFiniteLossError(
            f"training loss became {shown} at step {trainer.global_step + 1} "
            f"(epoch {trainer.current_epoch + 1}, batch {self._batch_idx + 1}); stopped before "
            "updating the weights. "
            + (f"Best checkpoint kept: {best}" if best else "No checkpoint had been saved yet")
            + " (try a lower --lr, or --grad-clip)"
        )


class EMA(EMAWeightAveraging):
    """``EMAWeightAveraging`` whose average lives on the training device (not the CPU copy)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self._device is None:
            self._device = trainer.strategy.root_device
        super().setup(trainer, pl_module, stage)


def ema_callback(decay: float, start_step: int = 0, every: int = 1) -> EMA:
    """EMA of the weights (and buffers), updated every ``every`` steps from ``start_step``."""
    return EMA(decay=decay, update_every_n_steps=every, update_starting_at_step=start_step)


class Lookahead(Callback):
    """airbench's EMA lookahead: every ``every`` steps pull the weights back to their EMA.

    At step ``t`` of ``T`` (a multiple of ``every``) the EMA moves towards the
    current weights, ``ema = decay * ema + (1 - decay) * w`` with
    ``decay = base ** every * (t / T) ** 3``, and the weights are reset to the
    EMA. The decay is ~0 early (plain training) and grows towards the end,
    where it averages away the noise of the last steps; at the last step the
    weights take the EMA. Batchnorm running statistics are averaged too. The
    EMA is saved in checkpoints, so a resumed run continues it exactly.
    """

    def __init__(self, base: float = 0.95, every: int = 5) -> None:
        if not 0.0 < base < 1.0 or every < 1:
            raise ValueError(f"Lookahead: base must be in (0, 1), every >= 1; got {base}, {every}")
        self.base, self.every = base, every
        self.ema: dict[str, torch.Tensor] | None = None

    def _float_state(self, pl_module) -> dict[str, torch.Tensor]:
        return {k: v for k, v in pl_module.state_dict().items() if v.is_floating_point()}

    def on_train_start(self, trainer, pl_module) -> None:
        if self.ema is None:
            self.ema = {k: v.detach().clone() for k, v in self._float_state(pl_module).items()}

    def _update(self, pl_module, decay: float) -> None:
        assert self.ema is not None
        with torch.no_grad():
            for k, w in self._float_state(pl_module).items():
                e = self.ema[k]
                e.lerp_(w.to(e.dtype), 1.0 - decay)
                w.copy_(e)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step, total = trainer.global_step, max(1, trainer.estimated_stepping_batches)
        if step % self.every == 0:
            self._update(pl_module, self.base**self.every * min(1.0, step / total) ** 3)
        if step == total:  # the last step: the weights become the EMA (before the last checkpoint)
            self._update(pl_module, 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.ema = state_dict.get("ema")
