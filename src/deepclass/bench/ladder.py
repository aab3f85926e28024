"""Each rung at its best under one budget: ``deepclass ladder`` (the default mode).

Every rung trains its strongest model on the same split (CIFAR-10: 49,000 train /
1,000 val; MNIST: 55,000 / 5,000) for at most ``budget`` seconds of wall-clock time
and is measured on the same 10,000 test images:

1. the tuned softmax classifier (lr 0.1, reg 5e-4: ``linear.search.BEST_PARAMS``) on
   flattened, mean-image-subtracted pixels with the bias trick, batch 200;
2. the scratch ``DeepConvNet`` 32-64-128-256 with batchnorm, fast layers, Adam 1e-3,
   lr decay 0.9 per epoch (README's best scratch network), through the ``Solver``;
3. the barebones ``three_layer_convnet`` (seed 000: 32/16 channels, lr 3e-3, batch 64);
4. ``SpeedNet`` (the main job's network) through ``deepclass.nn.fit``: the ``fast``
   preset's SGD, schedule, label smoothing, crop + flip and bf16 autocast, without
   Lightning's extras (lookahead, test-time augmentation);
5. the main job's recipe itself (preset ``fast``) through ``deepclass.lightning.train``;

plus a peer row, scikit-learn's ``SGDClassifier`` (logistic loss, the same L2 as
rung 1) on rung 1's features, one ``partial_fit`` epoch at a time.

Rungs 1-3 and the peer train until the budget is spent (the peer and the Solver
stop before an epoch / iteration that would pass it). Rungs 4 and 5 follow a
schedule whose length must be known in advance: their epochs are chosen from a
measured step time (a few SpeedNet steps at batch 1024, before any rung starts) so
that the whole schedule ends inside the budget.

Validation accuracy is recorded against training time at geometrically spaced
moments (budget / 64, / 32, ... and the end) on a paused clock: the evaluation
itself is not counted, as in ``bench.time_to_accuracy``. Train accuracy is on the
first 1,000 training images (no augmentation), test accuracy on the whole test
split; neither is counted.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepclass.errors import ConfigError
from deepclass.metrics import accuracy

RUNGS = (1, 2, 3, 4, 5)
PEER = "sklearn"
TRAIN_ACC_SAMPLES = 1000
RECIPE_PRESET = "fast"  # the main job's recipe; its epochs are set from the budget
SCHEDULE_MARGIN = 0.85  # rungs 4/5 plan their epochs to use this much of the budget
DEEP_CONV = {"num_filters": [32, 64, 128, 256], "max_pools": [0, 1, 2, 3], "batchnorm": True}


# ---------------------------------------------------------------- clock and curves


class PausedClock:
    """Seconds since ``start()`` minus the time spent inside ``pause()`` blocks."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.paused = 0.0

    def start(self) -> None:
        self.t0, self.paused = time.perf_counter(), 0.0

    def now(self) -> float:
        return time.perf_counter() - self.t0 - self.paused

    @contextlib.contextmanager
    def pause(self) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - t


class Curve:
    """Validation accuracy at training times ``budget / 2**k`` (k = 6 ... 0), paused-clock.

    ``check(evaluate)`` after a step evaluates once the next moment has passed;
    ``final(evaluate)`` adds the end point.
    """

    def __init__(self, clock: PausedClock, budget: float, name: str, log) -> None:
        self.clock, self.budget, self.name, self.log = clock, budget, name, log
        self.marks = [budget / 2**k for k in range(6, 0, -1)]
        self.points: list[tuple[float, float]] = []
        self._last = 0.0

    def check(self, evaluate: Callable[[], float]) -> None:
        t = self.clock.now()
        if self.marks and t >= self.marks[0]:
            while self.marks and t >= self.marks[0]:
                self.marks.pop(0)
            self.add(t, evaluate)

    def add(self, t: float, evaluate: Callable[[], float]) -> float:
        with self.clock.pause():
            acc = float(evaluate())
        self.points.append((t, acc))
        if self.log:
            self.log(f"{self.name}: val acc {acc:.4f} after {t:.1f} s")
        return acc

    def final(self, evaluate: Callable[[], float]) -> float:
        return self.add(self.clock.now(), evaluate)

    def over(self) -> bool:
        """True when another step as long as the last one would pass the budget (so training
        stops inside it, as the Solver's time limit does)."""
        now = self.clock.now()
        step, self._last = now - self._last, now
        return now + step > self.budget


