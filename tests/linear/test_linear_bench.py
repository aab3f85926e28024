"""``deepclass bench linear --quick`` on real CIFAR-10: both tables land in RESULTS.md."""

from __future__ import annotations

import re

import pytest


@pytest.mark.slow
def test_bench_linear_quick_writes_results(run_cli, data_dir, tmp_path):
    code, stdout, stderr = run_cli(
        "bench", "linear", "--quick", "--out", tmp_path, "--data-dir", data_dir
    )
    assert code == 0, stderr
    text = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- bench:linear -->" in text and "(quick)" in text
    assert "deepclass vs scikit-learn SGDClassifier" in text
    for row in ("deepclass Softmax", "deepclass LinearSVM", "loss='log_loss'", "loss='hinge'"):
        assert row in text
    # four accuracy rows, each with a val and a test accuracy in [0, 1]
    accs = re.findall(r"\| (0\.\d+|1) \| (0\.\d+|1) \| [\d.]+x \|", text)
    assert len(accs) == 4
    speed = re.findall(
        r"^\| (svm|softmax) \| [\d.]+ \| [\d.]+ \| (\d+)x \| ([\d.e+-]+) / ([\d.e+-]+) \|$",
        text,
        re.M,
    )
    assert [s[0] for s in speed] == ["svm", "softmax"]
    assert all(float(s[2]) < 1e-4 and float(s[3]) < 1e-4 for s in speed)
    assert "wrote" in stdout
