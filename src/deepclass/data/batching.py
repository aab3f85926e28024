"""Minibatches from in-memory tensors, with augmentation done on whole batches.

``BatchIterator`` is the fast path every rung can use: the data set lives in
one tensor, a batch is one indexing operation, and augmentation (random crop
with padding, horizontal flip) is a handful of tensor ops per batch, not
Python work per image; a photo folder adds a random resized crop
(``random_resized_crop``: one ``grid_sample`` for the whole batch). ``ArrayTorchDataset`` is the per-image
``torch.utils.data.Dataset`` view of the same arrays, for ``DataLoader`` and
Lightning code that expects one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from deepclass.checks import check_positive_int
from deepclass.data.dataset import ArrayDataset
from deepclass.data.preprocess import to_tensor
from deepclass.errors import ConfigError


def _source_positions(
    size: int, shifts: torch.Tensor, padding: int, mode: str, flips: torch.Tensor | None = None
) -> torch.Tensor:
    """Where output position ``i`` of image ``n`` reads from, for windows moved by ``shifts[n]``.

    Returns ``(n, size)`` indices: ``i + shift`` (``size - 1 - i + shift`` where ``flips``),
    reflected into ``[0, size)`` for mode "reflect" (no padded copy needed), or offset by
    ``padding`` into a zero-padded copy for "constant".
    """
    i = torch.arange(size, device=shifts.device).expand(shifts.shape[0], size)
    if flips is not None:
        i = torch.where(flips[:, None], size - 1 - i, i)
    src = i + shifts[:, None]
    if mode == "reflect":
        src = src.abs()
        return torch.where(src >= size, 2 * (size - 1) - src, src)
    return src + padding


def _shift_rows(x: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """Rows ``src[n] (n, H)`` of each image of contiguous ``x (N, C, Hs, W)``: ``(N, C, H, W)``.

    One ``index_select`` of whole rows over the ``(N*C*Hs, W)`` view: no per-image work.
    """
    N, C, Hs, W = x.shape
    planes = torch.arange(N * C, device=x.device).view(N, C, 1) * Hs
    rows = (planes + src[:, None, :]).reshape(-1)
    return x.reshape(N * C * Hs, W).index_select(0, rows).view(N, C, src.shape[1], W)


def _shift_columns(x: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """Columns ``src[n] (n, W)`` of each image of ``x (N, C, H, Ws)``: ``(N, C, H, W)``.

    One ``gather`` along the last dimension, its index broadcast over (C, H).
    """
    N, C, H, _ = x.shape
    return torch.gather(x, 3, src[:, None, None, :].expand(N, C, H, src.shape[1]))


def random_crop(
    x: torch.Tensor, padding: int, generator: torch.Generator | None = None, mode: str = "reflect"
) -> torch.Tensor:
    """Pad ``x (N, C, H, W)`` by ``padding`` and crop each image back to ``H x W`` at a random offset.

    mode: "reflect" or "constant" (zeros). Works on uint8 or float batches.
    Returns a new ``(N, C, H, W)`` tensor.
    """
    return _crop_flip(x, padding, False, generator, mode)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image of ``x (N, C, H, W)`` left-right with probability 1/2."""
    return _crop_flip(x, 0, True, generator, "reflect")


