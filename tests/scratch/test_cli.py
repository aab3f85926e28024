"""``deepclass scratch`` end to end on a small real CIFAR-10 copy, and ``deepclass bench scratch``."""

from __future__ import annotations

import json

import pytest

from deepclass.scratch.experiment import ScratchRunConfig, first_layer_images, model_kwargs
from deepclass.scratch.models import DeepConvNet, TwoLayerNet, load_model

PNGS = ("loss.png", "accuracy.png", "weights.png")


def _metric(stdout: str, name: str) -> float:
    lines = [ln for ln in stdout.splitlines() if ln.startswith(f"{name}: ")]
    assert len(lines) == 1, stdout
    return float(lines[0].split(": ")[1])


def test_fc_end_to_end(run_cli, cifar_subset_dir, tmp_path):
    out = tmp_path / "fc"
    args = "--model fc --hidden 100 50 --batchnorm --dropout 0.1 --update-rule adam --lr 1e-3"
    args += " --epochs 2 --batch-size 50 --device cpu --seed 0"
    code, stdout, stderr = run_cli(
        "scratch", *args.split(), "--data-dir", cifar_subset_dir, "--out", out
    )
    assert code == 0, stderr
    assert "(Epoch 2 / 2) train acc:" in stdout and "(Time " in stdout
    val, test = _metric(stdout, "val acc"), _metric(stdout, "test acc")
    assert val > 0.2 and test > 0.2  # 1,600 real training images, 10 classes
    for name in (*PNGS, "log.txt", "model.pt", "history.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "(Epoch 0 / 2)" in (out / "log.txt").read_text()
    history = json.loads((out / "history.json").read_text())
    assert history["result"]["test_acc"] == pytest.approx(test, abs=1e-4)
    assert len(history["val_acc_history"]) == 3
    model = load_model(out / "model.pt")
    assert model.config["hidden_dims"] == [100, 50] and model.normalization == "batchnorm"


def test_deep_conv_end_to_end(run_cli, cifar_subset_dir, tmp_path):
    out = tmp_path / "dc"
    args = "--model deep_conv --filters 8 16 --max-pools 0 1 --batchnorm --update-rule adam"
    args += " --lr 2e-3 --epochs 3 --batch-size 50 --num-train 1000 --num-test 200"
    args += " --num-val-samples 50 --device cpu"
    code, stdout, stderr = run_cli(
        "scratch", *args.split(), "--data-dir", cifar_subset_dir, "--out", out
    )
    assert code == 0, stderr
    assert "train 800, val 200, test 200" in stdout
    # seed 0: 30% val, 32% test; a model that learns nothing: 10% +- 2.1% on 200 images
    assert _metric(stdout, "val acc") > 0.22 and _metric(stdout, "test acc") > 0.22
    history = json.loads((out / "history.json").read_text())
    assert all(round(a * 50) == a * 50 for a in history["val_acc_history"])  # checks on 50
    assert all((out / p).exists() for p in PNGS)


def test_overfit_option(run_cli, cifar_subset_dir, tmp_path):
    args = "--model two_layer --hidden 200 --overfit 20 --epochs 30 --batch-size 10"
    args += " --update-rule adam --lr 2e-3 --weight-scale 1e-2"
    code, stdout, stderr = run_cli(
        "scratch", *args.split(), "--data-dir", cifar_subset_dir, "--out", tmp_path / "of"
    )
    assert code == 0, stderr
    assert "train 20, val" in stdout
    assert _metric(stdout, "train acc") == 1.0


def test_flags_are_checked_before_the_data_is_loaded(run_cli, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    for args, message in (
        (["--model", "conv", "--dropout", "0.5"], "--dropout applies to --model fc, not conv"),
        (
            ["--model", "deep_conv", "--hidden", "10"],
            "--hidden does not apply to --model deep_conv",
        ),
        (["--model", "fc", "--filters", "8"], "--filters/--filter-size/--max-pools do not apply"),
        (["--batch-size", "0"], "--batch-size must be a positive int, got 0"),
        (["--lr", "-0.1"], "--lr must be a finite number > 0, got -0.1"),
        (["--model", "fc", "--hidden", "100", "0"], "--hidden must be a positive int, got 0"),
        (["--model", "fc", "--dropout", "1.0"], "--dropout must be a drop probability in [0, 1)"),
        (["--model", "two_layer", "--hidden", "0"], "--hidden must be a positive int, got 0"),
    ):
        code, out, err = run_cli("scratch", *args, "--data-dir", empty, "--out", tmp_path / "o")
        assert code == 2 and out == "" and err.count("\n") == 1, (args, out, err)
        assert err.startswith(f"deepclass: error: {message}"), (args, err)
        assert not (tmp_path / "o").exists()  # nothing written either
    code, _, err = run_cli("scratch", "--data-dir", empty, "--out", tmp_path / "o")
    assert code == 2 and "cifar10 not found under" in err  # good flags: it gets to the data


def test_cli_errors(run_cli, cifar_subset_dir, tmp_path):
    code, _, err = run_cli(
        "scratch", "--model", "resnet", "--data-dir", cifar_subset_dir, "--out", tmp_path
    )
    assert code == 2 and "valid: two_layer, fc, conv, deep_conv" in err
    code, _, err = run_cli(
        "scratch", "--model", "conv", "--dropout", "0.5", "--data-dir", cifar_subset_dir
    )
    assert code == 2 and "--dropout applies to --model fc" in err
    code, _, err = run_cli("scratch", "--update-rule", "nesterov")
    assert code == 2 and "invalid choice" in err
    code, _, err = run_cli(
        "scratch", "--model", "fc", "--overfit", "0", "--data-dir", cifar_subset_dir
    )
    assert code == 2 and "--overfit must be a positive int, got 0" in err
    code, _, err = run_cli("scratch", "--weight-scale", "big")
    assert code == 2 and "expected a number or 'kaiming'" in err


def test_models_command_lists_the_scratch_models(run_cli):
    code, out, _ = run_cli("models", "--rung", "scratch")
    assert code == 0
    for name in ("two_layer", "fc", "conv", "deep_conv"):
        assert f"  {name} " in out


def test_model_kwargs_and_first_layer_images():
    kw = model_kwargs(
        ScratchRunConfig(model="deep_conv", filters=[4, 4], max_pools=[1]), (3, 32, 32)
    )
    assert (
        kw["weight_scale"] == "kaiming" and kw["num_filters"] == [4, 4] and kw["max_pools"] == [1]
    )
    kw = model_kwargs(ScratchRunConfig(model="two_layer", hidden=[30]), (3, 8, 8))
    assert kw == {"reg": 0.0, "input_dim": 192, "hidden_dim": 30}
    imgs = first_layer_images(TwoLayerNet(input_dim=192, hidden_dim=30), (3, 8, 8))
    assert imgs.shape == (30, 8, 8, 3)
    imgs = first_layer_images(DeepConvNet(num_filters=[60], max_pools=[]), (3, 32, 32))
    assert imgs.shape == (50, 3, 3, 3)  # at most 50 filters are drawn


def test_bench_quick_writes_results(run_cli, tmp_path):
    code, _, err = run_cli("bench", "scratch", "--quick", "--out", tmp_path, "--device", "cpu")
    assert code == 0, err
    text = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- bench:scratch -->" in text and "(quick)" in text
    for row in (
        "| FastConv |",
        "| FastMaxPool 2x2/2 |",
        "| BatchNorm |",
        "| SpatialBatchNorm |",
        "| Linear |",
    ):
        assert row in text, row
    assert "naive Conv" in text and "speed-up" in text
    rows = [
        ln
        for ln in text.splitlines()
        if ln.startswith("| ") and not ln.startswith(("| layer", "| shape", "| ---"))
    ]
    assert len(rows) == 7  # 6 layer rows + 1 naive-vs-fast row
    for row in rows:  # deepclass and autograd (or naive and fast) computed the same numbers
        assert float(row.strip("| ").split(" | ")[-1]) < 1e-5, row
