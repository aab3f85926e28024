"""``deepclass bench lightning`` runs on a tiny configuration and writes its table."""

from __future__ import annotations

import re

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
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    n = int(re.search(r"one CIFAR-10 epoch of ([\d,]+) images", text).group(1).replace(",", ""))
    assert n == 4 * 128  # --quick: 4 batches of the preset's 128
    (_, plain_s, plain_mean, plain_ips, dash), (_, light_s, light_mean, light_ips, overhead) = cells
    plain_s, light_s = float(plain_s), float(light_s)
    assert dash == "-" and 0 < plain_s <= float(plain_mean) and 0 < light_s <= float(light_mean)
    # the derived columns follow from the measured times (the times themselves are not asserted)
    assert int(plain_ips) == pytest.approx(n / plain_s, rel=0.01, abs=1)
    assert int(light_ips) == pytest.approx(n / light_s, rel=0.01, abs=1)
    assert re.fullmatch(r"[+-]\d+\.\d%", overhead)
    # the times in the table are rounded to 1 ms: that much error, plus the 0.1% rounding
    tol = 100 * 0.0005 * (1 / plain_s + light_s / plain_s**2) + 0.051
    assert float(overhead[:-1]) == pytest.approx(100 * (light_s - plain_s) / plain_s, abs=tol)
    assert "machine:" in out
