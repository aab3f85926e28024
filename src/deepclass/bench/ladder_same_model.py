"""One model through every rung: ``deepclass ladder --same-model``.

The same classifier, written once per rung, starts from the same weights and
takes the same plain-SGD steps (no momentum, no weight decay) on the same
batches in the same order; every rung must then end with the same losses and
weights. Two models:

- ``linear``: a softmax classifier on flattened, mean-image-subtracted images.
  Rung 1 ``softmax_loss_vectorized`` + ``train_linear_classifier``'s update
  (bias trick: ``X`` gets a column of ones and ``W``'s last row is the bias);
  rung 2 the scratch ``LinearNet`` (``Linear`` + ``softmax_loss``) with the
  Solver's ``sgd`` rule; rung 3 the barebones ``linear`` function + autograd +
  the hand-written update; rung 4 ``nn.Linear`` + ``torch.optim.SGD`` through
  ``deepclass.nn.fit``; rung 5 the same module through the Lightning trainer.
- ``convnet``: seed 000's conv5x5(32) - ReLU - conv3x3(16) - ReLU - fc in rungs
  2-5 (scratch ``Seed000ConvNet`` on the fast layers, barebones
  ``three_layer_convnet``, its ``nn`` twin, Lightning), on images normalised per
  channel.

Rung 4 is the reference. A rung's *loss difference* is
``max_k |loss_k - ref_k| / |ref_k|`` over the K steps; its *weight difference*
is ``max |w - w_ref| / max |w_ref|`` over all its final weights together (an
elementwise ratio would divide by weights that are zero); the *max rel diff* is
the larger of the two. float64 must agree to 1e-9, float32 to 1e-4.

In float32 the rungs sum in different orders (the fast convolutions are
im2col / shifted matrix products, torch's are oneDNN kernels; the bias trick
folds the bias into the product; autograd and the hand-derived backward reduce
in different orders), so each step's rounding differs by ~1e-7. Left to run
free, training amplifies that (a ReLU unit that flips on one rung and not on
another): the convnet's curves drift apart to ~1e-4 in 50 steps with nothing
wrong. So float32 is checked one step at a time (:func:`compare_stepwise`):
every rung takes step k from rung 4's weights before step k and must match
rung 4's loss at k and weights after it. The free-running differences are
reported beside it.

Time per step is the median of the intervals between consecutive steps'
callbacks (the first ``WARMUP`` steps left out): the whole step as each rung
runs it, its framework's overhead included.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepclass.errors import ConfigError

MODELS = ("linear", "convnet")
RUNGS = (1, 2, 3, 4, 5)
REFERENCE = 4
TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-4}
WARMUP = 3
# plain SGD step sizes: the linear model's tuned rate (deepclass.linear.search.BEST_PARAMS
# softmax) and seed 000's for the convnet
LEARNING_RATES = {"linear": 1e-1, "convnet": 3e-3}
# what computes each rung's gradient, per model
GRADIENT_BY = {
    1: "hand-derived (softmax_loss_vectorized)",
    2: "hand-derived layers (backward + cache)",
    3: "torch.autograd",
    4: "torch.autograd (nn.Module)",
    5: "torch.autograd (Lightning)",
}
IMPLEMENTATION = {
    ("linear", 1): "train_linear_classifier + softmax_loss_vectorized",
    ("linear", 2): "scratch LinearNet + Solver sgd",
    ("linear", 3): "barebones linear + manual SGD",
    ("linear", 4): "nn.Linear + SGD via nn.fit",
    ("linear", 5): "nn.Linear + SGD via Lightning Trainer",
    ("convnet", 2): "scratch Seed000ConvNet (fast layers) + Solver sgd",
    ("convnet", 3): "barebones three_layer_convnet + manual SGD",
    ("convnet", 4): "nn ThreeLayerConvNet + SGD via nn.fit",
    ("convnet", 5): "nn ThreeLayerConvNet + SGD via Lightning Trainer",
}


def model_rungs(model: str) -> tuple[int, ...]:
    """The rungs that implement ``model`` (the convnet has no rung-1 form)."""
    return RUNGS if model == "linear" else RUNGS[1:]


@dataclass
class Problem:
    """What every rung of one model gets: data, batches, initial weights, step size.

    x: ``(N, D)`` (linear) or ``(N, C, H, W)`` (convnet), ``dtype``; y: ``(N,)`` int64;
    batches: ``(K, B)`` int64 rows of x, step k uses ``x[batches[k]]``;
    init: the initial weights in the barebones layout (linear ``w (D, C), b (C,)``;
    convnet ``conv_w1, conv_b1, conv_w2, conv_b2, fc_w (D, C), fc_b``).
    """

    model: str
    x: torch.Tensor
    y: torch.Tensor
    batches: torch.Tensor
    init: dict[str, torch.Tensor]
    lr: float
    num_classes: int

    @property
    def steps(self) -> int:
        return int(self.batches.shape[0])

    @property
    def batch_size(self) -> int:
        return int(self.batches.shape[1])

    def batch_list(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The K ``(x, y)`` batches, in order (what the autograd rungs iterate)."""
        return [(self.x[i], self.y[i]) for i in self.batches]


