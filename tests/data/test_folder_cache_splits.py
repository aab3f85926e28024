"""User image folders, the decode cache, splits and the course preprocessing."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from deepclass.data import load_dataset, preprocess_cifar10
from deepclass.data.splits import resolve_val_size
from deepclass.errors import ConfigError, DataError, MissingDataError


def _img(path, color, size=(8, 8), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_user_folder_with_splits(tmp_path):
    for split, n in (("train", 6), ("test", 2)):
        for cname, color in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
            for i in range(n):
                _img(tmp_path / split / cname / f"{i}.png", color)
    s = load_dataset(str(tmp_path), val_size=2, progress=False, use_cache=False)
    assert s.classes == ["cats", "dogs"]
    assert (len(s.train), len(s.val), len(s.test)) == (10, 2, 4)
    assert s.train.images.shape[1:] == (8, 8, 3)
    # Labels follow the colours: red = cats (0), blue = dogs (1).
    red = s.train.images[:, 0, 0, 0] == 255
    assert np.array_equal(red, s.train.labels == 0)


def test_flat_folder_gets_seeded_test_split_and_resizes(tmp_path):
    for i in range(10):
        _img(tmp_path / "a" / f"{i}.jpg", 10, size=(8, 8), mode="L")
        _img(tmp_path / "b" / f"{i}.jpg", 200, size=(8, 8) if i else (16, 12), mode="L")
    s1 = load_dataset(str(tmp_path), progress=False, use_cache=False)
    s2 = load_dataset(str(tmp_path), progress=False, use_cache=False)
    assert len(s1.test) == 4 and len(s1.train) + len(s1.val) == 16
    assert s1.train.images.shape[1:] == (8, 8, 1)  # greyscale kept as one channel, odd size resized
    assert np.array_equal(s1.test.images, s2.test.images)  # seeded


def test_folder_errors_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_dataset(str(tmp_path / "empty"), use_cache=False)
    _img(tmp_path / "one" / "only" / "0.png", (0, 0, 0))
    with pytest.raises(DataError, match=r"found 1 class folder"):
        load_dataset(str(tmp_path / "one"), use_cache=False)
    bad = tmp_path / "bad"
    _img(bad / "x" / "0.png", (0, 0, 0))
    _img(bad / "y" / "0.png", (0, 0, 0))
    (bad / "y" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"cannot read image .*y/broken\.png"):
        load_dataset(str(bad), use_cache=False, progress=False)
    with pytest.raises(MissingDataError, match="dataset folder not found"):
        load_dataset("./no/such/folder")
    with pytest.raises(
        ConfigError, match=r"unknown dataset 'cifar100'; valid: cifar10, mnist, xor"
    ):
        load_dataset("cifar100")


def test_a_cached_load_does_not_decode_again(cifar_subset_dir, tmp_path, monkeypatch):
    """The second load is answered by the cache: the decoder is not called, the arrays match."""
    from deepclass.data import datasets

    monkeypatch.setenv("DEEPCLASS_CACHE", str(tmp_path / "cache"))
    decodes = []
    decode = datasets._decode
    monkeypatch.setattr(datasets, "_decode", lambda *a, **k: decodes.append(a) or decode(*a, **k))
    cold = load_dataset("cifar10", cifar_subset_dir, progress=False)
    assert len(decodes) == 1 and list((tmp_path / "cache").iterdir()), "the decode was not cached"
    warm = load_dataset("cifar10", cifar_subset_dir, progress=False)
    assert len(decodes) == 1, "the cached load decoded the images again"
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(cold, split).images, getattr(warm, split).images)
        assert np.array_equal(getattr(cold, split).labels, getattr(warm, split).labels)
    # a changed source file is a miss: decoded again (the shared folder's time is put back)
    first = next((cifar_subset_dir / "cifar10" / "test").rglob("*.png"))
    times = (first.stat().st_atime_ns, first.stat().st_mtime_ns)
    os.utime(first, ns=(times[0], times[1] + 10**9))
    try:
        load_dataset("cifar10", cifar_subset_dir, progress=False)
    finally:
        os.utime(first, ns=times)
    assert len(decodes) == 2


def test_damaged_cache_entry_is_rebuilt(cifar_subset_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLASS_CACHE", str(tmp_path / "cache"))
    ref = load_dataset("cifar10", cifar_subset_dir, progress=False)
    (entry,) = (tmp_path / "cache").iterdir()
    (entry / "train_images.npy").write_bytes(b"garbage")
    again = load_dataset("cifar10", cifar_subset_dir, progress=False)
    assert np.array_equal(ref.train.images, again.train.images)


def test_val_size_validation():
    assert resolve_val_size(0.1, 1000) == 100
    assert resolve_val_size(5, 10) == 5
    for bad in (10, -1, 1.5, True, "3"):
        with pytest.raises(ConfigError, match="val_size"):
            resolve_val_size(bad, 10)


def test_preprocess_cifar10_matches_the_course_helper(cifar_subset_dir):
    d = preprocess_cifar10(bias_trick=True, data_dir=str(cifar_subset_dir))
    raw = load_dataset("cifar10", cifar_subset_dir, val_size=0, progress=False)
    n = len(raw.train)
    assert d["X_train"].shape == (int(n * 0.8), 3073) and d["X_val"].shape == (
        n - int(n * 0.8),
        3073,
    )
    assert d["X_test"].shape == (len(raw.test), 3073)
    assert d["X_train"].dtype == torch.float32 and d["y_train"].dtype == torch.int64
    assert torch.all(d["X_train"][:, -1] == 1)
    # Reference computed independently in NumPy from the uint8 images.
    x = raw.train.images.astype(np.float64) / 255
    mean_rgb = x.mean(axis=(0, 1, 2))
    ref = (x - mean_rgb).transpose(0, 3, 1, 2).reshape(n, -1)
    np.testing.assert_allclose(d["X_train"][:, :-1].numpy(), ref[: int(n * 0.8)], atol=1e-6)
    np.testing.assert_allclose(d["X_val"][:, :-1].numpy(), ref[int(n * 0.8) :], atol=1e-6)
    assert d["y_val"].tolist() == raw.train.labels[int(n * 0.8) :].tolist()
    d2 = preprocess_cifar10(
        flatten=False, validation_ratio=0.5, dtype=torch.float64, data_dir=str(cifar_subset_dir)
    )
    assert d2["X_train"].shape == (n // 2, 3, 32, 32) and d2["X_train"].dtype == torch.float64
    with pytest.raises(ConfigError, match="validation_ratio"):
        preprocess_cifar10(validation_ratio=1.0, data_dir=str(cifar_subset_dir))
