"""The on-disk cache of an image folder's resized images: decoded once, then read by rows.

``ImageStore`` is the cache entry of one folder at one image size, keyed like
every entry of ``data.cache`` (the source files' fingerprint, plus the size,
colour mode and decoder version): per source split (``train``/``val``/``test``,
or ``all`` for a flat folder) ``{split}_images.npy`` ``(N, H, W, C)`` uint8
and ``{split}_labels.npy``, and ``meta.json`` once every image is in. So the
in-memory loader ``np.load``\\ s the same entry the streaming loader
(``data.stream``) reads.

Writing: images are decoded and resized in ``DataLoader`` workers, a batch
at a time, and their rows written into the ``.npy`` files with ``os.pwrite``
as they arrive (the file is created at full size first; nothing of it is
held in memory). Until every row is in, the entry lives in
``<entry>.partial/`` with a done mask per split, saved after every pass, so
an interrupted run continues where it stopped; a lock keeps a second run
from writing the same partial entry (it decodes into a private one). The
finished entry is renamed into place with its ``meta.json``.

Reading: rows come back with ``os.pread`` into a batch-sized array, not
through ``mmap``: the page cache keeps the file warm, and the process's
resident memory holds the batch, not the folder. ``StreamSplit`` is one
split's rows, the part of ``ArrayDataset`` the trainer uses.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from deepclass.data.cache import entry_dir, fingerprint
from deepclass.data.folder import SKIP_HINT, FolderEntry, FolderPlan, _reason, decode_entry
from deepclass.errors import DataError

DECODE_VERSION = 1  # part of the cache key: bump when decoding or resizing changes
CACHE_NAME = "folder"


def decode_workers(n_images: int) -> int:
    """``DataLoader`` workers for decoding ``n_images``: none for a few, else one per core (<= 4)."""
    return 0 if n_images < 64 else min(4, os.cpu_count() or 1)


class _Decoder(torch.utils.data.Dataset):
    """``DataLoader`` dataset whose item is a whole batch: ``(split, rows)`` -> decoded images.

    Returns ``(split, rows, images (n, H, W, C) uint8, errors)``; ``errors``
    lists ``(i, file, reason)`` of the rows that could not be read (their
    image rows stay zero).
    """

    def __init__(
        self, entries: dict[str, list[FolderEntry]], mode: str, size: tuple[int, int]
    ) -> None:
        self.entries, self.mode, self.size = entries, mode, size

    def __len__(self) -> int:  # items come from the sampler, never by index range
        return sum(len(v) for v in self.entries.values())

    def __getitem__(self, item: tuple[str, np.ndarray]):
        split, rows = item
        c = 1 if self.mode == "L" else 3
        out = np.zeros((len(rows), *self.size, c), dtype=np.uint8)
        errors = []
        for i, r in enumerate(rows):
            entry = self.entries[split][int(r)]
            try:
                out[i] = decode_entry(entry, self.mode, self.size)
            except DataError as e:
                errors.append((i, entry.where, _reason(e)))
        return split, rows, out, errors


def _as_is(x):
    return x


def entry_path(plan: FolderPlan) -> Path:
    """Where the finished cache entry of ``plan``'s folder at its size lives."""
    h, w = plan.image_size
    extra = f"size={h}x{w};mode={plan.mode};decode={DECODE_VERSION}"
    return entry_dir(CACHE_NAME, fingerprint([plan.index.source], extra))


