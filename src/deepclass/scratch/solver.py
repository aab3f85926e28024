"""The course's ``Solver``: minibatch training of a scratch model with an update rule.

Example::

    data = preprocess_cifar10(flatten=False)   # X_train, y_train, X_val, y_val, ...
    model = TwoLayerNet(hidden_dim=200)
    solver = Solver(model, data, update_rule="sgd_momentum",
                    optim_config={"learning_rate": 1e-2}, lr_decay=0.95,
                    num_epochs=10, batch_size=100, print_every=100)
    solver.train()
    solver.best_val_acc, solver.loss_history, solver.val_acc_history

The model needs ``params`` (name -> tensor) and ``loss(X, y=None)`` returning
scores without labels and ``(loss, grads)`` with them. Each parameter gets
its own optimizer config (the rule's state). After training, the model holds
the parameters with the best validation accuracy (``return_best_params``).

Log lines, exactly the course's::

    (Time 0.04 sec; Iteration 1 / 40000) loss: 2.302587
    (Epoch 0 / 100) train acc: 0.111000; val_acc: 0.104500
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from deepclass.checks import check_number, check_positive_int
from deepclass.errors import ConfigError
from deepclass.files import atomic_torch_save
from deepclass.metrics import accuracy
from deepclass.scratch.optim import UPDATE_RULES, check_config, get_update_rule

REQUIRED_KEYS = ("X_train", "y_train", "X_val", "y_val")


def _check_data(data: Any, model: Any) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"data must be a dict with keys {', '.join(REQUIRED_KEYS)}")
    for k in REQUIRED_KEYS:
        if k not in data:
            raise ConfigError(f"data is missing key {k!r} (needs {', '.join(REQUIRED_KEYS)})")
    num_classes = getattr(model, "num_classes", None)
    for split in ("train", "val"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise ConfigError(f"X_{split} and y_{split} must be torch tensors")
        if y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise ConfigError(
                f"y_{split} must have shape (N,) with N = X_{split}.shape[0] = {X.shape[0]}, "
                f"got {tuple(y.shape)}"
            )
        if y.dtype not in (torch.int64, torch.int32):  # what the layers' losses take
            raise ConfigError(f"y_{split} must be int64 or int32 labels, got {y.dtype}")
        if y.numel() == 0:
            raise ConfigError(f"X_{split} is empty")
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or (num_classes is not None and hi >= num_classes):
            raise ConfigError(
                f"y_{split} labels must be in [0, {num_classes}) for this model, "
                f"got range [{lo}, {hi}]"
            )


class Solver:
    """Trains a model on ``data`` (``X_train, y_train, X_val, y_val``) with SGD-style updates.

    kwargs (course defaults): ``update_rule='sgd'`` (a name in
    ``deepclass.scratch.optim`` or a function), ``optim_config={}`` (e.g.
    ``learning_rate``), ``lr_decay=1.0`` (learning rate *= lr_decay after each
    epoch), ``batch_size=100``, ``num_epochs=10``, ``num_train_samples=1000``
    and ``num_val_samples=None`` (examples used to check accuracy each epoch;
    None = all), ``checkpoint_name=None`` (write ``<name>_epoch_<e>.pkl`` after
    every epoch), ``print_every=10`` (iterations), ``print_acc_every=1``
    (epochs), ``verbose=True``, ``device='cpu'`` (minibatches are moved there).

    Attributes: ``loss_history`` (per iteration), ``train_acc_history`` and
    ``val_acc_history`` (per check: first iteration and every epoch end),
    ``best_val_acc``, ``best_params``, ``epoch``, and ``stop_reason`` (None, or why
    training ended early: a time limit or a non-finite loss).
    """

    def __init__(self, model: Any, data: dict[str, torch.Tensor], **kwargs: Any) -> None:
        if not hasattr(model, "params") or not hasattr(model, "loss"):
            raise ConfigError("model must have a params dict and a loss(X, y=None) method")
        _check_data(data, model)
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        self.update_rule = kwargs.pop("update_rule", "sgd")
        self.optim_config = kwargs.pop("optim_config", {})
        self.lr_decay = kwargs.pop("lr_decay", 1.0)
        self.batch_size = kwargs.pop("batch_size", 100)
        self.num_epochs = kwargs.pop("num_epochs", 10)
        self.num_train_samples = kwargs.pop("num_train_samples", 1000)
        self.num_val_samples = kwargs.pop("num_val_samples", None)
        self.device = kwargs.pop("device", "cpu")
        self.checkpoint_name = kwargs.pop("checkpoint_name", None)
        self.print_every = kwargs.pop("print_every", 10)
        self.print_acc_every = kwargs.pop("print_acc_every", 1)
        self.verbose = kwargs.pop("verbose", True)
        if kwargs:
            raise ConfigError(f"Solver: unrecognized arguments {', '.join(sorted(kwargs))}")

        self.update_rule = get_update_rule(self.update_rule)
        for name in ("batch_size", "num_epochs", "print_every", "print_acc_every"):
            setattr(self, name, check_positive_int(getattr(self, name), name, "Solver"))
        self.lr_decay = check_number(
            self.lr_decay, "lr_decay", low=0, low_open=True, model="Solver"
        )
        if not isinstance(self.optim_config, dict):
            raise ConfigError(f"Solver: optim_config must be a dict, got {self.optim_config!r}")
        rule_name = getattr(self.update_rule, "__name__", "")
        if UPDATE_RULES.get(rule_name) is self.update_rule:  # a rule of ours: its keys are known
            try:
                check_config(rule_name, self.optim_config)
            except ConfigError as e:
                raise ConfigError(f"Solver: optim_config: {e}") from None
        self._reset()

    def _reset(self) -> None:
        """Book-keeping: epoch, histories, best params, and one optimizer config per parameter."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params: dict[str, torch.Tensor] = {}
        self._best_running_stats: list[dict[str, torch.Tensor]] = []
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.stop_reason: str | None = None
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}

    def _step(self) -> bool:
        """One update on a random minibatch; False (and no update) if the loss is not finite."""
        return self.step()

    def step(self, batch_mask: torch.Tensor | None = None) -> bool:
        """One update on the training rows ``batch_mask`` (``(B,)`` int64; None: a random
        minibatch of ``batch_size``). Appends the loss to ``loss_history``; returns False
        (and applies no update) if the loss is not finite."""
        if batch_mask is None:
            batch_mask = torch.randperm(self.X_train.shape[0])[: self.batch_size]
        X_batch = self.X_train[batch_mask].to(self.device)
        y_batch = self.y_train[batch_mask].to(self.device)
        loss, grads = self.model.loss(X_batch, y_batch)
        loss = float(loss)
        self.loss_history.append(loss)
        if not math.isfinite(loss):
            return False
        for p, w in self.model.params.items():
            next_w, next_config = self.update_rule(w, grads[p], self.optim_configs[p])
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config
        return True

    def _save_checkpoint(self) -> Path | None:
        if self.checkpoint_name is None:
            return None
        ckpt = self.model.checkpoint() if hasattr(self.model, "checkpoint") else {}
        ckpt["solver"] = {
            "update_rule": getattr(self.update_rule, "__name__", str(self.update_rule)),
            "lr_decay": self.lr_decay,
            "optim_config": {k: v for k, v in self.optim_config.items() if not torch.is_tensor(v)},
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        path = Path(f"{self.checkpoint_name}_epoch_{self.epoch}.pkl")
        atomic_torch_save(ckpt, path)
        if self.verbose:
            print(f'Saving checkpoint to "{path}"')
        return path

    def check_accuracy(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        num_samples: int | None = None,
        batch_size: int = 100,
    ) -> float:
        """Accuracy of the model on ``X (N, ...)``, ``y (N,)``, in test mode, in minibatches.

        num_samples: evaluate on a random subset of this many examples (None = all).
        """
        N = X.shape[0]
        if num_samples is not None and num_samples < N:
            mask = torch.randperm(N)[:num_samples]
            X, y = X[mask], y[mask]
            N = num_samples
        preds = []
        for start in range(0, N, batch_size):
            scores = self.model.loss(X[start : start + batch_size].to(self.device))
            preds.append(scores.argmax(dim=1).cpu())
        return accuracy(torch.cat(preds), y.cpu())

    def _log(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def train(
        self,
        time_limit: float | None = None,
        return_best_params: bool = True,
        *,
        callback: Callable[[int, Solver], bool | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Run ``num_epochs`` epochs of ``N / batch_size`` iterations each.

        time_limit: seconds; training stops before an iteration that would
        exceed it. clock: the seconds it is measured in (default ``time.time``;
        a clock that is paused while a caller evaluates keeps that time out).
        callback(t, solver): after iteration t (0-based) and its accuracy
        check; returning True ends training there (``stop_reason`` says so). A non-finite loss stops training (no update is applied with
        it). Accuracy is checked on the first and last iterations and at each
        epoch end; with return_best_params the model ends with the best
        validation parameters seen.
        """
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        prev_time = start_time = clock()

        for t in range(num_iterations):
            cur_time = clock()
            if time_limit is not None and t > 0:
                next_time = cur_time - prev_time
                if cur_time - start_time + next_time > time_limit:
                    self._log(
                        f"(Time {cur_time - start_time:.2f} sec; Iteration {t} / {num_iterations}) "
                        f"loss: {self.loss_history[-1]:f}"
                    )
                    self._log("End of training; next iteration will exceed the time limit.")
                    self.stop_reason = f"time limit of {time_limit} s"
                    break
            prev_time = cur_time

            finite = self._step()
            if not finite:
                self.stop_reason = (
                    f"loss is {self.loss_history[-1]} at iteration {t + 1}: training diverged "
                    f"(lower the learning rate); keeping the best parameters so far"
                )
                print(f"(Iteration {t + 1} / {num_iterations}) Stopping: {self.stop_reason}.")
                break

            if self.verbose and t % self.print_every == 0:
                self._log(
                    f"(Time {clock() - start_time:.2f} sec; Iteration {t + 1} / "
                    f"{num_iterations}) loss: {self.loss_history[-1]:f}"
                )

            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                for config in self.optim_configs.values():
                    if "learning_rate" in config:
                        config["learning_rate"] *= self.lr_decay

            if t == 0 or t == num_iterations - 1 or epoch_end:
                self._check_and_keep_best()
            if callback is not None and callback(t, self):
                self.stop_reason = f"the callback stopped training after iteration {t + 1}"
                break

        if not self.best_params:  # stopped before the first check: the current params are finite
            self.best_params = {k: v.clone() for k, v in self.model.params.items()}
            self._best_running_stats = self._running_stats()
        if return_best_params:
            self.model.params = {k: v.clone() for k, v in self.best_params.items()}
            for bn, stats in zip(
                getattr(self.model, "bn_params", []), self._best_running_stats, strict=False
            ):
                bn.update(stats)

    def _check_and_keep_best(self) -> None:
        train_acc = self.check_accuracy(
            self.X_train, self.y_train, num_samples=self.num_train_samples
        )
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self._save_checkpoint()
        if self.epoch % self.print_acc_every == 0:
            self._log(
                f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
                f"val_acc: {val_acc:f}"
            )
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = max(val_acc, self.best_val_acc)
            self.best_params = {k: v.clone() for k, v in self.model.params.items()}
            self._best_running_stats = self._running_stats()

    def _running_stats(self) -> list[dict[str, torch.Tensor]]:
        """Copies of the batchnorm running statistics: they belong with the best params."""
        return [
            {k: v.clone() for k, v in bn.items() if k.startswith("running_")}
            for bn in getattr(self.model, "bn_params", [])
        ]
