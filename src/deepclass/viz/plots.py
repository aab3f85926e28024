"""The plots deepclass writes."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from deepclass.viz.figures import new_figure, save_figure


def plot_history(
    history: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    *,
    panels: Mapping[str, Sequence[str]] | None = None,
    xlabel: str = "epoch",
    title: str | None = None,
    x: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Curves from ``history`` (name -> values), one panel per entry of ``panels``.

    panels: panel title -> the history keys drawn in it; default: one panel
    with every key. x: optional x values per key (default 1..len). Keys
    missing from ``history`` are skipped.
    """
    panels = panels or {title or "": list(history)}
    fig, axes = new_figure(len(panels))
    for ax, (ptitle, keys) in zip(axes, panels.items(), strict=True):
        draw_history(ax, history, keys, xlabel=xlabel, title=ptitle, x=x)
    if title and len(panels) > 1:
        fig.suptitle(title)
    return save_figure(fig, path)


def draw_history(
    ax,
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str],
    *,
    xlabel: str = "epoch",
    title: str = "",
    x: Mapping[str, Sequence[float]] | None = None,
) -> None:
    """Draw the curves ``history[k]`` for ``k`` in ``keys`` on ``ax`` (missing or empty keys skipped)."""
    for k in keys:
        ys = history.get(k)
        if ys is None or len(ys) == 0:
            continue
        xs = x[k] if x and k in x else np.arange(1, len(ys) + 1)
        ax.plot(xs, np.asarray(ys, dtype=float), lw=2, label=k)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()


def plot_heatmap(
    values: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    fmt: str = "{:.3f}",
    cmap: str = "viridis",
) -> Path:
    """A ``(rows, cols)`` grid of values with each cell annotated; NaN cells (e.g. diverged) show 'nan'."""
    values = np.asarray(values, dtype=float)
    fig, (ax,) = new_figure(size=(1.2 * len(col_labels) + 3, 0.8 * len(row_labels) + 2.5))
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=30)
    ax.set_yticks(range(len(row_labels)), row_labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            ax.text(
                j,
                i,
                "nan" if np.isnan(v) else fmt.format(v),
                ha="center",
                va="center",
                color="white",
                fontsize=9,
            )
    fig.colorbar(im, ax=ax)
    return save_figure(fig, path)


def _to_display(img: np.ndarray) -> np.ndarray:
    """Rescale one image ``(H, W[, C])`` to [0, 1] for display (learned weights are unbounded)."""
    img = np.asarray(img, dtype=float)
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def plot_image_grid(
    images: np.ndarray,
    path: str | os.PathLike,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 10,
    rescale: bool = True,
    title: str = "",
    cell: float = 1.4,
) -> Path:
    """Images ``(N, H, W, C)`` (C = 1 or 3) or ``(N, H, W)`` in a grid.

    rescale: stretch each image to [0, 1] on its own (for weights and
    filters); otherwise values are taken as [0, 1] (or uint8) as they are.
    """
    images = np.asarray(images)
    n = images.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = new_figure(ncols, nrows, size=(cell * ncols, cell * nrows + (0.4 if title else 0)))
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        img = _to_display(img) if rescale else (img / 255.0 if img.dtype == np.uint8 else img)
        ax.imshow(
            np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, interpolation="nearest"
        )
        if titles is not None and i < len(titles):
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_confusion_matrix(
    cm: np.ndarray,
    classes: Sequence[str],
    path: str | os.PathLike,
    *,
    normalize: bool = True,
    title: str = "confusion matrix",
) -> Path:
    """Confusion matrix (rows: true class, columns: predicted), normalised per row by default."""
    cm = np.asarray(cm, dtype=float)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    k = len(classes)
    fig, (ax,) = new_figure(size=(0.6 * k + 3, 0.6 * k + 2.5))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                v = shown[i, j]
                ax.text(
                    j,
                    i,
                    f"{v:.2f}" if normalize else f"{int(v)}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > 0.5 * shown.max() else "black",
                )
    fig.colorbar(im, ax=ax)
    return save_figure(fig, path)


def draw_decision_regions(
    ax,
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    title: str = "",
    resolution: int = 200,
    margin: float = 0.1,
) -> None:
    """Shade the classes ``predict`` assigns over the plane and scatter the points ``X (N, 2)``.

    predict: ``(M, 2)`` float32 -> ``(M,)`` integer classes.
    """
    X = np.asarray(X, dtype=np.float32)
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    zz = np.asarray(predict(grid)).reshape(gx.shape)
    ax.contourf(gx, gy, zz, alpha=0.3, cmap="coolwarm", levels=np.arange(zz.max() + 2) - 0.5)
    for c, marker in zip(np.unique(y), "os^v<>", strict=False):
        m = y == c
        ax.scatter(
            X[m, 0], X[m, 1], s=18, marker=marker, edgecolor="k", linewidths=0.5, label=f"class {c}"
        )
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)


def plot_decision_regions(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike,
    *,
    title: str = "",
) -> Path:
    """One decision-region figure (see :func:`draw_decision_regions`)."""
    fig, (ax,) = new_figure(size=(5, 4.5))
    draw_decision_regions(ax, predict, X, y, title=title)
    return save_figure(fig, path)