@dataclass
class RungResult:
    """One row of ``ladder.csv`` and its validation curve."""

    rung: str  # "1" ... "5" or "sklearn"
    title: str  # e.g. "barebones three_layer_convnet"
    model: str
    parameters: int
    mflop_per_image: float
    gradient: str
    steps: int
    images_seen: int
    train_seconds: float
    train_acc: float
    val_acc: float
    test_acc: float
    curve: list[tuple[float, float]] = field(default_factory=list)
    notes: str = ""

    @property
    def images_per_s(self) -> float:
        return self.images_seen / self.train_seconds if self.train_seconds > 0 else float("nan")

    def line(self) -> str:
        """``rung 3 barebones three_layer_convnet: test acc 0.4712 in 120.0 s (1,234 img/s)``."""
        who = f"rung {self.rung}" if self.rung != PEER else "peer"
        return (
            f"{who} {self.title}: test acc {self.test_acc:.4f} in {self.train_seconds:.1f} s "
            f"({self.images_per_s:,.0f} img/s)"
        )


@dataclass
class LadderResult:
    rows: list[RungResult]
    budget: float
    dataset: str
    command: str
    machine: str
    same_model: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    num_train: int | None = None

    def summary_lines(self) -> list[str]:
        return [r.line() for r in self.rows]


# ---------------------------------------------------------------- shared data


class Context:
    """The split every rung trains on and the per-rung views of it (built on first use)."""

    def __init__(self, splits, *, budget: float, seed: int, device, num_train: int | None, log):
        self.splits, self.budget, self.seed, self.device, self.log = (
            splits, budget, seed, torch.device(device), log,
        )  # fmt: skip
        train = splits.train
        if num_train is not None and num_train < len(train):
            train = train.subset(np.arange(num_train))
        self.train, self.val, self.test = train, splits.val, splits.test
        self.num_classes = splits.num_classes
        self._cache: dict[str, Any] = {}

    def labels(self, split: str) -> torch.Tensor:
        return torch.from_numpy(getattr(self, split).labels)

    def flat(self) -> dict[str, torch.Tensor]:
        """Rung 1's features: ``(N, D + 1)`` float32 in [0, 1] minus the training mean image,
        then a column of ones (the bias trick)."""
        if "flat" not in self._cache:
            from deepclass.data import to_tensor

            out: dict[str, torch.Tensor] = {}
            mean = None
            for split in ("train", "val", "test"):
                x = to_tensor(getattr(self, split).images).reshape(len(getattr(self, split)), -1)
                mean = x.mean(dim=0, keepdim=True) if mean is None else mean
                out[split] = torch.cat([x - mean, torch.ones(x.shape[0], 1)], dim=1)
            self._cache["flat"] = out
        return self._cache["flat"]

    @property
    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        from deepclass.data import channel_stats

        if "stats" not in self._cache:
            self._cache["stats"] = channel_stats(self.train.images)
        return self._cache["stats"]

    def normalized(self) -> dict[str, torch.Tensor]:
        """``(N, C, H, W)`` float32 normalised per channel with the training statistics."""
        if "norm" not in self._cache:
            from deepclass.data import normalize, to_tensor

            mean, std = self.stats
            self._cache["norm"] = {
                s: normalize(to_tensor(getattr(self, s).images), mean, std)
                for s in ("train", "val", "test")
            }
        return self._cache["norm"]

    def normalizer(self) -> Callable[[torch.Tensor], torch.Tensor]:
        from deepclass.data import normalize

        mean, std = self.stats
        return lambda x: normalize(x, mean, std)

    def loader(self, split: str, batch_size: int, *, shuffle: bool, augment=None):
        from deepclass.data import BatchIterator

        return BatchIterator.from_dataset(
            getattr(self, split), batch_size, shuffle=shuffle, seed=self.seed,
            transform=self.normalizer(), device=self.device, augment=augment,
        )  # fmt: skip


