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

A user's folder is resized to ``image_size`` (default: its most common size
scaled so the longer side is ``folder.DEFAULT_LONGEST_SIDE``), decoded once
in ``DataLoader`` workers into the on-disk cache of ``data.stream`` and
loaded from there; ``open_folder_stream`` serves the same cache without
loading it (``--loader stream``). ``skip_bad_images`` leaves unreadable
files out (``DatasetSplits.skipped`` lists them).
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
from deepclass.data.folder import FolderPlan, decode_index, plan_folder
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


def check_dataset_name(name: str) -> None:
    """A ``ConfigError`` for an unknown name, ``MissingDataError`` for a missing folder."""
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


def _decode(src: Source, progress: bool) -> tuple[dict, dict]:
    """A built-in data set's arrays (folders decode through ``_folder_arrays``)."""
    if src.dataset == "cifar10":
        kind, path = src.spec
        return cifar.decode(kind, path, progress=progress), {
            "classes": cifar.CLASSES,
            "source": src.kind,
        }
    return mnist.decode(src.spec, progress=progress), {
        "classes": mnist.CLASSES,
        "source": src.kind,
    }


def _arrays(src: Source, *, progress: bool, use_cache: bool) -> tuple[dict, dict, bool]:
    if src.dataset == "xor":
        return {}, {"classes": xor.CLASSES, "source": src.kind}, False
    return cached(src.cache_name, src.files, lambda: _decode(src, progress), use_cache=use_cache)


def _folder_arrays(
    plan: FolderPlan, *, progress: bool, use_cache: bool, skip_bad: bool
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[tuple[str, str]]]:
    """A folder's arrays in memory: ``(arrays, good rows per split, skipped files)``.

    Decoded (in workers) into the on-disk cache once, then loaded from it;
    ``use_cache=False`` decodes in this process and writes no cache.
    """
    from deepclass.data.cache import load_entry
    from deepclass.data.store import ImageStore

    path = plan.index.source
    if not use_cache:
        splits = decode_index(
            plan.index, plan.mode, plan.image_size, progress=progress,
            desc=f"decode {path.name}", skip_bad=skip_bad,
        )  # fmt: skip
        arrays, skipped = {}, list(plan.skipped)
        for split, fs in splits.items():
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = fs.images, fs.labels
            skipped += fs.skipped
        return arrays, {s: np.arange(len(fs.labels)) for s, fs in splits.items()}, skipped
    store = ImageStore(plan, skip_bad=skip_bad)
    try:
        if not store.complete:
            store.fill(progress=progress)
        got = load_entry(store.final)
        if got is None:  # pragma: no cover - fill() just published it
            raise DataError(f"{path}: the decoded cache {store.final} could not be read")
        good = {s: store.good_rows(s) for s in store.counts}
        return got[0], good, list(store.skipped)
    finally:
        store.close()


def split_rows(
    counts: dict[str, int], val_size: int | float | None, seed: int, default_val: int | float,
    display: str,
) -> dict[str, tuple[str, np.ndarray | None]]:  # fmt: skip
    """Which rows of which source split make train, val and test: ``{split: (source, rows)}``.

    counts: images per source split (``train``/``val``/``test`` or ``all``).
    rows None means the whole source in its order (no copy needed). A flat
    folder (``all``) gives ``FOLDER_TEST_FRACTION`` to test first; val is
    carved from train unless a ``val`` source exists and ``val_size`` is None.
    """
    if "all" in counts:
        k = resolve_val_size(FOLDER_TEST_FRACTION, counts["all"])
        rest, test = split_indices(counts["all"], k, seed)
        source, train_rows = "all", rest
        out = {"test": ("all", test)}
    else:
        if "train" not in counts:
            raise DataError(f"{display}: no train split found")
        if "test" not in counts:
            raise DataError(
                f"{display}: no test split found (expected a test/ folder next to train/)"
            )
        source, train_rows = "train", None
        out = {"test": ("test", None)}
    if "val" in counts and val_size is None:
        return {"train": (source, train_rows), "val": ("val", None), **out}
    n = counts[source] if train_rows is None else len(train_rows)
    k = resolve_val_size(default_val if val_size is None else val_size, n)
    if k == 0:  # nothing to carve: keep the source order (the course helpers slice it)
        return {"train": (source, train_rows), "val": (source, np.arange(0)), **out}
    tr, va = split_indices(n, k, seed)
    if train_rows is not None:
        tr, va = train_rows[tr], train_rows[va]
    return {"train": (source, tr), "val": (source, va), **out}


