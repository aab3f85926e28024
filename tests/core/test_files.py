"""Atomic writes (deepclass.files): the old file or the new one, never half of one."""

from __future__ import annotations

import pytest
import torch

from deepclass.files import atomic_open, atomic_torch_save


def test_atomic_save_never_leaves_a_half_file(tmp_path):
    path = tmp_path / "ckpt" / "last.ckpt"
    atomic_torch_save({"a": torch.arange(3)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.arange(3))

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_torch_save({"a": torch.zeros(10_000), "b": Boom()}, path)
    # the previous checkpoint is intact and no temporary file is left behind
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.arange(3))
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


def test_atomic_open_keeps_old_content_on_error(tmp_path):
    p = tmp_path / "c.yaml"
    with atomic_open(p) as f:
        f.write("old")
    with pytest.raises(ValueError), atomic_open(p) as f:
        f.write("new, half")
        raise ValueError
    assert p.read_text() == "old" and len(list(tmp_path.iterdir())) == 1
    assert oct(p.stat().st_mode & 0o777) != oct(0o600)  # readable like a normal file
