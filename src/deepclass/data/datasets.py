"""``load_dataset``: the one entry point every rung uses to get data.

``load_dataset("cifar10" | "mnist" | "xor" | PATH, data_dir=None, *,
val_size=None, seed=None)`` finds the data under the data dir (downloading
the official files when allowed), decodes it once into a cache, and carves
validation from train with a seeded permutation (``splits.split_indices``).

Conventional defaults (``val_size=None``, ``seed=None``):

=========  ===============  ====  ==============================================
data set   train / val      seed  why
=========  ===============  ====  ==============================================
cifar10    49,000 / 1,000   0     CS231n's split size (seed 000)
mnist      55,000 / 5,000   1     seed 003's ``random_split(..., manual_seed(1))``
xor        100 / 100        1     seed 003: first 100 train, last 100 valid
folder     90% / 10%        0     a user's folder (``val/`` is used if present)
=========  ===============  ====  ==============================================

A user's folder without a ``test/`` split (``<root>/<class>/*``) first gives
20% of its images, by a seeded permutation, to test.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepclass.data import cifar, mnist, xor
from deepclass.data.cache import cache_state, cached
from deepclass.data.dataset import ArrayDataset, DatasetSplits
from deepclass.data.download import download_dataset
from deepclass.data.folder import read_image_folder
from deepclass.data.paths import is_offline, resolve_data_dir
from deepclass.data.splits import resolve_val_size, split_indices
from deepclass.errors import ConfigError, DataError, MissingDataError

BUILTIN = ("cifar10", "mnist", "xor")
DEFAULT_VAL = {"cifar10": (1000, 0), "mnist": (5000, 1), "xor": (100, 1), "folder": (0.1, 0)}
FOLDER_TEST_FRACTION = 0.2

PLACEMENT_HINT = {
    "cifar10": "place cifar-10-python.tar.gz (official), cifar-10-batches-py/, cifar10-jpeg.tar.gz "
    "or cifar10/ in {dir} (or pass --data-dir / set DEEPCLASS_DATA)",
    "mnist": "place the IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (raw or .gz), or mnist-png.tar.gz / "
    "mnist/, in {dir} (or pass --data-dir / set DEEPCLASS_DATA)",
}


@dataclass
class Source:
    """Where a data set's arrays come from.

    dataset: "cifar10", "mnist", "xor" or "folder". kind: a short description
    of the format. spec: what the decoder needs. files: what keys the cache.
    """

    dataset: str
    kind: str
    spec: Any
    files: list[Path] = field(default_factory=list)

    @property
    def cache_name(self) -> str:
        return "folder" if self.dataset == "folder" else self.dataset


def _is_builtin(name: str) -> bool:
    return name in BUILTIN


def find_source(name: str, data_dir: str | Path | None = None) -> Source | None:
    """The source ``load_dataset(name)`` would read, or None when nothing is found."""
    root = resolve_data_dir(data_dir)
    if name == "cifar10":
        found = cifar.find_source(root)
        if found is None:
            return None
        kind, path = found
        return Source(name, kind, found, cifar.source_files(kind, path))
    if name == "mnist":
        found = mnist.find_sources(root)
        if set(found) != {"train", "test"}:
            return None
        kind = ", ".join(f"{s}: {found[s][0]}" for s in ("train", "test"))
        files = sorted({p for _, ps in found.values() for p in ps})
        return Source(name, kind, found, files)
    if name == "xor":
        return Source(name, "generated (seed 003's formula)", None)
    path = Path(name).expanduser()
    if path.exists():
        return Source(
            "folder", "image folder" if path.is_dir() else "image-folder archive", path, [path]
        )
    return None


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"dataset must be a name or a path, got {name!r}")
    if not _is_builtin(name) and not Path(name).expanduser().exists():
        looks_like_path = "/" in name or "\\" in name or name.startswith(".")
        if looks_like_path:
            raise MissingDataError(f"dataset folder not found: {name}")
        raise ConfigError(
            f"unknown dataset {name!r}; valid: {', '.join(BUILTIN)}, or a path to an image folder"
        )


def _locate(name: str, data_dir: str | Path | None, offline: bool | None, progress: bool) -> Source:
    src = find_source(name, data_dir)
    if src is not None:
        return src
    root = resolve_data_dir(data_dir)
    hint = PLACEMENT_HINT[name].format(dir=root)
    if is_offline(offline):
        raise MissingDataError(f"{name} not found under {root} (offline, no download): {hint}")
    try:
        download_dataset(name, root, progress=progress)
    except MissingDataError as e:
        raise MissingDataError(
            f"{name} not found under {root} and the download failed ({e}); {hint}"
        ) from e
    src = find_source(name, data_dir)
    if src is None:  # pragma: no cover - a download always yields a findable source
        raise MissingDataError(f"{name} not found under {root} after download; {hint}")
    return src


def _decode(src: Source, progress: bool, image_size: tuple[int, int] | None) -> tuple[dict, dict]:
    if src.dataset == "cifar10":
        kind, path = src.spec
        return cifar.decode(kind, path, progress=progress), {
            "classes": cifar.CLASSES,
            "source": src.kind,
        }
    if src.dataset == "mnist":
        return mnist.decode(src.spec, progress=progress), {
            "classes": mnist.CLASSES,
            "source": src.kind,
        }
    path: Path = src.spec
    splits, classes = read_image_folder(
        path,
        image_size=image_size,
        strip_prefix=_archive_prefix(path),
        progress=progress,
        desc=f"decode {path.name}",
    )
    arrays = {}
    for split, fs in splits.items():
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = fs.images, fs.labels
    return arrays, {"classes": classes, "source": str(path)}


def _archive_prefix(path: Path) -> int:
    """A user's archive usually wraps its folder in one top directory: strip it."""
    if path.is_dir():
        return 0
    from deepclass.data import archive

    for name, _ in archive.iter_files(path):
        parts = [p for p in name.split("/") if p not in ("", ".")]
        return 1 if len(parts) >= 3 and parts[0].lower() not in ("train", "test", "val") else 0
    return 0


