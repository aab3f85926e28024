"""Image folders: ``<root>/<split>/<class>/<file>`` or ``<root>/<class>/<file>``.

The same reader serves a user's own folder, the CIFAR-10 JPEG copy and the
MNIST PNG copy, from a directory or straight from a ``.tar.gz`` (streamed,
never extracted to disk).

Order: within a split, files are sorted by (natural file name, class index).
For the MNIST PNG test split (file name = index in the official file) that is
the official order; for the CIFAR-10 copy (``0000.jpg`` .. per class) it
interleaves the classes, so any contiguous slice is class-balanced.
"""

from __future__ import annotations

import io
import os
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from deepclass.data import archive
from deepclass.data.images import is_image_name, natural_key, open_image, to_array
from deepclass.errors import DataError

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@dataclass
class FolderSplit:
    """One decoded split of an image folder."""

    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64
    names: list[str]  # relative file names, in the order of ``images``


def _iter_entries(source: Path) -> Iterator[tuple[tuple[str, ...], bytes | Path]]:
    """``(path parts, payload)`` of every image file under a directory or in a tar archive."""
    if source.is_dir():
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in filenames:
                if f.startswith(".") or not is_image_name(f):
                    continue
                p = Path(dirpath) / f
                yield p.relative_to(source).parts, p
    else:
        for name, data in archive.iter_files(source):
            parts = tuple(x for x in name.split("/") if x not in ("", "."))
            if parts and not parts[-1].startswith(".") and is_image_name(parts[-1]):
                yield parts, data


def _header(payload: bytes | Path, name: str) -> tuple[tuple[int, int], str]:
    """``((H, W), mode)`` of an image, reading only its header."""
    try:
        with Image.open(io.BytesIO(payload) if isinstance(payload, bytes) else payload) as im:
            return (im.height, im.width), im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read image {name}: {e}") from e


def read_image_folder(
    source: str | os.PathLike,
    *,
    classes: Sequence[str] | None = None,
    strip_prefix: int = 0,
    mode: str | None = None,
    image_size: tuple[int, int] | None = None,
    progress: bool = True,
    desc: str = "decode",
) -> tuple[dict[str, FolderSplit], list[str]]:
    """Decode every image under ``source`` (a directory or a tar archive).

    classes: the class names in label order; None means the sorted class
        folder names. strip_prefix: leading path components to drop (the
        ``cifar10/`` folder inside the archive). mode: "RGB" or "L"; None
        picks "L" when every image is greyscale, else "RGB". image_size:
        ``(H, W)``; None keeps the most common size and resizes the others.

    Returns ``({split: FolderSplit}, classes)``; a flat ``<class>/<file>``
    layout gives the single split ``"all"``.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"image folder not found: {source}")
    entries = [(parts[strip_prefix:], payload) for parts, payload in _iter_entries(source)]
    if not entries:
        raise DataError(
            f"{source}: no images found; expected <root>/<split>/<class>/<image> or "
            f"<root>/<class>/<image> with .png/.jpg files"
        )
    depths = Counter(len(p) for p, _ in entries)
    if set(depths) == {3} and all(p[0].lower() in SPLIT_NAMES for p, _ in entries):
        keyed = [(SPLIT_NAMES[p[0].lower()], p[1], p[2], x) for p, x in entries]
    elif set(depths) == {2}:
        keyed = [("all", p[0], p[1], x) for p, x in entries]
    else:
        # Show an entry of the rarest depth: the odd one out.
        bad = min(entries, key=lambda e: depths[len(e[0])])[0]
        raise DataError(
            f"{source}: mixed or unknown layout (e.g. {'/'.join(bad)}); expected "
            f"<split>/<class>/<image> with split in train/val/test, or <class>/<image>"
        )
    found = sorted({c for _, c, _, _ in keyed}, key=natural_key)
    if classes is None:
        classes = found
    else:
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise DataError(
                f"{source}: unexpected class folders {unknown}; expected {list(classes)}"
            )
    classes = list(classes)
    if len(classes) < 2:
        raise DataError(
            f"{source}: found {len(classes)} class folder(s) {classes}; need at least 2"
        )
    index = {c: i for i, c in enumerate(classes)}

    by_split: dict[str, list] = defaultdict(list)
    for split, c, fname, payload in keyed:
        by_split[split].append((natural_key(fname), index[c], f"{c}/{fname}", payload))

    for items in by_split.values():
        items.sort(key=lambda t: (t[0], t[1]))
    if mode is None or image_size is None:
        # Headers only: sizes and modes without decoding the pixels.
        headers = [
            _header(payload, f"{source}:{split}/{rel}")
            for split, items in by_split.items()
            for _, _, rel, payload in items
        ]
        if mode is None:
            mode = "L" if all(m in ("1", "L", "I;16", "I", "F") for _, m in headers) else "RGB"
        if image_size is None:
            image_size = Counter(hw for hw, _ in headers).most_common(1)[0][0]

    total = sum(len(v) for v in by_split.values())
    out = {}
    with tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for split, items in by_split.items():
            arr = np.empty((len(items), *image_size, 1 if mode == "L" else 3), dtype=np.uint8)
            for i, (_, _, rel, payload) in enumerate(items):
                arr[i] = to_array(open_image(payload, f"{source}:{split}/{rel}"), mode, image_size)
                if i % 1024 == 1023:
                    bar.update(1024)
            bar.update(len(items) % 1024)
            labels = np.fromiter((t[1] for t in items), dtype=np.int64, count=len(items))
            out[split] = FolderSplit(arr, labels, [t[2] for t in items])
    return out, classes
