"""Downloading the official archives, with checksum verification.

Used only when a data set is missing and downloads are allowed (see
``paths.is_offline``). A file is written under a temporary name, verified,
then renamed into place, so a failed or interrupted download never leaves a
file under the final name.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from deepclass.data.checksums import KNOWN_DIGESTS, Digest, verify_file
from deepclass.errors import ChecksumError, MissingDataError


@dataclass(frozen=True)
class Resource:
    """A file to download: its name, the URLs to try in order, its digests."""

    filename: str
    urls: tuple[str, ...]

    @property
    def digests(self) -> tuple[Digest, ...]:
        return tuple(d for d in KNOWN_DIGESTS.get(self.filename, ()) if not d.decompressed)


MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

RESOURCES: dict[str, tuple[Resource, ...]] = {
    "cifar10": (
        Resource(
            "cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
        ),
    ),
    "mnist": tuple(
        Resource(name, tuple(m + name for m in MNIST_MIRRORS))
        for name in (
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        )
    ),
}


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike,
    digests: tuple[Digest, ...] = (),
    *,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Fetch the first URL that works into ``dest``, verify it, and return ``dest``.

    Raises ``ChecksumError`` if the file arrives but does not match
    ``digests``; ``MissingDataError`` if no URL could be fetched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    bad_checksum = False
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=f"download {dest.name}",
                    disable=not progress,
                    leave=False,
                ) as bar:
                    for chunk in iter(lambda: resp.read(1 << 16), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
            if digests:
                verify_file(tmp, digests)
            os.replace(tmp, dest)
            return dest
        except ChecksumError as e:
            bad_checksum = True
            errors.append(f"{url}: {e}")
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    cls = ChecksumError if bad_checksum else MissingDataError
    raise cls(f"could not download {dest.name}: " + "; ".join(errors))


def download_dataset(
    name: str, data_dir: str | os.PathLike, *, progress: bool = True
) -> list[Path]:
    """Download the official files of ``name`` ("cifar10" or "mnist") into ``data_dir``."""
    data_dir = Path(data_dir)
    out = []
    for res in RESOURCES[name]:
        dest = data_dir / res.filename
        if not dest.exists():
            download_file(res.urls, dest, res.digests, progress=progress)
        out.append(dest)
    return out
