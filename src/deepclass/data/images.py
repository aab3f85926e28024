"""Decoding image files into uint8 arrays (Pillow)."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from deepclass.errors import DataError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def natural_key(name: str) -> tuple:
    """Sort key that orders ``2.png`` before ``10.png``."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name))


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def open_image(
    src: bytes | str | os.PathLike,
    name: str | None = None,
    *,
    draft: tuple[str, tuple[int, int]] | None = None,
) -> Image.Image:
    """Open an image from bytes or a path; unreadable data raises ``DataError`` naming it.

    draft: ``(mode, (H, W))``: let a JPEG decode at the smallest of 1/2, 1/4
    or 1/8 scale that is still at least ``(H, W)`` (Pillow's ``draft``, done
    in the DCT domain: a 2000x1500 photo wanted at 64x85 decodes as 250x188).
    """
    label = name or str(src if not isinstance(src, bytes) else "<bytes>")
    try:
        img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
        if draft is not None and img.format == "JPEG":
            mode, (h, w) = draft
            if img.width >= 2 * w and img.height >= 2 * h:  # else the scale stays 1: no-op
                img.draft(mode, (w, h))
        img.load()
    except FileNotFoundError as e:
        raise DataError(f"image file not found: {label}") from e
    except UnidentifiedImageError as e:  # Pillow's message repeats the path
        raise DataError(f"cannot read image {label}: not an image format Pillow knows") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read image {label}: {e}") from e
    return img


def read_image(
    src: bytes | str | os.PathLike,
    mode: str,
    size: tuple[int, int] | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Decode one image file as uint8 ``(H, W, C)`` in ``mode``, resized to ``size=(H, W)``.

    The one decoder of training, ``evaluate`` and ``predict``: JPEGs larger
    than ``size`` decode at a reduced scale first (``open_image``'s draft),
    then Pillow's bilinear (antialiased) resize gives exactly ``size``.
    """
    img = open_image(src, name, draft=(mode, tuple(size)) if size is not None else None)
    try:
        return to_array(img, mode, size)
    except (OSError, ValueError) as e:  # a truncated file can fail only on conversion
        raise DataError(f"cannot read image {name or src}: {e}") from e


def to_array(img: Image.Image, mode: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """``img`` as uint8 ``(H, W, C)`` in ``mode`` ("RGB" or "L"), resized to ``size=(H, W)`` if given.

    Transparent images are composited on white first, so a PNG with an alpha
    channel does not turn black where it is transparent.
    """
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    if img.mode != mode:
        img = img.convert(mode)
    if size is not None and (img.height, img.width) != tuple(size):
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_image(
    path: str | os.PathLike, *, channels: int = 3, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Read any PNG/JPEG/... file as uint8 ``(H, W, channels)`` resized to ``size=(H, W)``.

    This is how ``deepclass predict`` turns a user's photo of any size and
    colour mode into what a model trained on CIFAR-10 (3 channels, 32x32) or
    MNIST (1 channel, 28x28) expects.
    """
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    return read_image(path, "L" if channels == 1 else "RGB", size, str(path))
