"""Official file formats written by the tests themselves: CIFAR-10 pickles, IDX, archives."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from deepclass.data import load_dataset
from deepclass.data import mnist as mnist_fmt
from deepclass.data.archive import safe_extract
from deepclass.data.cifar import BATCH_DIR, CLASSES, safe_unpickle
from deepclass.errors import DataError, MissingDataError, UnsafeFileError


def _write_cifar_batches(root: Path, n_per_batch: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Official-format batches (Python-2 style pickles, protocol 2, bytes keys)."""
    rng = np.random.default_rng(seed)
    d = root / BATCH_DIR
    d.mkdir(parents=True)
    xs, ys = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, n_per_batch).tolist()
        with open(d / name, "wb") as f:
            pickle.dump(
                {
                    b"batch_label": name.encode(),
                    b"labels": y,
                    b"data": x,
                    b"filenames": [b"x.png"] * n_per_batch,
                },
                f,
                protocol=2,
            )
        xs.append(x)
        ys.append(y)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump(
            {b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}, f, protocol=2
        )
    return {
        "train_x": np.concatenate(xs[:5]),
        "train_y": np.concatenate(ys[:5]),
        "test_x": xs[5],
        "test_y": np.asarray(ys[5]),
    }


def _nhwc(flat: np.ndarray) -> np.ndarray:
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def test_cifar_python_batches_dir(tmp_path):
    ref = _write_cifar_batches(tmp_path)
    s = load_dataset("cifar10", tmp_path, val_size=0, progress=False, use_cache=False)
    assert np.array_equal(s.train.images, _nhwc(ref["train_x"]))
    assert np.array_equal(s.train.labels, ref["train_y"])
    assert np.array_equal(s.test.images, _nhwc(ref["test_x"]))
    # Pixel (row 0, col 1, green) is byte 1024 + 1 of the official row layout.
    assert s.train.images[0, 0, 1, 1] == ref["train_x"][0, 1025]


def test_cifar_python_archive_preferred_over_jpeg(tmp_path):
    src = tmp_path / "src"
    ref = _write_cifar_batches(src, seed=3)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / BATCH_DIR, arcname=BATCH_DIR)
    # A decoy JPEG-folder source must not be used when the official archive is present.
    (tmp_path / "cifar10-jpeg.tar.gz").write_bytes(b"not used")
    s = load_dataset("cifar10", tmp_path, val_size=0, progress=False, use_cache=False)
    assert np.array_equal(s.test.images, _nhwc(ref["test_x"]))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_malicious_pickle_is_refused_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_cifar_batches(tmp_path)
    (tmp_path / BATCH_DIR / "data_batch_3").write_bytes(
        pickle.dumps({b"data": _Evil()}, protocol=2)
    )
    with pytest.raises(
        UnsafeFileError, match=r"data_batch_3.*refusing to unpickle (posix|os)\.system"
    ):
        load_dataset("cifar10", tmp_path, progress=False, use_cache=False)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_damaged_pickle_is_a_data_error():
    with pytest.raises(DataError, match="not a readable CIFAR-10 batch"):
        safe_unpickle(b"\x80\x02}q\x00(X", "cut.pickle")


def test_wrong_batch_shape_is_named(tmp_path):
    _write_cifar_batches(tmp_path)
    with open(tmp_path / BATCH_DIR / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, f, protocol=2)
    with pytest.raises(DataError, match=r"test_batch: 'data' must be a uint8 array \(N, 3072\)"):
        load_dataset("cifar10", tmp_path, progress=False, use_cache=False)