def forward_mflops(fn: Callable[[torch.Tensor], Any], x1: torch.Tensor) -> float:
    """Forward MFLOP per image of ``fn`` on a batch of two (matrix products and convolutions,
    as ``torch.utils.flop_counter`` counts them: one multiply-add = 2 FLOP)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        fn(x1)
    return counter.get_total_flops() / x1.shape[0] / 1e6


def _first(x: torch.Tensor, n: int = TRAIN_ACC_SAMPLES) -> torch.Tensor:
    return x[:n]


# ---------------------------------------------------------------- rung 1


def rung1(ctx: Context) -> RungResult:
    """The tuned softmax classifier with ``train_linear_classifier`` until the budget is spent."""
    from deepclass.linear.losses import softmax_loss_vectorized
    from deepclass.linear.search import BEST_PARAMS
    from deepclass.linear.train import predict_linear_classifier, train_linear_classifier

    lr, reg = BEST_PARAMS["softmax"]
    batch = 200
    data = ctx.flat()
    y = ctx.labels("train")
    yv, yt = ctx.labels("val"), ctx.labels("test")
    torch.manual_seed(ctx.seed)
    W = 0.000001 * torch.randn(data["train"].shape[1], ctx.num_classes)
    clock = PausedClock()
    curve = Curve(clock, ctx.budget, "rung 1", ctx.log)

    def val() -> float:
        return accuracy(predict_linear_classifier(W, data["val"]), yv)

    def on_step(i: int, loss: float) -> bool:
        curve.check(val)
        return curve.over()

    clock.start()
    W, hist = train_linear_classifier(
        softmax_loss_vectorized, W, data["train"], y, learning_rate=lr, reg=reg,
        num_iters=10**9, batch_size=batch, callback=on_step,
    )  # fmt: skip
    seconds = clock.now()
    val_acc = curve.final(val)
    return RungResult(
        "1", "linear softmax", f"softmax on {data['train'].shape[1]} features (lr {lr:g}, "
        f"reg {reg:g}, batch {batch})", W.numel(),
        forward_mflops(lambda x: x @ W, data["train"][:2]),
        "hand-derived (softmax_loss_vectorized)", len(hist), len(hist) * batch, seconds,
        accuracy(predict_linear_classifier(W, _first(data["train"])), _first(y)),
        val_acc, accuracy(predict_linear_classifier(W, data["test"]), yt), curve.points,
    )  # fmt: skip


# ---------------------------------------------------------------- rung 2


def rung2(ctx: Context) -> RungResult:
    """``DeepConvNet`` on the fast layers through the ``Solver`` with its time limit."""
    from deepclass.scratch.models import DeepConvNet
    from deepclass.scratch.solver import Solver

    data = ctx.normalized()
    torch.manual_seed(ctx.seed)
    model = DeepConvNet(
        input_dims=tuple(data["train"].shape[1:]), num_classes=ctx.num_classes,
        weight_scale="kaiming", **DEEP_CONV,
    )  # fmt: skip
    batch = 100
    solver = Solver(
        model,
        {"X_train": data["train"], "y_train": ctx.labels("train"),
         "X_val": data["val"], "y_val": ctx.labels("val")},
        update_rule="adam", optim_config={"learning_rate": 1e-3}, lr_decay=0.9,
        batch_size=batch, num_epochs=1000, verbose=False,
    )  # fmt: skip
    clock = PausedClock()
    curve = Curve(clock, ctx.budget, "rung 2", ctx.log)

    def val() -> float:
        return solver.check_accuracy(data["val"], ctx.labels("val"))

    def on_step(t: int, s: Solver) -> bool:
        curve.check(val)
        return False

    clock.start()
    solver.train(time_limit=ctx.budget, callback=on_step, clock=clock.now)
    seconds = clock.now()
    val_acc = curve.final(val)  # the best-validation parameters the Solver kept
    steps = len(solver.loss_history)
    return RungResult(
        "2", "scratch DeepConvNet", "DeepConvNet 32-64-128-256, batchnorm, fast layers, Adam",
        sum(p.numel() for p in model.params.values()),
        forward_mflops(lambda x: model.loss(x), data["train"][:2]),
        "hand-derived layers (backward + cache)", steps, steps * batch, seconds,
        solver.check_accuracy(_first(data["train"]), _first(ctx.labels("train"))),
        val_acc, solver.check_accuracy(data["test"], ctx.labels("test")), curve.points,
        notes="ends with the parameters of its best validation check (Solver)",
    )  # fmt: skip


# ---------------------------------------------------------------- rung 3


def rung3(ctx: Context) -> RungResult:
    """Seed 000's ``three_layer_convnet`` with the hand-written SGD loop until the budget ends."""
    from deepclass.barebones.models import build_three_layer_convnet
    from deepclass.barebones.train import DEFAULTS, check_accuracy, train

    settings = DEFAULTS["three_layer_convnet"]
    batch = 64
    torch.manual_seed(ctx.seed)
    net = build_three_layer_convnet(
        input_shape=ctx.train.sample_shape, num_classes=ctx.num_classes,
        channel_1=settings["channel_1"], channel_2=settings["channel_2"], device=ctx.device,
    )  # fmt: skip
    loaders = {
        s: ctx.loader(s, batch if s == "train" else 1000, shuffle=s == "train")
        for s in ("train", "val", "test")
    }
    clock = PausedClock()
    curve = Curve(clock, ctx.budget, "rung 3", ctx.log)

    def val() -> float:
        return check_accuracy(loaders["val"], net.fn, net.params, log=None)

    def on_step(t: int, loss: float) -> bool:
        curve.check(val)
        return curve.over()

    clock.start()
    history = train(
        net.fn, net.params, settings["learning_rate"], loaders["train"], None, epochs=10**6,
        print_every=10**9, log=None, on_step=on_step,
    )  # fmt: skip
    seconds = clock.now()
    val_acc = curve.final(val)
    norm = ctx.normalized()
    steps = len(history["loss"])
    with torch.no_grad():
        train_acc = accuracy(net(_first(norm["train"]).to(ctx.device)), _first(ctx.labels("train")))
    return RungResult(
        "3", "barebones three_layer_convnet",
        f"three_layer_convnet {settings['channel_1']}/{settings['channel_2']} (lr "
        f"{settings['learning_rate']:g}, batch {batch})", net.num_params(),
        forward_mflops(net, norm["train"][:2].to(ctx.device)), "torch.autograd", steps,
        steps * batch, seconds, train_acc, val_acc,
        check_accuracy(loaders["test"], net.fn, net.params, log=None), curve.points,
    )  # fmt: skip


