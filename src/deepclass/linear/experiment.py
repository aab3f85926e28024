"""One ``deepclass linear`` run as a library function: search, pick the best, test, save, plot.

``run_experiment("svm", data_dict, learning_rates, regularization_strengths,
out_dir=...)`` trains one model per (lr, reg) with :func:`grid_search`,
keeps the best by validation accuracy, scores it on the test set, and
writes into ``out_dir`` (``<loss>_`` prefixed, so SVM and softmax runs can
share a folder):

- ``<loss>_model.pt``       the best model (``LinearClassifier.load`` reads it)
- ``<loss>_results.md``     the (lr, reg, train acc, val acc) table and the test accuracy
- ``<loss>_summary.json``   the same numbers, machine-readable
- ``<loss>_loss.png``       the best model's training loss per iteration
- ``<loss>_val_acc.png``    validation accuracy over the lr x reg grid (diverged: nan)
- ``<loss>_weights.png``    the learned weight templates, one image per class
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from deepclass.errors import ConfigError
from deepclass.linear.search import SearchResult, grid_search
from deepclass.registry import get_model
from deepclass.viz import plot_heatmap, plot_history, plot_image_grid


@dataclass
class ExperimentResult:
    """The search, the best model's accuracies and the files written."""

    loss: str
    search: SearchResult
    train_acc: float
    val_acc: float
    test_acc: float
    files: dict[str, Path] = field(default_factory=dict)


def weight_templates(
    W: torch.Tensor, image_shape: tuple[int, int, int] = (3, 32, 32)
) -> np.ndarray:
    """The columns of ``W (D, C)`` as images ``(C, H, W, channels)``.

    D is ``channels * H * W`` (images flattened from NCHW), plus one for a
    bias row (the bias trick), which is dropped.
    """
    channels, height, width = image_shape
    pixels = channels * height * width
    if W.ndim != 2 or W.shape[0] not in (pixels, pixels + 1):
        raise ConfigError(
            f"W must be ({pixels}, C) or ({pixels + 1}, C) for {image_shape} images, "
            f"got shape {tuple(W.shape)}"
        )
    w = W[:pixels].detach().cpu().double().T.reshape(-1, channels, height, width)
    return w.permute(0, 2, 3, 1).numpy()


def _fmt(v: float) -> str:
    return f"{v:.2e}"


def _results_markdown(loss: str, res: ExperimentResult, num_iters: int, batch_size: int) -> str:
    s = res.search
    lines = [
        f"# deepclass linear --loss {loss}",
        "",
        f"{num_iters} iterations of batch {batch_size} per combination; best by validation "
        "accuracy (*).",
        "",
        "| lr | reg | train acc | val acc |",
        "| --- | --- | --- | --- |",
    ]
    for (lr, reg), (tr, va) in sorted(s.results.items()):
        mark = " *" if (lr, reg) == s.best_params else ""
        if (lr, reg) in s.diverged:
            lines.append(f"| {lr:.3e} | {reg:.3e} | diverged | - |")
        else:
            lines.append(f"| {lr:.3e} | {reg:.3e} | {tr:.4f} | {va:.4f}{mark} |")
    lr, reg = s.best_params
    lines += [
        "",
        f"best: lr {lr:.3e}, reg {reg:.3e}: train acc {res.train_acc:.4f}, "
        f"val acc {res.val_acc:.4f}, test acc {res.test_acc:.4f}",
    ]
    return "\n".join(lines) + "\n"


def run_experiment(
    loss: str,
    data_dict: Mapping[str, torch.Tensor],
    learning_rates: Sequence[float],
    regularization_strengths: Sequence[float],
    *,
    num_iters: int = 2000,
    batch_size: int = 200,
    seed: int | None = 0,
    out_dir: str | os.PathLike = "runs/linear",
    classes: Sequence[str] | None = None,
    progress: bool = True,
) -> ExperimentResult:
    """Search ``learning_rates x regularization_strengths`` for model ``loss`` ("svm", "softmax").

    data_dict: the course's dict (``X_train, y_train, X_val, y_val, X_test,
    y_test``; X ``(N, 3073)`` from ``preprocess_cifar10(bias_trick=True)``).
    Raises ``DivergedError`` if every combination diverged.
    """
    from deepclass.linear.train import DivergedError

    entry = get_model("linear", loss)  # unknown names list the valid ones
    missing = [k for k in ("X_test", "y_test") if k not in data_dict]
    if missing:
        raise ConfigError(f"data_dict must have the keys X_test, y_test; missing {missing}")
    search = grid_search(
        entry.builder,
        data_dict,
        learning_rates,
        regularization_strengths,
        num_iters,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
        desc=f"{loss} search",
    )
    if search.best_model is None:
        raise DivergedError(
            f"every (lr, reg) combination diverged for {loss}: lower the learning rates "
            f"(tried {search.learning_rates})",
            0,
            [],
        )
    best = search.best_model
    lr, reg = search.best_params
    train_acc, val_acc = search.results[(lr, reg)]
    test_acc = best.score(data_dict["X_test"], data_dict["y_test"])
    res = ExperimentResult(loss, search, train_acc, val_acc, test_acc)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res.files["model"] = best.save(out / f"{loss}_model.pt")
    res.files["loss_curve"] = plot_history(
        {"train loss": search.best_loss_history},
        out / f"{loss}_loss.png",
        panels={f"{loss}: lr {lr:.2e}, reg {reg:.2e}": ["train loss"]},
        xlabel="iteration",
    )
    res.files["val_acc_heatmap"] = plot_heatmap(
        search.val_grid(),
        [_fmt(v) for v in search.learning_rates],
        [_fmt(v) for v in search.regularization_strengths],
        out / f"{loss}_val_acc.png",
        title=f"{loss}: validation accuracy",
        xlabel="regularization strength",
        ylabel="learning rate",
    )
    res.files["weights"] = plot_image_grid(
        weight_templates(best.W),
        out / f"{loss}_weights.png",
        titles=list(classes) if classes is not None else None,
        title=f"{loss}: learned weight templates",
    )
    table = out / f"{loss}_results.md"
    table.write_text(_results_markdown(loss, res, num_iters, batch_size))
    res.files["results"] = table
    summary = {
        "loss": loss,
        "num_iters": num_iters,
        "batch_size": batch_size,
        "seed": seed,
        "best_lr": lr,
        "best_reg": reg,
        "train_acc": train_acc,
        "val_acc": val_acc,
        "test_acc": test_acc,
        "results": [
            {
                "lr": k[0],
                "reg": k[1],
                "train_acc": None if math.isnan(v[0]) else v[0],
                "val_acc": None if math.isnan(v[1]) else v[1],
                "diverged": k in search.diverged,
            }
            for k, v in sorted(search.results.items())
        ],
    }
    path = out / f"{loss}_summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    res.files["summary"] = path
    return res
