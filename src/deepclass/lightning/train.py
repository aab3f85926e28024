"""``train(cfg)``: one training run of the production trainer, end to end.

Data module -> model from the ``nn`` registry -> ``ClassifierModule`` ->
``Trainer`` with TensorBoard + CSV loggers, top-1 ``valid_acc`` checkpoint
plus ``last.ckpt``, RNG-state saving, a NaN guard, optional EMA, progress;
then the best checkpoint on the test split, PNG curves and a confusion matrix
beside the logs, and a closing summary.

Resume (``cfg.resume``: "last" or a checkpoint path) continues the run in its
own ``version_N`` directory. From an epoch-end checkpoint the resumed run
equals an uninterrupted one: Lightning restores the weights, optimizer,
scheduler, loop counters and callback states (EMA, best-checkpoint
tracking), ``RNGState`` restores the random streams, and the data module
replays epoch e's order and augmentation from (seed, e).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from deepclass.data import normalize, to_tensor
from deepclass.errors import ConfigError
from deepclass.files import atomic_open
from deepclass.lightning.callbacks import (
    EpochReport,
    LineProgress,
    Lookahead,
    NonFiniteLossError,
    NonFiniteLossGuard,
    RNGState,
    ThroughputProgressBar,
    ema_callback,
)
from deepclass.lightning.checkpoints import (
    AtomicCheckpointIO,
    check_compatible,
    find_last_checkpoint,
    load_checkpoint,
    remove_stale_temporaries,
    run_dir_of,
    safe_load,
)
from deepclass.lightning.config import TrainConfig
from deepclass.lightning.datamodules import ArrayDataModule, DataInfo, build_datamodule
from deepclass.lightning.module import ClassifierModule
from deepclass.lightning.runlogs import (
    RUN_DIR_ENV,
    make_loggers,
    new_run_dir,
    next_version,
    read_history,
    write_confusion,
    write_curves,
)
from deepclass.registry import build_model, check_model_kwargs, get_model
from deepclass.seed import seed_everything


class _DropTips(logging.Filter):
    """Drop Lightning's advertising line ("Tip: ... litlogger") from the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def quiet_lightning() -> None:
    """Keep Lightning's console output to what a user of ``deepclass train`` needs."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        log = logging.getLogger(name)  # the loggers rank_zero_info writes to
        if not any(isinstance(f, _DropTips) for f in log.filters):
            log.addFilter(_DropTips())
    # torch 2.13 deprecates an isinstance check Lightning still makes on every batch
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # a resumed run continues in its own checkpoint directory on purpose
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # epoch metrics are torchmetrics objects, already synchronised across processes
    warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed.*")


# The model a run gets when neither a preset nor the user names one.
DEFAULT_MODELS = {"mnist": "mlp", "xor": "mlp"}
DEFAULT_IMAGE_MODEL = "three_layer_convnet"
DEFAULT_FEATURE_MODEL = "mlp"

CHECKPOINT_FILENAME = "best-epoch{epoch:02d}-valid_acc{valid_acc:.4f}"


@dataclass
class TrainResult:
    """What a run produced. Metrics are None where the stage did not run."""

    run_dir: Path
    config: TrainConfig
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    best_valid_acc: float | None
    best_epoch: int | None  # 1-based
    test_acc: float | None
    test_loss: float | None
    wall_time: float  # seconds, the whole run (data, fit, test, plots)
    fit_time: float  # seconds in trainer.fit
    history: dict[str, list[float]] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    is_global_zero: bool = True
    plots: list[Path] = field(default_factory=list)

    @property
    def tested_valid_acc(self) -> float | None:
        """valid acc of the weights the test used: the best epoch's, or with
        ``test_ckpt="last"`` the last epoch's."""
        if self.config.test_ckpt == "last":
            accs = [a for a in self.history.get("valid_acc", []) if a == a]  # drop NaN rows
            if accs:
                return float(accs[-1])
        return self.best_valid_acc