# ---------------------------------------------------------------- rungs 4 and 5: SpeedNet


class Autocast(nn.Module):
    """Run ``net`` under bf16 autocast with channels-last inputs; float32 logits out
    (what the Lightning trainer's ``bf16-mixed`` precision does for rung 5)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return self.net(x).float()


def _recipe() -> dict[str, Any]:
    from deepclass.lightning.presets import preset_options

    return preset_options(RECIPE_PRESET)


def _speednet(ctx: Context) -> nn.Module:
    from deepclass.registry import build_model

    opts = _recipe()
    torch.manual_seed(ctx.seed)
    net = build_model(
        "nn", opts["model"], input_shape=ctx.train.sample_shape, num_classes=ctx.num_classes,
        **opts["model_kwargs"],
    )  # fmt: skip
    net.init_from_data(ctx.normalized()["train"][:5000])
    return net.to(ctx.device).to(memory_format=torch.channels_last)


def _optimizer(net: nn.Module, opts: dict[str, Any]) -> torch.optim.Optimizer:
    groups = net.optimizer_param_groups(lr=opts["lr"], weight_decay=opts["weight_decay"])
    return torch.optim.SGD(
        groups, lr=opts["lr"], momentum=opts["momentum"], nesterov=opts["nesterov"]
    )


def _augment(opts: dict[str, Any]):
    from deepclass.data import Augment

    return Augment(crop_padding=opts["crop_padding"], flip=opts["flip"], pad_mode=opts["pad_mode"])


def measure_step_seconds(ctx: Context, warmup: int = 2, steps: int = 4) -> float:
    """Median seconds of one SpeedNet training step at the recipe's batch size, measured on
    real batches with the recipe's optimizer (on a copy: nothing trains for real)."""
    opts = _recipe()
    model = Autocast(_speednet(ctx))
    opt = _optimizer(model.net, opts)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=opts["label_smoothing"])
    loader = ctx.loader("train", opts["batch_size"], shuffle=True, augment=_augment(opts))
    times: list[float] = []
    model.train()
    batches = (b for _ in range(warmup + steps) for b in loader)  # more passes if it is short
    for i, (x, y) in zip(range(warmup + steps), batches, strict=False):
        t = time.perf_counter()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times) if times else float("nan")


@dataclass
class Schedule:
    """Rungs 4/5's planned length: ``epochs`` passes of ``batches`` batches each (None: all)."""

    epochs: int
    batches: int | None
    step_seconds: float

    def describe(self) -> str:
        part = f" of {self.batches} batch(es)" if self.batches is not None else ""
        return f"{self.epochs} epoch(s){part}"


