"""The data layer every rung shares.

- ``load_dataset(name, data_dir=None, *, val_size=None, seed=None)`` ->
  ``DatasetSplits`` of ``ArrayDataset`` (CIFAR-10, MNIST, XOR, a user's folder)
- ``preprocess_cifar10(...)`` the EECS 498 data dict; ``to_tensor``,
  ``channel_stats``, ``normalize``, ``subtract_mean_image``
- ``BatchIterator`` with batched ``Augment``; ``ArrayTorchDataset`` for DataLoader
"""

from deepclass.data.batching import (
    ArrayTorchDataset,
    Augment,
    BatchIterator,
    random_crop,
    random_flip,
)
from deepclass.data.dataset import ArrayDataset, DatasetSplits
from deepclass.data.datasets import BUILTIN, dataset_info, find_source, load_dataset
from deepclass.data.images import load_image
from deepclass.data.paths import cache_dir, resolve_data_dir
from deepclass.data.preprocess import (
    channel_stats,
    dataset_tensors,
    normalize,
    preprocess_cifar10,
    subtract_mean_image,
    to_tensor,
)

__all__ = [
    "BUILTIN",
    "ArrayDataset",
    "ArrayTorchDataset",
    "Augment",
    "BatchIterator",
    "DatasetSplits",
    "cache_dir",
    "channel_stats",
    "dataset_info",
    "dataset_tensors",
    "find_source",
    "load_dataset",
    "load_image",
    "normalize",
    "preprocess_cifar10",
    "random_crop",
    "random_flip",
    "resolve_data_dir",
    "subtract_mean_image",
    "to_tensor",
]
