"""Checkpoint files: atomic writes, safe reads (malicious pickles refused), clear errors."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from deepclass.errors import CheckpointError
from deepclass.lightning.checkpoints import (
    AtomicCheckpointIO,
    check_compatible,
    find_last_checkpoint,
    load_checkpoint,
    pickle_globals,
    remove_stale_temporaries,
    run_dir_of,
    safe_load,
)


class RunsCode:
    """A pickle payload whose unpickling would create ``marker`` (and could do anything)."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def good_checkpoint() -> dict:
    return {
        "state_dict": {"net.weight": torch.ones(2, 2)},
        "epoch": 0,
        "hyper_parameters": {"model": "mlp", "num_classes": 10, "input_shape": [1, 28, 28],
                             "classes": [str(i) for i in range(10)], "dataset": "mnist"},
    }  # fmt: skip


def test_malicious_checkpoint_is_refused_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    ckpt = good_checkpoint()
    ckpt["extra"] = RunsCode(marker)
    torch.save(ckpt, tmp_path / "evil.ckpt")
    assert not marker.exists()
    assert "posix.mkdir" in pickle_globals(tmp_path / "evil.ckpt")  # found without running it
    with pytest.raises(CheckpointError, match=r"refused to load .*could run code.*mkdir"):
        load_checkpoint(tmp_path / "evil.ckpt")
    # a bare pickle (not a torch zip) too
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"state_dict": RunsCode(marker)}, f, protocol=4)
    with pytest.raises(CheckpointError, match="refused to load"):
        safe_load(tmp_path / "evil.pkl")
    assert not marker.exists()
    # the same payload really runs code when unpickled unsafely: the test can fail
    pickle.loads(pickle.dumps(RunsCode(marker)))
    assert marker.exists()


def test_corrupt_truncated_foreign_and_missing_files(tmp_path):
    good = tmp_path / "good.ckpt"
    torch.save(good_checkpoint(), good)
    assert load_checkpoint(good)["hyper_parameters"]["model"] == "mlp"
    data = good.read_bytes()
    (tmp_path / "trunc.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        safe_load(tmp_path / "trunc.ckpt")
    (tmp_path / "image.ckpt").write_bytes(b"\xff\xd8\xff\xe0 not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        safe_load(tmp_path / "image.ckpt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match=r"not a Lightning checkpoint.*weights"):
        safe_load(tmp_path / "foreign.ckpt")
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1.0}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="not a deepclass checkpoint"):
        load_checkpoint(tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        safe_load(tmp_path / "missing.ckpt")
    with pytest.raises(CheckpointError, match="is a directory"):
        safe_load(tmp_path)


def test_lightning_checkpoint_io_writes_through_the_atomic_writer(tmp_path):
    io = AtomicCheckpointIO()
    io.save_checkpoint(good_checkpoint(), tmp_path / "x.ckpt")
    assert io.load_checkpoint(tmp_path / "x.ckpt")["epoch"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.ckpt"]


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".last.ckpt.abc.tmp").write_bytes(b"half")
    (tmp_path / "last.ckpt").write_bytes(b"x")
    removed = remove_stale_temporaries(tmp_path)
    assert [p.name for p in removed] == [".last.ckpt.abc.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_check_compatible_says_which(tmp_path):
    hp = good_checkpoint()["hyper_parameters"]
    check_compatible(hp, "c.ckpt", model="mlp", num_classes=10, input_shape=(1, 28, 28))
    with pytest.raises(CheckpointError, match="holds model 'mlp', not 'two_layer_fc'"):
        check_compatible(hp, "c.ckpt", model="two_layer_fc")
    with pytest.raises(CheckpointError, match=r"trained for 10 classes .*mnist.*has 2"):
        check_compatible(hp, "c.ckpt", num_classes=2, dataset="xor")
    with pytest.raises(CheckpointError, match=r"expects inputs of shape \(1, 28, 28\)"):
        check_compatible(hp, "c.ckpt", input_shape=(3, 32, 32))


def test_find_last_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=r"no run with a checkpoints/last\.ckpt"):
        find_last_checkpoint(tmp_path)
    for v in (0, 1):
        d = tmp_path / f"version_{v}" / "checkpoints"
        d.mkdir(parents=True)
        (d / "last.ckpt").write_bytes(b"x")
        os.utime(d / "last.ckpt", (1000 + 10 * (1 - v), 1000 + 10 * (1 - v)))
    # the most recently written, not the highest number
    assert find_last_checkpoint(tmp_path).parent.parent.name == "version_0"
    assert run_dir_of(tmp_path / "version_1" / "checkpoints" / "last.ckpt").name == "version_1"
    assert run_dir_of(tmp_path / "x.ckpt") is None