def default_model(info: DataInfo) -> str:
    """The ``nn`` model a data set gets when the config names none."""
    if info.name in DEFAULT_MODELS:
        return DEFAULT_MODELS[info.name]
    return DEFAULT_IMAGE_MODEL if info.is_image else DEFAULT_FEATURE_MODEL


def build_net(
    model: str, info: DataInfo | dict[str, Any], model_kwargs: dict[str, Any], binary: bool
) -> nn.Module:
    """``build_model("nn", model, input_shape=..., num_classes=K or 1, **model_kwargs)``."""
    if isinstance(info, dict):
        shape, k = tuple(info["input_shape"]), int(info["num_classes"])
    else:
        shape, k = tuple(info.input_shape), info.num_classes
    try:
        return build_model(
            "nn", model, input_shape=shape, num_classes=1 if binary else k, **model_kwargs
        )
    except TypeError as e:
        raise ConfigError(f"model {model!r} with model_kwargs {model_kwargs}: {e}") from e


def init_from_data(net: nn.Module, dm: ArrayDataModule, n: int = 5000) -> bool:
    """Show a net that initialises from data its first ``n`` training images.

    A net with an ``init_from_data(images)`` method (``SpeedNet``'s whitening
    layer) gets ``images (n, C, H, W)``, float32, normalised as the training
    batches are. Returns whether the net had the hook. Not called on resume:
    the checkpoint holds the initialised weights.
    """
    hook = getattr(net, "init_from_data", None)
    info, splits = dm.info, dm.splits
    if not callable(hook) or info is None or splits is None or not info.is_image:
        return False
    x = to_tensor(splits.train.images[:n])
    if info.mean is not None:
        x = normalize(x, info.mean, info.std)
    hook(x)
    return True


def check_devices(cfg: TrainConfig) -> None:
    """``--devices`` / ``--accelerator`` against this machine; a clear error before any work."""
    accel = cfg.accelerator
    if accel in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--accelerator {accel}: no CUDA GPU is available on this machine")
    if accel == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--accelerator mps: MPS is not available on this machine")
    if cfg.devices == "auto":
        return
    on_gpu = accel in ("gpu", "cuda") or (accel == "auto" and torch.cuda.is_available())
    if on_gpu:
        have = torch.cuda.device_count()
        if cfg.devices > have:
            raise ConfigError(f"--devices {cfg.devices}: only {have} GPU(s) available")
    elif accel in ("cpu", "auto"):
        have = os.cpu_count() or 1
        if cfg.devices > have:
            raise ConfigError(
                f"--devices {cfg.devices}: only {have} CPU cores available "
                "(a CPU run uses one process per device)"
            )


def resolve_resume(cfg: TrainConfig) -> Path | None:
    """The checkpoint to resume from: ``cfg.resume`` as a path, or "last" in ``cfg.out``."""
    if cfg.resume is None:
        return None
    if cfg.resume == "last":
        return find_last_checkpoint(cfg.out)
    return Path(cfg.resume)


def _resolve_run_dir(cfg: TrainConfig, resume_path: Path | None) -> Path:
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited:  # a DDP child process re-running the command: join the parent's run
        return Path(inherited)
    if resume_path is not None and (d := run_dir_of(resume_path)) is not None:
        return d
    if rank_zero_only.rank != 0:
        # launched by torchrun/SLURM: only rank 0 writes (and broadcasts its checkpoint
        # directory); set DEEPCLASS_RUN_DIR on every rank to pin the directory explicitly
        return Path(cfg.out) / f"version_{next_version(cfg.out)}"
    return new_run_dir(cfg.out)


