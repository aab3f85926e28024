"""Safe reading and extraction of tar archives.

Every member is checked before anything is read or written: no absolute
paths, no ``..`` components, no links or device files. A member that fails
the check makes the whole archive refused (``UnsafeFileError``); extraction
then also runs with tarfile's ``filter="data"``.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from deepclass.errors import DataError, UnsafeFileError

# What a truncated or corrupt .tar.gz raises from inside tarfile/gzip/zlib.
CORRUPT_ERRORS = (tarfile.ReadError, EOFError, zlib.error, gzip.BadGzipFile, OSError)


def check_member(archive: Path, member: tarfile.TarInfo) -> None:
    """Raise ``UnsafeFileError`` unless ``member`` is a plain file or directory inside the target."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeFileError(
            f"{archive}: member {name!r} has an absolute path; refusing the archive"
        )
    if ".." in parts:
        raise UnsafeFileError(
            f"{archive}: member {name!r} escapes the target with '..'; refusing the archive"
        )
    if member.issym() or member.islnk():
        raise UnsafeFileError(
            f"{archive}: member {name!r} is a link (to {member.linkname!r}); refusing the archive"
        )
    if not (member.isfile() or member.isdir()):
        raise UnsafeFileError(
            f"{archive}: member {name!r} is not a regular file; refusing the archive"
        )


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except FileNotFoundError:
        raise
    except CORRUPT_ERRORS as e:
        raise DataError(f"{path}: not a readable tar archive (corrupt or truncated: {e})") from e


def iter_files(path: str | os.PathLike) -> Iterator[tuple[str, bytes]]:
    """Stream ``(member name, bytes)`` for every regular file in a tar archive.

    Reads sequentially (fast for .tar.gz); unsafe members refuse the archive.
    """
    path = Path(path)
    tar = _open(path)
    try:
        with tar:
            for member in tar:
                check_member(path, member)
                if member.isfile():
                    f = tar.extractfile(member)
                    if f is None:  # pragma: no cover - regular files always have data
                        continue
                    yield member.name, f.read()
    except CORRUPT_ERRORS as e:
        raise DataError(f"{path}: corrupt or truncated archive ({type(e).__name__}: {e})") from e


def read_member(path: str | os.PathLike, name: str) -> bytes:
    """The bytes of member ``name`` (a file inside the archive)."""
    path = Path(path)
    for member_name, data in iter_files(path):
        if member_name == name:
            return data
    raise DataError(f"{path}: archive has no member {name!r}")


def safe_extract(path: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a tar archive into ``target`` after checking every member; returns ``target``."""
    path, target = Path(path), Path(target)
    tar = _open(path)
    try:
        with tar:
            members = tar.getmembers()
            for m in members:
                check_member(path, m)
            target.mkdir(parents=True, exist_ok=True)
            try:
                tar.extractall(target, members=members, filter="data")
            except tarfile.FilterError as e:
                raise UnsafeFileError(f"{path}: refused by the tar data filter: {e}") from e
    except CORRUPT_ERRORS as e:
        raise DataError(f"{path}: corrupt or truncated archive ({type(e).__name__}: {e})") from e
    return target
