"""Image folders: ``<root>/<split>/<class>/<file>`` or ``<root>/<class>/<file>``.

The same reader serves a user's own folder, the CIFAR-10 JPEG copy and the
MNIST PNG copy, from a directory or straight from a ``.tar.gz`` (streamed,
never extracted to disk).

Three steps, each usable alone:

1. ``scan_image_folder``: the file list, classes and splits (no file is opened);
2. ``read_headers`` / ``plan_folder``: sizes and colour modes from the file
   headers only, so the decoded size of a folder (and whether it fits in
   memory) is known before a single image is decoded;
3. ``read_image_folder``: decode everything into ``(N, H, W, C)`` uint8 arrays
   (the on-disk cache of ``data.stream`` decodes the same entries in
   ``DataLoader`` workers instead).

Order: within a split, files are sorted by (natural file name, class index).
For the MNIST PNG test split (file name = index in the official file) that is
the official order; for the CIFAR-10 copy (``0000.jpg`` .. per class) it
interleaves the classes, so any contiguous slice is class-balanced.

Unreadable files: an error names the file (its path, or ``ARCHIVE:member``
for a tar); with ``skip_bad=True`` they are left out instead, and listed in
``skipped`` as ``(file, reason)``.
"""

from __future__ import annotations

import io
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from deepclass.data import archive
from deepclass.data.images import is_image_name, natural_key, read_image
from deepclass.errors import ConfigError, DataError

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
GREY_MODES = ("1", "L", "I;16", "I", "F")

# A user's folder without --image-size is resized so that its most common size has this
# longer side (aspect kept; never enlarged); 32 / 64 / 96 are measured in
# benchmarks/photo_folders.md ("Default size").
DEFAULT_LONGEST_SIDE = 64

SKIP_HINT = "pass --skip-bad-images to leave unreadable files out"


@dataclass
class FolderSplit:
    """One decoded split of an image folder."""

    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int64
    names: list[str]  # relative file names, in the order of ``images``
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) left out


@dataclass
class FolderEntry:
    """One image file of a folder: its label, names and where its bytes are."""

    label: int
    rel: str  # "<class>/<file>", as ``FolderSplit.names`` lists it
    where: str  # the file's real path, or "ARCHIVE:member" inside a tar
    payload: bytes | Path


@dataclass
class FolderIndex:
    """The files of an image folder by split (``"all"`` for a flat ``<class>/<file>`` layout)."""

    source: Path
    classes: list[str]
    splits: dict[str, list[FolderEntry]]

    def __len__(self) -> int:
        return sum(len(v) for v in self.splits.values())


def _iter_entries(source: Path) -> Iterator[tuple[tuple[str, ...], str, bytes | Path]]:
    """``(path parts, where, payload)`` of every image file under a directory or in a tar."""
    if source.is_dir():
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for f in filenames:
                if f.startswith(".") or not is_image_name(f):
                    continue
                p = Path(dirpath) / f
                yield p.relative_to(source).parts, str(p), p
    else:
        for name, data in archive.iter_files(source):
            parts = tuple(x for x in name.split("/") if x not in ("", "."))
            if parts and not parts[-1].startswith(".") and is_image_name(parts[-1]):
                yield parts, f"{source}:{name}", data


def archive_prefix(path: Path) -> int:
    """A user's archive usually wraps its folder in one top directory: 1 to strip it, else 0."""
    if path.is_dir():
        return 0
    for name, _ in archive.iter_files(path):
        parts = [p for p in name.split("/") if p not in ("", ".")]
        return 1 if len(parts) >= 3 and parts[0].lower() not in SPLIT_NAMES else 0
    return 0


