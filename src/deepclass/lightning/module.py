"""``ClassifierModule``: any ``nn.Module`` classifier as a ``LightningModule``.

The module says what one step is; the ``Trainer`` owns the loop, devices,
precision, checkpoints and logging. Metrics are torchmetrics objects updated
every step and computed once at the end of each epoch (so they are exact over
the epoch and synchronised across DDP processes): ``train_loss``,
``train_acc``, ``valid_loss``, ``valid_acc``, ``test_loss``, ``test_acc``.

Recipe hooks (all plain constructor arguments, set from ``TrainConfig``):
optimizer by name (SGD with momentum/Nesterov, Adam, AdamW, and Muon for the
convolution filters with SGD for the rest: ``deepclass.lightning.muon``), per-step
schedule by name (none, cosine, linear, one-cycle; with linear warm-up),
separate lr scale / weight decay for biases and norm parameters (or the
wrapped model's own ``optimizer_param_groups``), label smoothing,
flip test-time augmentation, channels_last and ``torch.compile``. EMA weights
are Lightning's ``EMAWeightAveraging`` callback (see ``callbacks.ema_callback``).

Inputs: images ``(N, C, H, W)`` float (already normalised by the data
module) or features ``(N, D)``. The wrapped model returns logits ``(N, K)``,
or ``(N, 1)`` for a binary task (``binary=True``: sigmoid + BCE).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryConfusionMatrix,
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
)

from deepclass.errors import ConfigError
from deepclass.lightning.config import OPTIMIZERS, SCHEDULERS
from deepclass.lightning.muon import Muon, muon_param_groups

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


# airbench94_muon's settings of the filters' Muon (the defaults of muon_lr / muon_momentum)
MUON_LR, MUON_MOMENTUM = 0.24, 0.6


def _or(v: float | None, default: float) -> float:
    return default if v is None else float(v)


def _floats(v: Sequence[float] | None) -> list[float] | None:
    return None if v is None else [float(x) for x in np.asarray(v, dtype=float).ravel()]


def tta_logits(
    net: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    flip: bool = False,
    translate: bool = False,
) -> torch.Tensor:
    """Test-time augmented logits of ``net`` for a batch ``x``.

    x: images ``(N, C, H, W)`` (other shapes: plain ``net(x)``).
    flip: average the logits of each image and its mirror.
    translate: also average (with weight 1/2) over the image shifted by one
        pixel up-left and down-right (reflect padding), airbench's level-2 TTA;
        with ``flip`` that is 6 forward passes per image.
    """
    if x.ndim != 4 or not (flip or translate):
        return net(x)

    def views(z: torch.Tensor) -> torch.Tensor:
        out = net(z)
        return (out + net(z.flip(3))) / 2 if flip else out

    logits = views(x)
    if translate:
        h, w = x.shape[2:]
        p = F.pad(x, (1, 1, 1, 1), mode="reflect")
        shifted = (views(p[:, :, :h, :w]) + views(p[:, :, 2:, 2:])) / 2
        logits = (logits + shifted) / 2
    return logits


class LRSchedule:
    """lr multiplier per optimizer step: linear warm-up, then constant, cosine or linear decay.

    A callable object rather than a closure, so ``LambdaLR.state_dict`` saves
    its settings as plain values (checkpoints stay loadable with
    ``weights_only=True``).
    """

    def __init__(self, kind: str, total_steps: int, warmup_steps: int, final_ratio: float) -> None:
        self.kind, self.total_steps = kind, max(1, int(total_steps))
        self.warmup_steps, self.final_ratio = int(warmup_steps), float(final_ratio)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "none":
            return 1.0
        t = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        if self.kind == "cosine":
            return self.final_ratio + (1 - self.final_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        return 1.0 - (1.0 - self.final_ratio) * t  # linear


def split_param_groups(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    bias_lr_scale: float = 1.0,
    bias_weight_decay: float | None = None,
    norm_weight_decay: float | None = None,
) -> list[dict[str, Any]]:
    """Optimizer parameter groups: weights, biases, norm-layer parameters.

    Biases get ``lr * bias_lr_scale`` and ``bias_weight_decay``; parameters of
    batch/group/layer-norm layers get ``norm_weight_decay`` (None = the
    ``weight_decay``). Groups with identical settings are merged; empty ones
    dropped. A model that defines ``optimizer_param_groups(lr=, weight_decay=)``
    decides for itself (the hook for recipes with their own scaling).
    """
    hook = getattr(model, "optimizer_param_groups", None)
    if callable(hook):
        return list(hook(lr=lr, weight_decay=weight_decay))
    norm_ids = {
        id(p) for m in model.modules() if isinstance(m, _NORM_TYPES) for p in m.parameters(False)
    }
    bias_wd = weight_decay if bias_weight_decay is None else bias_weight_decay
    norm_wd = weight_decay if norm_weight_decay is None else norm_weight_decay
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in norm_ids:
            key = (lr * (bias_lr_scale if name.endswith("bias") else 1.0), norm_wd)
        elif name.endswith("bias"):
            key = (lr * bias_lr_scale, bias_wd)
        else:
            key = (lr, weight_decay)
        groups.setdefault(key, []).append(p)
    return [{"params": ps, "lr": g_lr, "weight_decay": wd} for (g_lr, wd), ps in groups.items()]


class ClassifierModule(L.LightningModule):
    """Train, validate and test any classifier ``net`` producing logits.

    net: the model, ``(N, *input_shape) -> (N, K)`` logits, or ``(N, 1)`` if binary.
    num_classes: K, the number of classes (2 for a binary task).
    model, model_kwargs: its registry name and arguments (saved in the
        checkpoint, so ``evaluate``/``predict``/``export`` can rebuild it).
    input_shape, classes, dataset, normalize_mean, normalize_std: what the
        model was trained on; inference applies the same normalisation.
    image_size: ``(H, W)`` a user's folder was resized to (None otherwise).
    The remaining arguments are the ``TrainConfig`` options of the same names.
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        num_classes: int,
        binary: bool = False,
        model: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        input_shape: Sequence[int] = (),
        classes: Sequence[str] | None = None,
        dataset: str | None = None,
        normalize_mean: Sequence[float] | None = None,
        normalize_std: Sequence[float] | None = None,
        optimizer: str = "adam",
        lr: float = 1e-3,
        momentum: float = 0.9,
        nesterov: bool = False,
        muon_lr: float | None = None,
        muon_momentum: float | None = None,
        betas: Sequence[float] = (0.9, 0.999),
        weight_decay: float = 0.0,
        bias_lr_scale: float = 1.0,
        bias_weight_decay: float | None = None,
        norm_weight_decay: float | None = None,
        scheduler: str = "none",
        warmup_epochs: float = 0.0,
        warmup_fraction: float | None = None,
        final_lr_ratio: float = 0.0,
        label_smoothing: float = 0.0,
        tta_flip: bool = False,
        tta_translate: bool = False,
        val_tta: bool = True,
        channels_last: bool = False,
        compile: bool = False,
        image_size: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler {scheduler!r}; valid: {', '.join(SCHEDULERS)}")
        if binary and num_classes != 2:
            raise ConfigError(f"binary=True needs num_classes=2, got {num_classes}")
        if num_classes < 2:
            raise ConfigError(f"num_classes must be >= 2, got {num_classes}")
        # plain values only: the checkpoint must load with weights_only=True
        self.save_hyperparameters(
            {
                "model": model,
                "model_kwargs": dict(model_kwargs or {}),
                "num_classes": int(num_classes),
                "binary": bool(binary),
                "input_shape": [int(s) for s in input_shape],
                "classes": [str(c) for c in classes]
                if classes is not None
                else [str(k) for k in range(num_classes)],
                "dataset": dataset,
                "normalize_mean": _floats(normalize_mean),
                "normalize_std": _floats(normalize_std),
                "optimizer": optimizer,
                "lr": float(lr),
                "momentum": float(momentum),
                "nesterov": bool(nesterov),
                "muon_lr": None if muon_lr is None else float(muon_lr),
                "muon_momentum": None if muon_momentum is None else float(muon_momentum),
                "betas": [float(b) for b in betas],
                "weight_decay": float(weight_decay),
                "bias_lr_scale": float(bias_lr_scale),
                "bias_weight_decay": bias_weight_decay,
                "norm_weight_decay": norm_weight_decay,
                "scheduler": scheduler,
                "warmup_epochs": float(warmup_epochs),
                "warmup_fraction": None if warmup_fraction is None else float(warmup_fraction),
                "final_lr_ratio": float(final_lr_ratio),
                "label_smoothing": float(label_smoothing),
                "tta_flip": bool(tta_flip),
                "tta_translate": bool(tta_translate),
                "val_tta": bool(val_tta),
                "channels_last": bool(channels_last),
                "compile": bool(compile),
                # a user folder's (H, W): predict/evaluate resize new images to it
                "image_size": None if image_size is None else [int(v) for v in image_size],
            }
        )
        self.net = net
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.binary = binary
        acc, cm = (
            (BinaryAccuracy, BinaryConfusionMatrix)
            if binary
            else (
                lambda: MulticlassAccuracy(num_classes, average="micro"),
                lambda: MulticlassConfusionMatrix(num_classes),
            )
        )
        self.train_acc, self.valid_acc, self.test_acc = acc(), acc(), acc()
        self.train_loss, self.valid_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.test_confusion = cm()
        self.confusion: np.ndarray | None = None  # (K, K) after a test epoch

    # ------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` (or ``(N, 1)`` binary) for inputs ``x (N, ...)``."""
        if self.hparams.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def eval_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at evaluation, with the test-time augmentation of ``tta_logits``."""
        hp = self.hparams
        return tta_logits(self, x, flip=hp.tta_flip, translate=hp.get("tta_translate", False))

    def loss(self, logits: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
        """Mean cross-entropy (BCE for binary) of ``logits`` against int labels ``y (N,)``."""
        if self.binary:
            target = y.to(logits.dtype)
            if smoothing:
                target = target * (1 - smoothing) + 0.5 * smoothing
            return F.binary_cross_entropy_with_logits(logits.reshape(-1), target)
        return F.cross_entropy(logits, y, label_smoothing=smoothing)

    def metric_input(self, logits: torch.Tensor) -> torch.Tensor:
        """What the accuracy metrics take: class indices, or P(class 1) if binary."""
        if self.binary:
            return torch.sigmoid(logits.reshape(-1).float())
        return logits.argmax(dim=1)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(N, K)`` from logits (binary: ``[1 - p, p]``)."""
        if self.binary:
            p = torch.sigmoid(logits.reshape(-1).float())
            return torch.stack([1 - p, p], dim=1)
        return torch.softmax(logits.float(), dim=1)

    def _check_logits(self, logits: torch.Tensor) -> None:
        want = 1 if self.binary else self.hparams.num_classes
        if logits.ndim != 2 or logits.shape[1] != want:
            raise ConfigError(
                f"model {self.hparams.model or type(self.net).__name__} returned shape "
                f"{tuple(logits.shape)}; expected (N, {want}) logits"
            )

    # ------------------------------------------------------------- steps
    def on_fit_start(self) -> None:
        # Compiled here, after callbacks (EMA) have copied the eager module.
        if self.hparams.compile and not getattr(self, "_compiled", False):
            self.net.compile()
            self._compiled = True

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch
        logits = self(x)
        if batch_idx == 0:
            self._check_logits(logits)
        loss = self.loss(logits, y, self.hparams.label_smoothing)
        self.train_loss.update(loss.detach(), weight=y.shape[0])
        self.train_acc.update(self.metric_input(logits.detach()), y)
        self.log("train_loss_step", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def on_train_epoch_end(self) -> None:
        loss, acc = self.train_loss.compute(), self.train_acc.compute()
        self.log_dict({"train_loss": loss, "train_acc": acc}, sync_dist=False)
        self.train_loss.reset()
        self.train_acc.reset()

    def _eval_step(
        self, batch, loss_metric: MeanMetric, acc_metric, tta: bool = True
    ) -> torch.Tensor:
        x, y = batch
        logits = self.eval_logits(x) if tta else self(x)
        loss = self.loss(logits, y)
        loss_metric.update(loss, weight=y.shape[0])
        acc_metric.update(self.metric_input(logits), y)
        return logits

    def validation_step(self, batch, batch_idx: int) -> None:
        # the speed presets test the last weights, so their per-epoch validation is only a
        # progress report: one view instead of the 6 of the TTA saves ~5% of the run
        self._eval_step(batch, self.valid_loss, self.valid_acc, self.hparams.get("val_tta", True))

    def on_validation_epoch_end(self) -> None:
        loss, acc = self.valid_loss.compute(), self.valid_acc.compute()
        self.log("valid_loss", loss, sync_dist=False)
        self.log("valid_acc", acc, prog_bar=True, sync_dist=False)
        self.valid_loss.reset()
        self.valid_acc.reset()

    def test_step(self, batch, batch_idx: int) -> None:
        logits = self._eval_step(batch, self.test_loss, self.test_acc)
        self.test_confusion.update(self.metric_input(logits), batch[1])

    def on_test_epoch_end(self) -> None:
        self.log("test_loss", self.test_loss.compute(), sync_dist=False)
        self.log("test_acc", self.test_acc.compute(), sync_dist=False)
        self.confusion = self.test_confusion.compute().cpu().numpy().astype(np.int64)
        for m in (self.test_loss, self.test_acc, self.test_confusion):
            m.reset()

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.probabilities(self.eval_logits(x))

    # ------------------------------------------------------- optimisation
    def param_groups(self) -> list[dict[str, Any]]:
        """The optimizer's parameter groups (see ``split_param_groups``)."""
        hp = self.hparams
        groups = split_param_groups(
            self.net,
            lr=hp.lr,
            weight_decay=hp.weight_decay,
            bias_lr_scale=hp.bias_lr_scale,
            bias_weight_decay=hp.bias_weight_decay,
            norm_weight_decay=hp.norm_weight_decay,
        )
        if hp.optimizer != "muon":
            return groups
        # the convolution filters leave their SGD groups for one Muon group
        return muon_param_groups(self.net, groups, lr=_or(hp.get("muon_lr"), MUON_LR),
                                 momentum=_or(hp.get("muon_momentum"), MUON_MOMENTUM))  # fmt: skip

    def make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        hp = self.hparams
        if hp.optimizer == "muon":
            return Muon(groups, lr=hp.lr, momentum=hp.momentum, nesterov=hp.nesterov)
        if hp.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=hp.lr, momentum=hp.momentum, nesterov=hp.nesterov)
        cls = torch.optim.Adam if hp.optimizer == "adam" else torch.optim.AdamW
        return cls(groups, lr=hp.lr, betas=tuple(hp.betas))

    def make_scheduler(self, opt: torch.optim.Optimizer, total_steps: int, epochs: int):
        """The per-step lr scheduler for ``total_steps`` optimizer steps over ``epochs``."""
        hp = self.hparams
        if hp.get("warmup_fraction") is not None:
            warmup = round(hp.warmup_fraction * total_steps)
        else:
            warmup = round(hp.warmup_epochs * total_steps / max(1, epochs))
        if hp.scheduler == "onecycle":
            return torch.optim.lr_scheduler.OneCycleLR(
                opt,
                max_lr=[g["lr"] for g in opt.param_groups],
                total_steps=total_steps,
                pct_start=warmup / total_steps if warmup else 0.3,
                cycle_momentum=hp.optimizer != "sgd" or hp.momentum > 0,
            )
        if hp.scheduler == "none" and warmup == 0:
            return None
        schedule = LRSchedule(hp.scheduler, total_steps, warmup, hp.final_lr_ratio)
        return torch.optim.lr_scheduler.LambdaLR(opt, schedule)

    def configure_optimizers(self):
        opt = self.make_optimizer(self.param_groups())
        total = int(self.trainer.estimated_stepping_batches)
        sched = self.make_scheduler(opt, total, int(self.trainer.max_epochs or 1))
        if sched is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # ---------------------------------------------------------- inference
    def inference_model(self) -> nn.Module:
        """``[0, 1]`` images (or raw features) -> logits: the net with its input normalisation."""
        hp = self.hparams
        return InferenceModel(
            self.net,
            hp.normalize_mean,
            hp.normalize_std,
            hp.tta_flip,
            hp.get("tta_translate", False),
        ).eval()


class InferenceModel(nn.Module):
    """Normalise with the training statistics, run ``net``, optionally average with the mirror image.

    What ``evaluate``, ``predict`` and ``export`` run. x: images
    ``(N, C, H, W)`` in [0, 1] or features ``(N, D)``. Returns logits.
    """

    def __init__(
        self,
        net: nn.Module,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
        tta_flip: bool = False,
        tta_translate: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.normalize = mean is not None
        self.tta_flip, self.tta_translate = tta_flip, tta_translate
        if self.normalize:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = (x - self.mean) / self.std
        return tta_logits(self.net, x, flip=self.tta_flip, translate=self.tta_translate)
