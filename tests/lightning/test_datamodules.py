"""DataModules on the data layer: splits, normalisation, batched augmentation, epochs, DDP shards."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from deepclass.data import channel_stats
from deepclass.errors import ConfigError
from deepclass.lightning import TrainConfig, build_datamodule
from deepclass.lightning.datamodules import (
    CIFAR10DataModule,
    EpochBatchIterator,
    ImageFolderDataModule,
    MNISTDataModule,
    XORDataModule,
    chunked_channel_stats,
)


def fake_trainer(world: int = 1, rank: int = 0):
    return SimpleNamespace(
        world_size=world,
        global_rank=rank,
        strategy=SimpleNamespace(root_device=torch.device("cpu")),
    )


def test_mnist_is_seed_003s_split(data_dir, mnist):
    dm = MNISTDataModule(data_dir=str(data_dir), progress=False)
    dm.prepare_data()
    dm.setup("fit")
    s = dm.splits
    assert (len(s.train), len(s.val), len(s.test)) == (55_000, 5_000, 10_000)
    assert np.array_equal(s.val.labels, mnist.val.labels)  # the data layer's seed-1 split
    assert dm.info.input_shape == (1, 28, 28) and dm.info.mean is None  # [0, 1] only
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_cifar10_normalises_and_augments_whole_batches(data_dir):
    dm = CIFAR10DataModule(
        data_dir=str(data_dir), batch_size=256, train_samples=1024, progress=False
    )
    dm.setup()
    info = dm.info
    mean, std = channel_stats(dm.splits.train.images)
    assert np.allclose(info.mean, mean) and np.allclose(info.std, std)
    m2, s2 = chunked_channel_stats(dm.splits.train.images, chunk=100)  # uneven last chunk
    assert np.allclose(m2, mean, atol=1e-12) and np.allclose(s2, std, atol=1e-10)
    it = dm.train_dataloader()
    assert isinstance(it, EpochBatchIterator) and it.sampler is it  # Lightning calls set_epoch
    assert it.augment.crop_padding == 4 and it.augment.flip
    xb, _ = next(iter(it))
    # normalised with the training statistics: about zero mean, unit std per channel
    assert xb.mean(dim=(0, 2, 3)).abs().max() < 0.15
    assert (xb.std(dim=(0, 2, 3)) - 1).abs().max() < 0.15
    # evaluation batches are neither shuffled nor augmented
    xv, yv = next(iter(dm.val_dataloader()))
    ref = torch.from_numpy(dm.splits.val.images[:256]).permute(0, 3, 1, 2).float() / 255
    ref = (ref - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    assert torch.allclose(xv, ref.float(), atol=1e-5)
    assert torch.equal(yv, torch.from_numpy(dm.splits.val.labels[:256]))


def test_epoch_order_depends_only_on_seed_and_epoch(data_dir):
    def batches(epoch: int, seed: int = 0):
        dm = XORDataModule(data_dir=str(data_dir), batch_size=10, seed=seed, progress=False)
        dm.setup()
        it = dm.train_dataloader()
        it.sampler.set_epoch(epoch)
        return torch.cat([y for _, y in it]), torch.cat([x for x, _ in it][:1])

    (a_y, _), (b_y, _) = batches(3), batches(3)
    assert torch.equal(a_y, b_y)
    assert not torch.equal(batches(2)[1], batches(3)[1])
    assert not torch.equal(batches(3, seed=1)[1], batches(3)[1])


def test_ddp_shards_are_disjoint_and_cover_the_eval_sets(data_dir):
    seen_train, seen_test = [], []
    for rank in (0, 1):
        dm = XORDataModule(data_dir=str(data_dir), batch_size=8, progress=False)
        dm.trainer = fake_trainer(2, rank)
        dm.setup()
        train = torch.cat([x for x, _ in dm.train_dataloader()])
        test = torch.cat([x for x, _ in dm.test_dataloader()])
        seen_train.append({tuple(r.tolist()) for r in train})
        seen_test.append(test)
    assert len(seen_train[0]) == len(seen_train[1]) == 50
    assert not seen_train[0] & seen_train[1]
    test_all = torch.cat(seen_test)
    assert test_all.shape[0] == 200 and len({tuple(r.tolist()) for r in test_all}) == 200


def test_dataloader_path_gives_the_same_eval_batches(data_dir):
    kw = dict(
        data_dir=str(data_dir), batch_size=32, train_samples=512, test_samples=64, progress=False
    )
    a = CIFAR10DataModule(**kw)
    b = CIFAR10DataModule(**kw, loader="dataloader", num_workers=0)
    for dm in (a, b):
        dm.setup()
    xa = torch.cat([x for x, _ in a.test_dataloader()])
    xb = torch.cat([x for x, _ in b.test_dataloader()])
    assert torch.allclose(xa, xb, atol=1e-6)
    xt, _ = next(iter(b.train_dataloader()))
    assert xt.shape == (32, 3, 32, 32)


def test_build_datamodule_picks_the_class_and_options(tmp_path, data_dir):
    cfg = TrainConfig(dataset="mnist", batch_size=16, flip=True, data_dir=str(data_dir))
    dm = build_datamodule(cfg)
    assert isinstance(dm, MNISTDataModule) and dm.batch_size == 16 and dm.augment.flip
    assert isinstance(build_datamodule(TrainConfig(dataset="cifar10")), CIFAR10DataModule)
    assert isinstance(build_datamodule(TrainConfig(dataset="xor")), XORDataModule)
    folder = build_datamodule(TrainConfig(dataset=str(tmp_path)))
    assert isinstance(folder, ImageFolderDataModule) and folder.dataset == str(tmp_path)


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 4)):
        for c in ("cats", "dogs"):
            d = tmp_path / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(
                    d / f"{i}.png"
                )
    dm = ImageFolderDataModule(tmp_path, batch_size=4, progress=False)
    dm.setup()
    assert dm.info.classes == ["cats", "dogs"] and dm.info.input_shape == (3, 8, 8)
    assert len(dm.splits.test) == 8 and len(dm.splits.train) + len(dm.splits.val) == 24
    empty = ImageFolderDataModule(tmp_path, train_samples=None, progress=False)
    empty.limits["train"] = 0
    with pytest.raises(ConfigError, match=r"data set .*: the train split is empty$"):
        empty.setup()


def test_seed_003_mnist_data_module_name_and_data_path(data_dir):
    from deepclass.lightning import MNISTDataModule, MnistDataModule

    assert MnistDataModule is MNISTDataModule
    dm = MnistDataModule(data_path=data_dir, train_samples=64, val_samples=32, test_samples=32,
                         progress=False)  # fmt: skip
    assert dm.data_dir == str(data_dir)
    dm.setup()
    assert dm.info.input_shape == (1, 28, 28) and dm.info.num_classes == 10
    assert len(dm.splits.train) == 64 and len(dm.splits.test) == 32
    assert MNISTDataModule(str(data_dir)).data_dir == str(data_dir)  # positional, as the seed's
    with pytest.raises(ConfigError, match="data_path is seed 003's name for data_dir; give one"):
        MNISTDataModule(data_path=data_dir, data_dir=data_dir)
