"""A user's own photos end to end: ``deepclass train/evaluate/predict`` on generated JPEG folders.

Peak memory is read the way the issue asks: the command runs in a child of a
small wrapper process, which reports ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
(the largest resident size of the command and its DataLoader workers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deepclass.data import folder, store
from deepclass.data.photos import make_photo_folder
from deepclass.lightning import TrainConfig, safe_load, train

REPO = Path(__file__).resolve().parents[2]
GB = 10**9

_WRAPPER = (
    "import resource, subprocess, sys, json\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
    "print(json.dumps({'rc': p.returncode, 'out': p.stdout, 'err': p.stderr, 'rss': rss}))\n"
)


def run_measured(*args, cache: Path) -> dict:
    """``deepclass ARGS`` in a subprocess: exit status, output and peak RSS (bytes)."""
    env = dict(os.environ, DEEPCLASS_CACHE=str(cache), PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "deepclass", *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def phone_photos(tmp_path_factory) -> Path:
    """The issue's folder: 30 phone-sized photos (2000x1500 JPEGs), two classes."""
    return make_photo_folder(tmp_path_factory.mktemp("phone") / "pets", 15, size=(1500, 2000))


@pytest.fixture(scope="module")
def phone_run(phone_photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    r = run_measured(
        "train", "--dataset", phone_photos, "--model", "three_layer_convnet", "--epochs", "1",
        "--out", out, cache=cache,
    )  # fmt: skip
    return r, out, cache


def test_phone_photos_train_with_defaults_under_3gb(phone_run, phone_photos):
    r, out, _ = phone_run
    assert r["rc"] == 0, r["err"]
    lines = r["out"].splitlines()
    assert lines[0] == (
        f"data: {phone_photos}: 30 images in 2 classes, resized to 48x64 "
        "(most common size 1500x2000)"
    )
    assert lines[1].startswith("memory: loader memory; needs about")
    assert "test acc: " in r["out"]
    assert r["rss"] < 3 * GB, f"peak RSS {r['rss'] / GB:.2f} GB"
    ckpt = next((out / "version_0" / "checkpoints").glob("best-*.ckpt"))
    hp = safe_load(ckpt)["hyper_parameters"]
    assert hp["image_size"] == [48, 64] and hp["input_shape"] == [3, 48, 64]


def test_predict_and_evaluate_resize_like_training(phone_run, phone_photos, run_cli, monkeypatch):
    _, out, cache = phone_run
    monkeypatch.setenv("DEEPCLASS_CACHE", str(cache))
    ckpt = next((out / "version_0" / "checkpoints").glob("best-*.ckpt"))
    photo = phone_photos / "cat" / "00000.jpg"
    code, stdout, err = run_cli("predict", ckpt, photo)
    assert code == 0, err
    assert stdout.startswith("00000.jpg  ")
    code, _, err = run_cli("predict", ckpt, photo, "--image-size", "96")
    assert code == 2 and "trained at 48x64 and cannot take 96x96" in err
    code, stdout, err = run_cli("evaluate", ckpt, "--dataset", phone_photos)
    assert code == 0, err
    assert "(6 samples, resized to 48x64)" in stdout and "test acc: " in stdout


def test_memory_is_refused_before_decoding(tmp_path, run_cli, monkeypatch):
    photos = make_photo_folder(tmp_path / "small", 3, size=(48, 64))
    monkeypatch.setenv("DEEPCLASS_CACHE", str(tmp_path / "cache"))

    def refuse(*a, **k):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(folder, "decode_entry", refuse)
    monkeypatch.setattr(store, "decode_entry", refuse)
    code, stdout, err = run_cli(
        "train", "--dataset", photos, "--image-size", "30000", "--out", tmp_path / "runs"
    )
    assert code == 2
    assert stdout.startswith(f"data: {photos}: 6 images in 2 classes, resized to 30000x30000")
    (line,) = err.strip().splitlines()
    assert line.startswith(f"deepclass: error: {photos}: at 30000x30000 this run needs about")
    assert "available (" in line and "use --image-size " in line
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    assert not (tmp_path / "runs").exists()


def test_stream_writes_the_cache_once_and_the_next_run_reads_it(tmp_path, monkeypatch):
    photos = make_photo_folder(tmp_path / "photos", 30, size=(120, 160), seed=4)
    cache = tmp_path / "cache"
    args = ["--dataset", photos, "--image-size", "32", "--loader", "stream", "--epochs", "2"]
    crop = ["--crop-scale", "0.5", "1", "--crop-ratio", "0.8", "1.25", "--flip"]
    r = run_measured("train", *args, *crop, "--out", tmp_path / "runs", cache=cache)
    assert r["rc"] == 0, r["err"]
    assert "memory: loader stream;" in r["out"] and "cache: decoding once into" in r["out"]
    assert r["rss"] < 3 * GB
    entries = [p for p in cache.iterdir() if p.name.startswith("folder-")]
    assert len(entries) == 1 and (entries[0] / "meta.json").is_file()
    # a second run, in this process, must read the cache: decoding would fail
    monkeypatch.setenv("DEEPCLASS_CACHE", str(cache))

    def refuse(*a, **k):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(folder, "decode_entry", refuse)
    monkeypatch.setattr(store, "decode_entry", refuse)
    lines: list[str] = []
    res = train(
        TrainConfig(
            dataset=str(photos), image_size=[32], loader="stream", epochs=1,
            out=str(tmp_path / "runs2"), progress=False,
        ),
        printer=lines.append,
    )  # fmt: skip
    assert any(s.startswith("cache: resized images found in") for s in lines)
    assert res.test_acc is not None


def test_corrupt_file_names_its_path_or_is_skipped(tmp_path, run_cli, monkeypatch):
    photos = make_photo_folder(tmp_path / "pets", 8, size=(60, 80))
    (photos / "cat" / "broken.jpg").write_bytes(b"not an image at all")
    monkeypatch.setenv("DEEPCLASS_CACHE", str(tmp_path / "cache"))
    args = ["train", "--dataset", photos, "--epochs", "1", "--no-progress"]
    code, _, err = run_cli(*args, "--out", tmp_path / "a")
    assert code == 2
    assert f"cannot read image {photos}/cat/broken.jpg" in err and ":all" not in err
    assert "--skip-bad-images" in err
    code, stdout, err = run_cli(*args, "--out", tmp_path / "b", "--skip-bad-images")
    assert code == 0, err
    listing = tmp_path / "b" / "version_0" / "skipped_images.txt"
    assert f"data: skipped 1 unreadable image file(s) (listed in {listing})" in stdout
    assert f"{photos}/cat/broken.jpg\t" in listing.read_text()


def test_folder_flags_are_errors_elsewhere(run_cli, tmp_path):
    code, _, err = run_cli("train", "--dataset", "mnist", "--image-size", "32", "--out", tmp_path)
    assert code == 2 and "--image-size applies to a user's image folder, not to mnist" in err
    code, _, err = run_cli("train", "--crop-ratio", "0.5", "2", "--out", tmp_path)
    assert code == 2 and "crop_ratio needs crop_scale" in err