def _arrays(src: Source, *, progress: bool, use_cache: bool, image_size) -> tuple[dict, dict, bool]:
    if src.dataset == "xor":
        return {}, {"classes": xor.CLASSES, "source": src.kind}, False
    extra = f"size={image_size}" if image_size else ""
    return cached(
        src.cache_name,
        src.files,
        lambda: _decode(src, progress, image_size),
        extra=extra,
        use_cache=use_cache,
    )


def _carve(
    train: ArrayDataset, val_size: int | float, seed: int
) -> tuple[ArrayDataset, ArrayDataset]:
    k = resolve_val_size(val_size, len(train))
    if k == 0:  # nothing to carve: keep the source order (the course helpers slice it)
        return train, train.subset(np.arange(0))
    tr, va = split_indices(len(train), k, seed)
    return train.subset(tr), train.subset(va)


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    val_size: int | float | None = None,
    seed: int | None = None,
    offline: bool | None = None,
    progress: bool = True,
    use_cache: bool = True,
    image_size: tuple[int, int] | None = None,
) -> DatasetSplits:
    """Load a data set as ``DatasetSplits`` (``.train``, ``.val``, ``.test`` ``ArrayDataset``s).

    name: "cifar10", "mnist", "xor", or a path to an image folder (or a tar
        archive of one) laid out as ``<root>/<split>/<class>/*`` or
        ``<root>/<class>/*``.
    data_dir: where to look (``--data-dir`` > ``$DEEPCLASS_DATA`` > ``./data``).
    val_size: validation samples carved from train (an int, or a fraction);
        None means the data set's convention (see the module docstring).
    seed: seed of the split permutation; None means the convention.
    offline: never download (default: ``$DEEPCLASS_OFFLINE``).
    image_size: ``(H, W)`` to resize a user's folder to (default: its most
        common size).
    """
    _check_name(name)
    src = _locate(name, data_dir, offline, progress) if _is_builtin(name) else find_source(name)
    assert src is not None
    dval, dseed = DEFAULT_VAL[src.dataset]
    seed = dseed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")

    if src.dataset == "xor":
        x, y = xor.make_xor(200, seed)
        xt, yt = xor.make_xor(200, seed + 1)
        k = 100 if val_size is None else resolve_val_size(val_size, 200)
        mk = lambda a, b: ArrayDataset(a, b, xor.CLASSES, src.kind)  # noqa: E731
        return DatasetSplits(
            "xor", mk(x[: 200 - k], y[: 200 - k]), mk(x[200 - k :], y[200 - k :]), mk(xt, yt)
        )

    arrays, meta, _ = _arrays(src, progress=progress, use_cache=use_cache, image_size=image_size)
    classes, where = meta["classes"], str(meta.get("source", ""))

    def ds(split: str) -> ArrayDataset:
        return ArrayDataset(arrays[f"{split}_images"], arrays[f"{split}_labels"], classes, where)

    display = src.dataset if src.dataset != "folder" else str(src.spec)
    if "all_images" in arrays:  # a flat <root>/<class>/* folder: carve test first
        everything = ds("all")
        k = resolve_val_size(FOLDER_TEST_FRACTION, len(everything))
        rest_idx, test_idx = split_indices(len(everything), k, seed)
        full_train, test = everything.subset(rest_idx), everything.subset(test_idx)
    else:
        if "train_images" not in arrays:
            raise DataError(f"{display}: no train split found")
        full_train = ds("train")
        test = ds("test") if "test_images" in arrays else None
        if test is None:
            raise DataError(
                f"{display}: no test split found (expected a test/ folder next to train/)"
            )
    if "val_images" in arrays and val_size is None:
        return DatasetSplits(display, full_train, ds("val"), test)
    train, val = _carve(full_train, dval if val_size is None else val_size, seed)
    return DatasetSplits(display, train, val, test)


def dataset_info(
    name: str, data_dir: str | Path | None = None, *, decode: bool = True
) -> dict[str, Any]:
    """What ``deepclass data info`` shows: source, files and sizes, cache state, per-split counts.

    decode: load (through the cache) to count samples per class; False only
    reports what is on disk.
    """
    _check_name(name)
    src = find_source(name, data_dir)
    info: dict[str, Any] = {
        "name": name,
        "data_dir": str(resolve_data_dir(data_dir)),
        "found": src is not None,
    }
    if src is None:
        info["hint"] = PLACEMENT_HINT.get(name, "").format(dir=resolve_data_dir(data_dir))
        return info
    info["source"] = src.kind
    info["files"] = [(str(p), _size(p)) for p in src.files]
    if src.dataset != "xor":
        path, present = cache_state(src.cache_name, src.files)
        info["cache"] = {"path": str(path), "present": present}
    if decode:
        t = time.perf_counter()
        splits = load_dataset(name, data_dir, offline=True)
        info["load_seconds"] = time.perf_counter() - t
        info["classes"] = splits.classes
        info["splits"] = {
            split: {
                "n": len(d),
                "shape": list(d.images.shape[1:]),
                "dtype": str(d.images.dtype),
                "per_class": d.class_counts().tolist(),
            }
            for split, d in splits
        }
    return info


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size