def make_trainer(
    cfg: TrainConfig,
    run_dir: Path,
    *,
    resume_epoch: int | None = None,
    resume_step: int | None = None,
    callbacks: Sequence[Callback] = (),
    stream=None,
    steps_per_epoch: int | None = None,
) -> L.Trainer:
    """The ``Trainer`` for ``cfg`` writing into ``run_dir``."""
    quiet_lightning()
    ckpt_dir = run_dir / "checkpoints"
    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename=CHECKPOINT_FILENAME,
        auto_insert_metric_name=False,
        monitor="valid_acc",
        mode="max",
        save_top_k=1,
    )
    # Lightning 2.6 refreshes `save_last` only on epochs that improved the best
    # checkpoint; resuming needs the latest epoch, so last.ckpt has its own callback.
    last = ModelCheckpoint(
        dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1, enable_version_counter=False
    )
    cbs: list[Callback] = [best, last, RNGState(), NonFiniteLossGuard(), EpochReport(stream)]
    cbs.append(LearningRateMonitor(logging_interval="epoch"))
    if cfg.ema_decay > 0:
        cbs.append(ema_callback(cfg.ema_decay, cfg.ema_start_step, cfg.ema_every))
    if cfg.lookahead:
        cbs.append(Lookahead())
    interactive = (stream or sys.stdout).isatty()
    rich_bar = cfg.progress and interactive
    if rich_bar:
        eval_batch = cfg.eval_batch_size or max(cfg.batch_size, 256)
        cbs.append(ThroughputProgressBar(cfg.batch_size, eval_batch))
    elif cfg.progress:
        cbs.append(LineProgress(stream=stream))
    cbs.extend(callbacks)
    return L.Trainer(
        max_epochs=cfg.epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        precision=cfg.precision,
        logger=make_loggers(run_dir, resume_epoch, resume_step),
        callbacks=cbs,
        default_root_dir=str(run_dir),
        enable_progress_bar=rich_bar,
        enable_model_summary=False,
        deterministic=cfg.deterministic or None,
        gradient_clip_val=cfg.grad_clip or None,
        log_every_n_steps=min(cfg.log_every_n_steps, steps_per_epoch or cfg.log_every_n_steps),
        limit_train_batches=cfg.limit_train_batches,
        num_sanity_val_steps=0,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the data module shards for itself
    )


def build_module(
    cfg: TrainConfig, net: nn.Module, info: DataInfo, model: str, binary: bool
) -> ClassifierModule:
    """``ClassifierModule`` for ``net`` with ``cfg``'s optimisation options and ``info``'s data."""
    return ClassifierModule(
        net,
        num_classes=info.num_classes,
        binary=binary,
        model=model,
        model_kwargs=cfg.model_kwargs,
        input_shape=info.input_shape,
        classes=info.classes,
        dataset=cfg.dataset,
        normalize_mean=info.mean,
        normalize_std=info.std,
        optimizer=cfg.optimizer,
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        muon_lr=cfg.muon_lr,
        muon_momentum=cfg.muon_momentum,
        betas=cfg.betas,
        weight_decay=cfg.weight_decay,
        bias_lr_scale=cfg.bias_lr_scale,
        bias_weight_decay=cfg.bias_weight_decay,
        norm_weight_decay=cfg.norm_weight_decay,
        scheduler=cfg.scheduler,
        warmup_epochs=cfg.warmup_epochs,
        warmup_fraction=cfg.warmup_fraction,
        final_lr_ratio=cfg.final_lr_ratio,
        label_smoothing=cfg.label_smoothing,
        tta_flip=cfg.tta_flip,
        tta_translate=cfg.tta_translate,
        val_tta=cfg.val_tta,
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        image_size=info.input_shape[1:] if dm_is_folder(cfg) and info.is_image else None,
    )


SKIPPED_FILE = "skipped_images.txt"