@dataclass
class RungRun:
    """One rung's K steps: losses, the final weights (barebones layout), step times."""

    rung: int
    losses: list[float]
    weights: dict[str, torch.Tensor]
    step_times: list[float]
    loss_diff: float = 0.0
    weight_diff: float = 0.0
    # float32: the same measures for one step at a time from the reference's weights
    step_loss_diff: float | None = None
    step_weight_diff: float | None = None
    trajectory: list[dict[str, torch.Tensor]] | None = None  # weights before each step, and after

    @property
    def free_rel_diff(self) -> float:
        return max(self.loss_diff, self.weight_diff)

    @property
    def max_rel_diff(self) -> float:
        """The checked difference: step by step when measured (float32), else free-running."""
        if self.step_loss_diff is not None and self.step_weight_diff is not None:
            return max(self.step_loss_diff, self.step_weight_diff)
        return self.free_rel_diff

    @property
    def seconds_per_step(self) -> float:
        times = self.step_times[WARMUP:] or self.step_times
        return statistics.median(times) if times else float("nan")


@dataclass
class SameModelResult:
    """Per model, the rungs' runs (rung -> RungRun), with the differences filled in."""

    dtype: torch.dtype
    steps: int
    batch_size: int
    runs: dict[str, dict[int, RungRun]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.dtype]

    def agrees(self) -> bool:
        return all(
            r.max_rel_diff <= self.tolerance for runs in self.runs.values() for r in runs.values()
        )


# ---------------------------------------------------------------- the problem


def make_problem(
    model: str,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    steps: int,
    batch_size: int,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    lr: float | None = None,
) -> Problem:
    """The shared inputs of ``model`` from uint8 images ``(N, H, W, C)`` and labels ``(N,)``.

    linear: flattened, in [0, 1], minus the mean image of these N images; convnet: in
    [0, 1], normalised per channel with these images' mean and std. The batches are
    ``steps`` consecutive slices of seeded permutations of the N rows (a fresh
    permutation each pass). Initial weights: linear ``w ~ 0.001 N(0, 1)``, ``b = 0``;
    convnet Kaiming normal with zero biases (barebones ``three_layer_convnet_params``).
    """
    from deepclass.barebones.models import three_layer_convnet_params
    from deepclass.data import channel_stats, normalize, to_tensor

    if model not in MODELS:
        raise ConfigError(f"unknown same-model model {model!r}; valid: {', '.join(MODELS)}")
    n = len(labels)
    if batch_size > n:
        raise ConfigError(f"batch size {batch_size} is larger than the {n} images given")
    gen = torch.Generator().manual_seed(seed)
    per_pass = n // batch_size
    rows = []
    while len(rows) < steps:
        perm = torch.randperm(n, generator=gen)
        rows += [perm[k * batch_size : (k + 1) * batch_size] for k in range(per_pass)]
    batches = torch.stack(rows[:steps])

    x = to_tensor(images, dtype=torch.float64)
    if model == "linear":
        x = x.reshape(n, -1)
        x = x - x.mean(dim=0, keepdim=True)
    else:
        mean, std = channel_stats(images)
        x = normalize(x, mean, std)
    x = x.to(device=device, dtype=dtype)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)

    g = torch.Generator().manual_seed(seed + 1)
    if model == "linear":
        d = x.shape[1]
        init = {
            "w": 0.001 * torch.randn(d, num_classes, generator=g, dtype=torch.float64),
            "b": torch.zeros(num_classes, dtype=torch.float64),
        }
    else:
        state = torch.get_rng_state()
        torch.manual_seed(seed + 1)
        params = three_layer_convnet_params(
            tuple(x.shape[1:]), num_classes=num_classes, dtype=torch.float64
        )
        torch.set_rng_state(state)
        names = ("conv_w1", "conv_b1", "conv_w2", "conv_b2", "fc_w", "fc_b")
        init = {k: p.detach() for k, p in zip(names, params, strict=True)}
    init = {k: v.to(device=device, dtype=dtype) for k, v in init.items()}
    rate = LEARNING_RATES[model] if lr is None else lr
    return Problem(model, x, y, batches.to(device), init, rate, num_classes)


