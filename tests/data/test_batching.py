"""BatchIterator, batched augmentation and the Dataset view."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepclass.data import (
    ArrayDataset,
    ArrayTorchDataset,
    Augment,
    BatchIterator,
    random_crop,
    random_flip,
    subtract_mean_image,
    to_tensor,
)
from deepclass.data.batching import cutout
from deepclass.errors import ConfigError


def _data(n=50):
    x = torch.arange(n, dtype=torch.float32).view(n, 1).expand(n, 4).contiguous()
    return x, torch.arange(n)


def test_each_epoch_covers_every_sample_once_and_reshuffles():
    x, y = _data()
    it = BatchIterator(x, y, 8, seed=3)
    assert len(it) == 7
    e0 = torch.cat([yb for _, yb in it])
    e1 = torch.cat([yb for _, yb in it])
    assert sorted(e0.tolist()) == list(range(50)) == sorted(e1.tolist())
    assert not torch.equal(e0, e1)
    for xb, yb in it:  # x rows travel with their labels
        assert torch.equal(xb[:, 0], yb.float())


def test_epochs_are_reproducible_and_resumable():
    x, y = _data()
    a = BatchIterator(x, y, 8, seed=5)
    first = [torch.cat([yb for _, yb in a]) for _ in range(3)]
    b = BatchIterator(x, y, 8, seed=5)
    b.set_epoch(2)  # a resumed run starting at epoch 2
    assert torch.equal(torch.cat([yb for _, yb in b]), first[2])


def test_drop_last_and_no_shuffle():
    x, y = _data()
    it = BatchIterator(x, y, 8, shuffle=False, drop_last=True)
    batches = [yb for _, yb in it]
    assert len(batches) == len(it) == 6 and torch.equal(torch.cat(batches), torch.arange(48))


def test_replicas_split_each_epoch_disjointly():
    x, y = _data()
    parts = [
        torch.cat([yb for _, yb in BatchIterator(x, y, 4, seed=1, num_replicas=2, rank=r)])
        for r in range(2)
    ]
    assert len(parts[0]) == len(parts[1]) == 25
    assert not set(parts[0].tolist()) & set(parts[1].tolist())


def test_uint8_images_become_floats_in_unit_range():
    imgs = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    ds = ArrayDataset(imgs, np.zeros(10, np.int64), ["a"])
    xb, _ = next(iter(BatchIterator.from_dataset(ds, 10, shuffle=False)))
    assert xb.shape == (10, 3, 4, 4) and xb.dtype == torch.float32
    torch.testing.assert_close(xb, to_tensor(imgs))
    x0, y0 = ArrayTorchDataset(ds)[3]
    torch.testing.assert_close(x0, xb[3])
    assert y0.dtype == torch.int64


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 8, 8)
    out = random_crop(x, 2, g, mode="constant")
    padded = F.pad(x, (2, 2, 2, 2))
    for i in range(64):  # every output is exactly one of the 25 windows of its own padded image
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    shifted = sum(not torch.equal(out[i], x[i]) for i in range(64))
    assert shifted > 48  # 24 of 25 offsets move the image


def test_flip_flips_about_half():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 1, 2, 3)
    out = Augment(flip=True)(x, g)
    flipped = torch.tensor([torch.equal(o, xi.flip(2)) for o, xi in zip(out, x, strict=True)])
    same = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x, strict=True)])
    assert bool((flipped | same).all()) and 150 < int(flipped.sum()) < 250


def test_bad_arguments():
    x, y = _data()
    with pytest.raises(ConfigError, match="same length"):
        BatchIterator(x, y[:10], 4)
    with pytest.raises(ConfigError, match="batch_size"):
        BatchIterator(x, y, 0)
    with pytest.raises(ConfigError, match=r"image batches \(N, C, H, W\)"):
        Augment(flip=True)(x)


def test_reflect_crop_matches_torch_reflect_padding_for_uint8_and_float():
    x = torch.randint(0, 256, (40, 3, 6, 5), dtype=torch.uint8)
    out_u8 = random_crop(x, 3, torch.Generator().manual_seed(1))
    out_f = random_crop(x.float(), 3, torch.Generator().manual_seed(1))
    assert out_u8.dtype == torch.uint8 and torch.equal(out_u8.float(), out_f)
    padded = F.pad(x.float(), (3, 3, 3, 3), mode="reflect")
    for i in range(40):
        windows = [padded[i, :, dy : dy + 6, dx : dx + 5] for dy in range(7) for dx in range(7)]
        assert any(torch.equal(out_f[i], w) for w in windows)


@pytest.mark.parametrize("mode", ["reflect", "constant"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float64])
def test_crop_flip_follows_its_draws_exactly(mode, dtype):
    """Image n is the window at (dy[n], dx[n]) of its padded copy, mirrored where flips[n]: the
    draws come from the generator in the order dy, dx, flips (so a seed gives the same batches
    whatever the implementation), checked one image at a time against F.pad + slicing."""
    x = torch.randint(0, 256, (50, 3, 7, 6)).to(dtype)
    p = 3
    out = Augment(crop_padding=p, flip=True, pad_mode=mode)(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    dy = torch.randint(-p, p + 1, (50,), generator=g)
    dx = torch.randint(-p, p + 1, (50,), generator=g)
    flips = torch.rand(50, generator=g) < 0.5
    padded = F.pad(x.double(), (p, p, p, p), mode=mode)
    assert out.dtype == dtype and out.shape == x.shape
    for n in range(50):
        a, b = int(dy[n]) + p, int(dx[n]) + p
        window = padded[n, :, a : a + 7, b : b + 6]
        assert torch.equal(out[n].double(), window.flip(-1) if flips[n] else window)
    assert 10 < int(flips.sum()) < 40 and len(set(dy.tolist())) == 2 * p + 1


def test_iterator_augments_before_converting_and_keeps_labels_aligned():
    x = torch.randint(0, 256, (300, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(300)
    it = BatchIterator(x, y, 64, seed=0, augment=Augment(crop_padding=2, flip=True))
    seen = []
    for xb, yb in it:
        assert xb.dtype == torch.float32 and float(xb.max()) <= 1.0
        # Each augmented image is a crop/flip of its own source (same multiset of centre pixels is
        # too weak; check the exact windows of the reflect-padded source).
        padded = F.pad(x[yb].float() / 255, (2, 2, 2, 2), mode="reflect")
        for k in range(0, len(yb), 16):
            cands = [padded[k, :, a : a + 8, b : b + 8] for a in range(5) for b in range(5)]
            cands += [c.flip(-1) for c in cands]
            assert any(torch.allclose(xb[k], c) for c in cands)
        seen.append(yb)
    assert sorted(torch.cat(seen).tolist()) == list(range(300))


def test_cutout_zeroes_one_inside_square_per_image():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 10, 12) + 1.0  # no zeros before
    y = cutout(x, 4, g)
    zero = y == 0
    assert torch.equal(zero[:, :1].expand_as(zero), zero)  # every channel of the same pixels
    for img in zero[:, 0]:
        rows, cols = img.nonzero(as_tuple=True)
        assert len(rows) == 16  # a whole 4x4 square, never clipped at the border
        assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
    assert torch.equal(y[~zero], x[~zero])
    corners = {(int(r.nonzero()[0, 0]), int(r.nonzero()[0, 1])) for r in zero[:, 0]}
    assert len(corners) > 10  # positions vary
    assert cutout(x, 0) is x
    with pytest.raises(ConfigError, match="cutout size"):
        cutout(x, 11)


def test_iterator_applies_cutout_after_normalisation():
    x = torch.full((8, 3, 6, 6), 200, dtype=torch.uint8)
    y = torch.arange(8)
    it = BatchIterator(x, y, 8, augment=Augment(cutout=2), transform=lambda t: t - 0.5, seed=1)
    xb, _ = next(iter(it))
    # zeros only where cut out (the normalised value elsewhere is 200/255 - 0.5)
    assert int((xb == 0).sum()) == 8 * 3 * 4
    assert torch.allclose(xb[xb != 0], torch.tensor(200 / 255 - 0.5))


def test_random_flip_mirrors_about_half_the_images_and_nothing_else():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (400, 3, 5, 7), dtype=torch.uint8, generator=g)
    out = random_flip(x, torch.Generator().manual_seed(1))
    assert out.dtype == torch.uint8 and out.shape == x.shape
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all()  # every image is itself or its mirror, never a mix
    assert 160 < int(mirrored.sum()) < 240  # p = 1/2 (400 images: 200 +- 10)
    again = random_flip(x, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)  # the generator decides
    assert torch.equal(random_flip(x.float(), torch.Generator().manual_seed(1)), out.float())


def test_subtract_mean_image_uses_the_training_mean_for_every_split():
    g = torch.Generator().manual_seed(0)
    train = torch.rand(50, 3, 4, 4, generator=g, dtype=torch.float64) + 2.0
    val, test = torch.rand(10, 3, 4, 4, generator=g, dtype=torch.float64), torch.zeros(2, 3, 4, 4)
    tr, va, te = subtract_mean_image(train, val, test)
    mean = train.numpy().mean(axis=0)  # numpy: the independent reference
    assert (
        np.allclose(tr.numpy(), train.numpy() - mean) and abs(float(tr.mean(0).abs().max())) < 1e-12
    )
    assert np.allclose(va.numpy(), val.numpy() - mean)  # not val's own mean
    assert np.allclose(te.numpy(), -mean[None].repeat(2, 0))
    (only,) = subtract_mean_image(train)
    assert torch.equal(only, tr) and train.min() >= 2.0  # the input is not modified


def test_alternating_flip_mirrors_every_image_on_alternate_epochs():
    from deepclass.data.batching import alternating_flips

    n = 64
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 4, 6), dtype=torch.uint8, generator=g)
    y = torch.arange(n)  # labels = image index, to find each image in a shuffled epoch
    it = BatchIterator(x, y, 16, seed=3, dtype=torch.float32,
                       augment=Augment(flip=True, alternate_flip=True))  # fmt: skip

    def epoch(e: int) -> torch.Tensor:
        it.set_epoch(e)
        xs, ys = zip(*it, strict=True)
        out = torch.empty(n, 3, 4, 6)
        out[torch.cat(ys)] = torch.cat(xs)
        return out

    base = x.float() / 255
    mirrored = [epoch(e) for e in range(4)]
    flipped0 = torch.tensor([torch.equal(mirrored[0][i], base[i].flip(2)) for i in range(n)])
    unflipped0 = torch.tensor([torch.equal(mirrored[0][i], base[i]) for i in range(n)])
    assert torch.all(flipped0 ^ unflipped0)  # each image either mirrored or not, nothing else
    assert 16 < int(flipped0.sum()) < 48  # a random half starts mirrored
    assert torch.equal(flipped0, alternating_flips(3, 0, n))
    # odd epochs show every image the other way round; even epochs repeat epoch 0
    assert torch.equal(mirrored[1], mirrored[0].flip(3))
    assert torch.equal(mirrored[2], mirrored[0]) and torch.equal(mirrored[3], mirrored[1])
