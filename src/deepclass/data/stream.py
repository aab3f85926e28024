"""Image folders bigger than memory: batches read from the on-disk cache, decoded on first use.

``StreamBatches`` iterates ``(x, y)`` minibatches of a ``StreamSplit`` (rows
of one source split in the folder's ``ImageStore``, ``data.store``) the way
``BatchIterator`` does over memory: a seeded permutation per epoch, batched
augmentation, then ``transform``. The first pass over rows not yet cached
decodes them in ``DataLoader`` workers and writes them into the cache (the
epoch is as slow as decoding); later passes and runs read the cache, a batch
at a time, so resident memory depends on the batch, not on the folder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch

from deepclass.data.batching import Augment, epoch_generator, prepare_images
from deepclass.data.store import StreamSplit


class StreamBatches:
    """``(x, y)`` minibatches of a ``StreamSplit``, decoded on the first pass, cached after.

    The contract of ``BatchIterator``: epoch ``e``'s order and augmentation
    come from ``(seed, e)``; ``set_epoch`` picks the epoch (it is its own
    ``sampler``, as Lightning expects); uint8 images are augmented, turned
    into ``dtype`` in [0, 1], then ``transform``\\ ed. Rows found unreadable
    (``skip_bad``) are left out of later epochs.
    """

    def __init__(
        self,
        split: StreamSplit,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        augment: Augment | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        dtype: torch.dtype = torch.float32,
        workers: int | None = None,
    ) -> None:
        self.split, self.batch_size, self.shuffle = split, batch_size, shuffle
        self.seed, self.epoch = int(seed), 0
        self.augment, self.transform, self.dtype = augment, transform, dtype
        self.workers = workers

    batch_sampler = None  # Lightning inspects a loader's samplers; this one is its own

    @property
    def sampler(self) -> StreamBatches:
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rows(self) -> np.ndarray:
        s = self.split
        return s.rows[~s.store.bad[s.source][s.rows]]

    def __len__(self) -> int:
        return math.ceil(len(self._rows()) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = epoch_generator(self.seed, self.epoch)
        self.epoch += 1
        store, source = self.split.store, self.split.source
        rows = self._rows()
        order = torch.randperm(len(rows), generator=gen).numpy() if self.shuffle else None
        rows = rows[order] if order is not None else rows
        batches = [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        to_decode = [b for b in batches if store.missing(source, b).any()]
        decoded = iter(store.decode(source, to_decode, self.workers)) if to_decode else None
        labels = store.labels[source]
        try:
            for b in batches:
                if decoded is not None and store.missing(source, b).any():
                    b, images = next(decoded)
                else:
                    images = store.read(source, b)
                if len(b) == 0:
                    continue
                x = torch.from_numpy(images).permute(0, 3, 1, 2)
                x = prepare_images(x, self.augment, self.transform, self.dtype, gen)
                yield x, torch.from_numpy(labels[b])
        finally:
            store.save_progress()
            store.finish()
