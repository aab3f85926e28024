"""Lightning overhead: the trainer of ``deepclass train`` vs the plain ``deepclass.nn.fit`` loop.

Same CIFAR-10 convnet (the ``cifar10-convnet`` preset's model), same data (the first
``batches x batch`` training images, batched crop + flip augmentation and
normalisation from the data layer's ``BatchIterator``), same optimizer
(the preset's SGD, constant lr), same batch size, one process, one after the
other. Each loop trains ``epochs`` epochs; an epoch's time runs from its
start to its last training batch (validation excluded on both sides); the
best epoch of each loop is compared (the first one includes warm-up).

The Lightning side is the real trainer: ``ClassifierModule`` with its
torchmetrics, the ``Trainer`` from ``deepclass.lightning.train.make_trainer``
with TensorBoard + CSV loggers, both checkpoint callbacks, the RNG and NaN
callbacks and the per-epoch report; only the progress display is off.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from deepclass.bench import BenchConfig, Table
from deepclass.data import Augment, BatchIterator
from deepclass.lightning.callbacks import _Throughput
from deepclass.lightning.config import config_from_dict
from deepclass.lightning.datamodules import CIFAR10DataModule, Normalize
from deepclass.lightning.presets import preset_options
from deepclass.lightning.runlogs import new_run_dir
from deepclass.lightning.train import build_module, build_net, make_trainer, quiet_lightning
from deepclass.nn.fit import fit
from deepclass.seed import seed_everything

# The "same CIFAR-10 convnet": the nn rung's three-layer convnet in fp32, a model both
# loops run as is (the main job's SpeedNet needs its whitening init and bf16 autocast).
PRESET = "cifar10-convnet"


class _EpochTimes(Callback):
    """Seconds from each training epoch's start to its last training batch."""

    def __init__(self) -> None:
        self.meter, self.times = _Throughput(), []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.meter.start_epoch()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.meter.batch_end(trainer, batch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.times.append(self.meter.last_batch_end - self.meter.epoch_start)


def _optimizer(opts: dict, params) -> torch.optim.Optimizer:
    if opts.get("optimizer", "adam") == "sgd":
        return torch.optim.SGD(
            params, lr=opts["lr"], momentum=opts.get("momentum", 0.9),
            nesterov=opts.get("nesterov", False), weight_decay=opts.get("weight_decay", 0.0),
        )  # fmt: skip
    return torch.optim.Adam(params, lr=opts["lr"], weight_decay=opts.get("weight_decay", 0.0))


def run(cfg: BenchConfig) -> list[Table]:
    quiet_lightning()
    opts = preset_options(PRESET)
    # the comparison is about the loop: constant lr, no EMA/TTA/compile on either side
    opts.update(
        scheduler="none", warmup_epochs=0.0, ema_decay=0.0, tta_flip=False, compile=False,
        label_smoothing=0.0, bias_lr_scale=1.0, bias_weight_decay=None, norm_weight_decay=None,
        precision="32-true", channels_last=False, accelerator="cpu" if cfg.device == "cpu" else "auto",
    )  # fmt: skip
    batch = int(opts.get("batch_size", 128))
    batches, epochs = (4, 2) if cfg.quick else (150, 3)
    dm = CIFAR10DataModule(
        data_dir=cfg.data_dir, batch_size=batch, train_samples=batches * batch,
        val_samples=batch, test_samples=batch, seed=cfg.seed, progress=False,
        crop_padding=opts.get("crop_padding", 4), flip=opts.get("flip", True),
        normalize=opts.get("normalize", True), data_device="cpu",
    )  # fmt: skip
    dm.setup()
    info = dm.info
    model = opts["model"]
    kwargs = dict(opts.get("model_kwargs") or {})

    # plain loop: nn.fit over a BatchIterator with the same augmentation and normalisation
    seed_everything(cfg.seed)
    net = build_net(model, info, kwargs, False).to(cfg.device)
    loader = BatchIterator.from_dataset(
        dm.splits.train, batch, shuffle=True, seed=cfg.seed,
        augment=Augment(opts.get("crop_padding", 4), opts.get("flip", True)),
        transform=Normalize(info.mean, info.std) if info.mean else None, device=cfg.device,
    )  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        hist = fit(net, nn.CrossEntropyLoss(), _optimizer(opts, net.parameters()), loader,
                   None, epochs, device=cfg.device, log_every=0)  # fmt: skip
    plain = hist["seconds"]

    # the Lightning trainer of `deepclass train`
    seed_everything(cfg.seed)
    net = build_net(model, info, kwargs, False)
    with tempfile.TemporaryDirectory(prefix="deepclass-bench-") as tmp:
        tcfg = config_from_dict({**opts, "epochs": epochs, "out": tmp, "progress": False,
                                 "test": False, "seed": cfg.seed})  # fmt: skip
        module = build_module(tcfg, net, info, model, False)
        timer = _EpochTimes()
        trainer = make_trainer(
            tcfg, new_run_dir(Path(tmp)), callbacks=[timer], stream=io.StringIO(),
            steps_per_epoch=batches,
        )  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):
            trainer.fit(module, datamodule=dm)
    light = timer.times

    n = batches * batch
    best_plain, best_light = min(plain), min(light)
    t = Table(
        f"one CIFAR-10 epoch of {n:,} images, model {model}, batch {batch}, {cfg.device} "
        f"(best of {epochs} epochs)",
        ["loop", "epoch time (s)", "mean epoch (s)", "images/s", "overhead vs plain"],
    )
    t.add("plain deepclass.nn.fit", round(best_plain, 3), round(sum(plain) / len(plain), 3),
          round(n / best_plain), "-")  # fmt: skip
    t.add("Lightning trainer (deepclass train)", round(best_light, 3),
          round(sum(light) / len(light), 3), round(n / best_light),
          f"{100 * (best_light - best_plain) / best_plain:+.1f}%")  # fmt: skip
    t.notes.append(
        "Lightning side: ClassifierModule (torchmetrics accuracy/loss), TensorBoard + CSV "
        "loggers, best and last checkpoints, RNG/NaN/epoch-report callbacks; progress display off"
    )
    t.notes.append(
        "same BatchIterator data path (crop 4 + flip + normalise), SGD from the preset "
        f"({PRESET}) with constant lr; validation excluded from both epoch times"
    )
    return [t]
