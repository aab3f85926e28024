"""Real processes: DDP with 2 CPU processes (gloo), and SIGKILL mid-epoch then --resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Lightning's DDP launcher re-runs the command line for rank 1, so these use the console script.
DEEPCLASS = str(Path(sys.executable).parent / "deepclass")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("DEEPCLASS_RUN_DIR", None)
    e["PYTHONUNBUFFERED"] = "1"
    return e


def valid_epochs(run_dir: Path) -> list[int]:
    with open(run_dir / "metrics.csv") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f) if r["valid_acc"]]


def test_ddp_two_cpu_processes(tmp_path, data_dir):
    cmd = [
        DEEPCLASS, "train", "--preset", "mnist-mlp", "--epochs", "2", "--lr", "0.003",
        "--train-samples", "3000", "--val-samples", "500", "--test-samples", "1000",
        "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
        "--out", str(tmp_path), "--data-dir", str(data_dir), "--no-progress",
    ]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env())
    assert p.returncode == 0, p.stderr[-3000:]
    logs = p.stdout + p.stderr
    assert "MEMBER: 2/2" in logs and "distributed_backend=gloo" in logs
    # one run directory, one summary (global rank 0 only)
    assert sorted(d.name for d in tmp_path.iterdir()) == ["version_0"]
    assert p.stdout.count("test acc: ") == 1
    test_acc = float(p.stdout.strip().splitlines()[-1].split(": ")[1])
    assert test_acc > 0.6  # 2 processes x 1,500 images x 2 epochs (chance: 0.1)
    assert valid_epochs(tmp_path / "version_0") == [0, 1]


def test_sigkill_mid_epoch_then_resume(tmp_path, data_dir):
    base = [
        DEEPCLASS, "train", "--dataset", "mnist", "--model", "mlp", "--epochs", "3",
        "--train-samples", "20000", "--val-samples", "500", "--test-samples", "500",
        "--out", str(tmp_path), "--data-dir", str(data_dir), "--no-progress",
    ]  # fmt: skip
    proc = subprocess.Popen(
        base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env()
    )
    last = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    seen: list[str] = []
    deadline = time.time() + 300
    try:
        for line in proc.stdout:  # epoch 1's report comes just before its checkpoint
            seen.append(line)
            if line.startswith("epoch 1/3") or time.time() > deadline:
                break
        while not last.is_file() and time.time() < deadline:
            time.sleep(0.05)
        assert last.is_file(), "".join(seen)[-2000:]
        time.sleep(0.3)  # inside epoch 2
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed_at = len(valid_epochs(tmp_path / "version_0"))
    assert killed_at in (1, 2, 3)  # after epoch 1 (later only on a very fast machine)

    p = subprocess.run(
        [*base[:2], "--resume", "--out", str(tmp_path), "--data-dir", str(data_dir), "--no-progress"],
        capture_output=True, text=True, timeout=600, env=env(),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resumed from" in p.stdout and "test acc: " in p.stdout
    assert p.stdout.count("train_loss") == 3 - killed_at  # only the missing epochs ran
    # the run's log holds every epoch exactly once, in the same directory
    assert valid_epochs(tmp_path / "version_0") == [0, 1, 2]
    assert sorted(d.name for d in tmp_path.iterdir()) == ["version_0"]
    assert not list((tmp_path / "version_0" / "checkpoints").glob(".*.tmp"))