def plan_schedule(ctx: Context, step_seconds: float) -> Schedule:
    """As many whole epochs as fit ``SCHEDULE_MARGIN`` of the budget at ``step_seconds`` per
    step; when not even one does, one epoch cut to the batches that fit (at least one)."""
    batch = _recipe()["batch_size"]
    per_epoch = math.ceil(len(ctx.train) / batch)
    fit_steps = int(SCHEDULE_MARGIN * ctx.budget // step_seconds) if step_seconds > 0 else 0
    if fit_steps >= per_epoch:
        return Schedule(fit_steps // per_epoch, None, step_seconds)
    return Schedule(1, max(1, fit_steps), step_seconds)


class _Limited:
    """The first ``n`` batches of each pass over ``loader`` (``n`` None: all of them)."""

    def __init__(self, loader, n: int | None) -> None:
        self.loader, self.n = loader, n

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.n)

    def __len__(self) -> int:
        return len(self.loader) if self.n is None else min(self.n, len(self.loader))


def rung4(ctx: Context, plan: Schedule) -> RungResult:
    """SpeedNet with the recipe's optimizer and schedule through ``deepclass.nn.fit``."""
    from deepclass.lightning.module import LRSchedule
    from deepclass.nn.fit import fit

    opts = _recipe()
    net = _speednet(ctx)
    model = Autocast(net)
    opt = _optimizer(net, opts)
    epochs = plan.epochs
    loader = _Limited(
        ctx.loader("train", opts["batch_size"], shuffle=True, augment=_augment(opts)), plan.batches
    )
    total = epochs * len(loader)
    warmup = round(opts["warmup_fraction"] * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, LRSchedule(opts["scheduler"], total, warmup, opts["final_lr_ratio"])
    )
    norm = ctx.normalized()
    clock = PausedClock()
    curve = Curve(clock, ctx.budget, "rung 4", ctx.log)
    steps = [0]

    def predict(x: torch.Tensor) -> torch.Tensor:
        was = model.training
        model.eval()
        with torch.no_grad():
            out = torch.cat([model(x[i : i + 1000].to(ctx.device)).cpu()
                             for i in range(0, len(x), 1000)])  # fmt: skip
        model.train(was)
        return out

    def val() -> float:
        return accuracy(predict(norm["val"]), ctx.labels("val"))

    def on_step(step: int, loss: float) -> None:
        steps[0] = step + 1
        curve.check(val)

    clock.start()
    fit(model, nn.CrossEntropyLoss(label_smoothing=opts["label_smoothing"]), opt, loader,
        epochs=epochs, scheduler=sched, scheduler_interval="step", log_every=0, on_step=on_step)  # fmt: skip
    seconds = clock.now()
    val_acc = curve.final(val)
    return RungResult(
        "4", "nn SpeedNet", f"SpeedNet {opts['model_kwargs']['widths']} via nn.fit, bf16, "
        f"{plan.describe()}", sum(p.numel() for p in net.parameters()),
        forward_mflops(lambda x: net(x), norm["train"][:2].to(ctx.device)),
        "torch.autograd (nn.Module)", steps[0], steps[0] * opts["batch_size"], seconds,
        accuracy(predict(_first(norm["train"])), _first(ctx.labels("train"))), val_acc,
        accuracy(predict(norm["test"]), ctx.labels("test")), curve.points,
        notes=f"{plan.describe()} planned from a measured {plan.step_seconds:.2f} s per step; "
        "no lookahead / TTA (rung 5 has them)",
    )  # fmt: skip


def rung5(ctx: Context, plan: Schedule, out: Path, data_dir) -> RungResult:
    """The main job's recipe (preset ``fast``) through the Lightning trainer, ``plan`` long."""
    from lightning.pytorch.callbacks import Callback

    from deepclass.bench.time_to_accuracy import module_accuracy
    from deepclass.lightning import build_config, train

    clock = PausedClock()
    curve = Curve(clock, ctx.budget, "rung 5", ctx.log)
    seen = {"steps": 0, "seconds": 0.0, "train_acc": float("nan")}

    class Watch(Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            clock.start()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            seen["steps"] += 1
            curve.check(lambda: module_accuracy(trainer, pl_module, self.val(trainer), tta=False))

        def on_train_end(self, trainer, pl_module) -> None:
            seen["seconds"] = clock.now()
            curve.final(lambda: module_accuracy(trainer, pl_module, self.val(trainer), tta=False))

        @staticmethod
        def val(trainer):
            return trainer.datamodule.val_dataloader()

    overrides = {
        "epochs": plan.epochs, "limit_train_batches": plan.batches, "seed": ctx.seed, "data_dir": data_dir, "out": str(out / "rung5"),
        "dataset": ctx.splits.name if ctx.splits.name in ("cifar10", "mnist") else "cifar10",
        "progress": False,
    }  # fmt: skip
    if len(ctx.train) < len(ctx.splits.train):
        overrides["train_samples"] = len(ctx.train)
    if len(ctx.test) < len(ctx.splits.test):
        overrides["test_samples"] = len(ctx.test)
    if len(ctx.val) < len(ctx.splits.val):
        overrides["val_samples"] = len(ctx.val)
    cfg = build_config(preset=RECIPE_PRESET, overrides=overrides)
    from deepclass.bench.ladder_same_model import quiet_logs

    with quiet_logs():
        result = train(cfg, callbacks=[Watch()], printer=lambda s: None)
    net = _speednet(ctx)  # the same architecture, for its size and FLOPs
    norm = ctx.normalized()
    test_acc = float(result.test_acc) if result.test_acc is not None else float("nan")
    return RungResult(
        "5", "lightning SpeedNet", f"preset {RECIPE_PRESET!r} ({plan.describe()}) via the "
        "Lightning trainer, bf16, lookahead, flip + shift TTA",
        sum(p.numel() for p in net.parameters()),
        forward_mflops(lambda x: net(x), norm["train"][:2].to(ctx.device)),
        "torch.autograd (Lightning)", seen["steps"], seen["steps"] * cfg.batch_size,
        seen["seconds"], _lightning_train_acc(result), curve.points[-1][1] if curve.points
        else float("nan"), test_acc, curve.points,
        notes=f"{plan.describe()} planned from a measured {plan.step_seconds:.2f} s per step; "
        "train acc is the trainer's own running mean over its (augmented) epoch; "
        f"the trainer's run: {result.run_dir}",
    )  # fmt: skip


def _lightning_train_acc(result) -> float:
    accs = [a for a in result.history.get("train_acc", []) if a == a]
    return float(accs[-1]) if accs else float("nan")


# ---------------------------------------------------------------- the peer


def peer(ctx: Context) -> RungResult:
    """scikit-learn ``SGDClassifier`` (logistic loss, alpha = 2 reg) on rung 1's features."""
    from sklearn.linear_model import SGDClassifier

    from deepclass.linear.search import BEST_PARAMS

    _, reg = BEST_PARAMS["softmax"]
    data = {k: v.numpy() for k, v in ctx.flat().items()}
    y = ctx.train.labels
    clf = SGDClassifier(loss="log_loss", alpha=2 * reg, fit_intercept=False,
                        random_state=ctx.seed)  # fmt: skip
    classes = np.arange(ctx.num_classes)
    clock = PausedClock()
    curve = Curve(clock, ctx.budget, "peer sklearn", ctx.log)
    epochs, last = 0, 0.0

    def val() -> float:
        return accuracy(clf.predict(data["val"]), ctx.val.labels)

    clock.start()
    while True:
        t = clock.now()
        clf.partial_fit(data["train"], y, classes=classes)
        epochs += 1
        last = clock.now() - t
        curve.check(val)
        if clock.now() + last > ctx.budget:  # the next epoch would pass the budget
            break
    seconds = clock.now()
    val_acc = curve.final(val)
    return RungResult(
        PEER, "sklearn SGDClassifier", f"SGDClassifier(loss='log_loss', alpha={2 * reg:g}), "
        "one partial_fit epoch at a time", clf.coef_.size, 2 * data["train"].shape[1] *
        ctx.num_classes / 1e6, "scikit-learn (plain SGD, its own schedule)", epochs * len(y),
        epochs * len(y), seconds,
        accuracy(clf.predict(data["train"][:TRAIN_ACC_SAMPLES]), y[:TRAIN_ACC_SAMPLES]),
        val_acc, accuracy(clf.predict(data["test"]), ctx.test.labels), curve.points,
        notes=f"{epochs} epoch(s); steps = examples (one update per example)",
    )  # fmt: skip


# ---------------------------------------------------------------- the run


def run_ladder(
    *,
    dataset: str = "cifar10",
    rungs: Sequence[int] = RUNGS,
    peer_row: bool = True,
    budget: float = 120.0,
    num_train: int | None = None,
    num_test: int | None = None,
    num_val: int | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    device: str | torch.device = "cpu",
    out: str | Path = "runs/ladder",
    same_model_steps: int = 20,
    command: str = "",
    log: Callable[[str], None] | None = print,
) -> LadderResult:
    """Train each of ``rungs`` (and the peer) for ``budget`` seconds; write the files to ``out``.

    num_train / num_val / num_test: keep only the first images of the training / validation /
    test split (quick runs; the CLI offers ``--num-train`` only: its test accuracy is always on
    the whole split).

    Rows for rungs not in ``rungs`` that an earlier run wrote into the same ``out``
    (``ladder.json``) are kept, so a ladder may be run in parts (``--rungs 1,2,3`` then
    ``--rungs 4,5,sklearn``). The second panel's same-model step times come from
    ``out/same-model.csv`` when it exists, else from a short float32 same-model run
    (``same_model_steps`` steps of 100).
    """
    from deepclass.bench import machine_description
    from deepclass.data import load_dataset
    from deepclass.seed import seed_everything

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    splits = load_dataset(dataset, data_dir, progress=log is not None)
    ctx = Context(splits, budget=budget, seed=seed, device=device, num_train=num_train, log=log)
    if num_test is not None:  # quick runs and tests only: the ladder's figures use all of it
        ctx.test = ctx.test.subset(np.arange(min(num_test, len(ctx.test))))
    if num_val is not None:
        ctx.val = ctx.val.subset(np.arange(min(num_val, len(ctx.val))))
    todo = [str(r) for r in sorted(rungs)] + ([PEER] if peer_row else [])
    previous = _previous_rows(out, {"dataset": dataset, "budget": budget, "num_train": num_train})
    plan = Schedule(1, None, float("nan"))
    if 4 in rungs or 5 in rungs:
        plan = plan_schedule(ctx, measure_step_seconds(ctx))
        if log:
            log(f"rungs 4/5: a SpeedNet step of {_recipe()['batch_size']} takes "
                f"{plan.step_seconds:.3f} s: {plan.describe()} fit {SCHEDULE_MARGIN:.0%} of the "
                f"{budget:g} s budget")  # fmt: skip
    runners: dict[str, Callable[[], RungResult]] = {
        "1": lambda: rung1(ctx),
        "2": lambda: rung2(ctx),
        "3": lambda: rung3(ctx),
        "4": lambda: rung4(ctx, plan),
        "5": lambda: rung5(ctx, plan, out, data_dir),
        PEER: lambda: peer(ctx),
    }
    rows = {r.rung: r for r in previous if r.rung not in todo}
    if rows:  # the earlier part's command stays on record beside this one
        saved = json.loads((out / "ladder.json").read_text())
        command = f"{saved.get('command', '')}; then {command}"
    for key in todo:
        if log:
            log(f"{'peer' if key == PEER else 'rung ' + key}: training for up to {budget:g} s")
        seed_everything(seed)
        rows[key] = runners[key]()
        if log:
            log(rows[key].line())
    order = [str(r) for r in RUNGS] + [PEER]
    result = LadderResult(
        [rows[k] for k in order if k in rows], budget, dataset,
        command, machine_description(), num_train=num_train,
    )  # fmt: skip
    result.same_model = _same_model_times(ctx, out, same_model_steps, log)
    write_ladder(result, out)
    return result


def _previous_rows(out: Path, settings: dict[str, Any]) -> list[RungResult]:
    """The rows an earlier run wrote into ``out`` (none if it holds no ladder); a ladder of
    other ``settings`` (data set, budget, training images) is refused: the rows would not
    compare."""
    path = out / "ladder.json"
    if not path.is_file():
        return []
    saved = json.loads(path.read_text())
    theirs = {k: saved.get(k) for k in settings}
    if theirs != settings:
        raise ConfigError(
            f"{out} holds a ladder run with {theirs}; this run has {settings}: use another --out"
        )
    rows = []
    for r in saved["rows"]:
        r["curve"] = [tuple(p) for p in r["curve"]]
        rows.append(RungResult(**r))
    return rows


def _same_model_times(ctx: Context, out: Path, steps: int, log) -> list[dict[str, Any]]:
    """Per model and rung, the same-model ms/step (from ``out/same-model.csv`` if present)."""
    from deepclass.bench.ladder_same_model import run_same_model, same_model_rows

    path = out / "same-model.csv"
    if path.is_file():
        with path.open() as f:
            return [
                {
                    "model": r["model"],
                    "rung": int(r["rung"]),
                    "ms_per_step": float(r["ms_per_step"]),
                }
                for r in csv.DictReader(f)
            ]
    if steps <= 0:
        return []
    n = min(len(ctx.train), steps * 100)
    if log:
        log(f"same-model step times: {steps} float32 steps of 100 per rung")
    res = run_same_model(ctx.train.images[:n], ctx.train.labels[:n], ctx.num_classes,
                         steps=steps, batch_size=min(100, n), seed=ctx.seed,
                         dtype=torch.float32, device=ctx.device, stepwise=False, log=None)  # fmt: skip
    return [{"model": r["model"], "rung": r["rung"], "ms_per_step": r["ms_per_step"]}
            for r in same_model_rows(res)]  # fmt: skip


# ---------------------------------------------------------------- files

COLUMNS = (
    "rung", "model", "parameters", "mflop_per_image", "gradient", "steps", "images_seen",
    "train_seconds", "images_per_s", "train_acc", "val_acc", "test_acc",
)  # fmt: skip


def _row(r: RungResult) -> dict[str, Any]:
    return {
        "rung": r.rung, "model": f"{r.title}: {r.model}", "parameters": r.parameters,
        "mflop_per_image": float(f"{r.mflop_per_image:.4g}"), "gradient": r.gradient,
        "steps": r.steps, "images_seen": r.images_seen,
        "train_seconds": round(r.train_seconds, 1), "images_per_s": round(r.images_per_s),
        "train_acc": round(r.train_acc, 4), "val_acc": round(r.val_acc, 4),
        "test_acc": round(r.test_acc, 4),
    }  # fmt: skip


def write_ladder(result: LadderResult, out: str | Path) -> None:
    """``ladder.csv``, ``ladder-curves.csv``, ``ladder.md``, ``ladder.png`` and ``ladder.json``."""
    out = Path(out)
    path = out / "ladder.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        for r in result.rows:
            w.writerow(_row(r))
    result.files["csv"] = path
    path = out / "ladder-curves.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rung", "train_seconds", "val_acc"])
        for r in result.rows:
            for t, a in r.curve:
                w.writerow([r.rung, round(t, 2), round(a, 4)])
    result.files["curves"] = path
    path = out / "ladder.json"
    path.write_text(json.dumps({
        "dataset": result.dataset, "budget": result.budget, "num_train": result.num_train,
        "command": result.command,
        "machine": result.machine, "rows": [asdict(r) for r in result.rows],
    }, indent=1))  # fmt: skip
    result.files["json"] = path
    path = out / "ladder.md"
    path.write_text(ladder_markdown(result))
    result.files["md"] = path
    result.files["png"] = plot_ladder(result, out / "ladder.png")