def scan_image_folder(
    source: str | os.PathLike,
    *,
    classes: Sequence[str] | None = None,
    strip_prefix: int = 0,
) -> FolderIndex:
    """The image files under ``source`` (a directory or a tar archive), by split and class.

    classes: the class names in label order; None means the sorted class
    folder names. strip_prefix: leading path components to drop (the
    ``cifar10/`` folder inside the archive). No image is opened.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"image folder not found: {source}")
    entries = [(parts[strip_prefix:], where, x) for parts, where, x in _iter_entries(source)]
    if not entries:
        raise DataError(
            f"{source}: no images found; expected <root>/<split>/<class>/<image> or "
            f"<root>/<class>/<image> with .png/.jpg files"
        )
    depths = Counter(len(p) for p, _, _ in entries)
    if set(depths) == {3} and all(p[0].lower() in SPLIT_NAMES for p, _, _ in entries):
        keyed = [(SPLIT_NAMES[p[0].lower()], p[1], p[2], w, x) for p, w, x in entries]
    elif set(depths) == {2}:
        keyed = [("all", p[0], p[1], w, x) for p, w, x in entries]
    else:
        # Show an entry of the rarest depth: the odd one out.
        bad = min(entries, key=lambda e: depths[len(e[0])])[0]
        raise DataError(
            f"{source}: mixed or unknown layout (e.g. {'/'.join(bad)}); expected "
            f"<split>/<class>/<image> with split in train/val/test, or <class>/<image>"
        )
    found = sorted({c for _, c, _, _, _ in keyed}, key=natural_key)
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
    for split, c, fname, where, payload in keyed:
        by_split[split].append(
            (natural_key(fname), index[c], FolderEntry(index[c], f"{c}/{fname}", where, payload))
        )
    splits = {}
    for split, items in by_split.items():
        items.sort(key=lambda t: (t[0], t[1]))
        splits[split] = [e for _, _, e in items]
    return FolderIndex(source, classes, splits)


def _header(entry: FolderEntry) -> tuple[tuple[int, int], str]:
    """``((H, W), mode)`` of an image, reading only its header."""
    payload = entry.payload
    try:
        with Image.open(io.BytesIO(payload) if isinstance(payload, bytes) else payload) as im:
            return (im.height, im.width), im.mode
    except UnidentifiedImageError as e:  # Pillow's message repeats the path
        raise DataError(f"cannot read image {entry.where}: not an image format Pillow knows") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read image {entry.where}: {e}") from e


@dataclass
class FolderHeaders:
    """What the headers of a folder's images say: colour mode, most common size, bad files."""

    mode: str  # "RGB" or "L" (every image greyscale)
    common_size: tuple[int, int]  # (H, W) of the most images
    skipped: dict[str, list[tuple[str, str]]]  # split -> (file, reason) of unreadable headers

    @property
    def all_skipped(self) -> list[tuple[str, str]]:
        return [s for v in self.skipped.values() for s in v]


def read_headers(
    index: FolderIndex, *, skip_bad: bool = False
) -> tuple[FolderIndex, FolderHeaders]:
    """Sizes and modes of every image from its header alone (nothing is decoded).

    Returns the index without the unreadable files (``skip_bad=True``; else
    the first one raises ``DataError`` naming it) and the ``FolderHeaders``.
    """
    sizes: Counter = Counter()
    grey = True
    skipped: dict[str, list[tuple[str, str]]] = {}
    kept: dict[str, list[FolderEntry]] = {}
    for split, entries in index.splits.items():
        kept[split], skipped[split] = [], []
        for e in entries:
            try:
                hw, m = _header(e)
            except DataError as err:
                if not skip_bad:
                    raise DataError(f"{err}; {SKIP_HINT}") from err
                skipped[split].append((e.where, _reason(err)))
                continue
            sizes[hw] += 1
            grey = grey and m in GREY_MODES
            kept[split].append(e)
    if not sizes:
        raise DataError(f"{index.source}: none of its {len(index)} image files is readable")
    headers = FolderHeaders("L" if grey else "RGB", sizes.most_common(1)[0][0], skipped)
    return FolderIndex(index.source, index.classes, kept), headers


def _reason(err: Exception) -> str:
    """The part of a "cannot read image FILE: reason" message after the file name."""
    msg = str(err)
    return msg.split(": ", 1)[1] if msg.startswith("cannot read image ") and ": " in msg else msg


def default_image_size(
    common_size: tuple[int, int], longest: int = DEFAULT_LONGEST_SIDE
) -> tuple[int, int]:
    """``common_size (H, W)`` scaled down so its longer side is ``longest`` (aspect kept).

    A size already within ``longest`` is kept (images are never enlarged by
    default): 1500x2000 -> 48x64, 32x32 -> 32x32.
    """
    h, w = common_size
    if max(h, w) <= longest:
        return (h, w)
    s = longest / max(h, w)
    return (max(1, round(h * s)), max(1, round(w * s)))


def check_image_size(
    size: Sequence[int] | None, name: str = "--image-size"
) -> tuple[int, int] | None:
    """``(H, W)`` from ``[S]`` (square) or ``[H, W]`` positive ints; None stays None."""
    if size is None:
        return None
    vals = list(size)
    if len(vals) not in (1, 2) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in vals
    ):
        raise ConfigError(f"{name} must be one or two positive ints (H [W]), got {list(size)}")
    h, w = (vals[0], vals[0]) if len(vals) == 1 else vals
    return (int(h), int(w))