class _Timer:
    """Timestamps of consecutive steps: ``step_times[i]`` is step i+1's wall time."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.step_times: list[float] = []

    def tick(self, *_args) -> None:
        now = time.perf_counter()
        self.step_times.append(now - self.last)
        self.last = now


# ---------------------------------------------------------------- the rungs


def run_rung1(p: Problem) -> RungRun:
    """``train_linear_classifier`` with ``softmax_loss_vectorized`` on ``[x, 1] @ [[w], [b]]``."""
    from deepclass.linear.losses import softmax_loss_vectorized
    from deepclass.linear.train import train_linear_classifier

    if p.model != "linear":
        raise ConfigError("rung 1 has only the linear model")
    x_aug = torch.cat([p.x, torch.ones_like(p.x[:, :1])], dim=1)
    W = torch.cat([p.init["w"], p.init["b"][None]], dim=0).clone()
    timer = _Timer()
    W, losses = train_linear_classifier(
        softmax_loss_vectorized, W, x_aug, p.y, learning_rate=p.lr, reg=0.0,
        num_iters=p.steps, batch_size=p.batch_size, batch_indices=p.batches,
        callback=timer.tick,
    )  # fmt: skip
    return RungRun(1, losses, {"w": W[:-1].clone(), "b": W[-1].clone()}, timer.step_times)


def _scratch_model(p: Problem):
    from deepclass.scratch.models import LinearNet, Seed000ConvNet

    dtype, device = p.x.dtype, p.x.device
    if p.model == "linear":
        m = LinearNet(p.x.shape[1], p.num_classes, dtype=dtype, device=device)
        m.params = {"W": p.init["w"].clone(), "b": p.init["b"].clone()}
        return m, {"w": "W", "b": "b"}
    m = Seed000ConvNet(tuple(p.x.shape[1:]), num_classes=p.num_classes, dtype=dtype, device=device)
    names = {"conv_w1": "W1", "conv_b1": "b1", "conv_w2": "W2", "conv_b2": "b2"}
    names.update({"fc_w": "W3", "fc_b": "b3"})
    m.params = {names[k]: v.clone() for k, v in p.init.items()}
    return m, names


def run_rung2(p: Problem) -> RungRun:
    """The scratch model (hand-derived backward passes) stepped by the ``Solver``'s ``sgd``."""
    from deepclass.scratch.solver import Solver

    model, names = _scratch_model(p)
    data = {"X_train": p.x, "y_train": p.y, "X_val": p.x[:1], "y_val": p.y[:1]}
    solver = Solver(
        model, data, update_rule="sgd", optim_config={"learning_rate": p.lr},
        batch_size=p.batch_size, verbose=False, device=p.x.device,
    )  # fmt: skip
    timer = _Timer()
    for k in range(p.steps):
        if not solver.step(p.batches[k]):
            raise ConfigError(f"rung 2: the loss is {solver.loss_history[-1]} at step {k + 1}")
        timer.tick()
    weights = {k: model.params[v].clone() for k, v in names.items()}
    return RungRun(2, list(solver.loss_history), weights, timer.step_times)


