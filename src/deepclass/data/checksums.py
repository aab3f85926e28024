"""File checksums: hashing and the published digests deepclass knows.

A file is accepted when any of its known digests matches: the official
archives' md5 sums, the sha256 sums of the offline copies in
``shared/datasets``, and, for re-compressed IDX files, the md5 of the
decompressed payload.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from deepclass.errors import ChecksumError


def file_digest(path: str | os.PathLike, algo: str = "md5", *, decompress: bool = False) -> str:
    """Hex digest of a file (of its gzip payload when ``decompress``), read in 1 MiB chunks."""
    h = hashlib.new(algo)
    opener = gzip.open if decompress else open
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Digest:
    algo: str  # "md5" or "sha256"
    value: str
    decompressed: bool = False  # digest of the gzip payload, not of the file
    what: str = ""


# file name -> digests under which it is genuine
KNOWN_DIGESTS: dict[str, tuple[Digest, ...]] = {
    "cifar-10-python.tar.gz": (
        Digest("md5", "c58f30108f718f92721af3b95e74349a", what="official archive"),
    ),
    "cifar10-jpeg.tar.gz": (
        Digest(
            "sha256",
            "cb6c50520509605d4bd1856cb7eaba797dabcec3c19d93ce945b0ec1aee34a5f",
            what="offline JPEG copy",
        ),
    ),
    "mnist-png.tar.gz": (
        Digest(
            "sha256",
            "5e21d6b31ff34862fce377fa55b65babf39d489ea6ad0ea5855b3d0a18d144a7",
            what="offline PNG copy",
        ),
    ),
    "train-images-idx3-ubyte.gz": (
        Digest("md5", "f68b3c2dcbeaaa9fbdd348bbdeb94873", what="official gzip"),
    ),
    "train-labels-idx1-ubyte.gz": (
        Digest("md5", "d53e105ee54ea40749a09fcbcd1e9432", what="official gzip"),
        Digest(
            "sha256",
            "ec02e7948609e5754d47881c09b8afdd8dfa60600b9e5388c8c54a67069ec772",
            what="offline re-compressed copy",
        ),
    ),
    "t10k-images-idx3-ubyte.gz": (
        Digest("md5", "9fb629c4189551a2d022fa330f9573f3", what="official gzip"),
        Digest(
            "sha256",
            "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
            what="offline re-compressed copy",
        ),
        Digest(
            "md5", "2646ac647ad5339dbf082846283269ea", decompressed=True, what="official payload"
        ),
    ),
    "t10k-labels-idx1-ubyte.gz": (
        Digest("md5", "ec29112dd5afa0611ce80d1b7f02629c", what="official gzip"),
        Digest(
            "sha256",
            "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
            what="offline re-compressed copy",
        ),
    ),
}


def verify_file(path: str | os.PathLike, digests: tuple[Digest, ...] | None = None) -> str | None:
    """Check ``path`` against its known digests.

    Returns a short description of the digest that matched, or None when no
    reference digest is known for this file name. Raises ``ChecksumError``
    when digests are known and none matches.
    """
    path = Path(path)
    if digests is None:
        digests = KNOWN_DIGESTS.get(path.name)
    if not digests:
        return None
    seen: dict[tuple[str, bool], str] = {}
    for d in digests:
        key = (d.algo, d.decompressed)
        if key not in seen:
            seen[key] = file_digest(path, d.algo, decompress=d.decompressed)
        if seen[key] == d.value:
            return f"{d.algo} ok ({d.what})" if d.what else f"{d.algo} ok"
    got = ", ".join(f"{a}{' of payload' if dec else ''}={v}" for (a, dec), v in seen.items())
    want = ", ".join(
        f"{d.algo}{' of payload' if d.decompressed else ''}={d.value}" for d in digests
    )
    raise ChecksumError(f"{path}: checksum mismatch: got {got}; expected one of {want}")
