"""CIFAR-10 from the official python archive, its extracted batches, or the JPEG image folder.

Sources, in order of preference, under the data dir:

1. ``cifar-10-python.tar.gz`` (official; md5 c58f30108f718f92721af3b95e74349a)
2. ``cifar-10-batches-py/`` (its extracted ``data_batch_1..5``, ``test_batch``, ``batches.meta``)
3. ``cifar10-jpeg.tar.gz`` (the offline JPEG copy)
4. ``cifar10/`` (that copy extracted: ``{train,test}/<class>/<n>.jpg``)

The official batches are pickles. They are read with a restricted unpickler
that resolves only the NumPy reconstruction functions those files use; any
other global (the way a malicious pickle runs code) is refused, never
imported.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from deepclass.data import archive
from deepclass.data.folder import read_image_folder
from deepclass.errors import DataError, UnsafeFileError

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
BATCH_DIR = "cifar-10-batches-py"


def _safe_globals() -> dict[tuple[str, str], Any]:
    from numpy import dtype, ndarray

    try:  # NumPy >= 2 moved the reconstruction helpers to numpy._core
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct
        from numpy.core.numeric import _frombuffer
    import _codecs

    allowed = {
        ("numpy", "ndarray"): ndarray,
        ("numpy", "dtype"): dtype,
        ("_codecs", "encode"): _codecs.encode,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = _reconstruct
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = _frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a CIFAR-10 batch contains."""

    def __init__(self, file: io.BufferedIOBase, name: str) -> None:
        super().__init__(file, encoding="bytes")
        self._name = name
        self._allowed = _safe_globals()

    def find_class(self, module: str, name: str) -> Any:
        obj = self._allowed.get((module, name))
        if obj is None:
            raise UnsafeFileError(
                f"{self._name}: refusing to unpickle {module}.{name}: a CIFAR-10 batch holds only "
                f"NumPy arrays, lists and strings (this file may be malicious)"
            )
        return obj


def safe_unpickle(data: bytes, name: str) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; damage raises ``DataError``."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), name).load()
    except UnsafeFileError:
        raise
    except Exception as e:  # any unpickling failure of a damaged file
        raise DataError(f"{name}: not a readable CIFAR-10 batch ({type(e).__name__}: {e})") from e


def _get(d: dict, key: str) -> Any:
    return d.get(key.encode(), d.get(key))


def parse_batch(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` int64."""
    d = safe_unpickle(data, name)
    if not isinstance(d, dict):
        raise DataError(f"{name}: expected a dict batch, got {type(d).__name__}")
    x, y = _get(d, "data"), _get(d, "labels")
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != 3072 or x.dtype != np.uint8:
        shape = getattr(x, "shape", None)
        raise DataError(
            f"{name}: 'data' must be a uint8 array (N, 3072), got {type(x).__name__} {shape}"
        )
    y = np.asarray(y, dtype=np.int64)
    if y.shape != (x.shape[0],):
        raise DataError(f"{name}: {len(y)} labels for {x.shape[0]} images")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{name}: labels must be in [0, 10), got range [{y.min()}, {y.max()}]")
    images = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), y


def find_source(data_dir: Path) -> tuple[str, Path] | None:
    """``(kind, path)`` of the preferred CIFAR-10 source under ``data_dir``, or None."""
    for kind, rel in (
        ("python-archive", "cifar-10-python.tar.gz"),
        ("python-dir", BATCH_DIR),
        ("jpeg-archive", "cifar10-jpeg.tar.gz"),
        ("jpeg-dir", "cifar10"),
    ):
        p = data_dir / rel
        if p.is_dir() if kind.endswith("dir") else p.is_file():
            return kind, p
    return None


def source_files(kind: str, path: Path) -> list[Path]:
    """The files whose state keys the cache entry of this source."""
    if kind == "python-dir":
        return [path / n for n in [*TRAIN_BATCHES, TEST_BATCH] if (path / n).exists()]
    if kind == "jpeg-dir":
        return [path / s for s in ("train", "test") if (path / s).exists()] or [path]
    return [path]


def _read_python(kind: str, path: Path) -> dict[str, bytes]:
    wanted = [*TRAIN_BATCHES, TEST_BATCH]
    if kind == "python-dir":
        missing = [n for n in wanted if not (path / n).is_file()]
        if missing:
            raise DataError(f"{path}: missing CIFAR-10 batch files {missing}")
        return {n: (path / n).read_bytes() for n in wanted}
    found = {}
    for name, data in archive.iter_files(path):
        base = name.rsplit("/", 1)[-1]
        if base in wanted and name.startswith(BATCH_DIR + "/"):
            found[base] = data
    missing = [n for n in wanted if n not in found]
    if missing:
        raise DataError(f"{path}: archive lacks CIFAR-10 batches {missing} (truncated download?)")
    return found


def decode(kind: str, path: Path, *, progress: bool = True) -> dict[str, np.ndarray]:
    """Decode a source into ``train_images, train_labels, test_images, test_labels``."""
    if kind.startswith("python"):
        raw = _read_python(kind, path)
        train = [parse_batch(raw[n], f"{path}:{n}") for n in TRAIN_BATCHES]
        test_x, test_y = parse_batch(raw[TEST_BATCH], f"{path}:{TEST_BATCH}")
        return {
            "train_images": np.concatenate([x for x, _ in train]),
            "train_labels": np.concatenate([y for _, y in train]),
            "test_images": test_x,
            "test_labels": test_y,
        }
    splits, _ = read_image_folder(
        path,
        classes=CLASSES,
        strip_prefix=1 if kind == "jpeg-archive" else 0,
        mode="RGB",
        image_size=(32, 32),
        progress=progress,
        desc="decode CIFAR-10",
    )
    missing = {"train", "test"} - set(splits)
    if missing:
        raise DataError(
            f"{path}: no {sorted(missing)} split; expected train/ and test/ class folders"
        )
    return {
        "train_images": splits["train"].images,
        "train_labels": splits["train"].labels,
        "test_images": splits["test"].images,
        "test_labels": splits["test"].labels,
    }
