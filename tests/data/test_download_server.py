"""``download_dataset`` against a local HTTP server on 127.0.0.1 (a thread of this process).

The server hands out real files (the shared MNIST test labels, a small tar.gz archive) and can
misbehave on purpose: drop the connection half-way, ignore Range requests, serve tampered
bytes, or answer 404. Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest

from deepclass.data import archive, checksums
from deepclass.data import download as dl
from deepclass.data.mnist import read_idx_labels
from deepclass.errors import ChecksumError, DataError, MissingDataError

LABELS = "t10k-labels-idx1-ubyte.gz"


class Files(BaseHTTPRequestHandler):
    """GET /NAME serves FILES[NAME]; per-name behaviour from MODES, every request logged."""

    files: ClassVar[dict[str, bytes]] = {}
    modes: ClassVar[dict[str, str]] = {}  # "cut-once", "cut-once-no-range", "cut-always"
    log: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        rng = self.headers.get("Range")
        self.log.append((name, rng))
        if name not in self.files:
            self.send_error(404)
            return
        body, mode = self.files[name], self.modes.get(name, "")
        start = int(rng.split("=")[1].rstrip("-")) if rng and "no-range" not in mode else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        first = sum(1 for n, _ in self.log if n == name) == 1
        if mode == "cut-always" or (mode.startswith("cut-once") and first):
            self.wfile.write(body[start : start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True  # the rest never comes
            return
        self.wfile.write(body[start:])

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def server(monkeypatch):
    Files.files, Files.modes, Files.log = {}, {}, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _serve_as_mnist(monkeypatch, url: str, name: str, body: bytes, *, mirrors=("",)) -> None:
    """RESOURCES['mnist'] = one file at our server (after ``mirrors`` that fail), with its
    sha256 as the published digest."""
    Files.files[name] = body
    digest = checksums.Digest("sha256", hashlib.sha256(body).hexdigest(), what="test")
    monkeypatch.setitem(checksums.KNOWN_DIGESTS, name, (digest,))
    urls = tuple(f"{url}{m}{name}" for m in mirrors)
    monkeypatch.setitem(dl.RESOURCES, "mnist", (dl.Resource(name, urls),))


def test_a_good_checksum_loads(server, monkeypatch, tmp_path, data_dir):
    real = (data_dir / "mnist-idx" / LABELS).read_bytes()
    _serve_as_mnist(monkeypatch, server, LABELS, real, mirrors=("missing/", ""))
    (path,) = dl.download_dataset("mnist", tmp_path / "data", progress=False)
    assert path == tmp_path / "data" / LABELS and path.read_bytes() == real
    labels = read_idx_labels(path)
    assert labels.shape == (10_000,) and np.array_equal(
        labels, read_idx_labels(data_dir / "mnist-idx" / LABELS)
    )
    assert [n for n, _ in Files.log] == [f"missing/{LABELS}", LABELS]  # the 404 mirror first
    assert sorted(p.name for p in path.parent.iterdir()) == [LABELS]
    # present files are kept, not fetched again
    dl.download_dataset("mnist", tmp_path / "data", progress=False)
    assert len(Files.log) == 2


def test_a_bad_checksum_is_refused_and_removed(server, monkeypatch, tmp_path, data_dir):
    real = (data_dir / "mnist-idx" / LABELS).read_bytes()
    _serve_as_mnist(monkeypatch, server, LABELS, real)
    Files.files[LABELS] = real[:-1] + bytes([real[-1] ^ 1])  # one bit flipped in transit
    with pytest.raises(ChecksumError, match=rf"could not download {LABELS}: .*checksum mismatch"):
        dl.download_dataset("mnist", tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a .part is left


@pytest.mark.parametrize("mode", ["cut-once", "cut-once-no-range"], ids=["resumes", "restarts"])
def test_an_interrupted_download_resumes_or_restarts_cleanly(server, monkeypatch, tmp_path, mode):
    body = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    _serve_as_mnist(monkeypatch, server, "big.bin", body)
    Files.modes["big.bin"] = mode
    (path,) = dl.download_dataset("mnist", tmp_path, progress=False)
    assert path.read_bytes() == body  # the digest matched: no byte lost or doubled
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]
    (_, first), (_, second) = Files.log
    assert first is None
    assert second == f"bytes={len(body) // 2}-"  # the retry asked for the rest


def test_a_download_that_never_completes_leaves_nothing(server, monkeypatch, tmp_path):
    body = bytes(range(256)) * 400
    _serve_as_mnist(monkeypatch, server, "big.bin", body)
    Files.modes["big.bin"] = "cut-always"
    with pytest.raises(
        MissingDataError, match=r"could not download big.bin: .*interrupted 3 times"
    ):
        dl.download_dataset("mnist", tmp_path, progress=False)
    assert len(Files.log) == dl.ATTEMPTS and list(tmp_path.iterdir()) == []


def test_an_archive_downloaded_then_read_by_member(server, monkeypatch, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("pets/cat/0.txt", b"meow"), ("pets/dog/0.txt", b"woof")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _serve_as_mnist(monkeypatch, server, "pets.tar.gz", buf.getvalue())
    (path,) = dl.download_dataset("mnist", tmp_path, progress=False)
    assert archive.read_member(path, "pets/dog/0.txt") == b"woof"
    assert archive.read_member(path, "pets/cat/0.txt") == b"meow"
    with pytest.raises(DataError, match=r"archive has no member 'pets/cow/0.txt'"):
        archive.read_member(path, "pets/cow/0.txt")
