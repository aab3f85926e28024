"""The main job's recipe: presets, whitening init in the trainer, a tiny real run, bench cifar."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

from deepclass.bench.op_breakdown import PARTS
from deepclass.bench.time_to_accuracy import time_to_accuracy
from deepclass.lightning import build_config
from deepclass.lightning.presets import DEFAULT_PRESET, PRESETS
from deepclass.lightning.train import init_from_data
from deepclass.nn.speednet import SpeedNet

pytestmark = pytest.mark.slow


def test_default_preset_is_the_speednet_recipe():
    assert DEFAULT_PRESET == "best"
    cfg = build_config()  # what `deepclass train` with no options runs
    assert cfg.preset == "best" and cfg.model == "speednet" and cfg.dataset == "cifar10"
    assert cfg.model_kwargs == {"widths": [64, 256, 256]}
    assert cfg.tta_flip and cfg.tta_translate and cfg.channels_last
    fast = build_config(preset="fast")
    assert fast.model == "speednet" and fast.epochs < cfg.epochs and fast.test_ckpt == "last"
    assert set(PRESETS) >= {"best", "fast", "cifar10-convnet", "mnist-mlp", "xor"}


def test_init_from_data_sets_whitening_from_normalised_training_images(tmp_path, data_dir):
    from deepclass.lightning.datamodules import build_datamodule

    cfg = build_config(
        preset="fast",
        overrides={"data_dir": str(data_dir), "train_samples": 600, "val_samples": 100,
                   "test_samples": 100, "out": str(tmp_path)},
    )  # fmt: skip
    dm = build_datamodule(cfg)
    dm.setup("fit")
    net = SpeedNet(widths=(8, 8, 8))
    before = net.whiten.weight.clone()
    assert init_from_data(net, dm)
    w = net.whiten.weight.detach()
    assert not torch.equal(w, before)
    # the whitened training patches have (close to) unit variance per component
    x = torch.from_numpy(dm.splits.train.images[:200]).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(dm.info.mean).view(1, 3, 1, 1)) / torch.tensor(dm.info.std).view(
        1, 3, 1, 1
    )
    out = torch.nn.functional.conv2d(x, w[:12]).permute(1, 0, 2, 3).reshape(12, -1).double()
    var = out.var(1)
    # unit variance where eigenvalue >> eps (5e-4); the weakest components are shrunk by it
    assert torch.all(var[:8] > 0.6) and torch.all(var < 1.3) and torch.all(var > 0.05)
    corr = torch.corrcoef(out)
    assert (corr - torch.eye(12, dtype=corr.dtype)).abs().max() < 0.15  # decorrelated
    assert not init_from_data(torch.nn.Linear(2, 2), dm)  # no hook: nothing to do


def test_tiny_speednet_run_learns_real_cifar_and_records_its_curve(tmp_path, data_dir):
    cfg = build_config(
        preset="fast",
        overrides={
            "data_dir": str(data_dir), "out": str(tmp_path), "epochs": 3, "batch_size": 128,
            "train_samples": 4000, "val_samples": 500,
            "test_samples": 1000, "model_kwargs": {"widths": [16, 32, 32]}, "lr": 0.4,
            "progress": False,
        },
    )  # fmt: skip
    out = time_to_accuracy(cfg, thresholds=(0.2, 0.99))
    curve = out["epochs"]
    assert [r["epoch"] for r in curve] == [1, 2, 3]
    assert all(b["train_time_s"] > a["train_time_s"] > 0 for a, b in itertools.pairwise(curve))
    # 4,000 images, 3 epochs of a 16/32/32 net (chance 0.1); about 0.45 measured
    assert out["final_test_acc"] is not None and out["final_test_acc"] > 0.35, curve
    # the preset tests the last weights (test_ckpt="last"): the curve's last point
    assert curve[-1]["test_acc"] == pytest.approx(out["final_test_acc"], abs=0.002)
    assert out["time_to"]["20%"] is not None and out["time_to"]["99%"] is None
    run_dir = Path(out["run_dir"])
    assert json.loads((run_dir / "time_to_accuracy.json").read_text())["epochs"] == curve
    assert (run_dir / "time_to_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ckpt = next((run_dir / "checkpoints").glob("best-*.ckpt"))
    hp = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    assert hp["tta_translate"] is True and hp["model"] == "speednet"


def test_bench_cifar_quick_writes_its_table(run_cli, tmp_path):
    code, _out, err = run_cli("bench", "cifar", "--quick", "--out", tmp_path)
    assert code == 0, err
    text = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- bench:cifar -->" in text and "measured matmul peak" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| fp32") or ln.startswith("| bf16")]
    assert len(rows) == 4  # fp32/bf16 x NCHW/channels_last (compiled skipped in quick mode)
    assert all(r.split("|")[6].strip().endswith("%") for r in rows)
    assert "where a bf16 channels_last training step goes" in text
    parts = {ln.split("|")[1].strip(): ln.split("|")[3].strip() for ln in text.splitlines()
             if ln.startswith("| ") and ln.split("|")[1].strip() in PARTS}  # fmt: skip
    assert set(parts) == set(PARTS)
    assert sum(float(v[:-1]) for v in parts.values()) == pytest.approx(100, abs=0.5)
    assert float(parts["conv backward"][:-1]) > 0 and float(parts["data"][:-1]) > 0
    # the A/B row: today's configuration (best: SGD, batch 1024) against fast-muon's, one run
    ab = [ln.split("|")[1:-1] for ln in text.splitlines()
          if ln.startswith("| best: ") or ln.startswith("| fast-muon: ")]  # fmt: skip
    assert [c[0].strip() for c in ab] == ["best: sgd, batch 1024", "fast-muon: muon, batch 2000"]
    assert ab[0][4].strip() == "1.00x" and ab[1][4].strip().endswith("x")
    (_, b0, s0, r0, _), (_, b1, s1, r1, _) = ab
    assert int(r0) == pytest.approx(int(b0) / float(s0), rel=0.02, abs=2)
    assert int(r1) == pytest.approx(int(b1) / float(s1), rel=0.02, abs=2)


def test_bench_no_compile_applies_to_cifar_only(run_cli, tmp_path):
    code, _out, err = run_cli("bench", "data", "--no-compile", "--out", tmp_path)
    assert code == 2 and "--no-compile applies to bench cifar" in err


def test_recipe_options_are_validated():
    from deepclass.errors import ConfigError

    with pytest.raises(ConfigError, match="test_ckpt"):
        build_config(preset="fast", overrides={"test_ckpt": "middle"})
    with pytest.raises(ConfigError, match="cutout"):
        build_config(preset="fast", overrides={"cutout": -1})
    cfg = build_config(preset="best", overrides={"test_ckpt": "best", "cutout": 0})
    assert cfg.test_ckpt == "best" and cfg.lookahead


def test_time_to_accuracy_cli_passes_json_overrides_and_rejects_bad_ones(monkeypatch, capsys):
    from deepclass.bench import time_to_accuracy as tta

    seen = {}

    def fake(cfg, thresholds=tta.THRESHOLDS, epoch_tta=True):
        seen["cfg"], seen["epoch_tta"] = cfg, epoch_tta
        return {"time_to": {"85%": 1.0}, "run_dir": "x", "final_test_acc": 0.5,
                "wall_time_s": 2.0, "paused_s": 1.0}  # fmt: skip

    monkeypatch.setattr(tta, "time_to_accuracy", fake)
    tta.main(["--preset", "best", "--epochs", "3", "--overrides", '{"cutout": 8}'])
    assert seen["cfg"].cutout == 8 and seen["cfg"].epochs == 3 and seen["cfg"].preset == "best"
    assert seen["epoch_tta"] is True
    tta.main(["--preset", "fast", "--one-view"])
    assert seen["epoch_tta"] is False and seen["cfg"].preset == "fast"
    for bad in ("[8]", "{cutout: 8}"):
        with pytest.raises(SystemExit) as e:
            tta.main(["--overrides", bad])
        assert e.value.code == 2
        assert "--overrides must be a JSON object" in capsys.readouterr().err


def test_time_to_accuracy_plot_draws_saved_curves_and_rejects_bad_input(tmp_path, capsys):
    from deepclass.bench import time_to_accuracy as tta

    files = []
    for preset, accs in (("best", [0.7, 0.85, 0.91]), ("fast", [0.8, 0.905])):
        rows = [{"epoch": i + 1, "train_time_s": 60.0 * (i + 1), "test_acc": a}
                for i, a in enumerate(accs)]  # fmt: skip
        f = tmp_path / f"{preset}.json"
        f.write_text(json.dumps({"preset": preset, "seed": 0, "epochs": rows,
                                 "final_test_acc": accs[-1]}))  # fmt: skip
        files.append(str(f))
    out = tmp_path / "tta.png"
    tta.main(["--plot", str(out), *files])
    assert out.read_bytes()[:4] == b"\x89PNG" and "wrote" in capsys.readouterr().out
    assert tta.curve_label(json.loads(Path(files[1]).read_text())) == "fast, seed 0: 90.50%"
    (tmp_path / "bad.json").write_text("{}")
    for bad in ([str(out)], ["x.txt", files[0]], [str(out), str(tmp_path / "bad.json")],
                [str(out), str(tmp_path / "missing.json")]):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            tta.main(["--plot", *bad])
        assert e.value.code == 2
