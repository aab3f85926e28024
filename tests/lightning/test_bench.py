"""``deepclass bench lightning`` runs on a tiny configuration and writes its table."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_bench_lightning_quick(run_cli, tmp_path, data_dir):
    code, out, err = run_cli(
        "bench",
        "lightning",
        "--quick",
        "--out",
        tmp_path,
        "--data-dir",
        data_dir,
        "--device",
        "cpu",
    )
    assert code == 0, err
    text = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- bench:lightning -->" in text
    rows = [
        ln
        for ln in text.splitlines()
        if ln.startswith("| ") and "loop" not in ln and "---" not in ln
    ]
    assert [r.split("|")[1].strip() for r in rows] == [
        "plain deepclass.nn.fit",
        "Lightning trainer (deepclass train)",
    ]
    overhead = rows[1].split("|")[5].strip()
    assert overhead.endswith("%") and float(overhead[:-1]) > -100  # a ratio, never asserted
    assert "machine:" in out