def _check_folder_options(src: Source, image_size, skip_bad_images: bool) -> None:
    if src.dataset != "folder":
        for flag, given in (("--image-size", image_size is not None),
                            ("--skip-bad-images", skip_bad_images)):  # fmt: skip
            if given:
                raise ConfigError(f"{flag} applies to a user's image folder, not to {src.dataset}")


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    val_size: int | float | None = None,
    seed: int | None = None,
    offline: bool | None = None,
    progress: bool = True,
    use_cache: bool = True,
    image_size: tuple[int, int] | int | None = None,
    skip_bad_images: bool = False,
    plan: FolderPlan | None = None,
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
    image_size: ``(H, W)`` (or ``S`` for ``S x S``) to resize a user's
        folder to; None: its most common size scaled to a longer side of
        ``folder.DEFAULT_LONGEST_SIDE``.
    skip_bad_images: leave a folder's unreadable files out (listed in the
        result's ``skipped``) instead of stopping at the first.
    plan: the folder's ``plan_folder`` result, if the caller already has it.
    """
    check_dataset_name(name)
    src = _locate(name, data_dir, offline, progress) if _is_builtin(name) else find_source(name)
    assert src is not None
    _check_folder_options(src, image_size, skip_bad_images)
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

    display = src.dataset if src.dataset != "folder" else str(src.spec)
    skipped: list[tuple[str, str]] = []
    if src.dataset == "folder":
        plan = plan or plan_folder(src.spec, image_size=image_size, skip_bad=skip_bad_images)
        arrays, good, skipped = _folder_arrays(
            plan, progress=progress, use_cache=use_cache, skip_bad=skip_bad_images
        )
        classes, where = plan.index.classes, str(src.spec)
    else:
        arrays, meta, _ = _arrays(src, progress=progress, use_cache=use_cache)
        classes, where = meta["classes"], str(meta.get("source", ""))
        good = {k[: -len("_labels")]: None for k in arrays if k.endswith("_labels")}
    counts = {
        s: len(arrays[f"{s}_labels"]) if rows is None else len(rows) for s, rows in good.items()
    }
    parts = {}
    for split, (source, rows) in split_rows(counts, val_size, seed, dval, display).items():
        base = good[source]
        x, y = arrays[f"{source}_images"], arrays[f"{source}_labels"]
        if base is not None and (rows is not None or len(base) != len(y)):
            rows = base if rows is None else base[rows]  # leave unreadable rows out
        if rows is not None:
            x, y = x[rows], y[rows]
        parts[split] = ArrayDataset(x, y, classes, where)
    return DatasetSplits(display, parts["train"], parts["val"], parts["test"], skipped)


def open_folder_stream(
    plan: FolderPlan,
    *,
    val_size: int | float | None = None,
    seed: int | None = None,
    skip_bad_images: bool = False,
) -> DatasetSplits:
    """A folder's splits served from its on-disk cache (``StreamSplit``s), nothing loaded.

    The splits are the same rows ``load_dataset`` would give; images not
    cached yet are decoded on the first pass over them (``StreamBatches``).
    """
    from deepclass.data.store import ImageStore, StreamSplit

    dval, dseed = DEFAULT_VAL["folder"]
    seed = dseed if seed is None else seed
    store = ImageStore(plan, skip_bad=skip_bad_images)
    good = {s: store.good_rows(s) for s in store.counts}
    counts = {s: len(r) for s, r in good.items()}
    display = str(plan.index.source)
    parts = {}
    for split, (source, rows) in split_rows(counts, val_size, seed, dval, display).items():
        base = good[source]
        parts[split] = StreamSplit(
            store, source, base if rows is None else base[rows], plan.index.classes
        )
    return DatasetSplits(display, parts["train"], parts["val"], parts["test"], store.skipped)


def dataset_info(
    name: str, data_dir: str | Path | None = None, *, decode: bool = True
) -> dict[str, Any]:
    """What ``deepclass data info`` shows: source, files and sizes, cache state, per-split counts.

    decode: load (through the cache) to count samples per class; False only
    reports what is on disk.
    """
    check_dataset_name(name)
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
    if src.dataset == "folder":
        from deepclass.data.store import entry_path

        path = entry_path(plan_folder(src.spec, skip_bad=True))
        info["cache"] = {"path": str(path), "present": (path / "meta.json").is_file()}
    elif src.dataset != "xor":
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
