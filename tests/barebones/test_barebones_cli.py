"""``deepclass barebones`` end to end on a small real CIFAR-10 folder."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("model", ["two_layer_fc", "three_layer_convnet"])
def test_barebones_cli_trains_and_writes_the_loss_curve(run_cli, cifar_subset_dir, tmp_path, model):
    out = tmp_path / model
    code, stdout, stderr = run_cli(
        "barebones", "--model", model, "--data-dir", cifar_subset_dir,
        "--num-train", "640", "--print-every", "5", "--out", out,
    )  # fmt: skip
    assert code == 0, stderr
    assert "Iteration 0, loss = " in stdout and "Iteration 5, loss = " in stdout
    assert "Checking accuracy on the test set" in stdout
    lines = stdout.strip().splitlines()
    assert re.fullmatch(r"val acc: \d\.\d{4}", lines[-2])
    assert re.fullmatch(r"test acc: \d\.\d{4}", lines[-1])
    assert float(lines[-1].split(": ")[1]) > 0.12  # better than chance (0.10) on 500 test images
    assert (out / "loss.png").stat().st_size > 10_000


def test_barebones_cli_errors(run_cli, cifar_subset_dir, tmp_path):
    code, _, err = run_cli("barebones", "--model", "resnet")
    assert code == 2 and "invalid choice: 'resnet'" in err and "three_layer_convnet" in err
    code, _, err = run_cli(
        "barebones", "--data-dir", cifar_subset_dir, "--num-train", "0", "--out", tmp_path
    )
    assert code == 2 and err.strip() == "deepclass: error: num_train must be a positive int, got 0"
    code, _, err = run_cli(
        "barebones",
        "--data-dir",
        cifar_subset_dir,
        "--lr",
        "-1",
        "--num-train",
        "64",
        "--out",
        tmp_path,
    )
    assert code == 2 and "learning_rate must be a positive number, got -1.0" in err
