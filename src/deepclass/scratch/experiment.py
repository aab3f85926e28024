"""One training run of a scratch model on CIFAR-10 (what ``deepclass scratch`` calls).

Data: ``preprocess_cifar10(flatten=False)`` (the EECS 498 split: 40,000 train,
10,000 validation, 10,000 test; mean colour subtracted). The run writes to
``out``: ``log.txt`` (the Solver log), ``model.pt`` (the best-validation
parameters; with ``overfit``, the final ones), ``history.json``, ``loss.png``,
``accuracy.png`` and ``weights.png`` (the first layer's weights as images).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from deepclass.checks import check_options
from deepclass.errors import ConfigError
from deepclass.registry import build_model, model_names
from deepclass.scratch.models import ScratchModel
from deepclass.scratch.solver import Solver
from deepclass.seed import seed_everything


@dataclass
class ScratchRunConfig:
    """Every knob of one run; None means the model's (or the update rule's) default.

    hidden: two_layer ``[hidden_dim]``, fc the hidden sizes, conv ``[hidden_dim]``.
    filters: conv ``[num_filters]``, deep_conv one count per conv layer.
    weight_scale: a std, or ``kaiming`` (deep_conv; its default here).
    overfit: train on only the first N training examples (the overfitting check).
    num_train / num_test: keep only the first N CIFAR-10 train / test images.
    num_val_samples: the Solver's per-epoch validation check on N random examples.
    """

    model: str = "two_layer"
    hidden: list[int] | None = None
    filters: list[int] | None = None
    filter_size: int | None = None
    max_pools: list[int] | None = None
    batchnorm: bool = False
    dropout: float = 0.0
    reg: float = 0.0
    weight_scale: float | str | None = None
    update_rule: str = "sgd"
    lr: float | None = None
    lr_decay: float = 1.0
    batch_size: int = 100
    epochs: int = 10
    overfit: int | None = None
    num_train: int | None = None
    num_test: int | None = None
    num_val_samples: int | None = None
    time_limit: float | None = None
    print_every: int = 100
    seed: int = 0
    device: str = "cpu"
    data_dir: str | None = None
    out: str = "runs/scratch"
    extra: dict[str, Any] = field(default_factory=dict)


CIFAR10_SHAPE = (3, 32, 32)  # what preprocess_cifar10(flatten=False) gives every model


def check_config(cfg: ScratchRunConfig) -> dict[str, Any]:
    """Check every option before any data is loaded; returns the model's constructor arguments.

    Errors name the CLI flag (``--batch-size must be a positive int, got 0``).
    """
    if cfg.model not in model_names("scratch"):
        raise ConfigError(
            f"unknown model {cfg.model!r}; valid: {', '.join(model_names('scratch'))}"
        )
    check_options(
        asdict(cfg),
        name=lambda key: "--" + key.replace("_", "-"),
        positive_ints=("hidden", "filters", "filter_size", "batch_size", "epochs", "overfit",
                       "num_train", "num_test", "num_val_samples", "print_every"),
        non_negative_ints=("max_pools",),
        positive_numbers=("lr", "lr_decay", "time_limit"),
        non_negative_numbers=("reg",),
    )  # fmt: skip
    if not 0 <= cfg.dropout < 1:
        raise ConfigError(f"--dropout must be a drop probability in [0, 1), got {cfg.dropout}")
    return model_kwargs(cfg, CIFAR10_SHAPE)


def _one(name: str, values: list[int] | None, model: str) -> int | None:
    if values is None:
        return None
    if len(values) != 1:
        raise ConfigError(f"--{name} takes one value for --model {model}, got {values}")
    return values[0]


def model_kwargs(cfg: ScratchRunConfig, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Constructor arguments of ``cfg.model`` for inputs of shape ``(C, H, W)``."""
    name = cfg.model
    kw: dict[str, Any] = {"reg": cfg.reg}
    ws = cfg.weight_scale
    if ws is not None and ws != "kaiming":
        ws = float(ws)
    if name in ("two_layer", "fc") and (cfg.filters or cfg.max_pools or cfg.filter_size):
        raise ConfigError(f"--filters/--filter-size/--max-pools do not apply to --model {name}")
    if cfg.dropout and name != "fc":
        raise ConfigError(f"--dropout applies to --model fc, not {name}")
    if cfg.batchnorm and name not in ("fc", "deep_conv"):
        raise ConfigError(f"--batchnorm applies to --model fc and deep_conv, not {name}")
    if ws == "kaiming" and name != "deep_conv":
        raise ConfigError(f"--weight-scale kaiming applies to --model deep_conv, not {name}")
    if ws is not None:
        kw["weight_scale"] = ws
    D = int(np.prod(input_shape))
    if name == "two_layer":
        kw["input_dim"] = D
        if (h := _one("hidden", cfg.hidden, name)) is not None:
            kw["hidden_dim"] = h
    elif name == "fc":
        kw.update(input_dim=D, hidden_dims=cfg.hidden or [100, 100], dropout=cfg.dropout)
        kw["normalization"] = "batchnorm" if cfg.batchnorm else None
        kw["seed"] = None
    elif name == "conv":
        kw["input_dims"] = input_shape
        if (h := _one("hidden", cfg.hidden, name)) is not None:
            kw["hidden_dim"] = h
        if (f := _one("filters", cfg.filters, name)) is not None:
            kw["num_filters"] = f
        if cfg.filter_size is not None:
            kw["filter_size"] = cfg.filter_size
    elif name == "deep_conv":
        if cfg.hidden:
            raise ConfigError("--hidden does not apply to --model deep_conv (use --filters)")
        kw.update(input_dims=input_shape, batchnorm=cfg.batchnorm)
        kw.setdefault("weight_scale", "kaiming")
        if cfg.filters:
            kw["num_filters"] = cfg.filters
        if cfg.max_pools is not None:
            kw["max_pools"] = cfg.max_pools
    else:
        raise ConfigError(f"unknown model {name!r}; valid: {', '.join(model_names('scratch'))}")
    return kw


