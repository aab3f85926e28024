"""A cache of decoded arrays, so a data set is decoded once.

Each entry is a directory of ``.npy`` files plus ``meta.json``, keyed by the
source's fingerprint (path, size and mtime of every source file). Entries are
written into a temporary directory and renamed into place, so a reader never
sees half an entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from deepclass.data.paths import cache_dir

CACHE_VERSION = 1


def _files(paths: Iterable[str | os.PathLike]) -> list[str]:
    out = []
    for p in paths:
        p = Path(p).resolve()
        if p.is_dir():
            out.extend(str(Path(d) / f) for d, _, fs in os.walk(p) for f in fs)
        else:
            out.append(str(p))
    return sorted(out)


def fingerprint(paths: Iterable[str | os.PathLike], extra: str = "") -> str:
    """A short key for the exact state of the source files (path, size, mtime of each file).

    Directories count as every file below them. ``extra`` adds decoding
    options (an image size) to the key.
    """
    h = hashlib.sha1(f"v{CACHE_VERSION}\0{extra}".encode())
    for p in _files(paths):
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def entry_dir(name: str, key: str) -> Path:
    """Where the cache entry ``name``-``key`` lives."""
    return cache_dir() / f"{name}-{key}"


def load_entry(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The arrays and metadata of a complete entry, or None if absent or unreadable."""
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        arrays = {k: np.load(path / f"{k}.npy", allow_pickle=False) for k in meta["arrays"]}
    except (OSError, ValueError, KeyError):
        return None  # a damaged entry is rebuilt, never trusted
    return arrays, meta


def save_entry(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write an entry atomically (temporary directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for k, a in arrays.items():
            np.save(tmp / f"{k}.npy", a, allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps({**meta, "arrays": list(arrays)}, indent=1))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def cached(
    name: str,
    sources: Iterable[str | os.PathLike],
    build: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]],
    *,
    extra: str = "",
    use_cache: bool = True,
) -> tuple[dict[str, np.ndarray], dict[str, Any], bool]:
    """Arrays for ``name`` from the cache, or built by ``build()`` and cached.

    Returns ``(arrays, meta, hit)``; ``hit`` tells whether the cache answered.
    """
    path = entry_dir(name, fingerprint(list(sources), extra))
    if use_cache:
        got = load_entry(path)
        if got is not None:
            return got[0], got[1], True
    arrays, meta = build()
    if use_cache:
        # A read-only or full cache dir must not stop the caller.
        with contextlib.suppress(OSError):
            save_entry(path, arrays, meta)
    return arrays, meta, False


def cache_state(
    name: str, sources: Iterable[str | os.PathLike], extra: str = ""
) -> tuple[Path, bool]:
    """The entry path for these sources and whether it is present."""
    path = entry_dir(name, fingerprint(list(sources), extra))
    return path, (path / "meta.json").is_file()
