"""``deepclass barebones`` end to end on a small real CIFAR-10 folder."""

from __future__ import annotations

import re

import pytest

# small nets and a few epochs over the folder's 1,000 training images: seed 0 reaches 26% /
# 25% test (seeds 1-2: 25-27% / 21-25%); a model that learns nothing scores 10% +- 1.3% on
# the 500 test images, so 20% is out of its reach
SMALL = {
    "two_layer_fc": ["--hidden-size", "200", "--epochs", "4", "--batch-size", "32"],
    "three_layer_convnet": ["--channels", "8", "8", "--epochs", "3", "--batch-size", "32"],
}


@pytest.mark.parametrize("model", list(SMALL))
def test_barebones_cli_trains_and_writes_the_loss_curve(run_cli, cifar_subset_dir, tmp_path, model):
    out = tmp_path / model
    code, stdout, stderr = run_cli(
        "barebones", "--model", model, *SMALL[model], "--data-dir", cifar_subset_dir,
        "--print-every", "40", "--out", out,
    )  # fmt: skip
    assert code == 0, stderr
    assert "Iteration 0, loss = " in stdout and "Iteration 40, loss = " in stdout
    assert "Checking accuracy on the test set" in stdout
    lines = stdout.strip().splitlines()
    assert re.fullmatch(r"val acc: \d\.\d{4}", lines[-2])
    assert re.fullmatch(r"test acc: \d\.\d{4}", lines[-1])
    assert float(lines[-1].split(": ")[1]) > 0.20, lines[-1]
    assert (out / "loss.png").stat().st_size > 10_000


def test_barebones_cli_errors(run_cli, cifar_subset_dir, tmp_path):
    code, _, err = run_cli("barebones", "--model", "resnet")
    assert code == 2 and "invalid choice: 'resnet'" in err and "three_layer_convnet" in err
    # every flag is checked before any data is loaded: the data dir here is empty
    empty = tmp_path / "no-data"
    empty.mkdir()
    for args, message in (
        (["--num-train", "0"], "--num-train must be a positive int, got 0"),
        (["--lr", "-1"], "--lr must be a finite number > 0, got -1.0"),
        (
            ["--channels", "32", "0", "--model", "three_layer_convnet"],
            "--channels must be a positive int, got 0",
        ),
        (
            ["--model", "three_layer_convnet", "--hidden-size", "10"],
            "--hidden-size does not apply to --model three_layer_convnet "
            "(it applies to --model two_layer_fc)",
        ),
        (
            ["--model", "two_layer_fc", "--channels", "3", "3"],
            "--channels does not apply to --model two_layer_fc "
            "(it applies to --model three_layer_convnet)",
        ),
    ):
        code, out, err = run_cli("barebones", *args, "--data-dir", empty, "--out", tmp_path)
        assert (code, out, err) == (2, "", f"deepclass: error: {message}\n"), args
    code, _, err = run_cli("barebones", "--data-dir", empty, "--out", tmp_path)
    assert code == 2 and "cifar10 not found under" in err  # good flags: it gets to the data
