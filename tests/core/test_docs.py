"""The docs against the code and the measurements they quote.

- One source for bench figures: every figure a README results row of ``deepclass bench NAME``
  quotes is a number of ``benchmarks/RESULTS.md``'s section NAME (at the precision quoted).
- Every ``deepclass ...`` command line in README.md and docs/*.md parses with the real CLI.
- A path the docs or the code cite as a file of the repository exists.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]

# a quoted figure: a number (or a range a-b) with the unit of a bench measurement
FIGURE = re.compile(
    r"(?<![\w.])([+-]?\d[\d,]*(?:\.\d+)?)(?:-(\d[\d,]*(?:\.\d+)?))?\s?(x|%|k img/s|img/s)(?!\w)"
)
# what a row says about goals, not measurements: "target 2x", "stretch 1.2x", "target <= 10%"
GOAL = re.compile(r"\b(?:target|stretch)\b[^,;:)]*")
CELL_NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?(x|%)?")


def bench_rows(text: str) -> list[tuple[str, str]]:
    """``(bench name, result cell)`` of every results-table row run by ``deepclass bench``."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 4:
            m = re.search(r"`deepclass bench (\w+)", cells[2])
            if m:
                rows.append((m.group(1), cells[3]))
    return rows


def quoted_figures(cell: str) -> list[tuple[str, float, float, str]]:
    """``(text, value, precision, unit)`` of each figure in a result cell (goals left out)."""
    out = []
    for m in FIGURE.finditer(GOAL.sub("", cell)):
        unit = m.group(3)
        for num in filter(None, (m.group(1), m.group(2))):
            decimals = len(num.split(".")[1]) if "." in num else 0
            value, precision = float(num.replace(",", "")), 0.5 * 10.0**-decimals
            if unit == "k img/s":
                value, precision = value * 1000, precision * 1000
            out.append((m.group(0), value, precision, unit))
    return out


def section_numbers(name: str) -> list[float]:
    """Every number that fills a table cell of RESULTS.md's section ``name`` (not the shapes
    or names in a cell: only cells that are a number, a ratio ``1.5x`` or a percentage)."""
    m = re.search(rf"<!-- bench:{name} -->\n(.*?)<!-- /bench:{name} -->", RESULTS.read_text(), re.S)
    assert m, f"benchmarks/RESULTS.md has no section {name!r} (run deepclass bench {name})"
    numbers = []
    for line in m.group(1).splitlines():
        if line.startswith("| "):
            for cell in line.strip().strip("|").split("|"):
                cell = cell.strip()
                if CELL_NUMBER.fullmatch(cell):
                    numbers.append(float(cell.rstrip("x%").replace(",", "")))
    return numbers


def figure_in(value: float, precision: float, unit: str, numbers: list[float]) -> bool:
    scales = (1.0, 100.0) if unit == "%" else (1.0,)  # 39.9% may quote an accuracy 0.3986
    return any(abs(n * s - value) <= precision * (1 + 1e-9) for n in numbers for s in scales)


def test_readme_quotes_only_figures_of_results_md():
    rows = bench_rows(README.read_text())
    assert {name for name, _ in rows} >= {"data", "linear", "scratch", "lightning", "cifar"}
    missing = []
    for name, cell in rows:
        numbers = section_numbers(name)
        figures = quoted_figures(cell)
        assert figures, f"README's row for deepclass bench {name} quotes no figure: {cell}"
        missing += [
            f"{name}: {text}"
            for text, value, precision, unit in figures
            if not figure_in(value, precision, unit, numbers)
        ]
    assert not missing, (
        "README quotes bench figures that benchmarks/RESULTS.md does not hold (re-run the bench "
        f"and copy its numbers, or fix the row): {missing}"
    )


def test_the_figure_check_catches_a_stale_copy():
    numbers = section_numbers("linear")  # svm 140x, softmax 117x, 7.21x, test acc 0.3986 ...
    good = "140x (SVM), 117x (softmax); softmax 39.9% vs 38.4% test, 7.2x faster"
    assert all(figure_in(v, p, u, numbers) for _, v, p, u in quoted_figures(good))
    for stale in ("121x (SVM)", "8x faster", "40.2% test"):
        (_, v, p, u), *_ = quoted_figures(stale)
        assert not figure_in(v, p, u, numbers), stale
    assert quoted_figures("target 2x met, stretch 1.2x; 3x3 convs; 11-18x slower") == [
        ("11-18x", 11.0, 0.5, "x"),
        ("11-18x", 18.0, 0.5, "x"),
    ]
    assert quoted_figures("269k img/s") == [("269k img/s", 269000.0, 500.0, "k img/s")]


def _command_lines(text: str) -> list[str]:
    """``deepclass ...`` lines of fenced code blocks and inline code spans."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced and line.strip().startswith("deepclass "):
            lines.append(line.split(" #")[0].strip())
    lines += re.findall(r"`(deepclass [^`]+)`", text)
    return [ln for ln in lines if "..." not in ln and not re.search(r"\[[\w|]+\]", ln)]


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_every_command_in_the_docs_parses(doc):
    from deepclass.cli import build_parser

    parser = build_parser()
    commands = _command_lines(doc.read_text())
    for line in commands:
        # placeholders (S, CKPT, PATH) stand for a value; a shell's trailing & is not an argument
        args = [("1" if re.fullmatch(r"[A-Z][A-Z0-9_]*", a) else a) for a in shlex.split(line)]
        try:
            parser.parse_args([a for a in args[1:] if a != "&"])
        except SystemExit as e:
            if e.code != 0:  # --help exits 0
                pytest.fail(f"{doc.name}: `{line}` does not parse")
    if doc == README:
        assert len(commands) > 20


def test_cited_repository_files_exist():
    """``results/...``, ``benchmarks/...``, ``docs/...`` and ``tests/...`` paths cited in the
    docs and in the code's comments are files of the repository."""
    cited = re.compile(r"(?<![\w/.])((?:results|benchmarks|docs|tests|src)/[\w./*-]+\.\w+)")
    sources = DOCS + sorted((REPO / "src").rglob("*.py"))
    missing = [
        f"{src.relative_to(REPO)}: {path}"
        for src in sources
        for path in cited.findall(src.read_text())
        if not any(REPO.glob(path))
    ]
    assert not missing


def _resolve(dotted: str):
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_deepclass_name_in_the_course_names_table_exists():
    text = (REPO / "docs" / "course-names.md").read_text()
    names = sorted(set(re.findall(r"`(deepclass(?:\.\w+)+)", text)))
    assert len(names) > 30
    missing = []
    for name in names:
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing


def test_trainer_docs_name_every_train_config_option() -> None:
    """docs/lightning-trainer.md's option table names every ``TrainConfig`` field (a new option
    that is not documented fails here); ``preset`` is documented in its own table."""
    import dataclasses

    from deepclass.lightning.config import TrainConfig

    text = (REPO / "docs" / "lightning-trainer.md").read_text()
    missing = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name != "preset" and f"`{f.name}`" not in text
    ]
    assert not missing, f"docs/lightning-trainer.md lacks options {missing}"
