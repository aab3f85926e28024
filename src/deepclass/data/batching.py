"""Minibatches from in-memory tensors, with augmentation done on whole batches.

``BatchIterator`` is the fast path every rung can use: the data set lives in
one tensor, a batch is one indexing operation, and augmentation (random crop
with padding, horizontal flip) is a handful of tensor ops per batch, not
Python work per image. ``ArrayTorchDataset`` is the per-image
``torch.utils.data.Dataset`` view of the same arrays, for ``DataLoader`` and
Lightning code that expects one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deepclass.data.dataset import ArrayDataset
from deepclass.data.preprocess import to_tensor
from deepclass.errors import ConfigError


def random_crop(
    x: torch.Tensor, padding: int, generator: torch.Generator | None = None, mode: str = "reflect"
) -> torch.Tensor:
    """Pad ``x (N, C, H, W)`` by ``padding`` and crop each image back to ``H x W`` at a random offset.

    Two ``gather`` calls move every image by its own offset at once.
    mode: "reflect" or "constant" (zeros). Returns a new ``(N, C, H, W)`` tensor.
    """
    if padding <= 0:
        return x
    n, c, h, w = x.shape
    xp = F.pad(x, (padding, padding, padding, padding), mode=mode)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    xp = xp.gather(2, rows.expand(n, c, h, w + 2 * padding))
    cols = (dx[:, None] + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    return xp.gather(3, cols.expand(n, c, h, w))


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image of ``x (N, C, H, W)`` left-right with probability 1/2."""
    mask = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


@dataclass
class Augment:
    """Batched augmentation: random crop with ``crop_padding`` pixels of padding, then a random flip."""

    crop_padding: int = 0
    flip: bool = False
    pad_mode: str = "reflect"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.ndim != 4:
            raise ConfigError(
                f"augmentation needs image batches (N, C, H, W), got shape {tuple(x.shape)}"
            )
        x = random_crop(x, self.crop_padding, generator, self.pad_mode)
        return random_flip(x, generator) if self.flip else x

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.flip


class BatchIterator:
    """Iterate ``(x, y)`` minibatches over tensors held in memory.

    x: ``(N, C, H, W)`` images (uint8 in [0, 255] is converted per batch to
    ``dtype`` in [0, 1]) or ``(N, D)`` features. y: ``(N,)`` labels.
    Each pass (epoch) draws a new permutation from ``seed`` and the epoch
    number, so epoch ``e`` is the same whether or not the run was resumed;
    ``set_epoch`` picks the epoch explicitly. ``transform`` (e.g. a
    normalisation) runs on each batch after augmentation. With
    ``num_replicas > 1`` each rank sees its own equal share of every epoch
    (the DistributedSampler contract).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        augment: Augment | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if x.shape[0] != y.shape[0]:
            raise ConfigError(
                f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}"
            )
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        if not 0 <= rank < num_replicas:
            raise ConfigError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.seed, self.epoch = int(seed), 0
        self.augment, self.transform = augment, transform
        self.dtype, self.device = dtype, torch.device(device) if device is not None else x.device
        self.num_replicas, self.rank = num_replicas, rank

    @classmethod
    def from_dataset(cls, ds: ArrayDataset, batch_size: int, **kwargs) -> BatchIterator:
        """Iterator over an ``ArrayDataset``: images kept as uint8 ``(N, C, H, W)`` until batched."""
        x = torch.from_numpy(ds.images)
        x = x.permute(0, 3, 1, 2).contiguous() if ds.is_image else x
        return cls(x, torch.from_numpy(ds.labels), batch_size, **kwargs)

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch."""
        return self.x.shape[0] // self.num_replicas if self.num_replicas > 1 else self.x.shape[0]

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch`` (its permutation and augmentation draws)."""
        self.epoch = int(epoch)

    def _generator(self) -> torch.Generator:
        # One stream per (seed, epoch): resuming at epoch e replays exactly epoch e.
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = self._generator()
        n = self.x.shape[0]
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        if self.num_replicas > 1:
            order = order[: self.num_samples * self.num_replicas][self.rank :: self.num_replicas]
        self.epoch += 1
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            xb = self.x[idx].to(self.device, non_blocking=True)
            yb = self.y[idx].to(self.device, non_blocking=True)
            if xb.dtype == torch.uint8:
                xb = xb.to(self.dtype).div_(255.0)
            if self.augment is not None and self.augment.active:
                xb = self.augment(xb, gen if xb.device.type == "cpu" else None)
            if self.transform is not None:
                xb = self.transform(xb)
            yield xb, yb


class ArrayTorchDataset(torch.utils.data.Dataset):
    """Per-image ``Dataset`` view of an ``ArrayDataset``: ``(x, label)`` pairs.

    x is ``(C, H, W)`` float in [0, 1] for images or ``(D,)`` for features,
    then ``transform(x)`` if given; label is an int64 scalar tensor.
    """

    def __init__(
        self, ds: ArrayDataset, transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> None:
        self.ds, self.transform = ds, transform

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_tensor(self.ds.images[i : i + 1])[0]
        if self.transform is not None:
            x = self.transform(x)
        return x, torch.as_tensor(self.ds.labels[i], dtype=torch.int64)