def report_skipped(
    dm: ArrayDataModule, run_dir: Path, say: Callable[[str], None], *, final: bool = False
) -> None:
    """List the files ``--skip-bad-images`` left out in ``RUN/skipped_images.txt`` and say so.

    final: the run's end, when a streamed folder may have found more while
    decoding; said again only if the count grew.
    """
    found = dm.skipped_files()
    path = run_dir / SKIPPED_FILE
    before = len(path.read_text().splitlines()) - 1 if path.is_file() else 0
    if not found or (final and len(found) == before):
        return
    with atomic_open(path, "w") as f:
        f.write(f"# {len(found)} unreadable image file(s) left out (--skip-bad-images)\n")
        f.writelines(f"{where}\t{why}\n" for where, why in found)
    say(f"data: skipped {len(found)} unreadable image file(s) (listed in {path})")


def dm_is_folder(cfg: TrainConfig) -> bool:
    """Whether ``cfg.dataset`` is a user's image folder (not a built-in data set)."""
    from deepclass.data.datasets import BUILTIN

    return cfg.dataset not in BUILTIN


def plan_folder_run(
    cfg: TrainConfig,
    dm: ArrayDataModule,
    *,
    net: nn.Module | None = None,
    resume_hparams: dict[str, Any] | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """A user folder's size and memory, settled before any image is decoded.

    Prints ``data: PATH: N images in K classes, resized to HxW (most common
    size ...)`` and the memory line; picks the loader (``cfg.loader`` "auto":
    memory if the run fits, else streaming) or raises ``ConfigError`` with
    the estimate, what is available and the fix. Built-in data sets: nothing.
    """
    from deepclass.budget import model_memory
    from deepclass.data.store import entry_path
    from deepclass.lightning.datamodules import choose_loader

    pinfo = dm.planned_info()
    if pinfo is None:
        return
    plan = dm.plan()
    say(f"data: {plan.describe()}")
    binary = cfg.binary if cfg.binary is not None else pinfo.num_classes == 2
    name = cfg.model or (resume_hparams or {}).get("model") or default_model(pinfo)
    eval_batch = cfg.eval_batch_size or max(cfg.batch_size, 256)

    def model_cost(shape: tuple[int, int, int]) -> tuple[int, int]:
        if net is not None and tuple(shape) == tuple(plan.input_shape):
            build = lambda: copy.deepcopy(net)  # noqa: E731 - moved to meta inside
        else:
            shaped = dataclasses.replace(pinfo, input_shape=tuple(shape))
            build = lambda: build_net(name, shaped, cfg.model_kwargs, binary)  # noqa: E731
        m = model_memory(
            lambda: build().to("meta"), shape, batch_size=cfg.batch_size,
            eval_batch_size=eval_batch, optimizer=cfg.optimizer,
        )  # fmt: skip
        return m.state_bytes, max(m.train_activation_bytes, m.eval_activation_bytes)

    loader, est = choose_loader(
        plan, cfg.loader, model_cost, batch_size=cfg.batch_size, eval_batch_size=eval_batch
    )
    dm.loader = loader
    why = (
        " (the resized images would not fit in memory)"
        if cfg.loader == "auto" and loader == "stream"
        else ""
    )
    say(f"memory: loader {loader}{why}; {est.summary()} ({est.breakdown()})")
    entry = entry_path(plan)
    found = (entry / "meta.json").is_file()
    say(f"cache: {'resized images found in' if found else 'decoding once into'} {entry}")


def _optimizer_text(cfg: TrainConfig) -> str:
    """``sgd lr 0.1``; with muon also the filters' lr: ``muon lr 0.24 (filters) + sgd lr 2.9``."""
    if cfg.optimizer != "muon":
        return f"{cfg.optimizer} lr {cfg.lr:g}"
    from deepclass.lightning.module import MUON_LR

    muon_lr = MUON_LR if cfg.muon_lr is None else cfg.muon_lr
    return f"muon lr {muon_lr:g} (conv filters) + sgd lr {cfg.lr:g}"


def _fmt_duration(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m)}m {s:04.1f}s" if m else f"{s:.1f}s"


