"""Turning uint8 images into model-ready tensors.

``preprocess_cifar10`` is the EECS 498 helper that rungs 1 and 2 use; the
other helpers (scaling, per-channel normalisation from train statistics,
mean-image subtraction) serve every rung.
"""

from __future__ import annotations

import numpy as np
import torch

from deepclass.data.dataset import ArrayDataset
from deepclass.errors import ConfigError


def to_tensor(
    images: np.ndarray, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """uint8 ``(N, H, W, C)`` -> ``(N, C, H, W)`` in ``[0, 1]``; float features ``(N, D)`` pass through."""
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    if images.ndim == 4:
        return t.permute(0, 3, 1, 2).to(dtype).div_(255.0).contiguous()
    return t.to(dtype)


def dataset_tensors(
    ds: ArrayDataset, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: images as :func:`to_tensor` gives them and labels ``(N,)`` int64."""
    return to_tensor(ds.images, dtype=dtype, device=device), torch.from_numpy(ds.labels).to(device)


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 ``(N, H, W, C)`` images scaled to [0, 1]: two ``(C,)`` arrays."""
    if images.ndim != 4:
        raise ConfigError(f"images must be (N, H, W, C), got shape {images.shape}")
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return x.mean(axis=0), x.std(axis=0)


def normalize(
    x: torch.Tensor, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor
) -> torch.Tensor:
    """``(x - mean) / std`` per channel for ``x`` of shape ``(N, C, H, W)``."""
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def subtract_mean_image(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Subtract the mean training image ``(1, ...)`` from ``train`` and every tensor in ``others``."""
    mean = train.mean(dim=0, keepdim=True)
    return (train - mean, *(o - mean for o in others))


def preprocess_cifar10(
    bias_trick: bool = False,
    flatten: bool = True,
    validation_ratio: float = 0.2,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    *,
    data_dir: str | None = None,
    num_train: int | None = None,
    num_test: int | None = None,
) -> dict[str, torch.Tensor]:
    """CIFAR-10 as the EECS 498 ``preprocess_cifar10`` helper prepares it.

    Scales to [0, 1], subtracts the mean RGB colour of all 50,000 training
    images, flattens to ``(N, 3072)`` (``flatten``), appends a column of ones
    (``bias_trick`` -> ``(N, 3073)``), and takes the *last*
    ``validation_ratio`` of the training images as validation (40,000/10,000
    by default). ``num_train`` / ``num_test`` keep only the first images of
    each split (small real subsets for tests and quick runs); the mean is
    then taken over the kept training images.

    Returns a dict with ``X_train, y_train, X_val, y_val, X_test, y_test``;
    X: ``dtype`` on ``device``, y: int64.
    """
    from deepclass.data.datasets import load_dataset

    if not 0 <= validation_ratio < 1:
        raise ConfigError(f"validation_ratio must be in [0, 1), got {validation_ratio}")
    splits = load_dataset("cifar10", data_dir, val_size=0)
    train, test = splits.train, splits.test
    if num_train is not None:
        train = train.subset(np.arange(min(num_train, len(train))))
    if num_test is not None:
        test = test.subset(np.arange(min(num_test, len(test))))
    X_train, y_train = dataset_tensors(train, dtype=dtype, device=device)
    X_test, y_test = dataset_tensors(test, dtype=dtype, device=device)

    mean_rgb = X_train.mean(dim=(0, 2, 3), keepdim=True)
    X_train -= mean_rgb
    X_test -= mean_rgb
    if flatten:
        X_train = X_train.reshape(X_train.shape[0], -1)
        X_test = X_test.reshape(X_test.shape[0], -1)
    if bias_trick:
        if not flatten:
            raise ConfigError("bias_trick=True needs flatten=True (the bias is an extra column)")
        X_train = torch.cat([X_train, X_train.new_ones(X_train.shape[0], 1)], dim=1)
        X_test = torch.cat([X_test, X_test.new_ones(X_test.shape[0], 1)], dim=1)

    num_training = int(X_train.shape[0] * (1.0 - validation_ratio))
    return {
        "X_train": X_train[:num_training],
        "y_train": y_train[:num_training],
        "X_val": X_train[num_training:],
        "y_val": y_train[num_training:],
        "X_test": X_test,
        "y_test": y_test,
    }
