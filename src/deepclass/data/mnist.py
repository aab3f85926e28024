"""MNIST from the official IDX files or the PNG image folder.

Per split, the IDX pair (images + labels, raw or ``.gz``) is preferred; the
PNG copy (``mnist-png.tar.gz`` or ``mnist/``) fills a split whose IDX files
are absent. Where both exist they agree pixel for pixel (tested).
IDX files are looked for in the data dir, ``mnist-idx/``, ``MNIST/raw/``
(torchvision's layout) and ``mnist/``.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from deepclass.data.folder import read_image_folder
from deepclass.errors import DataError

CLASSES = [str(d) for d in range(10)]
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_DIRS = (".", "mnist-idx", "MNIST/raw", "mnist")
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def find_idx(data_dir: Path, base: str) -> Path | None:
    """Path of IDX file ``base`` (raw or .gz) under ``data_dir``, or None."""
    for d in IDX_DIRS:
        for name in (base, base + ".gz"):
            p = data_dir / d / name
            if p.is_file():
                return p
    return None


def find_png(data_dir: Path) -> Path | None:
    for p in (data_dir / "mnist-png.tar.gz", data_dir / "mnist"):
        if p.is_file() if p.suffix == ".gz" else (p / "train").is_dir() or (p / "test").is_dir():
            return p
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip ({type(e).__name__}: {e})") from e


def read_idx_images(path: str | Path) -> np.ndarray:
    """IDX3 image file -> ``(N, rows, cols, 1)`` uint8; bad magic or length raises ``DataError``."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 16:
        raise DataError(f"{path}: too short for an IDX image header ({len(data)} bytes)")
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    if magic != IMAGES_MAGIC:
        raise DataError(
            f"{path}: bad magic number {magic:#010x}; an IDX image file has {IMAGES_MAGIC:#010x}"
        )
    expected = 16 + n * rows * cols
    if len(data) != expected:
        raise DataError(
            f"{path}: wrong length {len(data)} bytes; header says {n} images of {rows}x{cols} "
            f"= {expected} bytes (truncated?)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols, 1).copy()


def read_idx_labels(path: str | Path) -> np.ndarray:
    """IDX1 label file -> ``(N,)`` int64 in [0, 10)."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 8:
        raise DataError(f"{path}: too short for an IDX label header ({len(data)} bytes)")
    magic, n = struct.unpack(">II", data[:8])
    if magic != LABELS_MAGIC:
        raise DataError(
            f"{path}: bad magic number {magic:#010x}; an IDX label file has {LABELS_MAGIC:#010x}"
        )
    if len(data) != 8 + n:
        raise DataError(
            f"{path}: wrong length {len(data)} bytes; header says {n} labels = {8 + n} bytes"
        )
    labels = np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64)
    if labels.size and labels.max() > 9:
        raise DataError(f"{path}: labels must be digits 0..9, found {labels.max()}")
    return labels


def find_sources(data_dir: Path) -> dict[str, tuple[str, list[Path]]]:
    """Per split, ``("idx", [images, labels])`` or ``("png", [folder])``; absent splits omitted."""
    out: dict[str, tuple[str, list[Path]]] = {}
    png = find_png(data_dir)
    for split, (img_base, lab_base) in IDX_FILES.items():
        imgs, labs = find_idx(data_dir, img_base), find_idx(data_dir, lab_base)
        if imgs is not None and labs is not None:
            out[split] = ("idx", [imgs, labs])
        elif png is not None:
            out[split] = ("png", [png])
    return out


def decode(
    sources: dict[str, tuple[str, list[Path]]], *, progress: bool = True
) -> dict[str, np.ndarray]:
    """Decode the splits named in ``sources`` into ``{split}_images`` / ``{split}_labels``."""
    out: dict[str, np.ndarray] = {}
    png_splits = None
    for split, (kind, paths) in sources.items():
        if kind == "idx":
            x, y = read_idx_images(paths[0]), read_idx_labels(paths[1])
            if len(x) != len(y):
                raise DataError(
                    f"{paths[0]} has {len(x)} images but {paths[1]} has {len(y)} labels"
                )
        else:
            if png_splits is None:
                png_splits, _ = read_image_folder(
                    paths[0],
                    classes=CLASSES,
                    strip_prefix=1 if paths[0].is_file() else 0,
                    mode="L",
                    image_size=(28, 28),
                    progress=progress,
                    desc="decode MNIST",
                )
            if split not in png_splits:
                raise DataError(f"{paths[0]}: no {split}/ folder of digit classes")
            x, y = png_splits[split].images, png_splits[split].labels
        out[f"{split}_images"], out[f"{split}_labels"] = x, y
    return out