def first_layer_images(model: ScratchModel, input_shape: tuple[int, ...]) -> np.ndarray:
    """The first layer's weights as images ``(K, h, w, C)``: FC columns or conv filters."""
    W1 = model.params["W1"].detach().float().cpu()
    # conv filters (F, C, K, K) as they are; FC (D, H): each hidden unit's weights as an image
    imgs = W1 if W1.ndim == 4 else W1.t().reshape(-1, *input_shape)
    return imgs.permute(0, 2, 3, 1).numpy()[:50]


class _Tee:
    """Write to several text streams (the console and log.txt)."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, s: str) -> int:
        for st in self.streams:
            st.write(s)
        return len(s)

    def flush(self) -> None:
        for st in self.streams:
            st.flush()


def run_scratch(cfg: ScratchRunConfig) -> dict[str, Any]:
    """Train ``cfg.model`` with the Solver on CIFAR-10 and write the run's files to ``cfg.out``.

    Returns a dict with ``train_acc`` (on the training set, all of it with
    ``overfit``, else 1,000 random examples), ``val_acc``, ``test_acc`` (all of
    each split), ``best_val_acc``, ``seconds`` (training wall time),
    ``stop_reason`` and the written ``files``.
    """
    kwargs = check_config(cfg)
    device = torch.device(cfg.device)
    seed_everything(cfg.seed)
    # Built before the data is loaded and anything is written, so that a bad argument costs
    # nothing and a previous run's log.txt stays. (Loading the data draws nothing from the
    # global generator: the initial weights are the same either way.)
    model = build_model("scratch", cfg.model, **kwargs, device=device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "log.txt", "w") as log, contextlib.redirect_stdout(_Tee(sys.stdout, log)):
        return _run(cfg, out, model, device)


def _run(cfg: ScratchRunConfig, out: Path, model: ScratchModel, device) -> dict[str, Any]:
    from deepclass.data import preprocess_cifar10
    from deepclass.viz import plot_history, plot_image_grid

    data = preprocess_cifar10(
        flatten=False, data_dir=cfg.data_dir, num_train=cfg.num_train, num_test=cfg.num_test
    )
    if cfg.overfit is not None:
        data["X_train"] = data["X_train"][: cfg.overfit]
        data["y_train"] = data["y_train"][: cfg.overfit]
    input_shape = tuple(data["X_train"].shape[1:])
    print(
        f"model {cfg.model}; train {len(data['y_train'])}, val {len(data['y_val'])}, "
        f"test {len(data['y_test'])} examples of shape {input_shape}; device {cfg.device}"
    )
    n_params = sum(p.numel() for p in model.params.values())
    print(f"{type(model).__name__}({model.config}); {n_params:,} parameters")

    optim_config = {"learning_rate": cfg.lr} if cfg.lr is not None else {}
    solver = Solver(
        model,
        data,
        update_rule=cfg.update_rule,
        optim_config=optim_config,
        lr_decay=cfg.lr_decay,
        batch_size=cfg.batch_size,
        num_epochs=cfg.epochs,
        print_every=cfg.print_every,
        num_val_samples=cfg.num_val_samples,
        device=device,
    )
    t = time.perf_counter()
    # The overfitting check reports the final parameters; a real run keeps the best-validation ones.
    solver.train(time_limit=cfg.time_limit, return_best_params=cfg.overfit is None)
    seconds = time.perf_counter() - t
    print(f"training took {seconds:.1f} s")
    if solver.stop_reason:
        print(f"stopped early: {solver.stop_reason}")

    check = solver.check_accuracy
    result: dict[str, Any] = {
        "model": cfg.model,
        "train_acc": check(
            data["X_train"], data["y_train"], None if cfg.overfit else solver.num_train_samples
        ),
        "val_acc": check(data["X_val"], data["y_val"]),
        "test_acc": check(data["X_test"], data["y_test"]),
        "best_val_acc": solver.best_val_acc,
        "seconds": seconds,
        "stop_reason": solver.stop_reason,
    }

    files = [model.save(out / "model.pt")]
    history = {
        "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
        "result": result,
        "loss_history": solver.loss_history,
        "train_acc_history": solver.train_acc_history,
        "val_acc_history": solver.val_acc_history,
    }
    (out / "history.json").write_text(json.dumps(history, indent=1))
    files.append(out / "history.json")
    checks = np.arange(len(solver.val_acc_history))  # check 0 = first iteration, then epochs
    files.append(
        plot_history(
            {"training loss": solver.loss_history},
            out / "loss.png",
            xlabel="iteration",
            title=f"{type(model).__name__}: training loss",
        )
    )
    files.append(
        plot_history(
            {"train": solver.train_acc_history, "val": solver.val_acc_history},
            out / "accuracy.png",
            x={"train": checks, "val": checks},
            title=f"{type(model).__name__}: accuracy",
        )
    )
    files.append(
        plot_image_grid(
            first_layer_images(model, input_shape),
            out / "weights.png",
            title=f"{type(model).__name__}: first-layer weights",
        )
    )
    result["files"] = [str(f) for f in files] + [str(out / "log.txt")]
    return result
