"""Figure creation and atomic saving."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")  # headless machines: render to files only

import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def new_figure(ncols: int = 1, nrows: int = 1, *, size: tuple[float, float] | None = None):
    """``(fig, axes)`` with ``axes`` always a flat list."""
    size = size or (5.0 * ncols, 4.0 * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    return fig, list(axes.flat)


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` (PNG) atomically, close it, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=path.suffix or ".png", dir=path.parent
    )
    os.close(fd)
    try:
        fig.tight_layout()
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
