"""A user's photo folder: planning from headers, the resized on-disk cache, streaming, bad files."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from deepclass import budget
from deepclass.data import folder, load_dataset, store
from deepclass.data.batching import Augment, BatchIterator, random_resized_crop
from deepclass.data.datasets import open_folder_stream
from deepclass.data.folder import check_image_size, default_image_size, plan_folder
from deepclass.data.photos import make_photo_folder
from deepclass.data.store import ImageStore
from deepclass.data.stream import StreamBatches
from deepclass.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPCLASS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def photos(tmp_path):
    """40 photo-like JPEGs of 120x160, two classes."""
    return make_photo_folder(tmp_path / "photos", 20, size=(120, 160), seed=0)


def _count_decodes(monkeypatch) -> list[int]:
    calls = [0]
    real = folder.decode_entry

    def counting(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    monkeypatch.setattr(store, "decode_entry", counting)
    monkeypatch.setattr(folder, "decode_entry", counting)
    return calls


def _no_decoding(monkeypatch) -> None:
    def refuse(*a, **k):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(store, "decode_entry", refuse)
    monkeypatch.setattr(folder, "decode_entry", refuse)


def test_default_size_keeps_aspect_and_never_enlarges():
    assert default_image_size((1500, 2000)) == (48, 64)
    assert default_image_size((2000, 1500)) == (64, 48)
    assert default_image_size((1500, 2000), 96) == (72, 96)
    assert default_image_size((32, 32)) == (32, 32)
    assert check_image_size([128]) == (128, 128) and check_image_size((30, 40)) == (30, 40)
    for bad in ([0], [1, 2, 3], [12.5], [True]):
        with pytest.raises(ConfigError, match="--image-size must be one or two positive ints"):
            check_image_size(bad)


def test_plan_reads_headers_only(photos, monkeypatch):
    _no_decoding(monkeypatch)
    monkeypatch.setattr(folder, "read_image", lambda *a, **k: pytest.fail("decoded"))
    plan = plan_folder(photos)
    assert plan.image_size == (48, 64) and plan.common_size == (120, 160) and plan.chosen
    assert plan.num_images == 40 and plan.decoded_bytes == 40 * 48 * 64 * 3
    assert plan.describe() == (
        f"{photos}: 40 images in 2 classes, resized to 48x64 (most common size 120x160)"
    )
    p2 = plan_folder(photos, image_size=[30])
    assert p2.image_size == (30, 30) and not p2.chosen
    assert "resized to 30x30 by --image-size" in p2.describe()


def test_resized_cache_is_decoded_once_then_read(photos, monkeypatch):
    calls = _count_decodes(monkeypatch)
    a = load_dataset(str(photos), progress=False)
    assert calls[0] == 40 and a.train.images.shape[1:] == (48, 64, 3)
    _no_decoding(monkeypatch)  # the second load must come from the cache
    b = load_dataset(str(photos), progress=False)
    for (_, x), (_, y) in zip(a, b, strict=True):
        assert np.array_equal(x.images, y.images) and np.array_equal(x.labels, y.labels)
    # the same pixels as decoding in this process without any cache
    monkeypatch.undo()
    c = load_dataset(str(photos), progress=False, use_cache=False)
    assert np.array_equal(a.train.images, c.train.images)
    assert np.array_equal(a.test.labels, c.test.labels)
    # another size is another cache entry
    d = load_dataset(str(photos), progress=False, image_size=(24, 32))
    assert d.train.images.shape[1:] == (24, 32, 3)


def test_stream_decodes_on_the_first_pass_and_reads_the_cache_after(photos, monkeypatch):
    mem = load_dataset(str(photos), progress=False, use_cache=False)
    calls = _count_decodes(monkeypatch)
    splits = open_folder_stream(plan_folder(photos))
    assert [len(s) for _, s in splits] == [len(s) for _, s in mem]
    it = StreamBatches(splits.train, 8, shuffle=True, seed=3, workers=0)
    first = torch.cat([x for x, _ in it])
    assert calls[0] == len(mem.train)  # every training image decoded once
    _no_decoding(monkeypatch)
    second = torch.cat([x for x, _ in it])  # epoch 2: from the cache
    assert first.shape == second.shape == (len(mem.train), 3, 48, 64)
    # the same images as the in-memory path, in the epoch's order
    want = torch.from_numpy(mem.train.images).permute(0, 3, 1, 2).float() / 255
    key = lambda t: sorted(t.flatten(1).sum(1).tolist())  # noqa: E731
    assert key(second) == pytest.approx(key(want))
    it.set_epoch(1)
    again = torch.cat([x for x, _ in it])
    assert torch.equal(again, second)  # epoch 1 replays from (seed, epoch)


def test_partial_cache_survives_an_interrupted_run(photos, monkeypatch):
    plan = plan_folder(photos)
    first = ImageStore(plan)
    first.get("all", np.arange(10))
    first.close()
    del first
    calls = _count_decodes(monkeypatch)
    again = ImageStore(plan)
    assert not again.complete and int(again.done["all"].sum()) == 10
    again.fill(progress=False)
    assert calls[0] == 30 and again.complete
    assert (store.entry_path(plan) / "meta.json").is_file()
    again.close()


def _bad_folder(tmp_path):
    root = make_photo_folder(tmp_path / "pets", 6, size=(60, 80), seed=1)
    (root / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    good = (root / "dog" / "00000.jpg").read_bytes()
    (root / "dog" / "truncated.jpg").write_bytes(good[: len(good) // 2])  # header is fine
    return root


@pytest.mark.parametrize("use_cache", [True, False])
def test_bad_files_are_named_by_their_real_path_or_skipped(tmp_path, use_cache):
    root = _bad_folder(tmp_path)
    with pytest.raises(DataError) as e:
        load_dataset(str(root), progress=False, use_cache=use_cache)
    msg = str(e.value)
    assert f"cannot read image {root}/cat/broken.jpg" in msg and ":all" not in msg
    assert "--skip-bad-images" in msg
    s = load_dataset(str(root), progress=False, use_cache=use_cache, skip_bad_images=True)
    assert sum(len(d) for _, d in s) == 12
    assert sorted(w for w, _ in s.skipped) == [
        f"{root}/cat/broken.jpg",
        f"{root}/dog/truncated.jpg",
    ]


def test_skipped_rows_leave_a_split_folder_too(tmp_path):
    root = tmp_path / "split"
    make_photo_folder(root / "train", 5, size=(60, 80), seed=2)
    make_photo_folder(root / "test", 2, size=(60, 80), seed=3)
    good = (root / "train" / "cat" / "00000.jpg").read_bytes()
    (root / "train" / "cat" / "zz.jpg").write_bytes(good[: len(good) // 2])
    s = load_dataset(str(root), progress=False, skip_bad_images=True, val_size=0)
    assert (len(s.train), len(s.test)) == (10, 4)
    assert s.train.images.reshape(10, -1).max(axis=1).min() > 0  # no blank row left in


def test_cached_skips_still_need_the_flag(tmp_path):
    root = _bad_folder(tmp_path)
    load_dataset(str(root), progress=False, skip_bad_images=True)
    with pytest.raises(DataError, match=r"broken\.jpg.*--skip-bad-images"):
        load_dataset(str(root), progress=False)


def test_bad_file_inside_an_archive_names_the_member(tmp_path):
    root = _bad_folder(tmp_path)
    tar = tmp_path / "pets.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(root, arcname="pets")
    with pytest.raises(DataError, match=rf"cannot read image {tar}:pets/cat/broken\.jpg"):
        load_dataset(str(tar), progress=False)


def test_streaming_skips_files_that_fail_while_decoding(tmp_path):
    root = _bad_folder(tmp_path)
    splits = open_folder_stream(plan_folder(root, skip_bad=True), skip_bad_images=True)
    seen = 0
    for _, ds in splits:
        seen += sum(len(y) for _, y in StreamBatches(ds, 4, shuffle=False, workers=0))
    assert seen == 12  # broken.jpg fails its header; truncated.jpg passes it, then fails
    st = splits.train.store
    assert [w for w, _ in st.skipped] == [f"{root}/cat/broken.jpg", f"{root}/dog/truncated.jpg"]
    assert splits.train.store.complete
    again = sum(len(y) for _, y in StreamBatches(splits.train, 4, workers=0))
    assert again == len(splits.train) - int(st.bad["all"][splits.train.rows].sum())


def test_random_resized_crop_zooms_by_the_scale():
    ramp = torch.arange(16.0).repeat(2, 1, 16, 1)  # (2, 1, 16, 16): value = column
    g = torch.Generator().manual_seed(0)
    out = random_resized_crop(ramp, (0.25, 0.25), (1.0, 1.0), g)  # a 8x8 box, zoomed 2x
    d = out[..., 2:-2].diff(dim=-1)
    assert torch.allclose(d, torch.full_like(d, 0.5), atol=1e-4)  # the slope halves
    assert torch.allclose(out.diff(dim=-2), torch.zeros(()), atol=1e-4)  # rows stay equal
    wide = random_resized_crop(ramp, (0.5, 0.5), (2.0, 2.0), g)  # full width, half height
    assert torch.allclose(wide[..., 1:-1].diff(dim=-1), torch.ones(()), atol=1e-4)
    same = random_resized_crop(ramp.to(torch.uint8), (1.0, 1.0), (1.0, 1.0), g)
    assert same.dtype == torch.uint8 and torch.equal(same, ramp.to(torch.uint8))
    with pytest.raises(ConfigError, match="crop scale"):
        random_resized_crop(ramp, (0.0, 1.0))


def test_batch_iterator_applies_the_resized_crop_per_seed():
    x = torch.randint(0, 256, (16, 3, 12, 12), dtype=torch.uint8)
    y = torch.zeros(16, dtype=torch.int64)
    aug = Augment(resized_crop_scale=(0.3, 1.0))
    assert aug.active
    a = next(iter(BatchIterator(x, y, 16, shuffle=False, augment=aug, seed=1)))[0]
    b = next(iter(BatchIterator(x, y, 16, shuffle=False, augment=aug, seed=1)))[0]
    plain = next(iter(BatchIterator(x, y, 16, shuffle=False)))[0]
    assert torch.equal(a, b) and not torch.equal(a, plain)


def test_memory_figures_and_limits(monkeypatch):
    assert budget.parse_bytes("8G") == 8 * 2**30 and budget.parse_bytes("512m") == 2**29
    assert budget.fmt_bytes(28.8e9) == "28.8 GB" and budget.fmt_bytes(512e6) == "512 MB"
    with pytest.raises(ConfigError, match="DEEPCLASS_MEMORY_LIMIT"):
        budget.parse_bytes("lots")
    free, _ = budget.available_memory()
    assert free > 0
    monkeypatch.setenv(budget.LIMIT_ENV, str(budget.process_rss() + 10**8))
    got, where = budget.available_memory()
    assert where == budget.LIMIT_ENV and 0 < got <= 10**8


def test_model_memory_counts_outputs_from_shapes():
    from deepclass.nn.models import ThreeLayerConvNet

    m = budget.model_memory(
        lambda: ThreeLayerConvNet((3, 32, 32), 8, 4, 5), (3, 32, 32),
        batch_size=10, eval_batch_size=20, optimizer="sgd",
    )  # fmt: skip
    params = 3 * 8 * 25 + 8 + 8 * 4 * 9 + 4 + 4 * 1024 * 5 + 5
    assert m.parameters == params and m.state_bytes == params * 4 * 3  # + grads + momentum
    # tensors allocated per image: input 3*1024, conv1 and its relu 8*1024 each, conv2 and
    # relu 4*1024 each, fc 5 (flatten is a view)
    allocated = 3 * 1024 + 2 * 8 * 1024 + 2 * 4 * 1024 + 5
    slack = budget.ALLOCATOR_SLACK * 4
    assert m.train_activation_bytes == int(2 * allocated * 10 * slack)
    assert m.eval_activation_bytes == int(2 * 8 * 1024 * 20 * slack)  # conv1 -> relu
    assert m.exact


def _fake_plan(root, n, size):
    index = folder.FolderIndex(root, ["a", "b"], {"all": [None] * n})
    return folder.FolderPlan(index, "RGB", size, (1500, 2000), False, [])


def test_choose_loader_streams_what_does_not_fit_and_refuses_what_never_fits(monkeypatch, tmp_path):
    from deepclass.lightning.datamodules import choose_loader

    rss = budget.process_rss()
    monkeypatch.setenv(budget.LIMIT_ENV, str(rss + 400 * 10**6))
    cost = lambda shape: (10**6, 10**6)  # noqa: E731
    kw = dict(batch_size=8, eval_batch_size=8)
    assert choose_loader(_fake_plan(tmp_path, 100, (64, 64)), "auto", cost, **kw)[0] == "memory"
    big = _fake_plan(
        tmp_path, 2000, (128, 128)
    )  # 98 MB decoded, held twice + float chunks: too much
    loader, est = choose_loader(big, "auto", cost, **kw)
    assert loader == "stream" and est.fits
    with pytest.raises(ConfigError) as e:
        choose_loader(big, "memory", cost, **kw)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path}: at 128x128 this run needs about")
    assert "available (DEEPCLASS_MEMORY_LIMIT" in msg and "--image-size" in msg
    assert msg.endswith("or --loader stream")
    huge = lambda shape: (10**12, 0)  # noqa: E731 - no size makes this model fit
    with pytest.raises(ConfigError, match=r"even streaming from disk.*smaller --image-size"):
        choose_loader(big, "auto", huge, **kw)


def test_photo_generator_is_deterministic(tmp_path):
    a = make_photo_folder(tmp_path / "a", 2, size=(30, 40), seed=5)
    b = make_photo_folder(tmp_path / "b", 2, size=(30, 40), seed=5)
    for f in sorted(a.rglob("*.jpg")):
        assert f.read_bytes() == (b / f.relative_to(a)).read_bytes()
    assert Image.open(io.BytesIO(f.read_bytes())).size == (40, 30)
    with pytest.raises(ConfigError):
        make_photo_folder(tmp_path / "c", 0)
