"""``deepclass bench``: side-by-side measurements, written to ``benchmarks/RESULTS.md``.

Each benchmark is a module ``deepclass.bench.<name>`` with a function
``run(cfg: BenchConfig) -> list[Table]`` that measures its candidates in one
process, one after the other, on the same data, so their ratios are
comparable even on a noisy shared machine. Timings are reported, never
asserted.

RESULTS.md keeps one section per benchmark, each stamped with the machine
and date it ran on; re-running one benchmark replaces only its section.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import platform
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepclass.errors import ConfigError
from deepclass.files import atomic_open

BENCHES: dict[str, str] = {
    "data": "in-memory batch iterator vs DataLoader (images/s)",
    "linear": "deepclass linear classifiers vs scikit-learn SGDClassifier",
    "scratch": "from-scratch fast layers vs torch.autograd",
    "lightning": "Lightning loop vs the plain nn fit loop",
    "cifar": "the CIFAR-10 recipe: fp32/bf16, NCHW/channels_last, eager/compiled",
}


@dataclass
class BenchConfig:
    """What every benchmark receives: size preset, device, seed, data dir."""

    quick: bool = False  # tiny configuration (tests, smoke runs)
    compile: bool = True  # cifar: include the torch.compile variants
    device: str = "cpu"
    seed: int = 0
    data_dir: str | None = None


@dataclass
class Table:
    """One result table: a title, column names, rows of cells, and notes printed under it."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(
                f"row has {len(cells)} cells, table {self.title!r} has {len(self.columns)} columns"
            )
        self.rows.append(list(cells))

    def to_markdown(self) -> str:
        def fmt(c: Any) -> str:
            if isinstance(c, float):
                return f"{c:.4g}" if abs(c) < 1e5 else f"{c:,.0f}"
            return str(c)

        lines = [
            f"### {self.title}",
            "",
            "| " + " | ".join(self.columns) + " |",
            "|" + "|".join(" --- " for _ in self.columns) + "|",
        ]
        lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def machine_description() -> str:
    """CPU model, cores, memory, OS, Python and torch versions: the stamp on every result."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(
            next(
                ln
                for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")
            ).split()[1]
        )
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}{gpu}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads"
    )


def timeit(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1) -> float:
    """Best wall time in seconds of ``fn()`` over ``repeat`` runs (after ``warmup`` runs).

    The minimum is the least disturbed by other processes on a shared machine.
    """
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run_benchmark(name: str, cfg: BenchConfig) -> list[Table]:
    """Run benchmark ``name`` (a key of ``BENCHES``) and return its tables."""
    if name not in BENCHES:
        raise ConfigError(f"unknown benchmark {name!r}; valid: {', '.join(BENCHES)}, all")
    module = importlib.import_module(f"deepclass.bench.{name}")
    return module.run(cfg)


_SECTION = re.compile(r"<!-- bench:(\w+) -->\n.*?<!-- /bench:\1 -->\n", re.S)


def render_section(
    name: str, tables: Sequence[Table], machine: str, date: str, seconds: float
) -> str:
    body = "\n".join(t.to_markdown() for t in tables)
    return (
        f"<!-- bench:{name} -->\n## {name}: {BENCHES[name]}\n\n"
        f"Machine: {machine}  \nDate: {date}; the benchmark took {seconds:.0f} s.\n\n"
        f"{body}<!-- /bench:{name} -->\n"
    )


def write_results(path: str | os.PathLike, sections: dict[str, str]) -> Path:
    """Merge ``sections`` (name -> rendered markdown) into ``path``, atomically.

    Sections of other benchmarks already in the file are kept, in the
    order of ``BENCHES``.
    """
    path = Path(path)
    existing: dict[str, str] = {}
    if path.exists():
        existing = {m.group(1): m.group(0) for m in _SECTION.finditer(path.read_text())}
    existing.update(sections)
    header = (
        "# deepclass benchmarks\n\nWritten by `deepclass bench`; each section records the "
        "machine and date it was measured on. Candidates in one table ran in the same "
        "process, one after another, on the same data: compare ratios, not absolute "
        "times across sections.\n\n"
    )
    text = header + "\n".join(existing[k] for k in BENCHES if k in existing)
    with atomic_open(path, "w") as f:
        f.write(text)
    return path


def run_benchmarks(
    names: Sequence[str],
    cfg: BenchConfig,
    out_dir: str | os.PathLike = "benchmarks",
    printer: Callable[[str], None] = print,
) -> Path:
    """Run each benchmark in ``names`` ("all" = every one), print its tables, update RESULTS.md."""
    names = list(BENCHES) if not names or "all" in names else list(dict.fromkeys(names))
    for n in names:
        if n not in BENCHES:
            raise ConfigError(f"unknown benchmark {n!r}; valid: {', '.join(BENCHES)}, all")
    machine = machine_description()
    printer(f"machine: {machine}")
    sections = {}
    path = Path(out_dir) / "RESULTS.md"
    for n in names:
        date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        t = time.perf_counter()
        tables = run_benchmark(n, cfg)
        seconds = time.perf_counter() - t
        for tbl in tables:
            printer("\n" + tbl.to_markdown())
        sections[n] = render_section(
            n, tables, machine, date + (" (quick)" if cfg.quick else ""), seconds
        )
        write_results(path, {n: sections[n]})  # keep finished sections if a later one fails
    printer(f"wrote {path}")
    return path
