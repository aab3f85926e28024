"""README's Ladder section quotes the committed runs' own files, never a copy that can go stale."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "benchmarks" / "ladder"


def _section() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"^## The ladder\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "README.md has no '## The ladder' section"
    return m.group(1)


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]


def test_readme_ladder_table_is_the_default_runs_table():
    section = _section()
    run = (RUNS / "default" / "ladder.md").read_text()
    quoted = [r for r in _table_rows(section) if r.startswith(("| 1 |", "| 2 |", "| 3 |",
              "| 4 |", "| 5 |", "| sklearn |"))]  # fmt: skip
    assert len(quoted) == 6 and all(r in _table_rows(run) for r in quoted), quoted
    command = re.search(r"Command: `([^`]*)`", run).group(1)
    for part in command.split("; then "):  # a ladder run in parts keeps every part's command
        assert f"`{part}`" in section, part
    assert "benchmarks/ladder/default/ladder.png" in section
    assert (RUNS / "default" / "ladder.png").stat().st_size > 10_000


def test_readme_same_model_figures_are_the_runs():
    import csv

    section = _section()
    for dtype in ("float64", "float32"):
        rows = list(csv.DictReader((RUNS / f"same-model-{dtype}" / "same-model.csv").open()))
        for r in rows:
            cell = f"{float(r['max_rel_diff']):.1e}"
            ms = f"{float(r['ms_per_step']):.2f}"
            line = f"| {r['model']} | {r['rung']} | {dtype} | {cell} | {ms} |"
            assert line in section, line