@dataclass
class FolderPlan:
    """What decoding a user's folder will give, known from its file headers alone."""

    index: FolderIndex
    mode: str
    image_size: tuple[int, int]  # (H, W) every image is resized to
    common_size: tuple[int, int]  # the folder's most common (H, W)
    chosen: bool  # True when image_size is the default (no --image-size)
    skipped: list[tuple[str, str]]  # files left out already (unreadable headers)

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``: what a model sees."""
        return (self.channels, *self.image_size)

    @property
    def num_images(self) -> int:
        return len(self.index)

    @property
    def decoded_bytes(self) -> int:
        """Bytes of every image decoded at ``image_size`` (uint8)."""
        h, w = self.image_size
        return self.num_images * h * w * self.channels

    def describe(self) -> str:
        """``PATH: 30 images in 2 classes, resized to 48x64 (most common size 1500x2000)``."""
        h, w = self.image_size
        ch, cw = self.common_size
        how = "kept at" if (h, w) == (ch, cw) else "resized to"
        by = "" if self.chosen else " by --image-size"
        split = "" if "all" in self.index.splits else f" ({', '.join(self.index.splits)})"
        return (
            f"{self.index.source}: {self.num_images:,} images in {len(self.index.classes)} "
            f"classes{split}, {how} {h}x{w}{by} (most common size {ch}x{cw})"
        )


def plan_folder(
    source: str | os.PathLike,
    *,
    image_size: Sequence[int] | None = None,
    skip_bad: bool = False,
    classes: Sequence[str] | None = None,
    mode: str | None = None,
) -> FolderPlan:
    """Scan a folder and read its headers: the plan for decoding it, nothing decoded yet.

    image_size: ``(H, W)`` or ``(S,)``; None means ``default_image_size`` of
    the most common size. mode: "RGB"/"L"; None picks "L" when every image
    is greyscale.
    """
    size = check_image_size(image_size)
    source = Path(source)
    index = scan_image_folder(source, classes=classes, strip_prefix=archive_prefix(source))
    index, headers = read_headers(index, skip_bad=skip_bad)
    return FolderPlan(
        index,
        mode or headers.mode,
        size or default_image_size(headers.common_size),
        headers.common_size,
        size is None,
        headers.all_skipped,
    )


def decode_entry(entry: FolderEntry, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 ``(H, W, C)``; ``DataError`` names the file when it is unreadable."""
    return read_image(entry.payload, mode, size, entry.where)


def read_image_folder(
    source: str | os.PathLike,
    *,
    classes: Sequence[str] | None = None,
    strip_prefix: int = 0,
    mode: str | None = None,
    image_size: tuple[int, int] | None = None,
    progress: bool = True,
    desc: str = "decode",
    skip_bad: bool = False,
) -> tuple[dict[str, FolderSplit], list[str]]:
    """Decode every image under ``source`` (a directory or a tar archive) in this process.

    classes: the class names in label order; None means the sorted class
        folder names. strip_prefix: leading path components to drop (the
        ``cifar10/`` folder inside the archive). mode: "RGB" or "L"; None
        picks "L" when every image is greyscale, else "RGB". image_size:
        ``(H, W)``; None keeps the most common size and resizes the others.
    skip_bad: leave unreadable files out (listed in each split's ``skipped``)
        instead of stopping at the first one.

    Returns ``({split: FolderSplit}, classes)``; a flat ``<class>/<file>``
    layout gives the single split ``"all"``.
    """
    index = scan_image_folder(source, classes=classes, strip_prefix=strip_prefix)
    skipped: dict[str, list[tuple[str, str]]] = {s: [] for s in index.splits}
    if mode is None or image_size is None:
        index, headers = read_headers(index, skip_bad=skip_bad)
        skipped = headers.skipped
        mode = mode or headers.mode
        image_size = image_size or headers.common_size
    out = decode_index(index, mode, image_size, progress=progress, desc=desc, skip_bad=skip_bad)
    for split, fs in out.items():
        fs.skipped = skipped[split] + fs.skipped
    return out, index.classes


def decode_index(
    index: FolderIndex,
    mode: str,
    image_size: tuple[int, int],
    *,
    progress: bool = True,
    desc: str = "decode",
    skip_bad: bool = False,
) -> dict[str, FolderSplit]:
    """Decode every entry of ``index`` in this process: ``{split: FolderSplit}``.

    skip_bad: leave unreadable files out (each split's ``skipped``), else the
    first one raises ``DataError`` naming it.
    """
    skipped: dict[str, list[tuple[str, str]]] = {s: [] for s in index.splits}
    out = {}
    bar = tqdm(
        total=len(index), desc=desc, unit="file", disable=not progress, leave=False,
        file=sys.stderr, mininterval=1.0,
    )  # fmt: skip
    with bar:
        for split, entries in index.splits.items():
            arr = np.empty((len(entries), *image_size, 1 if mode == "L" else 3), dtype=np.uint8)
            labels, names, n = [], [], 0
            for i, e in enumerate(entries):
                try:
                    arr[n] = decode_entry(e, mode, image_size)
                except DataError as err:
                    if not skip_bad:
                        raise DataError(f"{err}; {SKIP_HINT}") from err
                    skipped[split].append((e.where, _reason(err)))
                    continue
                labels.append(e.label)
                names.append(e.rel)
                n += 1
                if i % 1024 == 1023:
                    bar.update(1024)
            bar.update(len(entries) % 1024)
            out[split] = FolderSplit(
                arr[:n] if n < len(entries) else arr,
                np.asarray(labels, np.int64),
                names,
                skipped[split],
            )
    return out
