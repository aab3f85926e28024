"""``deepclass linear`` end to end on a small real CIFAR-10 folder, and its errors."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from deepclass.data import preprocess_cifar10
from deepclass.linear import LinearSVM, Softmax


def _png(path):
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 100 and im.height > 100


@pytest.mark.slow
def test_cli_search_end_to_end(run_cli, cifar_subset_dir, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(
        "linear", "--loss", "softmax", "--search", "--lr", "3e-3", "1e-2", "--reg", "1e-3", "1e-2",
        "--iters", "100", "--data-dir", cifar_subset_dir, "--out", out,
    )  # fmt: skip
    assert code == 0, stderr
    assert "1600 train, 400 val, 500 test, D = 3073" in stdout
    # the results table: a header and one row per (lr, reg), the best marked
    assert re.search(r"lr\s+reg\s+train acc\s+val acc", stdout)
    rows = re.findall(r"^[* ] +(\d\.\d+e-\d+) +(\d\.\d+e-\d+) +(0\.\d+) +(0\.\d+)$", stdout, re.M)
    assert len(rows) == 4
    assert stdout.count("\n*") == 1
    lines = stdout.strip().splitlines()
    assert lines[-2].startswith("val acc: ") and lines[-1].startswith("test acc: ")
    val_acc = float(lines[-2].split(": ")[1])
    test_acc = float(lines[-1].split(": ")[1])
    assert val_acc == pytest.approx(max(float(r[3]) for r in rows), abs=1e-4)
    assert "softmax search" in stderr  # the progress bar

    for name in ("loss", "val_acc", "weights"):
        _png(out / f"softmax_{name}.png")
    assert "| lr | reg | train acc | val acc |" in (out / "softmax_results.md").read_text()
    summary = json.loads((out / "softmax_summary.json").read_text())
    assert summary["val_acc"] == pytest.approx(val_acc, abs=1e-4) and len(summary["results"]) == 4

    # the saved model is the best one: it reproduces the printed test accuracy
    model = Softmax().load(out / "softmax_model.pt")
    assert (model.learning_rate, model.reg) == (summary["best_lr"], summary["best_reg"])
    data = preprocess_cifar10(bias_trick=True, data_dir=cifar_subset_dir)
    assert model.score(data["X_test"], data["y_test"]) == pytest.approx(test_acc, abs=1e-4)
    assert val_acc > 0.2


@pytest.mark.slow
def test_cli_single_run_marks_diverged_and_subsets(run_cli, cifar_subset_dir, tmp_path):
    code, stdout, stderr = run_cli(
        "linear", "--loss", "svm", "--lr", "1e-3", "1e38", "--iters", "50", "--num-train", "500",
        "--num-test", "100", "--no-progress", "--data-dir", cifar_subset_dir, "--out", tmp_path,
    )  # fmt: skip
    assert code == 0, stderr
    assert "400 train, 100 val, 100 test" in stdout
    assert re.search(r"1\.000e\+38 +\S+ +diverged", stdout)
    assert stdout.strip().splitlines()[-1].startswith("test acc: ")
    assert LinearSVM().load(tmp_path / "svm_model.pt").learning_rate == 1e-3
    _png(tmp_path / "svm_val_acc.png")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--loss", "knn"], "invalid choice: 'knn'"),
        (
            ["--loss", "svm", "--lr", "-1"],
            r"^deepclass: error: --lr must be finite and > 0, got \[-1.0\]$",
        ),
        (["--loss", "svm", "--lr", "0"], r"--lr must be finite and > 0, got \[0.0\]"),
        (["--loss", "svm", "--reg", "-0.5"], "--reg must be finite and >= 0"),
        (["--loss", "svm", "--iters", "0"], "--iters must be a positive int, got 0"),
        (["--loss", "svm", "--batch-size", "0"], "--batch-size must be a positive int"),
        (["--loss", "softmax", "--device", "tpu"], "--device"),
    ],
)
def test_cli_errors_are_one_line(run_cli, tmp_path, args, match):
    code, _, stderr = run_cli("linear", *args, "--out", tmp_path)
    assert code == 2
    assert re.search(match, stderr)
    assert "Traceback" not in stderr


def test_cli_all_diverged_is_an_error(run_cli, cifar_subset_dir, tmp_path):
    code, _, stderr = run_cli(
        "linear", "--loss", "svm", "--lr", "1e38", "--iters", "5", "--num-train", "100",
        "--data-dir", cifar_subset_dir, "--out", tmp_path,
    )  # fmt: skip
    assert code == 2
    assert "every (lr, reg) combination diverged" in stderr
