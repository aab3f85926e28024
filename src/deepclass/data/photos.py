"""Photo-like JPEG folders made on the spot, for tests and the user-folder measurements.

``make_photo_folder(root, n_per_class, size=(1500, 2000))`` writes
``root/<class>/<i>.jpg``: each image a smooth random colour field (what makes
a JPEG of a photo small and quick to decode, unlike noise) with fine grain,
and the class in it as soft stripes at the class's own angle (class k of K:
``180 * k / K`` degrees, 3 to 6 cycles across the image, random phase), so a
model can learn the classes at any size from 32 pixels up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from deepclass.errors import ConfigError


def photo(
    size: tuple[int, int], label: int, num_classes: int, rng: np.random.Generator
) -> Image.Image:
    """One ``(H, W)`` RGB photo-like image of class ``label`` (see the module docstring)."""
    h, w = size
    # composed at a quarter of the size and enlarged: smooth like a photo, and quick to make
    sh, sw = max(2, h // 4), max(2, w // 4)
    field = rng.integers(0, 256, (sh // 32 + 2, sw // 32 + 2, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(field).resize((sw, sh), Image.BICUBIC), dtype=np.float32)
    angle = np.pi * label / num_classes
    cycles = rng.uniform(3, 6)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    t = (xx * np.cos(angle) + yy * np.sin(angle)) / max(sh, sw)
    stripes = np.sin(2 * np.pi * cycles * t + rng.uniform(0, 2 * np.pi))[..., None]
    small = np.clip(0.55 * base + 0.45 * (128 + 110 * stripes), 0, 255).astype(np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), dtype=np.int16)
    tile = rng.integers(-8, 9, (min(h, 128), min(w, 128), 1), dtype=np.int16)  # fine grain
    grain = np.tile(tile, (-(-h // tile.shape[0]), -(-w // tile.shape[1]), 1))[:h, :w]
    return Image.fromarray(np.clip(img + grain, 0, 255).astype(np.uint8))


def make_photo_folder(
    root: str | os.PathLike,
    n_per_class: int,
    *,
    size: tuple[int, int] = (1500, 2000),
    classes: Sequence[str] = ("cat", "dog"),
    quality: int = 90,
    seed: int = 0,
) -> Path:
    """Write ``n_per_class`` JPEGs of ``size (H, W)`` for each class into ``root/<class>/``.

    Returns ``root``. The same arguments write the same bytes.
    """
    if n_per_class < 1 or len(classes) < 2:
        raise ConfigError(
            f"need n_per_class >= 1 and at least 2 classes, got {n_per_class}, {list(classes)}"
        )
    root = Path(root)
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            photo(size, k, len(classes), rng).save(root / name / f"{i:05d}.jpg", quality=quality)
    return root
