"""The CLI's shared behaviour and the foundation commands, end to end."""

from __future__ import annotations

import subprocess
import sys

from deepclass import __version__


def test_console_script_version_and_usage_errors():
    out = subprocess.run(
        [sys.executable, "-m", "deepclass.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"deepclass {__version__}"
    bad = subprocess.run(
        [sys.executable, "-m", "deepclass.cli", "no-such-command"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "invalid choice" in bad.stderr


def test_data_info_prepare_verify(run_cli, data_dir, cifar10):
    code, out, _ = run_cli("data", "info", "cifar10", "--data-dir", data_dir)
    assert code == 0
    assert "source: jpeg-archive" in out and "cache: present" in out
    assert "train: 49000 samples of 32x32x3 uint8" in out and "test: 10000" in out
    code, out, _ = run_cli("data", "prepare", "xor")
    assert code == 0 and "train 100, val 100, test 200" in out
    code, out, _ = run_cli("data", "verify", "--data-dir", data_dir)
    assert code == 0 and "5 files verified" in out


def test_data_errors_exit_2_with_one_line(run_cli, tmp_path):
    code, _, err = run_cli("data", "prepare", "imagenet")
    assert code == 2 and err.count("\n") == 1 and "unknown dataset 'imagenet'" in err
    code, _, err = run_cli("data", "prepare", "mnist", "--data-dir", tmp_path, "--offline")
    assert code == 2 and "not found under" in err and "t10k-images-idx3-ubyte" in err
    (tmp_path / "mnist-png.tar.gz").write_bytes(b"corrupted download")
    code, out, err = run_cli("data", "verify", "--data-dir", tmp_path)
    assert code == 2 and "MISMATCH" in out and "1 of 1 files failed verification" in err


def test_models_lists_rungs_and_rejects_unknown_rung(run_cli):
    code, out, _ = run_cli("models")
    assert code == 0 and all(f"{r}:" in out for r in ("linear", "scratch", "barebones", "nn"))
    code, _, err = run_cli("models", "--rung", "quantum")
    assert code == 2 and "unknown rung 'quantum'" in err


def test_bench_data_quick_writes_results(run_cli, tmp_path, data_dir, cifar10):
    code, out, _ = run_cli("bench", "data", "--quick", "--out", tmp_path, "--data-dir", data_dir)
    assert code == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- bench:data -->" in text and "Machine:" in text and "images/s" in text
    assert "BatchIterator + batched crop/flip" in out
    code, _, err = run_cli("bench", "nonsense", "--out", tmp_path)
    assert code == 2 and "unknown benchmark 'nonsense'" in err
