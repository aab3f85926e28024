"""Data-loading throughput: the in-memory ``BatchIterator`` vs ``DataLoader`` paths.

Candidates, same CIFAR-10 training images, batch 512, one pass each:

1. ``BatchIterator`` with batched augmentation (random crop, padding 4, and
   flip on whole batches), and without augmentation;
2. ``DataLoader(TensorDataset)`` over pre-converted float tensors (no
   augmentation: it has no batched hook for it);
3. a per-image ``Dataset`` (``ArrayTorchDataset`` doing the same crop and
   flip per image) + ``DataLoader`` with worker processes.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from deepclass.bench import BenchConfig, Table
from deepclass.data import ArrayTorchDataset, Augment, BatchIterator, load_dataset, to_tensor


def _rate(loader, n_images: int, repeat: int) -> float:
    """Best images/s over ``repeat`` full passes."""
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        seen = 0
        for xb, _ in loader:
            seen += xb.shape[0]
        best = max(best, seen / (time.perf_counter() - t))
    assert seen == n_images, (seen, n_images)
    return best


class _PerImageAugment:
    """Crop + flip one ``(C, H, W)`` image at a time (the per-image Python path)."""

    def __init__(self, aug: Augment) -> None:
        self.aug = aug

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.aug(x[None])[0]


def run(cfg: BenchConfig) -> list[Table]:
    train = load_dataset("cifar10", cfg.data_dir, val_size=0).train
    n = 4096 if cfg.quick else len(train)
    train = train.subset(np.arange(n))
    batch, repeat = 512, 1 if cfg.quick else 2
    workers = 1 if cfg.quick else 2
    aug = Augment(crop_padding=4, flip=True)

    it = BatchIterator.from_dataset(train, batch, shuffle=True, seed=cfg.seed, augment=aug)
    plain = BatchIterator.from_dataset(train, batch, shuffle=True, seed=cfg.seed)
    x, y = to_tensor(train.images), torch.from_numpy(train.labels)
    tensor_dl = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    per_image = DataLoader(
        ArrayTorchDataset(train, transform=_PerImageAugment(aug)),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        persistent_workers=False,
    )

    rates = {
        "BatchIterator + batched crop/flip": _rate(it, n, repeat),
        "BatchIterator, no augmentation": _rate(plain, n, repeat),
        "DataLoader(TensorDataset), no augmentation": _rate(tensor_dl, n, repeat),
        f"per-image Dataset + crop/flip, DataLoader({workers} workers)": _rate(per_image, n, 1),
    }
    base = rates["DataLoader(TensorDataset), no augmentation"]
    t = Table(
        f"CIFAR-10 training batches ({n} images, batch {batch})",
        ["loader", "images/s", "vs DataLoader(TensorDataset)"],
    )
    for name, r in rates.items():
        t.add(name, round(r), f"{r / base:.2f}x")
    t.notes.append("best of the passes; the per-image loader includes its worker start-up")
    return [t]
