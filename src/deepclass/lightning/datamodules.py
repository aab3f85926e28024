"""LightningDataModules on the data layer: CIFAR-10, MNIST, XOR and a user's image folder.

``prepare_data`` decodes the data set once into the data layer's cache
(Lightning calls it on one process per machine); ``setup`` loads the splits
from that cache (MNIST: 55,000/5,000 with seed 1, seed 003's split) and
computes the normalisation statistics from the training images.

Batches come from the data layer's in-memory ``BatchIterator``: one indexing
operation per batch and augmentation (random crop, flip) on the whole batch,
no per-image Python work. Lightning calls ``loader.sampler.set_epoch(epoch)``
at the start of every epoch; the training iterator answers that call, so
epoch ``e``'s order and augmentation depend only on (seed, e), and a resumed
run replays exactly the epochs an uninterrupted one would. Under DDP each
process takes its own equal share of every training epoch (the iterator's
``num_replicas``/``rank``) and a disjoint slice of the evaluation splits.
``loader="dataloader"`` switches to a per-image ``DataLoader`` (workers,
``DistributedSampler``) for comparison or for very large folders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from deepclass.data import (
    ArrayDataset,
    ArrayTorchDataset,
    Augment,
    BatchIterator,
    DatasetSplits,
    channel_stats,
    load_dataset,
    normalize,
)
from deepclass.errors import ConfigError


@dataclass
class DataInfo:
    """What a model needs to know about its data: shapes, classes, normalisation."""

    name: str
    input_shape: tuple[int, ...]  # (C, H, W) or (D,)
    classes: list[str]
    is_image: bool
    mean: list[float] | None = None  # per-channel, when inputs are normalised
    std: list[float] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def chunked_channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """``channel_stats`` of uint8 ``(N, H, W, C)`` images, computed chunk by chunk.

    Same result (to float rounding) without the full float64 copy: the
    per-chunk means and variances are combined weighted by chunk size.
    """
    n = images.shape[0]
    mean = np.zeros(images.shape[-1])
    sq = np.zeros(images.shape[-1])
    for i in range(0, n, chunk):
        part = images[i : i + chunk]
        m, s = channel_stats(part)
        w = part.shape[0] / n
        mean += w * m
        sq += w * (s**2 + m**2)
    return mean, np.sqrt(np.maximum(sq - mean**2, 0.0))


class Normalize:
    """Batch transform ``(N, C, H, W) -> (x - mean) / std`` per channel (picklable for spawn)."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32)
        self.std = torch.tensor(std, dtype=torch.float32)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean.device != x.device:
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        return normalize(x, self.mean, self.std)


class EpochBatchIterator(BatchIterator):
    """A ``BatchIterator`` that Lightning can tell the epoch: it is its own ``sampler``."""

    @property
    def sampler(self) -> EpochBatchIterator:
        return self


class _PerImage:
    """Per-image transform for the DataLoader path: augment one ``(C, H, W)`` image, normalise."""

    def __init__(self, augment: Augment | None, norm: Normalize | None) -> None:
        self.augment, self.norm = augment, norm

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3 and (self.augment is not None or self.norm is not None):
            x = x[None]
            x = self.augment(x) if self.augment is not None else x
            x = self.norm(x) if self.norm is not None else x
            x = self.augment.apply_cutout(x) if self.augment is not None else x
            x = x[0]
        return x