def run_rung3(p: Problem) -> RungRun:
    """The barebones function + autograd + the hand-written update (``barebones.train``)."""
    from deepclass.barebones.models import linear, three_layer_convnet
    from deepclass.barebones.train import train

    params = [v.clone().requires_grad_() for v in p.init.values()]
    fn = linear if p.model == "linear" else three_layer_convnet
    timer = _Timer()
    history = train(
        fn, params, p.lr, p.batch_list(), None, epochs=1, print_every=p.steps + 1, log=None,
        on_step=timer.tick,
    )  # fmt: skip
    weights = {k: w.detach().clone() for k, w in zip(p.init, params, strict=True)}
    return RungRun(3, history["loss"], weights, timer.step_times)


def nn_model(p: Problem) -> nn.Module:
    """The ``nn`` twin of ``p.model`` holding ``p.init`` (``weight = w.T`` for the linear layers)."""
    from deepclass.nn.models import LinearModel, ThreeLayerConvNet

    if p.model == "linear":
        net = LinearModel((p.x.shape[1],), p.num_classes)
        layers = {"w": net.model[1]}
    else:
        net = ThreeLayerConvNet(tuple(p.x.shape[1:]), num_classes=p.num_classes)
        layers = {"conv_w1": net.conv1, "conv_w2": net.conv2, "fc_w": net.fc}
    net = net.to(device=p.x.device, dtype=p.x.dtype)
    with torch.no_grad():
        for k, v in p.init.items():
            if k.endswith("b") or "_b" in k:
                continue
            layer = layers[k]
            layer.weight.copy_(v.t() if v.ndim == 2 else v)
            bias_key = "b" if k == "w" else k.replace("_w", "_b")
            layer.bias.copy_(p.init[bias_key])
    return net


def nn_weights(p: Problem, net: nn.Module) -> dict[str, torch.Tensor]:
    """``net``'s weights in the barebones layout (the inverse of :func:`nn_model`)."""
    if p.model == "linear":
        lin = net.model[1]
        return {"w": lin.weight.detach().t().clone(), "b": lin.bias.detach().clone()}
    out = {}
    for prefix, layer in (("conv_", net.conv1), ("conv_", net.conv2), ("fc_", net.fc)):
        n = "" if prefix == "fc_" else ("1" if layer is net.conv1 else "2")
        w = layer.weight.detach()
        out[f"{prefix}w{n}"] = (w.t() if w.ndim == 2 else w).clone()
        out[f"{prefix}b{n}"] = layer.bias.detach().clone()
    return {k: out[k] for k in p.init}


def run_rung4(p: Problem) -> RungRun:
    """The ``nn`` module with ``torch.optim.SGD`` through ``deepclass.nn.fit``."""
    from deepclass.nn.fit import fit

    net = nn_model(p)
    opt = torch.optim.SGD(net.parameters(), lr=p.lr)
    losses: list[float] = []
    timer = _Timer()
    trajectory = [{k: v.clone() for k, v in p.init.items()}]

    def on_step(step: int, loss: float) -> None:
        timer.tick()
        losses.append(loss)
        trajectory.append(nn_weights(p, net))
        timer.last = time.perf_counter()  # the copy is not the rung's work

    fit(net, nn.CrossEntropyLoss(), opt, p.batch_list(), epochs=1, log_every=0, on_step=on_step)
    return RungRun(4, losses, nn_weights(p, net), timer.step_times, trajectory=trajectory)


