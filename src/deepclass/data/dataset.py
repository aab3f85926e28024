"""In-memory data containers: ``ArrayDataset`` and ``DatasetSplits``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from deepclass.errors import DataError


@dataclass
class ArrayDataset:
    """One split held in memory as NumPy arrays.

    images: ``(N, H, W, C)`` uint8 for image data sets, or ``(N, D)`` float32
        features for feature data sets such as XOR (then ``is_image`` is False).
    labels: ``(N,)`` int64 in ``[0, len(classes))``.
    classes: class names; ``classes[k]`` names label ``k``.
    source: where the arrays came from (a file or folder), for ``data info``.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    source: str = ""
    _validated: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        x, y = self.images, self.labels
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            raise DataError("ArrayDataset images and labels must be NumPy arrays")
        if y.ndim != 1 or y.dtype != np.int64:
            raise DataError(f"labels must be (N,) int64, got shape {y.shape} dtype {y.dtype}")
        if x.shape[0] != y.shape[0]:
            raise DataError(f"images and labels disagree in length: {x.shape[0]} vs {y.shape[0]}")
        if x.ndim == 4:
            if x.dtype != np.uint8:
                raise DataError(f"images must be uint8 (N, H, W, C), got dtype {x.dtype}")
        elif x.ndim == 2:
            if x.dtype != np.float32:
                raise DataError(f"features must be float32 (N, D), got dtype {x.dtype}")
        else:
            raise DataError(f"images must be (N, H, W, C) or features (N, D), got shape {x.shape}")
        if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
            raise DataError(
                f"labels must be in [0, {len(self.classes)}), got range [{y.min()}, {y.max()}]"
            )
        self.classes = list(self.classes)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def is_image(self) -> bool:
        """True for ``(N, H, W, C)`` images, False for ``(N, D)`` features."""
        return self.images.ndim == 4

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample as models see it: ``(C, H, W)`` for images, ``(D,)`` otherwise."""
        if self.is_image:
            _, h, w, c = self.images.shape
            return (c, h, w)
        return (self.images.shape[1],)

    def subset(self, indices: Sequence[int] | np.ndarray) -> ArrayDataset:
        """A new dataset holding the samples at ``indices`` (copies)."""
        idx = np.asarray(indices, dtype=np.int64)
        return ArrayDataset(self.images[idx], self.labels[idx], self.classes, self.source)

    def class_counts(self) -> np.ndarray:
        """``(C,)`` int64: number of samples of each class."""
        return np.bincount(self.labels, minlength=len(self.classes)).astype(np.int64)


@dataclass
class DatasetSplits:
    """The train, validation and test splits of one data set.

    skipped: ``(file, reason)`` of the unreadable files a folder loaded with
    ``skip_bad_images`` left out.
    """

    name: str
    train: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    def __iter__(self):
        yield from (("train", self.train), ("val", self.val), ("test", self.test))
