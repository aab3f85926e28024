"""Callbacks: RNG state round trip, images/s column, the rich bar on a terminal, log handling."""

from __future__ import annotations

import io
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from deepclass.lightning import TrainConfig
from deepclass.lightning.callbacks import (
    ImagesPerSecondColumn,
    LineProgress,
    Lookahead,
    RNGState,
    ThroughputProgressBar,
    _decode_rng,
    _encode_rng,
)
from deepclass.lightning.datamodules import build_datamodule
from deepclass.lightning.runlogs import ResumableCSVLogger, new_run_dir, read_history
from deepclass.lightning.train import build_module, build_net, make_trainer
from deepclass.seed import get_rng_state, seed_everything


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    seed_everything(7)
    draws()
    cb = RNGState()
    torch.save({"cb": cb.state_dict()}, tmp_path / "c.ckpt")
    want = draws()
    draws()  # move every stream on
    loaded = torch.load(tmp_path / "c.ckpt", weights_only=True)["cb"]
    cb2 = RNGState()
    cb2.load_state_dict(loaded)
    cb2.on_train_batch_start(None, None, None, 0)  # restored just before the first batch
    assert draws() == want
    # encode/decode is lossless
    state = get_rng_state()
    back = _decode_rng(_encode_rng(state))
    assert back["python"] == state["python"] and torch.equal(back["torch"], state["torch"])
    assert all(np.array_equal(a, b) for a, b in zip(back["numpy"], state["numpy"], strict=True))


def test_images_per_second_column():
    col = ImagesPerSecondColumn(train_batch=128, eval_batch=512)
    assert col.render(SimpleNamespace(speed=10.0, description="Epoch 3/9")).plain == "1,280 img/s"
    assert col.render(SimpleNamespace(speed=2.0, description="Validation")).plain == "1,024 img/s"
    assert col.render(SimpleNamespace(speed=None, description="Epoch 0")).plain == ""


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.slow
def test_rich_bar_on_a_terminal_and_lines_elsewhere(tmp_path, data_dir):
    cfg = TrainConfig(dataset="xor", model="mlp", epochs=2, batch_size=20, out=str(tmp_path))
    cbs = make_trainer(cfg, new_run_dir(tmp_path), stream=FakeTTY()).callbacks
    assert any(isinstance(c, ThroughputProgressBar) for c in cbs)
    out = io.StringIO()
    trainer = make_trainer(cfg, new_run_dir(tmp_path), stream=out)
    assert any(isinstance(c, LineProgress) for c in trainer.callbacks)
    assert not any(isinstance(c, ThroughputProgressBar) for c in trainer.callbacks)
    # a real fit with the rich bar: it renders, reports images/s and a run ETA
    dm = build_datamodule(cfg)
    dm.setup()
    bar_trainer = make_trainer(cfg, new_run_dir(tmp_path), stream=FakeTTY())
    module = build_module(cfg, build_net("mlp", dm.info, {}, True), dm.info, "mlp", True)
    bar_trainer.fit(module, datamodule=dm)
    bar = next(c for c in bar_trainer.callbacks if isinstance(c, ThroughputProgressBar))
    assert bar.meter.images == 100 and bar.meter.rate() > 0
    assert bar.meter.eta(bar_trainer) == pytest.approx(0.0)


def test_resumed_csv_keeps_rows_up_to_the_checkpoint(tmp_path):
    run = tmp_path / "version_0"
    run.mkdir()
    (run / "metrics.csv").write_text(
        "epoch,lr-SGD,step,train_acc,valid_acc\n"
        ",0.1,0,,\n0,,9,,0.5\n0,,9,0.4,\n,0.1,10,,\n1,,19,,0.6\n1,,19,0.55,\n"
        "2,,25,,\n"  # a row of the interrupted epoch
    )
    logger = ResumableCSVLogger(str(tmp_path), name="", version=0, keep_epoch=1, keep_step=20)
    logger.log_metrics({"epoch": 2, "valid_acc": 0.7}, step=29)
    logger.save()
    text = (run / "metrics.csv").read_text().splitlines()
    assert text[0] == "epoch,lr-SGD,step,train_acc,valid_acc"
    assert [ln.split(",")[0] for ln in text[1:]] == ["", "0", "0", "", "1", "1", "2"]
    assert read_history(run / "metrics.csv")["valid_acc"] == [0.5, 0.6, 0.7]
    # a fresh logger in a fresh run never appends to an old file
    fresh = ResumableCSVLogger(str(tmp_path), name="", version=0)
    fresh.log_metrics({"epoch": 0, "valid_acc": 0.1}, step=0)
    fresh.save()
    assert read_history(run / "metrics.csv")["valid_acc"] == [0.1]


def test_lookahead_follows_airbench_schedule_and_round_trips():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    la = Lookahead(base=0.9, every=5)
    trainer = SimpleNamespace(global_step=0, estimated_stepping_batches=10)
    la.on_train_start(trainer, module)
    start = {k: v.clone() for k, v in module.state_dict().items() if v.is_floating_point()}
    with torch.no_grad():
        module[0].weight.add_(1.0)
    trainer.global_step = 5  # decay = 0.9**5 * (5 / 10)**3
    la.on_train_batch_end(trainer, module, None, None, 4)
    d = 0.9**5 * 0.125
    want = d * start["0.weight"] + (1 - d) * (start["0.weight"] + 1.0)
    assert torch.allclose(module[0].weight, want) and torch.allclose(la.ema["0.weight"], want)
    with torch.no_grad():
        module[0].weight.add_(1.0)
    trainer.global_step = 7  # not a multiple of 5: nothing happens
    la.on_train_batch_end(trainer, module, None, None, 6)
    assert torch.allclose(module[0].weight, want + 1.0)
    trainer.global_step = 10  # the last step: the weights take the EMA
    la.on_train_batch_end(trainer, module, None, None, 9)
    assert torch.allclose(module[0].weight, la.ema["0.weight"])
    assert not torch.allclose(module[0].weight, want + 1.0)
    buf = io.BytesIO()
    torch.save(la.state_dict(), buf)
    buf.seek(0)
    other = Lookahead(base=0.9, every=5)
    other.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(other.ema["0.weight"], la.ema["0.weight"])
    with pytest.raises(ValueError, match="base must be in"):
        Lookahead(base=1.0)
