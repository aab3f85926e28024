"""Downloading with checksum verification (file:// URLs stand in for the canonical hosts)."""

from __future__ import annotations

import hashlib

import pytest

from deepclass.data import download as dl
from deepclass.data.checksums import Digest, file_digest, verify_file
from deepclass.errors import ChecksumError, MissingDataError


def test_download_verifies_and_renames_atomically(tmp_path):
    src = tmp_path / "payload.bin"
    src.write_bytes(b"deepclass" * 1000)
    good = Digest("md5", hashlib.md5(src.read_bytes()).hexdigest())
    dest = tmp_path / "out" / "payload.bin"
    got = dl.download_file([src.as_uri()], dest, (good,), progress=False)
    assert got == dest and dest.read_bytes() == src.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["payload.bin"]  # no .part left behind


def test_download_with_wrong_checksum_leaves_nothing(tmp_path):
    src = tmp_path / "payload.bin"
    src.write_bytes(b"tampered")
    dest = tmp_path / "out" / "payload.bin"
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        dl.download_file([src.as_uri()], dest, (Digest("md5", "0" * 32),), progress=False)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_download_falls_back_to_the_next_mirror(tmp_path):
    src = tmp_path / "payload.bin"
    src.write_bytes(b"abc")
    dest = tmp_path / "payload-copy.bin"
    dl.download_file([(tmp_path / "missing").as_uri(), src.as_uri()], dest, progress=False)
    assert dest.read_bytes() == b"abc"
    with pytest.raises(MissingDataError, match="could not download"):
        dl.download_file([(tmp_path / "missing").as_uri()], tmp_path / "x.bin", progress=False)


def test_official_resources_carry_published_checksums():
    (cifar,) = dl.RESOURCES["cifar10"]
    assert cifar.digests[0].value == "c58f30108f718f92721af3b95e74349a"
    assert cifar.urls[0].startswith("https://www.cs.toronto.edu/")
    assert {r.filename for r in dl.RESOURCES["mnist"]} == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    assert all(r.digests for r in dl.RESOURCES["mnist"])


def test_shared_files_verify(data_dir, tmp_path):
    assert "sha256 ok" in verify_file(data_dir / "cifar10-jpeg.tar.gz")
    # The re-compressed IDX: its payload matches the official decompressed md5.
    assert (
        file_digest(data_dir / "mnist-idx" / "t10k-images-idx3-ubyte.gz", "md5", decompress=True)
        == "2646ac647ad5339dbf082846283269ea"
    )
    # three digests are known for this name; the shared copy is the re-compressed one
    assert (
        verify_file(data_dir / "mnist-idx" / "t10k-images-idx3-ubyte.gz")
        == "sha256 ok (offline re-compressed copy)"
    )
    # a file whose name has no known digest is not verified (None), not passed
    (tmp_path / "notes.txt").write_text("x")
    assert verify_file(tmp_path / "notes.txt") is None


def test_corrupted_known_file_fails_verification(tmp_path):
    bad = tmp_path / "cifar-10-python.tar.gz"
    bad.write_bytes(b"not the archive")
    with pytest.raises(ChecksumError, match=r"cifar-10-python.tar.gz: checksum mismatch.*c58f3010"):
        verify_file(bad)
    other = tmp_path / "no-reference.bin"
    other.write_bytes(b"")
    assert verify_file(other) is None  # no published digest: nothing to check against