def _tar_with(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> None:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            if m.isfile():
                m.size = len(data)
                tar.addfile(m, io.BytesIO(data))
            else:
                tar.addfile(m)


@pytest.mark.parametrize(
    "name,kind", [("../evil.txt", "file"), ("/abs/evil.txt", "file"), ("cifar10/link", "symlink")]
)
def test_unsafe_tar_members_are_refused(tmp_path, name, kind):
    m = tarfile.TarInfo(name)
    if kind == "symlink":
        m.type, m.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = tmp_path / "bad.tar.gz"
    _tar_with(archive, [m])
    with pytest.raises(UnsafeFileError, match="refusing the archive"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "cifar10").exists()


def test_traversal_in_a_dataset_archive_is_refused(tmp_path):
    _tar_with(tmp_path / "cifar10-jpeg.tar.gz", [tarfile.TarInfo("cifar10/../../escape.jpg")])
    with pytest.raises(UnsafeFileError, match="escapes the target"):
        load_dataset("cifar10", tmp_path, progress=False, use_cache=False)


def test_safe_extract_extracts_plain_members(tmp_path):
    _tar_with(tmp_path / "ok.tar.gz", [tarfile.TarInfo("a/b.txt")], b"hello")
    out = safe_extract(tmp_path / "ok.tar.gz", tmp_path / "out")
    assert (out / "a" / "b.txt").read_bytes() == b"hello"


def test_truncated_archive_is_a_data_error(tmp_path, data_dir):
    blob = (data_dir / "cifar10-jpeg.tar.gz").read_bytes()[:200_000]
    (tmp_path / "cifar10-jpeg.tar.gz").write_bytes(blob)
    with pytest.raises(DataError, match="corrupt or truncated"):
        load_dataset("cifar10", tmp_path, progress=False, use_cache=False)


def _idx_images(x: np.ndarray, magic: int = 2051) -> bytes:
    n, r, c = x.shape
    return struct.pack(">IIII", magic, n, r, c) + x.tobytes()


def _idx_labels(y: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(y)) + y.astype(np.uint8).tobytes()


def test_idx_round_trip_raw_and_gzip(tmp_path):
    x = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    (tmp_path / "a-idx3-ubyte").write_bytes(_idx_images(x))
    (tmp_path / "b-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_images(x)))
    for f in ("a-idx3-ubyte", "b-idx3-ubyte.gz"):
        got = mnist_fmt.read_idx_images(tmp_path / f)
        assert got.shape == (3, 4, 5, 1) and np.array_equal(got[..., 0], x)
    (tmp_path / "l-idx1-ubyte").write_bytes(_idx_labels(np.array([3, 1, 4])))
    assert mnist_fmt.read_idx_labels(tmp_path / "l-idx1-ubyte").tolist() == [3, 1, 4]


def test_idx_errors_name_the_file(tmp_path):
    x = np.zeros((2, 28, 28), np.uint8)
    (tmp_path / "magic").write_bytes(_idx_images(x, magic=2049))
    with pytest.raises(DataError, match=r"magic: bad magic number 0x00000801"):
        mnist_fmt.read_idx_images(tmp_path / "magic")
    (tmp_path / "short").write_bytes(_idx_images(x)[:-10])
    with pytest.raises(DataError, match=r"short: wrong length .* \(truncated\?\)"):
        mnist_fmt.read_idx_images(tmp_path / "short")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(_idx_images(x))[:-20])
    with pytest.raises(DataError, match=r"cut.gz: corrupt or truncated gzip"):
        mnist_fmt.read_idx_images(tmp_path / "cut.gz")
    (tmp_path / "labels").write_bytes(_idx_labels(np.array([1, 12])))
    with pytest.raises(DataError, match=r"digits 0\.\.9"):
        mnist_fmt.read_idx_labels(tmp_path / "labels")


def test_mnist_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 10)):
        kind = "train" if split == "train" else "t10k"
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        (tmp_path / f"{kind}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_images(x)))
        (tmp_path / f"{kind}-labels-idx1-ubyte").write_bytes(_idx_labels(np.arange(n) % 10))
    s = load_dataset("mnist", tmp_path, val_size=5, progress=False, use_cache=False)
    assert (len(s.train), len(s.val), len(s.test)) == (25, 5, 10)
    assert s.test.labels.tolist() == list(range(10))


def test_missing_data_offline_says_where_to_put_it(tmp_path):
    with pytest.raises(
        MissingDataError, match=r"cifar10 not found under .* place cifar-10-python\.tar\.gz"
    ):
        load_dataset("cifar10", tmp_path, offline=True)
    with pytest.raises(MissingDataError, match="t10k-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path, offline=True)
