"""Downloading the official archives, with checksum verification.

Used only when a data set is missing and downloads are allowed (see
``paths.is_offline``). A file is written under a temporary name, verified,
then renamed into place, so a failed or interrupted download never leaves a
file under the final name.
"""

from __future__ import annotations

import http.client
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


class _TransferError(Exception):
    """The body ended before its Content-Length (a dropped connection, a killed server)."""


ATTEMPTS = 3  # tries per URL; after an interruption the next one resumes where it stopped


def _fetch(url: str, part: Path, *, timeout: float, progress: bool, desc: str) -> None:
    """Append ``url``'s body to ``part``, resuming from ``part``'s size with a Range request.

    A server that ignores the range (status 200, not 206) sends the whole file again: it is
    written from the start. Raises :class:`_TransferError` when fewer bytes arrive than the
    response announced.
    """
    have = part.stat().st_size
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        if have and getattr(resp, "status", None) != 206:
            have = 0  # the range was not honoured: restart
        length = resp.headers.get("Content-Length")
        expected = have + int(length) if length else None
        with (
            open(part, "ab" if have else "wb") as out,
            tqdm(
                total=expected, initial=have, unit="B", unit_scale=True, desc=desc,
                disable=not progress, leave=False,
            ) as bar,
        ):  # fmt: skip
            try:
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError) as e:
                raise _TransferError(f"connection lost after {out.tell()} bytes ({e})") from e
    got = part.stat().st_size
    if expected is not None and got < expected:
        raise _TransferError(f"got {got} of {expected} bytes")


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike,
    digests: tuple[Digest, ...] = (),
    *,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Fetch the first URL that works into ``dest``, verify it, and return ``dest``.

    The bytes go to a temporary ``.NAME.*.part`` beside ``dest``, renamed over ``dest``
    only once complete and verified. An interrupted transfer is retried (``ATTEMPTS``
    times per URL), resuming from the bytes already received where the server allows
    ranges and restarting otherwise; a body shorter than announced is never accepted.
    Raises ``ChecksumError`` if the file arrives but does not match ``digests`` (nothing
    is kept); ``MissingDataError`` if no URL could be fetched (nothing is left behind).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    bad_checksum = False
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        part = Path(tmp)  # empty: the first try starts from 0, a retry resumes from its size
        try:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    _fetch(
                        url, part, timeout=timeout, progress=progress, desc=f"download {dest.name}"
                    )
                    break
                except _TransferError as e:
                    if attempt == ATTEMPTS:
                        raise OSError(f"download interrupted {ATTEMPTS} times, last: {e}") from e
            if digests:
                verify_file(part, digests)
            os.replace(part, dest)
            return dest
        except ChecksumError as e:
            bad_checksum = True
            errors.append(f"{url}: {e}")
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if part.exists():
                part.unlink()
    cls = ChecksumError if bad_checksum else MissingDataError
    raise cls(f"could not download {dest.name}: " + "; ".join(errors))


def download_dataset(
    name: str, data_dir: str | os.PathLike, *, progress: bool = True
) -> list[Path]:
    """Download the official files of ``name`` ("cifar10" or "mnist") into ``data_dir``.

    Each file of ``RESOURCES[name]`` not yet in ``data_dir`` is fetched from its mirrors
    in order and verified against its published digests (:func:`download_file`); files
    already there are kept as they are. Returns the paths of all of them.
    """
    data_dir = Path(data_dir)
    out = []
    for res in RESOURCES[name]:
        dest = data_dir / res.filename
        if not dest.exists():
            download_file(res.urls, dest, res.digests, progress=progress)
        out.append(dest)
    return out