def _crop_flip(
    x: torch.Tensor,
    padding: int,
    flip: bool,
    generator: torch.Generator | None,
    mode: str,
    flips: torch.Tensor | None = None,
) -> torch.Tensor:
    """Crop (and flip) every image; ``flips (N,)`` bool, if given, says which images to mirror."""
    if mode not in ("reflect", "constant"):
        raise ConfigError(f"pad mode must be 'reflect' or 'constant', got {mode!r}")
    if padding < 0 or (mode == "reflect" and padding >= min(x.shape[-2:])):
        raise ConfigError(f"padding must be in [0, {min(x.shape[-2:])}) for reflect, got {padding}")
    n = x.shape[0]
    dy = torch.randint(-padding, padding + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(-padding, padding + 1, (n,), generator=generator, device=x.device)
    if flips is not None:
        flip = True
        flips = flips.to(x.device)
    elif flip:
        flips = torch.rand(n, generator=generator, device=x.device) < 0.5
    H, W = x.shape[-2:]
    if padding > 0:
        if mode == "constant":
            x = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        x = _shift_rows(x.contiguous(), _source_positions(H, dy, padding, mode))
    if padding > 0 or flip:
        x = _shift_columns(x, _source_positions(W, dx, padding, mode, flips))
    return x


def random_resized_crop(
    x: torch.Tensor,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random box from each image of ``x (N, C, H, W)`` and resize it back to ``H x W``.

    Each box covers a fraction of the image area drawn uniformly from
    ``scale`` with an aspect ratio (width / height) drawn log-uniformly from
    ``ratio``, clamped to fit the image, at a uniform position (the
    Inception-style crop, without per-image retries). All boxes are resampled
    bilinearly by one ``affine_grid`` + ``grid_sample``. uint8 in, uint8 out
    (rounded); float in, float out.
    """
    lo, hi = (float(v) for v in scale)
    rlo, rhi = (float(v) for v in ratio)
    if not 0 < lo <= hi <= 1:
        raise ConfigError(f"crop scale must satisfy 0 < min <= max <= 1, got {[lo, hi]}")
    if not 0 < rlo <= rhi:
        raise ConfigError(f"crop ratio must satisfy 0 < min <= max, got {[rlo, rhi]}")
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=generator).to(x.device)
    area = lo + (hi - lo) * u[:, 0]
    r = torch.exp(math.log(rlo) + (math.log(rhi) - math.log(rlo)) * u[:, 1])
    # box size as fractions of the width and height: fw * fh = area, (fw * w) / (fh * h) = r
    fw = torch.sqrt(area * r * h / w).clamp(max=1.0)
    fh = torch.sqrt(area / r * w / h).clamp(max=1.0)
    cx = (2 * u[:, 2] - 1) * (1 - fw)  # box centre in [-1, 1] coordinates, box inside the image
    cy = (2 * u[:, 3] - 1) * (1 - fh)
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = fw, cx, fh, cy
    xf = x if x.is_floating_point() else x.float()
    grid = torch.nn.functional.affine_grid(theta.to(xf.dtype), list(x.shape), align_corners=False)
    out = torch.nn.functional.grid_sample(
        xf, grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return out if x.is_floating_point() else out.round_().clamp_(0, 255).to(x.dtype)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set one random ``size x size`` square per image of ``x (N, C, H, W)`` to 0.

    The square lies wholly inside the image (its corner is uniform over the
    valid positions). Applied after normalisation, 0 is the mean colour.
    Returns a new tensor; ``size`` 0 returns ``x``.
    """
    if size == 0:
        return x
    n, _, h, w = x.shape
    if not 0 < size <= min(h, w):
        raise ConfigError(f"cutout size must be in [0, {min(h, w)}], got {size}")
    y0 = torch.randint(0, h - size + 1, (n, 1, 1, 1), generator=generator).to(x.device)
    x0 = torch.randint(0, w - size + 1, (n, 1, 1, 1), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, 1, w)
    mask = (rows >= y0) & (rows < y0 + size) & (cols >= x0) & (cols < x0 + size)
    return x.masked_fill(mask, 0)


@dataclass
class Augment:
    """Batched augmentation: random crop with ``crop_padding`` pixels of padding, then a random flip.

    ``resized_crop_scale`` (area fractions ``(min, max)``; None = off) adds a
    random resized crop before them, with aspect ratios in
    ``resized_crop_ratio``. ``alternate_flip`` (with ``flip``) makes
    ``BatchIterator`` mirror each image on alternate epochs (``alternating_flips``). ``cutout`` (a square size, 0 = off) is applied
    separately, after normalisation (``apply_cutout``), so that the square
    holds the mean colour.
    """

    crop_padding: int = 0
    flip: bool = False
    pad_mode: str = "reflect"
    cutout: int = 0
    resized_crop_scale: tuple[float, float] | None = None
    resized_crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    alternate_flip: bool = False  # BatchIterator: flip by ``alternating_flips``, not at random

    def apply_cutout(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return cutout(x, self.cutout, generator) if self.cutout and x.ndim == 4 else x

    def __call__(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        flips: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Augment ``x (N, C, H, W)``; ``flips (N,)`` bool mirrors those images instead of random
        ones (with ``flip`` on; the alternating flip)."""
        if x.ndim != 4:
            raise ConfigError(
                f"augmentation needs image batches (N, C, H, W), got shape {tuple(x.shape)}"
            )
        if self.resized_crop_scale is not None:
            x = random_resized_crop(x, self.resized_crop_scale, self.resized_crop_ratio, generator)
        flips = flips if self.flip else None
        return _crop_flip(x, self.crop_padding, self.flip, generator, self.pad_mode, flips)

    @property
    def active(self) -> bool:
        return (
            self.crop_padding > 0
            or self.flip
            or self.cutout > 0
            or self.resized_crop_scale is not None
        )


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random stream of epoch ``epoch``: resuming at epoch e replays exactly epoch e."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


def alternating_flips(seed: int, epoch: int, n: int) -> torch.Tensor:
    """Which of ``n`` images are mirrored in epoch ``epoch`` under airbench's alternating flip.

    Each image gets one random orientation from ``seed`` (the same in every
    epoch) and is shown in it on even epochs and mirrored on odd ones: every
    image is seen both ways in every two epochs, instead of by chance.
    Returns ``(n,)`` bool.
    """
    base = torch.rand(n, generator=torch.Generator().manual_seed(int(seed) + 7_919)) < 0.5
    return base ^ bool(int(epoch) % 2)


def prepare_images(
    x: torch.Tensor,
    augment: Augment | None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None,
    dtype: torch.dtype,
    generator: torch.Generator | None,
    flips: torch.Tensor | None = None,
) -> torch.Tensor:
    """A batch as a model takes it: augment (stored dtype), uint8 -> ``dtype`` in [0, 1],
    ``transform`` (a normalisation), then cutout. ``x: (N, C, H, W)`` or ``(N, D)``.

    The generator drives the CPU draws (device tensors draw from the device's stream).
    flips: ``(N,)`` bool, the images to mirror (the alternating flip), instead of random flips.
    """
    gen = generator if x.device.type == "cpu" else None
    if augment is not None and augment.active:
        x = augment(x, gen, flips)
    if x.dtype == torch.uint8:
        x = x.to(dtype).div_(255.0)
    if transform is not None:
        x = transform(x)
    if augment is not None:
        x = augment.apply_cutout(x, gen)
    return x


class BatchIterator:
    """Iterate ``(x, y)`` minibatches over tensors held in memory.

    x: ``(N, C, H, W)`` images (uint8 in [0, 255] is converted per batch to
    ``dtype`` in [0, 1]) or ``(N, D)`` features. y: ``(N,)`` labels.
    Each pass (epoch) draws a new permutation from ``seed`` and the epoch
    number, so epoch ``e`` is the same whether or not the run was resumed;
    ``set_epoch`` picks the epoch explicitly. Augmentation runs on the
    stored dtype (uint8 images are cropped and flipped before conversion);
    ``transform`` (e.g. a normalisation) runs after conversion. Batches are
    cut from chunks of about ``CHUNK_IMAGES`` (fewer for images larger than
    CIFAR's, at most ``CHUNK_BYTES`` of stored data) prepared at once. With
    ``num_replicas > 1`` each rank sees its own equal share of every epoch
    (the DistributedSampler contract).
    """

    CHUNK_IMAGES = 4096  # images prepared per tensor op (memory ~ 50 MB of float32 CIFAR)
    CHUNK_BYTES = 4096 * 3 * 32 * 32  # stored bytes per chunk: 4096 CIFAR images, 1,000 at 64x64

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
        batch_size = check_positive_int(batch_size, "batch_size")
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
        return epoch_generator(self.seed, self.epoch)

    def chunk_images(self) -> int:
        """Images per prepared chunk: a multiple of the batch size within the chunk limits."""
        per_image = max(1, self.x[:1].numel() * self.x.element_size())
        n = min(self.CHUNK_IMAGES, max(1, self.CHUNK_BYTES // per_image))
        return max(1, n // self.batch_size) * self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = self._generator()
        n = self.x.shape[0]
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        if self.num_replicas > 1:
            order = order[: self.num_samples * self.num_replicas][self.rank :: self.num_replicas]
        order = order[: len(self) * self.batch_size]  # drop_last drops the tail here
        self.epoch += 1
        # Work on chunks of many batches: a few large tensor ops amortise per-op
        # overhead; the batches are then views (slices) of the prepared chunk.
        per_chunk = self.chunk_images()
        aug = self.augment
        alt = aug is not None and aug.flip and aug.alternate_flip
        flips = alternating_flips(self.seed, self.epoch - 1, n) if alt else None
        for c0 in range(0, order.numel(), per_chunk):
            idx = order[c0 : c0 + per_chunk]
            xc = self.x.index_select(0, idx).to(self.device, non_blocking=True)
            yc = self.y.index_select(0, idx).to(self.device, non_blocking=True)
            fc = flips[idx] if flips is not None else None
            xc = prepare_images(xc, aug, self.transform, self.dtype, gen, fc)
            for b0 in range(0, idx.numel(), self.batch_size):
                yield xc[b0 : b0 + self.batch_size], yc[b0 : b0 + self.batch_size]


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
