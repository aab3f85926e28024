"""``deepclass xor`` end to end."""

from __future__ import annotations

import re

import pytest


def test_xor_cli_all_models_writes_every_png(run_cli, tmp_path):
    code, out, err = run_cli("xor", "--epochs", "4", "--log-every", "2", "--out", tmp_path)
    assert code == 0, err
    assert "== linear" in out and "epoch 4/4  train loss" in out
    last = out.strip().splitlines()[-4:]
    assert [line.split(":")[0] for line in last] == [
        "val acc (linear)", "val acc (mlp)", "val acc (modulelist)", "val acc (noisy)",
    ]  # fmt: skip
    assert all(re.fullmatch(r"val acc \(\w+\): [01]\.\d{4}", line) for line in last)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    names = ("linear", "mlp", "modulelist", "noisy")
    assert pngs == sorted(
        ["xor_all.png"] + [f"xor_{m}_{k}.png" for m in names for k in ("curves", "regions")]
    )


def test_xor_cli_one_model_with_options(run_cli, tmp_path):
    with pytest.warns(RuntimeWarning, match="live=True: no display"):
        code, out, err = run_cli(
            "xor", "--model", "mlp", "--hidden", "8", "8", "8", "--epochs", "3", "--lr", "0.05",
            "--seed", "3", "--log-every", "0", "--live", "--out", tmp_path,
        )  # fmt: skip
    assert code == 0, err
    assert "mlp 8x8x8 (lr 0.05)" in out and "epoch" not in out
    assert re.fullmatch(r"val acc: [01]\.\d{4}", out.strip().splitlines()[-1])
    assert (tmp_path / "xor_mlp_regions.png").exists() and (tmp_path / "xor_all.png").exists()


def test_xor_cli_errors(run_cli, tmp_path):
    code, _, err = run_cli("xor", "--model", "svm")
    assert code == 2 and "invalid choice: 'svm'" in err and "modulelist" in err
    # checked before anything runs or prints: no model banner, no files
    for args, message in (
        (["--model", "noisy", "--hidden", "0"], "--hidden must be a positive int, got 0"),
        (["--epochs", "0"], "--epochs must be a positive int, got 0"),
        (["--model", "mlp", "--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
        (["--log-every", "-1"], "--log-every must be an int >= 0, got -1"),
        (
            ["--model", "linear", "--hidden", "64", "64"],
            "--hidden does not apply to --model linear (it applies to --model mlp / modulelist "
            "/ noisy / all)",
        ),
    ):
        code, out, err = run_cli("xor", *args, "--out", tmp_path / "x")
        assert (code, out, err) == (2, "", f"deepclass: error: {message}\n"), args
        assert not (tmp_path / "x").exists()


def test_models_command_lists_the_rungs(run_cli):
    code, out, _ = run_cli("models", "--rung", "nn")
    assert code == 0
    for name in ("two_layer_fc", "three_layer_convnet", "mlp", "modulelist", "noisy", "linear"):
        assert re.search(rf"^  {name}\s+\S", out, re.M)
    code, out, _ = run_cli("models", "--rung", "barebones")
    assert "two_layer_fc" in out and "three_layer_convnet" in out