def run_rung5(p: Problem) -> RungRun:
    """The same ``nn`` module in ``ClassifierModule`` (SGD, no momentum) under ``L.Trainer``."""
    import lightning as L
    from lightning.pytorch.callbacks import Callback

    from deepclass.lightning.module import ClassifierModule
    from deepclass.lightning.train import quiet_lightning

    quiet_lightning()
    warnings.filterwarnings("ignore", message=r".*`validation_step` but have no `val_dataloader`.*")
    net = nn_model(p)
    module = ClassifierModule(
        net, num_classes=p.num_classes, optimizer="sgd", lr=p.lr, momentum=0.0,
        scheduler="none", input_shape=tuple(p.x.shape[1:]),
    )  # fmt: skip
    losses: list[float] = []
    timer = _Timer()

    class Record(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            losses.append(float(outputs["loss"]))
            timer.tick()

    with quiet_logs():
        dev = p.x.device
        trainer = L.Trainer(
            accelerator="cuda" if dev.type == "cuda" else dev.type, devices=1, max_epochs=1,
            precision="64-true" if p.x.dtype == torch.float64 else "32-true",
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
            callbacks=[Record()],
        )  # fmt: skip
        timer.last = time.perf_counter()
        trainer.fit(module, train_dataloaders=_Batches(p.batch_list()))
    return RungRun(5, losses, nn_weights(p, module.net), timer.step_times)


@contextlib.contextmanager
def quiet_logs():
    """Lightning's info lines (GPU available ..., `Trainer.fit` stopped ...) off for a while."""
    names = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


class _Batches:
    """A list of batches as one loader (Lightning takes a bare list for several loaders)."""

    def __init__(self, batches: list) -> None:
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


RUNNERS: dict[int, Callable[[Problem], RungRun]] = {
    1: run_rung1,
    2: run_rung2,
    3: run_rung3,
    4: run_rung4,
    5: run_rung5,
}


# ---------------------------------------------------------------- comparison


def loss_difference(losses: Sequence[float], ref: Sequence[float]) -> float:
    """``max_k |losses[k] - ref[k]| / |ref[k]|``; inf when the curves differ in length."""
    if len(losses) != len(ref):
        return math.inf
    return max((abs(a - b) / abs(b) for a, b in zip(losses, ref, strict=True)), default=0.0)


def weight_difference(weights: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> float:
    """``max |w - w_ref| / max |w_ref|``, both maxima over all the tensors together (inf if
    the tensors do not match).

    Over all tensors, not per tensor: a bias that starts at zero stays ~1e-3 for many
    steps, and its own float32 rounding (a gradient summed over N * H * W terms that
    cancel) would dominate a per-tensor ratio without meaning anything wrong.
    """
    worst, scale = 0.0, 0.0
    for k, r in ref.items():
        w = weights.get(k)
        if w is None or w.shape != r.shape:
            return math.inf
        scale = max(scale, float(r.abs().max()))
        worst = max(worst, float((w.double() - r.double()).abs().max()))
    return worst / (scale or 1.0)


def compare(runs: dict[int, RungRun], reference: int = REFERENCE) -> None:
    """Fill in each run's ``loss_diff`` and ``weight_diff`` against rung ``reference``."""
    ref = runs[reference]
    for r in runs.values():
        r.loss_diff = loss_difference(r.losses, ref.losses)
        r.weight_diff = weight_difference(r.weights, ref.weights)


def compare_stepwise(
    p: Problem, runs: dict[int, RungRun], runners: dict[int, Callable[[Problem], RungRun]]
) -> None:
    """Each rung's step k from the reference's weights before step k, against the reference's
    loss at step k and weights after it (fills ``step_loss_diff``, ``step_weight_diff``).

    What float32 is checked by: free-running, rounding differences of ~1e-7 per step are
    amplified by training (a ReLU that flips on one rung and not on another), so the curves
    drift apart by more than any one step's error; one step at a time, each rung must
    compute the reference's step.
    """
    ref = runs[REFERENCE]
    assert ref.trajectory is not None
    for rung, r in runs.items():
        if rung == REFERENCE:
            r.step_loss_diff = r.step_weight_diff = 0.0
            continue
        loss_worst = weight_worst = 0.0
        for k in range(p.steps):
            one = dataclasses.replace(p, batches=p.batches[k : k + 1], init=ref.trajectory[k])
            step = runners[rung](one)
            loss_worst = max(loss_worst, loss_difference(step.losses, ref.losses[k : k + 1]))
            weight_worst = max(weight_worst, weight_difference(step.weights, ref.trajectory[k + 1]))
        r.step_loss_diff, r.step_weight_diff = loss_worst, weight_worst


def run_same_model(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    models: Sequence[str] = MODELS,
    rungs: Sequence[int] = RUNGS,
    steps: int = 50,
    batch_size: int = 100,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    runners: dict[int, Callable[[Problem], RungRun]] | None = None,
    stepwise: bool | None = None,
    log: Callable[[str], None] | None = print,
) -> SameModelResult:
    """Train each model through each of ``rungs`` (and rung 4, the reference) and compare.

    stepwise: also compare one step at a time from the reference's weights
    (:func:`compare_stepwise`); None = for float32, what float32 is checked by.
    images: uint8 ``(N, H, W, C)``, labels ``(N,)``: the training images to draw batches
    from. runners: replace a rung's runner (tests plant a bug this way).
    """
    runners = {**RUNNERS, **(runners or {})}
    result = SameModelResult(dtype, steps, batch_size)
    for model in models:
        p = make_problem(
            model, images, labels, num_classes, steps=steps, batch_size=batch_size,
            seed=seed, dtype=dtype, device=device,
        )  # fmt: skip
        todo = sorted({*(r for r in rungs if r in model_rungs(model)), REFERENCE})
        runs = {}
        for rung in todo:
            if log:
                log(f"same-model {model} rung {rung}: {IMPLEMENTATION[model, rung]}, "
                    f"{steps} steps of {batch_size}")  # fmt: skip
            runs[rung] = runners[rung](p)
        compare(runs)
        if (stepwise is None and dtype != torch.float64) or stepwise:
            if log:
                log(f"same-model {model}: each rung's {steps} steps one at a time from rung "
                    f"{REFERENCE}'s weights")  # fmt: skip
            compare_stepwise(p, runs, runners)
        result.runs[model] = runs
    return result


# ---------------------------------------------------------------- files


def write_same_model(result: SameModelResult, out: str | Path, *, title: str = "") -> None:
    """``same-model.csv`` (one row per model and rung), ``same-model-losses.csv`` (the loss
    after each step, one column per rung), ``same-model.md`` and ``same-model.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = same_model_rows(result)
    path = out / "same-model.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    result.files["csv"] = path

    path = out / "same-model-losses.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "step", *[f"rung_{r}" for r in RUNGS]])
        for model, runs in result.runs.items():
            for k in range(result.steps):
                cells = [
                    repr(runs[r].losses[k]) if r in runs and k < len(runs[r].losses) else ""
                    for r in RUNGS
                ]
                w.writerow([model, k + 1, *cells])
    result.files["losses"] = path

    path = out / "same-model.md"
    path.write_text(same_model_markdown(result, rows, title=title))
    result.files["md"] = path
    result.files["png"] = plot_same_model(result, out / "same-model.png")


def same_model_rows(result: SameModelResult) -> list[dict[str, object]]:
    """One dict per model and rung: the agreement and the speed."""
    rows = []
    for model, runs in result.runs.items():
        for rung, r in runs.items():
            s = r.seconds_per_step
            rows.append({
                "model": model, "rung": rung, "implementation": IMPLEMENTATION[model, rung],
                "gradient": GRADIENT_BY[rung], "dtype": str(result.dtype).removeprefix("torch."),
                "steps": result.steps, "batch_size": result.batch_size,
                "loss_first": r.losses[0], "loss_last": r.losses[-1],
                "loss_rel_diff": r.loss_diff, "weight_rel_diff": r.weight_diff,
                "step_loss_rel_diff": "" if r.step_loss_diff is None else r.step_loss_diff,
                "step_weight_rel_diff": "" if r.step_weight_diff is None else r.step_weight_diff,
                "checked": "one step at a time" if r.step_loss_diff is not None else "free-running",
                "max_rel_diff": r.max_rel_diff, "ms_per_step": 1000 * s,
                "images_per_s": result.batch_size / s,
            })  # fmt: skip
    return rows


def same_model_markdown(result: SameModelResult, rows: list[dict], *, title: str = "") -> str:
    """The agreement table and a few points of each loss curve, as Markdown."""
    dtype = str(result.dtype).removeprefix("torch.")
    stepwise = any(r["checked"] != "free-running" for r in rows)
    lines = [
        f"# Same model, every rung ({dtype})",
        "",
        *([title, ""] if title else []),
        f"{result.steps} plain-SGD steps of batch {result.batch_size}, the same batches and "
        f"initial weights in every rung; differences are relative to rung {REFERENCE} "
        f"(tolerance {result.tolerance:.0e}); time per step is the median after "
        f"{WARMUP} warm-up steps.",
    ]
    if stepwise:
        lines += [
            "",
            "float32 is checked one step at a time: each rung takes step k from rung "
            f"{REFERENCE}'s weights before step k (the free-running curves drift apart as "
            "training amplifies rounding; their differences are shown too).",
        ]
    head = "| model | rung | implementation | gradient | loss rel diff | weight rel diff |"
    rule = "| --- | --- | --- | --- | --- | --- |"
    if stepwise:
        head += " one-step loss diff | one-step weight diff |"
        rule += " --- | --- |"
    lines += ["", head + " ms/step | images/s | agrees |", rule + " --- | --- | --- |"]
    for r in rows:
        ok = "yes" if r["max_rel_diff"] <= result.tolerance else "**NO**"
        cells = f"| {r['model']} | {r['rung']} | {r['implementation']} | {r['gradient']} | "
        cells += f"{r['loss_rel_diff']:.1e} | {r['weight_rel_diff']:.1e} | "
        if stepwise:
            cells += f"{r['step_loss_rel_diff']:.1e} | {r['step_weight_rel_diff']:.1e} | "
        lines.append(cells + f"{r['ms_per_step']:.2f} | {r['images_per_s']:,.0f} | {ok} |")
    lines += ["", f"Loss after steps 1, 10, 20, ... (rung {REFERENCE}; every rung's, every step: "
              "same-model-losses.csv):", ""]  # fmt: skip
    for model, runs in result.runs.items():
        ref = runs[REFERENCE].losses
        marks = sorted({0, *range(9, len(ref), 10), len(ref) - 1})
        lines.append(f"- {model}: " + ", ".join(f"{k + 1}: {ref[k]:.6f}" for k in marks))
    return "\n".join(lines) + "\n"


def plot_same_model(result: SameModelResult, path: str | Path) -> Path:
    """Loss curves overlaid per rung (top) and each rung's |loss - rung 4's| / rung 4's (bottom)."""
    from deepclass.viz.figures import new_figure, save_figure

    models = list(result.runs)
    fig, axes = new_figure(len(models), 2, size=(6.0 * len(models), 7.5))
    styles = {1: ("o", 9), 2: ("s", 7), 3: ("^", 6), 4: ("", 0), 5: ("x", 6)}
    for j, model in enumerate(models):
        top, bottom = axes[j], axes[len(models) + j]
        runs = result.runs[model]
        ref = np.asarray(runs[REFERENCE].losses)
        steps = np.arange(1, len(ref) + 1)
        for rung, r in runs.items():
            marker, size = styles[rung]
            every = max(1, len(steps) // 10)
            top.plot(steps, r.losses, marker=marker or None, markersize=size, markevery=every,
                     fillstyle="none", linewidth=2.5 if rung == REFERENCE else 1,
                     label=f"rung {rung}")  # fmt: skip
            if rung != REFERENCE:
                diff = np.abs(np.asarray(r.losses) - ref) / np.abs(ref)
                bottom.semilogy(steps, np.maximum(diff, 1e-17), marker=marker or None,
                                markersize=size, markevery=every, fillstyle="none",
                                label=f"rung {rung}")  # fmt: skip
        bottom.axhline(result.tolerance, color="k", linestyle=":", label="tolerance")
        top.set(title=f"{model}: training loss", xlabel="step", ylabel="loss")
        bottom.set(title=f"{model}: |loss - rung {REFERENCE}| / rung {REFERENCE}",
                   xlabel="step", ylabel="relative difference")  # fmt: skip
        top.legend()
        bottom.legend(fontsize="small")
    return save_figure(fig, path)


def summary_lines(result: SameModelResult) -> list[str]:
    """The closing console lines: ``same-model linear rung 2: max rel diff 3.1e-12 vs rung 4``
    per model and rung (rung 4 itself is the reference), then a verdict line if one disagrees."""
    lines = []
    bad = []
    for model, runs in result.runs.items():
        for rung, r in runs.items():
            if rung == REFERENCE:
                continue
            lines.append(
                f"same-model {model} rung {rung}: max rel diff {r.max_rel_diff:.1e} "
                f"vs rung {REFERENCE}"
            )
            if not r.max_rel_diff <= result.tolerance:
                bad.append(f"{model} rung {rung}")
    if bad:
        lines.append(
            f"same-model: DISAGREES beyond {result.tolerance:.0e}: {', '.join(bad)} "
            "(a bug in that rung)"
        )
    return lines
