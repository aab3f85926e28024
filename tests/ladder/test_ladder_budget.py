"""``deepclass ladder`` (the budget run) end to end on a tiny budget and real subsets."""

from __future__ import annotations

import csv
import json
import re

import pytest

LINE = r"(rung [1-5]|peer) [a-z]+ [A-Za-z_]+( [A-Za-z_]+)?: test acc \d\.\d{4} in \d+\.\d s \([\d,]+ img/s\)"


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory, cifar_subset_dir):
    """Rungs 1 and 3 and the peer for 2 s each, then rungs 2, 4 and 5 into the same folder."""
    from deepclass.bench.ladder import run_ladder
    from deepclass.cli import main

    out = tmp_path_factory.mktemp("ladder")
    data = ["--data-dir", str(cifar_subset_dir), "--out", str(out)]
    # a same-model run in the folder gives the figure's step-time panel (else a longer one runs)
    assert main(["ladder", "--same-model", "--steps", "4", "--batch-size", "8", *data]) == 0
    assert main(["ladder", "--rungs", "1,3,sklearn", "--budget", "2", "--num-train", "300",
                 *data]) == 0  # fmt: skip
    # the slow rungs through the library, on fewer validation / test images (the CLI always
    # tests on the whole split)
    run_ladder(rungs=[2, 4, 5], peer_row=False, budget=2, num_train=300, num_val=200,
               num_test=200, data_dir=str(cifar_subset_dir), out=out, log=None)  # fmt: skip
    return out


def test_budget_run_writes_every_file_and_keeps_earlier_rows(budget_run, capsys):
    out = budget_run
    for name in ("ladder.md", "ladder.csv", "ladder-curves.csv", "ladder.json", "ladder.png"):
        assert (out / name).stat().st_size > 200, name
    with (out / "ladder.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["rung"] for r in rows] == ["1", "2", "3", "4", "5", "sklearn"]
    assert list(rows[0]) == [
        "rung", "model", "parameters", "mflop_per_image", "gradient", "steps", "images_seen",
        "train_seconds", "images_per_s", "train_acc", "val_acc", "test_acc",
    ]  # fmt: skip
    by = {r["rung"]: r for r in rows}
    assert int(by["1"]["parameters"]) == 3073 * 10
    assert float(by["1"]["mflop_per_image"]) == pytest.approx(2 * 3073 * 10 / 1e6, rel=1e-3)
    assert float(by["3"]["mflop_per_image"]) > 10 * float(by["1"]["mflop_per_image"])
    for r in rows:
        assert 0 <= float(r["test_acc"]) <= 1 and int(r["steps"]) > 0, r
        assert float(r["train_seconds"]) > 0
    curves = list(csv.DictReader((out / "ladder-curves.csv").open()))
    assert {c["rung"] for c in curves} == set(by)
    saved = json.loads((out / "ladder.json").read_text())
    assert saved["budget"] == 2 and saved["num_train"] == 300
    md = (out / "ladder.md").read_text()
    assert "| 3 | barebones three_layer_convnet" in md and "Machine:" in md


def test_budget_run_prints_one_line_per_rung(run_cli, cifar_subset_dir, tmp_path):
    code, stdout, stderr = run_cli(
        "ladder", "--rungs", "1,sklearn", "--budget", "1", "--num-train", "200",
        "--data-dir", cifar_subset_dir, "--out", tmp_path,
    )  # fmt: skip
    assert code == 0, stderr
    lines = stdout.strip().splitlines()[-2:]
    assert lines[0].startswith("rung 1 linear softmax: test acc ")
    assert lines[1].startswith("peer sklearn SGDClassifier: test acc ")
    for line in lines:
        assert re.fullmatch(LINE, line), line
    assert "rung 1: val acc " in stdout  # progress while it trains
    # the same folder with another budget would mix rows that do not compare
    code, _, stderr = run_cli("ladder", "--rungs", "1", "--budget", "2", "--num-train", "200",
                              "--data-dir", cifar_subset_dir, "--out", tmp_path)  # fmt: skip
    assert code == 2 and "use another --out" in stderr


def test_budget_run_on_mnist(run_cli, tmp_path):
    code, stdout, stderr = run_cli(
        "ladder", "--dataset", "mnist", "--rungs", "1,3", "--budget", "1", "--num-train", "300",
        "--out", tmp_path,
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.strip().splitlines()[-1].startswith("rung 3 barebones three_layer_convnet:")
    rows = list(csv.DictReader((tmp_path / "ladder.csv").open()))
    assert int(rows[0]["parameters"]) == 785 * 10


def test_schedule_plan():
    from types import SimpleNamespace

    from deepclass.bench.ladder import plan_schedule

    ctx = SimpleNamespace(train=range(10_240), budget=100.0)  # 10 steps of 1024 per epoch
    plan = plan_schedule(ctx, 1.0)
    assert (plan.epochs, plan.batches) == (8, None)  # 85 steps fit: 8 whole epochs
    plan = plan_schedule(ctx, 20.0)
    assert (plan.epochs, plan.batches) == (1, 4)  # not one epoch: the 4 batches that fit
    assert plan_schedule(ctx, 500.0).batches == 1