class ArrayDataModule(L.LightningDataModule):
    """Any data set ``load_dataset`` knows, served from memory.

    dataset: "cifar10", "mnist", "xor" or a folder path. val_size: carved
    from train (None: the data set's convention). train/val/test_samples:
    keep only the first N samples of a split. normalize: per-channel
    mean/std of the training images (images only). crop_padding, flip,
    cutout: batched training augmentation (images only). seed: the training order
    and augmentation stream. data_device: "auto" keeps the arrays on the
    training device (a GPU holds CIFAR-10 easily), "cpu" on the host.
    """

    def __init__(
        self,
        dataset: str,
        *,
        data_dir: str | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        val_size: int | float | None = None,
        train_samples: int | None = None,
        val_samples: int | None = None,
        test_samples: int | None = None,
        normalize: bool = False,
        crop_padding: int = 0,
        flip: bool = False,
        pad_mode: str = "reflect",
        cutout: int = 0,
        seed: int = 0,
        loader: str = "memory",
        num_workers: int = 0,
        data_device: str = "auto",
        progress: bool = True,
    ) -> None:
        super().__init__()
        self.dataset, self.data_dir = dataset, data_dir
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, 256)
        self.val_size = val_size
        self.limits = {"train": train_samples, "val": val_samples, "test": test_samples}
        self.use_normalize = normalize
        self.augment = Augment(crop_padding, flip, pad_mode, cutout)
        self.seed, self.loader, self.num_workers = seed, loader, num_workers
        self.data_device, self.progress = data_device, progress
        self.splits: DatasetSplits | None = None
        self.info: DataInfo | None = None

    # ------------------------------------------------------------ loading
    def _load(self) -> DatasetSplits:
        return load_dataset(
            self.dataset, self.data_dir, val_size=self.val_size, progress=self.progress
        )

    def prepare_data(self) -> None:
        """Decode the data set into the cache (once per machine)."""
        self._load()

    def setup(self, stage: str | None = None) -> None:
        """Load the splits (cached), apply the sample limits, compute the statistics."""
        if self.splits is not None:
            return
        splits = self._load()
        parts = {}
        for split, ds in splits:
            n = self.limits[split]
            parts[split] = ds.subset(np.arange(min(n, len(ds)))) if n is not None else ds
        for split, ds in parts.items():
            if len(ds) == 0:
                raise ConfigError(f"data set {splits.name}: the {split} split is empty")
        self.splits = DatasetSplits(splits.name, parts["train"], parts["val"], parts["test"])
        train = self.splits.train
        mean = std = None
        if self.use_normalize and train.is_image:
            m, s = chunked_channel_stats(train.images)
            mean, std = [float(v) for v in m], [float(max(v, 1e-6)) for v in s]
        self.info = DataInfo(
            self.splits.name, train.sample_shape, list(train.classes), train.is_image, mean, std
        )

    def describe(self) -> str:
        """One line: the data set, its split sizes and input shape."""
        s, info = self.splits, self.info
        assert s is not None and info is not None
        return (
            f"{info.name}: {len(s.train):,} train / {len(s.val):,} val / {len(s.test):,} test, "
            f"input {info.input_shape}, {info.num_classes} classes"
        )

    # ------------------------------------------------------------ loaders
    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        if self.data_device == "auto" and trainer is not None:
            dev = trainer.strategy.root_device
            if dev.type == "cuda":
                return dev
        return torch.device("cpu")

    def _transform(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        info = self.info
        assert info is not None
        return Normalize(info.mean, info.std) if info.mean is not None else None

    def _iterator(self, ds: ArrayDataset, *, train: bool) -> BatchIterator | DataLoader:
        world, rank = self._world()
        augment = self.augment if (train and ds.is_image and self.augment.active) else None
        if self.loader == "dataloader":
            return self._dataloader(ds, train, augment, world, rank)
        if not train and world > 1:
            # every process evaluates its own disjoint slice; metrics are synced at compute
            ds = ds.subset(np.arange(rank, len(ds), world))
            world, rank = 1, 0
        cls = EpochBatchIterator if train else BatchIterator
        it = cls.from_dataset(
            ds,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            augment=augment,
            transform=self._transform(),
            num_replicas=world,
            rank=rank,
        )
        dev = self._device()
        if dev.type != "cpu":  # keep the uint8 arrays on the GPU: no host-to-device copy per batch
            it.x, it.y, it.device = it.x.to(dev), it.y.to(dev), dev
        return it

    def _dataloader(self, ds, train, augment, world, rank) -> DataLoader:
        tds = ArrayTorchDataset(ds, transform=_PerImage(augment, self._transform()))
        sampler = DistributedSampler(
            tds, num_replicas=world, rank=rank, shuffle=train, seed=self.seed, drop_last=False
        )
        return DataLoader(
            tds,
            batch_size=self.batch_size if train else self.eval_batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self):
        assert self.splits is not None, "call setup() first"
        return self._iterator(self.splits.train, train=True)

    def val_dataloader(self):
        assert self.splits is not None, "call setup() first"
        return self._iterator(self.splits.val, train=False)

    def test_dataloader(self):
        assert self.splits is not None, "call setup() first"
        return self._iterator(self.splits.test, train=False)


class CIFAR10DataModule(ArrayDataModule):
    """CIFAR-10 (49,000/1,000/10,000): normalised, random crop (padding 4) and flip by default."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("normalize", True)
        kwargs.setdefault("crop_padding", 4)
        kwargs.setdefault("flip", True)
        super().__init__("cifar10", **kwargs)


class MNISTDataModule(ArrayDataModule):
    """MNIST (55,000/5,000 with seed 1, 10,000 test): pixels in [0, 1] as in seed 003.

    ``MNISTDataModule(data_path)`` / ``MnistDataModule(data_path=...)``: seed 003's name
    and argument work too; ``data_path`` is ``data_dir`` (where the data sets are; None:
    ``$DEEPCLASS_DATA``, else ``./data``).
    """

    def __init__(self, data_path: str | Path | None = None, **kwargs) -> None:
        if data_path is not None:
            if kwargs.get("data_dir") is not None:
                raise ConfigError(
                    "MNISTDataModule: data_path is seed 003's name for data_dir; give one "
                    f"(got data_path={str(data_path)!r} and data_dir={kwargs['data_dir']!r})"
                )
            kwargs["data_dir"] = str(data_path)
        super().__init__("mnist", **kwargs)


MnistDataModule = MNISTDataModule  # seed 003's name


class XORDataModule(ArrayDataModule):
    """Seed 003's XOR points: (N, 2) features, 100 train / 100 valid, 200 test."""

    def __init__(self, **kwargs) -> None:
        kwargs["normalize"], kwargs["crop_padding"], kwargs["flip"] = False, 0, False
        super().__init__("xor", **kwargs)


class ImageFolderDataModule(ArrayDataModule):
    """A user's folder ``<root>/[train|val|test/]<class>/*`` (or a tar of one)."""

    def __init__(self, path: str | Path, **kwargs) -> None:
        kwargs.setdefault("normalize", True)
        super().__init__(str(path), **kwargs)


def build_datamodule(cfg) -> ArrayDataModule:
    """The DataModule for ``cfg.dataset`` with ``cfg``'s batch, split and augmentation options."""
    kwargs = dict(
        data_dir=cfg.data_dir,
        batch_size=cfg.batch_size,
        eval_batch_size=cfg.eval_batch_size,
        val_size=cfg.val_size,
        train_samples=cfg.train_samples,
        val_samples=cfg.val_samples,
        test_samples=cfg.test_samples,
        normalize=cfg.normalize,
        crop_padding=cfg.crop_padding,
        cutout=cfg.cutout,
        flip=cfg.flip,
        pad_mode=cfg.pad_mode,
        seed=cfg.seed,
        loader=cfg.loader,
        num_workers=cfg.num_workers,
        data_device=cfg.data_device,
        progress=cfg.progress,
    )
    if cfg.dataset == "cifar10":
        return CIFAR10DataModule(**kwargs)
    if cfg.dataset == "mnist":
        return MNISTDataModule(**kwargs)
    if cfg.dataset == "xor":
        return XORDataModule(**kwargs)
    return ImageFolderDataModule(cfg.dataset, **kwargs)
