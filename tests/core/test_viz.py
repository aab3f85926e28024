"""Every plot function writes a real PNG of sensible size."""

from __future__ import annotations

import numpy as np
from PIL import Image

from deepclass import viz


def _png(path):
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 200 and im.height > 150
        # Not a blank canvas: a plot has many distinct colours.
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20


def test_history_heatmap_grid_confusion_decision(tmp_path):
    hist = {
        "train_loss": [2.0, 1.5, 1.2],
        "valid_loss": [2.1, 1.7, 1.6],
        "train_acc": [0.2, 0.4, 0.5],
        "valid_acc": [0.2, 0.35, 0.4],
    }
    _png(
        viz.plot_history(
            hist,
            tmp_path / "h.png",
            panels={"loss": ["train_loss", "valid_loss"], "accuracy": ["train_acc", "valid_acc"]},
        )
    )
    _png(
        viz.plot_heatmap(
            np.array([[0.3, np.nan], [0.35, 0.38]]),
            ["1e-3", "1e-2"],
            ["1e-4", "1e-3"],
            tmp_path / "m.png",
            title="val acc",
        )
    )
    w = np.random.default_rng(0).normal(size=(10, 32, 32, 3))
    _png(viz.plot_image_grid(w, tmp_path / "g.png", titles=[str(i) for i in range(10)], ncols=5))
    cm = np.array([[5, 1], [2, 7]])
    _png(viz.plot_confusion_matrix(cm, ["a", "b"], tmp_path / "c.png"))
    X = np.random.default_rng(1).uniform(-1, 1, (50, 2)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] >= 0).astype(int)
    _png(
        viz.plot_decision_regions(
            lambda g: (g[:, 0] * g[:, 1] >= 0).astype(int), X, y, tmp_path / "d.png"
        )
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.png",
        "d.png",
        "g.png",
        "h.png",
        "m.png",
    ]