def ladder_markdown(result: LadderResult) -> str:
    lines = [
        f"# The ladder: each rung's best in {result.budget:g} s ({result.dataset})",
        "",
        f"Command: `{result.command or 'deepclass ladder'}`  ",
        f"Machine: {result.machine}",
        "",
        "Training time excludes the paused evaluations; train acc is on the first 1,000 "
        "training images (rung 5: see its note), val acc on the validation split, test acc "
        "on the whole test split.",
        "",
        "| rung | model | parameters | forward MFLOP/image | gradient by | steps | images seen "
        "| train s | images/s | train acc | val acc | test acc |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result.rows:
        d = _row(r)
        lines.append(
            f"| {d['rung']} | {d['model']} | {d['parameters']:,} | {d['mflop_per_image']:g} | "
            f"{d['gradient']} | {d['steps']:,} | {d['images_seen']:,} | "
            f"{d['train_seconds']:.1f} | {d['images_per_s']:,} | {d['train_acc']:.4f} | "
            f"{d['val_acc']:.4f} | {d['test_acc']:.4f} |"
        )
    notes = [f"- rung {r.rung}: {r.notes}" for r in result.rows if r.notes]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def plot_ladder(result: LadderResult, path: str | Path) -> Path:
    """Validation accuracy against training seconds (log axis), one curve per rung with its
    test accuracy as a marker at the end; beside it the same-model ms per step as bars."""
    from deepclass.viz.figures import new_figure, save_figure

    fig, (ax, bars) = new_figure(2, 1, size=(13.0, 4.8))
    for i, r in enumerate(result.rows):
        if not r.curve:
            continue
        t, a = zip(*r.curve, strict=True)
        color = f"C{i}"
        label = f"{'rung ' + r.rung if r.rung != PEER else 'peer'}: {r.title}"
        ax.plot(t, a, marker="o", markersize=3, color=color, label=label)
        ax.plot([r.train_seconds], [r.test_acc], marker="*", markersize=11, color=color)
    ax.set_xscale("log")
    ax.set(xlabel="training seconds (log; evaluations not counted)",
           ylabel="validation accuracy (star: test)",
           title=f"{result.dataset}: {result.budget:g} s per rung")  # fmt: skip
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    if result.same_model:
        models = sorted({d["model"] for d in result.same_model}, reverse=True)
        width = 0.8 / len(models)
        for j, m in enumerate(models):
            rows = [d for d in result.same_model if d["model"] == m]
            xs = [d["rung"] + (j - (len(models) - 1) / 2) * width for d in rows]
            bars.bar(xs, [d["ms_per_step"] for d in rows], width=width, label=m)
        bars.set_yscale("log")
        bars.set(xlabel="rung", ylabel="ms per step (batch 100, float32)",
                 title="same model, every rung: time per SGD step")  # fmt: skip
        bars.set_xticks(list(RUNGS))
        bars.legend()
    else:
        bars.axis("off")
    return save_figure(fig, path)