class ImageStore:
    """The on-disk cache of one folder's images resized to ``plan.image_size``.

    ``read(split, rows)`` returns cached rows; ``decode(split, batches)``
    decodes rows in workers and writes them; ``fill()`` decodes whatever is
    missing; the entry is published (``complete``) once every row is in.
    ``bad[split]`` marks rows that could not be read (``skip_bad=True``).
    """

    def __init__(self, plan: FolderPlan, *, skip_bad: bool = False) -> None:
        self.plan, self.skip_bad = plan, skip_bad
        h, w = plan.image_size
        self.row_shape = (h, w, plan.channels)
        self.row_bytes = h * w * plan.channels
        self.final = entry_path(plan)
        self.counts = {s: len(v) for s, v in plan.index.splits.items()}
        self.labels = {
            s: np.fromiter((e.label for e in v), np.int64, count=len(v))
            for s, v in plan.index.splits.items()
        }
        self._fds: dict[str, tuple[int, int]] = {}  # split -> (fd, .npy header bytes)
        self._lock: Any = None
        self.private = False
        self.skipped: list[tuple[str, str]] = list(plan.skipped)
        meta = self._read_meta(self.final)
        if meta is not None:
            self.dir = self.final
            self.done = {s: np.ones(n, bool) for s, n in self.counts.items()}
            self.bad = {s: np.zeros(n, bool) for s, n in self.counts.items()}
            for s, rows in meta.get("bad_rows", {}).items():
                self.bad[s][np.asarray(rows, np.int64)] = True
            self.skipped = [tuple(x) for x in meta.get("skipped", [])]
            if self.skipped and not skip_bad:
                where, why = self.skipped[0]
                raise DataError(f"cannot read image {where}: {why}; {SKIP_HINT}")
        else:
            self._open_partial()

    # ------------------------------------------------------------ state
    def _read_meta(self, path: Path) -> dict | None:
        try:
            meta = json.loads((path / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        ok = meta.get("counts") == self.counts and all(
            (path / f"{s}_images.npy").stat().st_size >= self.row_bytes * n
            for s, n in self.counts.items()
        )
        return meta if ok else None

    @property
    def complete(self) -> bool:
        """Whether every row of every split is in the published entry."""
        return self.dir == self.final

    def missing(self, split: str, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` are not decoded yet: ``(len(rows),)`` bool."""
        return ~self.done[split][rows]

    def good_rows(self, split: str) -> np.ndarray:
        """Rows of ``split`` that are not known to be unreadable."""
        return np.flatnonzero(~self.bad[split])

    def _open_partial(self) -> None:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        part = self.final.with_name(self.final.name + ".partial")
        part.mkdir(exist_ok=True)
        lock = open(part / ".lock", "w")  # noqa: SIM115 - held for the store's lifetime
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another run is filling it: work in a private copy
            lock.close()
            lock = None
            part = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.private-", dir=part.parent))
            self.private = True
        self._lock, self.dir = lock, part
        self.done, self.bad = {}, {}
        saved = {}
        with contextlib.suppress(OSError, ValueError):
            saved = json.loads((part / "progress.json").read_text())
        if saved.get("counts") != self.counts:
            saved = {}
        for s, n in self.counts.items():
            img = part / f"{s}_images.npy"
            if not saved or not img.is_file():
                np.lib.format.open_memmap(
                    img, mode="w+", dtype=np.uint8, shape=(n, *self.row_shape)
                )
                np.save(part / f"{s}_labels.npy", self.labels[s])
                saved = {}
            self.done[s] = np.zeros(n, bool)
            self.bad[s] = np.zeros(n, bool)
        if saved:
            for s in self.counts:
                self.done[s][np.asarray(saved["done"].get(s, []), np.int64)] = True
                self.bad[s][np.asarray(saved["bad"].get(s, []), np.int64)] = True
            self.skipped = [tuple(x) for x in saved.get("skipped", [])]

    def _offset(self, split: str) -> tuple[int, int]:
        if split not in self._fds:
            path = self.dir / f"{split}_images.npy"
            fd = os.open(path, os.O_RDWR if not self.complete else os.O_RDONLY)
            with open(path, "rb") as f:  # the .npy header's length
                fmt = np.lib.format
                v1 = fmt.read_magic(f) == (1, 0)
                (fmt.read_array_header_1_0 if v1 else fmt.read_array_header_2_0)(f)
                self._fds[split] = (fd, f.tell())
        return self._fds[split]

    def _close_files(self) -> None:
        for fd, _ in self._fds.values():
            os.close(fd)
        self._fds = {}

    # ------------------------------------------------------------ rows
    def read(self, split: str, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Cached rows of ``split`` as ``(len(rows), H, W, C)`` uint8 (rows must be done)."""
        rows = np.asarray(rows, np.int64)
        fd, head = self._offset(split)
        out = np.empty((len(rows), *self.row_shape), np.uint8)
        flat = out.reshape(len(rows), -1)
        for i, r in enumerate(rows):
            got = os.preadv(fd, [flat[i]], head + int(r) * self.row_bytes)
            if got != self.row_bytes:
                raise DataError(f"{self.dir}: cache file {split}_images.npy is truncated")
        return out

    def _write(self, split: str, rows: np.ndarray, images: np.ndarray) -> None:
        if len(rows) == 0:
            return
        fd, head = self._offset(split)
        flat = np.ascontiguousarray(images).reshape(len(rows), -1)
        for i, r in enumerate(rows):
            os.pwrite(fd, flat[i], head + int(r) * self.row_bytes)
        self.done[split][rows] = True

    def decode(
        self, split: str, batches: Sequence[np.ndarray], workers: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Decode each batch of rows in ``DataLoader`` workers, write it, yield ``(rows, images)``.

        Unreadable rows are left out of the batch and marked bad
        (``skip_bad``), or stop with a ``DataError`` naming the file.
        """
        if workers is None:
            workers = decode_workers(sum(len(b) for b in batches))
        loader = torch.utils.data.DataLoader(
            _Decoder(self.plan.index.splits, self.plan.mode, self.plan.image_size),
            batch_size=None,
            sampler=[(split, np.asarray(b, np.int64)) for b in batches],
            num_workers=workers,
            collate_fn=_as_is,
        )
        for _, rows, images, errors in loader:
            if errors:
                if not self.skip_bad:
                    _, where, why = errors[0]
                    raise DataError(f"cannot read image {where}: {why}; {SKIP_HINT}")
                bad = np.zeros(len(rows), bool)
                for i, where, why in errors:
                    bad[i] = True
                    self.skipped.append((where, why))
                self.bad[split][rows[bad]] = True
                self.done[split][rows[bad]] = True
                rows, images = rows[~bad], images[~bad]
            self._write(split, rows, images)
            yield rows, images

    def get(self, split: str, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows of ``split``, decoding (in this process) and caching the missing ones first.

        Unreadable rows come back as zeros when ``skip_bad`` (and are marked bad).
        """
        rows = np.asarray(rows, np.int64)
        todo = np.unique(rows[self.missing(split, rows)])
        if len(todo):
            for _ in self.decode(split, [todo], workers=0):
                pass
            self.save_progress()
        return self.read(split, rows)

    def fill(self, *, progress: bool = True, batch: int = 64) -> int:
        """Decode every missing row (with a files/s progress bar); returns the count decoded."""
        todo = {s: np.flatnonzero(~d) for s, d in self.done.items()}
        total = sum(len(v) for v in todo.values())
        if total:
            bar = tqdm(
                total=total, desc=f"decode {self.plan.index.source.name}", unit="file",
                disable=not progress, file=sys.stderr, mininterval=1.0, leave=False,
            )  # fmt: skip
            batches = {
                s: [v[i : i + batch] for i in range(0, len(v), batch)] for s, v in todo.items()
            }
            workers = decode_workers(total)
            try:
                with bar:
                    for s, bs in batches.items():
                        for rows, _ in self.decode(s, bs, workers):
                            bar.update(len(rows))
                            bar.set_postfix(skipped=len(self.skipped), refresh=False)
            finally:
                self.save_progress()
        self.finish()
        return total

    # ------------------------------------------------------------ publishing
    def save_progress(self) -> None:
        """Persist the done masks of a partial entry (an interrupted run resumes from them)."""
        if self.complete:
            return
        state = {
            "counts": self.counts,
            "done": {s: np.flatnonzero(d).tolist() for s, d in self.done.items()},
            "bad": {s: np.flatnonzero(b).tolist() for s, b in self.bad.items()},
            "skipped": self.skipped,
        }
        tmp = self.dir / "progress.json.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.dir / "progress.json")

    def finish(self) -> bool:
        """Publish the entry once every row is in; returns ``complete``."""
        if self.complete or not all(d.all() for d in self.done.values()):
            return self.complete
        for fd, _ in self._fds.values():
            os.fsync(fd)
        self._close_files()
        h, w = self.plan.image_size
        meta = {
            "classes": self.plan.index.classes,
            "source": str(self.plan.index.source),
            "image_size": [h, w],
            "mode": self.plan.mode,
            "counts": self.counts,
            "bad_rows": {s: np.flatnonzero(b).tolist() for s, b in self.bad.items()},
            "skipped": self.skipped,
            "arrays": [f"{s}_{k}" for s in self.counts for k in ("images", "labels")],
        }
        (self.dir / "meta.json").write_text(json.dumps(meta, indent=1))
        for extra in ("progress.json", ".lock"):
            (self.dir / extra).unlink(missing_ok=True)
        if self._read_meta(self.final) is None:
            if self.final.exists():
                shutil.rmtree(self.final, ignore_errors=True)
            try:
                os.replace(self.dir, self.final)
            except OSError:  # another run published first: use theirs
                shutil.rmtree(self.dir, ignore_errors=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self.dir = self.final
        return True

    def close(self) -> None:
        """Save progress and release files (a private partial entry is removed)."""
        if not self.complete:
            self.save_progress()
        self._close_files()
        if self.private and not self.complete:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class _Rows:
    """``split.images`` of a ``StreamSplit``: a read-only, sliceable view of its rows on disk."""

    def __init__(self, split: StreamSplit) -> None:
        self.split = split

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.split), *self.split.store.row_shape)

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, key) -> np.ndarray:
        rows = self.split.rows[key]
        if np.ndim(rows) == 0:
            return self.split.store.get(self.split.source, [int(rows)])[0]
        return self.split.store.get(self.split.source, rows)


class StreamSplit:
    """One split served from an ``ImageStore``: ``rows`` of its source split ``source``.

    Speaks the parts of ``ArrayDataset`` the trainer uses (``len``,
    ``labels``, ``classes``, ``sample_shape``, ``subset``, ``images[...]``);
    ``images`` reads (and if needed decodes) rows on demand.
    """

    is_image = True

    def __init__(
        self, store: ImageStore, source: str, rows: np.ndarray, classes: list[str]
    ) -> None:
        self.store, self.source = store, source
        self.rows = np.asarray(rows, np.int64)
        self.classes = list(classes)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> np.ndarray:
        return self.store.labels[self.source][self.rows]

    @property
    def images(self) -> _Rows:
        return _Rows(self)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        h, w, c = self.store.row_shape
        return (c, h, w)

    def subset(self, indices: Sequence[int] | np.ndarray) -> StreamSplit:
        return StreamSplit(
            self.store, self.source, self.rows[np.asarray(indices, np.int64)], self.classes
        )

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.classes)).astype(np.int64)