def train(
    cfg: TrainConfig,
    *,
    net: nn.Module | None = None,
    callbacks: Sequence[Callback] = (),
    printer: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train, checkpoint, test and report one run described by ``cfg``.

    net: train this module instead of building ``cfg.model`` from the
        registry (``cfg.model`` is still recorded as its name).
    callbacks: extra Lightning callbacks.
    printer: where the header and summary lines go (default ``print``);
        only the global-zero process prints.
    ``cfg.threads`` sets torch's CPU thread count for the run only; denormal
    floats are flushed to zero during the run.
    """
    cfg = cfg.validate()
    before = torch.get_num_threads()
    if cfg.threads:
        # one OpenMP thread per process can be many times faster for small models on a busy CPU
        torch.set_num_threads(cfg.threads)
    # Denormal floats (weights and momenta decaying towards zero) slow CPU kernels down many
    # times: SpeedNet's epochs took 49, 80, 112 s without this, a constant ~49 s with it.
    torch.set_flush_denormal(True)
    try:
        return _train(cfg, net=net, callbacks=callbacks, printer=printer)
    finally:
        torch.set_num_threads(before)
        torch.set_flush_denormal(False)


def _train(
    cfg: TrainConfig,
    *,
    net: nn.Module | None,
    callbacks: Sequence[Callback],
    printer: Callable[[str], None] | None,
) -> TrainResult:
    t_start = time.perf_counter()
    check_devices(cfg)
    quiet_lightning()
    if net is None and cfg.model is not None:
        get_model("nn", cfg.model)  # an unknown name fails now, listing the valid ones
    if net is None and (cfg.model is not None or cfg.resume is None):
        # model arguments the model does not take fail now, before any data is loaded
        name = cfg.model or DEFAULT_MODELS.get(cfg.dataset, DEFAULT_IMAGE_MODEL)
        check_model_kwargs("nn", name, cfg.model_kwargs)
    resume_path = resolve_resume(cfg)
    resume_ckpt = load_checkpoint(resume_path) if resume_path is not None else None

    seed_everything(cfg.seed)
    dm: ArrayDataModule = build_datamodule(cfg)
    early = (printer or print) if rank_zero_only.rank == 0 else (lambda _s: None)
    hp0 = resume_ckpt["hyper_parameters"] if resume_ckpt else None
    plan_folder_run(cfg, dm, net=net, resume_hparams=hp0, say=early)
    dm.prepare_data()
    dm.setup("fit")
    info = dm.info
    assert info is not None
    binary = cfg.binary if cfg.binary is not None else info.num_classes == 2
    model_name = cfg.model or (resume_ckpt["hyper_parameters"]["model"] if resume_ckpt else None)
    if model_name is None and net is not None:
        model_name = type(net).__name__  # a custom module: recorded, not rebuildable by name
    model_name = model_name or default_model(info)
    if resume_ckpt is not None:
        hp = resume_ckpt["hyper_parameters"]
        check_compatible(
            hp, resume_path, model=model_name, num_classes=info.num_classes,
            input_shape=info.input_shape, dataset=info.name,
        )  # fmt: skip
    cfg = dataclasses.replace(cfg, model=model_name)  # the caller's config stays as it was
    if net is None:
        net = build_net(model_name, info, cfg.model_kwargs, binary)
    if resume_ckpt is None:
        init_from_data(net, dm)
    module = build_module(cfg, net, info, model_name, binary)

    run_dir = _resolve_run_dir(cfg, resume_path)
    resume_epoch = resume_step = None
    if resume_ckpt is not None:
        resume_epoch, resume_step = int(resume_ckpt["epoch"]), int(resume_ckpt["global_step"])
        remove_stale_temporaries(run_dir / "checkpoints")
    del resume_ckpt
    world = (cfg.devices if isinstance(cfg.devices, int) else 1) * cfg.num_nodes
    steps = len(dm.splits.train) // (cfg.batch_size * world) or 1
    if cfg.limit_train_batches:
        steps = min(steps, cfg.limit_train_batches)
    trainer = make_trainer(
        cfg, run_dir, resume_epoch=resume_epoch, resume_step=resume_step, callbacks=callbacks,
        steps_per_epoch=steps,
    )  # fmt: skip
    zero = trainer.is_global_zero
    say = (printer or print) if zero else (lambda _s: None)
    if zero:
        cfg.save(run_dir / "config.yaml")
        n_params = sum(p.numel() for p in net.parameters())
        say(f"run: {run_dir}" + (f" (resumed from {resume_path})" if resume_path else ""))
        say(f"data: {dm.describe()}")
        report_skipped(dm, run_dir, say)
        say(
            f"model: {model_name} ({n_params:,} parameters{', binary' if binary else ''}); "
            f"{cfg.epochs} epochs, batch {cfg.batch_size}, {_optimizer_text(cfg)}, "
            f"scheduler {cfg.scheduler}" + (f", preset {cfg.preset}" if cfg.preset else "")
        )

    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)  # DDP children launched by fit() join this run
    t_fit = time.perf_counter()
    try:
        trainer.fit(
            module,
            datamodule=dm,
            ckpt_path=str(resume_path) if resume_path is not None else None,
            weights_only=True,
        )
    except NonFiniteLossError:
        if zero:
            write_curves(run_dir, read_history(run_dir / "metrics.csv"))
        raise
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous
    fit_time = time.perf_counter() - t_fit

    ckpt_cb, last_cb = trainer.checkpoint_callbacks[:2]
    best = Path(ckpt_cb.best_model_path) if ckpt_cb.best_model_path else None
    last = Path(last_cb.best_model_path) if last_cb.best_model_path else None
    best_score = float(ckpt_cb.best_model_score) if ckpt_cb.best_model_score is not None else None

    test_acc = test_loss = None
    if cfg.test:
        if best is not None and cfg.test_ckpt == "best":
            # the best-validation weights (EMA weights when EMA is on); "last": as trained
            module.load_state_dict(safe_load(best)["state_dict"])
        metrics = trainer.test(module, datamodule=dm, verbose=False)[0]
        test_acc, test_loss = float(metrics["test_acc"]), float(metrics["test_loss"])

    result = TrainResult(
        run_dir=run_dir, config=cfg, best_checkpoint=best, last_checkpoint=last,
        best_valid_acc=best_score, best_epoch=None, test_acc=test_acc, test_loss=test_loss,
        wall_time=0.0, fit_time=fit_time, confusion=module.confusion if cfg.test else None,
        classes=list(info.classes), is_global_zero=zero,
    )  # fmt: skip
    if zero:
        report_skipped(dm, run_dir, say, final=True)
        _finish(result, say)
    result.wall_time = time.perf_counter() - t_start
    if zero:
        say(f"wall time: {_fmt_duration(result.wall_time)} (training {_fmt_duration(fit_time)})")
    return result


def _finish(result: TrainResult, say: Callable[[str], None]) -> None:
    """Plots beside the logs and the summary lines (global-zero process only)."""
    run_dir = result.run_dir
    result.history = hist = read_history(run_dir / "metrics.csv")
    if hist.get("valid_acc") and result.best_valid_acc is not None:
        accs = np.asarray(hist["valid_acc"], dtype=float)
        result.best_epoch = int(hist["epoch"][int(np.nanargmax(accs))])
    curves = write_curves(run_dir, hist)
    if curves is not None:
        result.plots.append(curves)
    if result.confusion is not None:
        result.plots.append(
            write_confusion(
                run_dir / "confusion_matrix.png",
                result.confusion,
                result.classes,
                f"test confusion matrix ({run_dir.name}, acc {result.test_acc:.4f})",
            )
        )
    say(f"logs: {run_dir} (tensorboard --logdir {run_dir.parent})")
    if result.plots:
        say("plots: " + ", ".join(str(p) for p in result.plots))
    say(f"checkpoint: {result.best_checkpoint}")
    if result.best_valid_acc is not None:
        say(f"best valid acc: {result.best_valid_acc:.4f} (epoch {result.best_epoch})")
