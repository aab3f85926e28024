"""The real data sets in ../shared/datasets load with the official counts, shapes and labels."""

from __future__ import annotations

import numpy as np
import torch

from deepclass.data import load_dataset
from deepclass.data import mnist as mnist_fmt
from deepclass.data.splits import split_indices


def test_cifar10_counts_shapes_classes(data_dir):
    s = load_dataset("cifar10", data_dir, val_size=0, progress=False)
    assert s.train.images.shape == (50_000, 32, 32, 3)
    assert s.test.images.shape == (10_000, 32, 32, 3)
    assert s.train.images.dtype == np.uint8 and s.train.labels.dtype == np.int64
    assert s.train.class_counts().tolist() == [5000] * 10
    assert s.test.class_counts().tolist() == [1000] * 10
    assert s.classes == [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    # Real photographs: not blank, full dynamic range, per-channel means of natural images.
    means = s.train.images[:5000].reshape(-1, 3).mean(axis=0) / 255
    assert np.all((means > 0.4) & (means < 0.55)), means
    assert s.train.images.min() == 0 and s.train.images.max() == 255


def test_cifar10_default_split_is_49k_1k(cifar10):
    assert (len(cifar10.train), len(cifar10.val), len(cifar10.test)) == (49_000, 1_000, 10_000)
    # Disjoint: no training image appears in validation (compare raw bytes).
    tr = {cifar10.train.images[i].tobytes() for i in range(0, 49_000, 7)}
    assert not any(cifar10.val.images[i].tobytes() in tr for i in range(1000))


def test_cifar10_order_interleaves_classes(data_dir):
    """Contiguous slices are class-balanced (the course takes the last 20% as validation)."""
    s = load_dataset("cifar10", data_dir, val_size=0, progress=False)
    assert s.train.labels[:10].tolist() == list(range(10))
    assert np.bincount(s.train.labels[40_000:], minlength=10).tolist() == [1000] * 10


def test_mnist_counts_match_official_label_file(mnist, data_dir):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (55_000, 5_000, 10_000)
    assert mnist.train.images.shape[1:] == (28, 28, 1)
    official = mnist_fmt.read_idx_labels(data_dir / "mnist-idx" / "train-labels-idx1-ubyte.gz")
    assert len(official) == 60_000
    ours = mnist.train.class_counts() + mnist.val.class_counts()
    assert ours.tolist() == np.bincount(official, minlength=10).tolist()


def test_mnist_idx_test_equals_png_test_pixel_for_pixel(data_dir):
    idx_x = mnist_fmt.read_idx_images(data_dir / "mnist-idx" / "t10k-images-idx3-ubyte.gz")
    idx_y = mnist_fmt.read_idx_labels(data_dir / "mnist-idx" / "t10k-labels-idx1-ubyte.gz")
    png = mnist_fmt.decode({"test": ("png", [data_dir / "mnist-png.tar.gz"])}, progress=False)
    assert idx_x.shape == png["test_images"].shape == (10_000, 28, 28, 1)
    assert np.array_equal(idx_x, png["test_images"])
    assert np.array_equal(idx_y, png["test_labels"])


def test_mnist_split_is_seed_003s_random_split(mnist, data_dir):
    """split_indices(60000, 5000, 1) is exactly random_split(..., [55000, 5000], manual_seed(1))."""
    train_idx, val_idx = split_indices(60_000, 5_000, 1)
    ref_train, ref_val = torch.utils.data.random_split(
        range(60_000), [55_000, 5_000], generator=torch.Generator().manual_seed(1)
    )
    assert train_idx.tolist() == list(ref_train.indices)
    assert val_idx.tolist() == list(ref_val.indices)


def test_xor_reproduces_seed_003_exactly():
    s = load_dataset("xor")
    np.random.seed(1)
    x = np.random.uniform(low=-1, high=1, size=(200, 2))
    y = np.ones(len(x))
    y[x[:, 0] * x[:, 1] < 0] = 0
    assert s.train.images.dtype == np.float32 and s.train.images.shape == (100, 2)
    assert np.array_equal(s.train.images, x[:100].astype(np.float32))
    assert np.array_equal(s.val.images, x[100:].astype(np.float32))
    assert np.array_equal(s.train.labels, y[:100].astype(np.int64))
    assert np.array_equal(s.val.labels, y[100:].astype(np.int64))
    # The first draw of MT19937 seeded with 1 is 0.417022..., 0.720324...: (2u - 1).
    np.testing.assert_allclose(s.train.images[0], [-0.16595599, 0.44064899], atol=1e-7)
    # Class balance of the formula: roughly half the points in each quadrant pair.
    assert 80 <= int(s.train.labels.sum() + s.val.labels.sum()) <= 120
    assert not np.array_equal(s.test.images[:10], s.train.images[:10])
