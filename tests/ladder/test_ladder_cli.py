"""``deepclass ladder`` end to end on small real subsets: files written, lines printed, bad
options refused with one line and exit status 2 before any work."""

from __future__ import annotations

import re

import pytest

SAME = r"same-model (linear|convnet) rung [1235]: max rel diff \d\.\de[+-]\d\d vs rung 4"


def test_same_model_cli_on_cifar10(run_cli, cifar_subset_dir, tmp_path):
    out = tmp_path / "sm"
    code, stdout, stderr = run_cli(
        "ladder", "--same-model", "--steps", "4", "--batch-size", "16", "--rungs", "1,2,3,5",
        "--data-dir", cifar_subset_dir, "--out", out,
    )  # fmt: skip
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    tail = lines[-7:]
    assert [line.split(":")[0] for line in tail] == [
        "same-model linear rung 1", "same-model linear rung 2", "same-model linear rung 3",
        "same-model linear rung 5", "same-model convnet rung 2", "same-model convnet rung 3",
        "same-model convnet rung 5",
    ]  # fmt: skip
    for line in tail:
        assert re.fullmatch(SAME, line), line
        assert float(line.split("diff ")[1].split()[0]) < 1e-9
    for name in ("same-model.md", "same-model.csv", "same-model-losses.csv", "same-model.png"):
        assert (out / name).stat().st_size > 200
    assert "GPU available" not in stdout


def test_same_model_cli_on_mnist(run_cli, tmp_path):
    code, stdout, stderr = run_cli(
        "ladder", "--same-model", "--dataset", "mnist", "--models", "convnet", "--steps", "3",
        "--batch-size", "8", "--dtype", "float32", "--rungs", "3", "--out", tmp_path,
    )  # fmt: skip
    assert code == 0, stderr
    assert re.fullmatch(SAME, stdout.strip().splitlines()[-1])
    assert "(1, 28, 28)" not in stderr
    assert "| convnet | 3 |" in (tmp_path / "same-model.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rungs", "0,7"], "--rungs must be a comma-separated list of 1-5 or sklearn"),
        (
            ["--same-model", "--rungs", "sklearn"],
            "--rungs must be a comma-separated list of 1-5, e.g.",
        ),
        (["--same-model", "--budget", "10"], "--budget does not apply to --same-model"),
        (["--steps", "5"], "--steps does not apply to the budget run"),
        (["--same-model", "--steps", "0"], "--steps must be"),
        (["--budget", "-3"], "--budget must be"),
        (["--same-model", "--models", "resnet"], "--models must be a comma-separated list"),
        (["--dataset", "xor"], "invalid choice: 'xor'"),
        (["--device", "cuda"], "--device cuda"),
        (["--same-model", "--dtype", "float16"], "invalid choice: 'float16'"),
    ],
)
def test_bad_options_exit_2_with_one_line(run_cli, tmp_path, args, message):
    empty = tmp_path / "no-data"
    empty.mkdir()
    code, stdout, stderr = run_cli("ladder", *args, "--data-dir", empty, "--out", tmp_path / "o")
    assert code == 2, (stdout, stderr)
    assert len(stderr.strip().splitlines()) == 1 and message in stderr, stderr
    assert not (tmp_path / "o").exists()
