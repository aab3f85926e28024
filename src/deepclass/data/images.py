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


def open_image(src: bytes | str | os.PathLike, name: str | None = None) -> Image.Image:
    """Open an image from bytes or a path; unreadable data raises ``DataError`` naming it."""
    label = name or str(src if not isinstance(src, bytes) else "<bytes>")
    try:
        img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
        img.load()
    except FileNotFoundError as e:
        raise DataError(f"image file not found: {label}") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"cannot read image {label}: {e}") from e
    return img


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
    img = open_image(path, str(path))
    return to_array(img, "L" if channels == 1 else "RGB", size)
