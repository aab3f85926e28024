"""What ``deepclass check`` prints and writes: a table per file, summary lines, a grade
table for several files, and the same results as JSON or CSV for an autograder."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from deepclass.check.runner import PASSING, FileResult, FunctionResult
from deepclass.files import atomic_open

WHY_WIDTH = 120  # the table's last column; JSON and CSV keep the whole text
SHORT = {"not implemented": "todo", "not run": "not run"}
GENERIC = re.compile(r"numeric gradient|agrees with")


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _rows(fn: FunctionResult) -> list[list[str]]:
    """A function's rows; checks that all ended the same way (a file that does not
    import, a template) are one row, ``all 7 checks``."""
    statuses = {(c.status, c.why) for c in fn.checks}
    if len(fn.checks) > 1 and len(statuses) == 1 and fn.checks[0].status != PASSING:
        c = fn.checks[0]
        return [[fn.name, f"all {len(fn.checks)} checks", c.status, "", "", c.why]]
    return [[fn.name, c.check, c.status, c.value, c.bar, c.why] for c in fn.checks]


def file_table(fr: FileResult) -> str:
    """The table of one file: function, check, result, measured, bar, why."""
    head = ["function", "check", "result", "measured", "bar", "why"]
    rows = [r for fn in fr.functions for r in _rows(fn)]
    if not rows:
        return ""
    rows = [[*r[:5], _cut(r[5], WHY_WIDTH)] for r in rows]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    lines = []
    for i, r in enumerate([head, *rows]):
        first = r[0] if i == 0 or r[0] != rows[i - 2][0] or i == 1 else ""
        cells = [first.ljust(widths[0])] + [r[k].ljust(widths[k]) for k in range(1, 5)] + [r[5]]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def summary(fr: FileResult, name: str | None = None) -> str:
    """``my_linear.py: 9/10 checks pass (FAIL: svm_loss_vectorized dW rel error ...)``."""
    name = name or os.path.basename(fr.path)
    line = f"{name}: {fr.passed}/{fr.total} checks pass"
    bad = []
    for fn in fr.functions:
        failed = [c for c in fn.checks if c.status != PASSING]
        # a specific check says more than a numeric gradient or an agreement that also fails
        c = next((c for c in failed if not GENERIC.search(c.check)), failed[0] if failed else None)
        if c is not None:
            bad.append(
                f"{c.status}: {fn.name} {_cut(c.why, 100)}" if c.why else f"{c.status}: {fn.name}"
            )
    if fr.problem and all(fn.verdict != PASSING for fn in fr.functions):
        bad = [f"error: {fr.problem}"]
    if bad:
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        line += f" ({'; '.join(bad[:3])}{more})"
    return line


def skipped_line(fr: FileResult) -> str:
    if not fr.skipped:
        return ""
    return "  skipped: " + ", ".join(f"{n} ({why})" for n, why in fr.skipped)


def grade_table(results: Sequence[FileResult]) -> str:
    """file x function: ``5/5``, ``FAIL 3/5``, ``error``, ``timeout``, ``todo``; ``-`` absent."""
    names: list[str] = []
    for fr in results:
        names += [f.name for f in fr.functions if f.name not in names]
    head = ["file", *names, "checks"]
    rows = []
    for fr in results:
        cells = {f.name: _cell(f) for f in fr.functions}
        rows.append(
            [
                os.path.basename(fr.path),
                *(cells.get(n, "-") for n in names),
                f"{fr.passed}/{fr.total}",
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [head, *rows]
    )


def _cell(fn: FunctionResult) -> str:
    v = fn.verdict
    n = len(fn.checks)
    if v == PASSING:
        return f"{n}/{n}"
    if v == "FAIL":
        return f"FAIL {fn.passed}/{n}"
    return SHORT.get(v, v)


def as_dict(results: Sequence[FileResult]) -> dict:
    """Everything, for ``--json``: per file, per function, per check."""
    return {
        "files": [
            {
                "file": fr.path,
                "passed": fr.passed,
                "total": fr.total,
                "ok": fr.ok,
                "problem": fr.problem,
                "skipped": [{"name": n, "why": w} for n, w in fr.skipped],
                "functions": [
                    {
                        "name": fn.name,
                        "verdict": fn.verdict,
                        "passed": fn.passed,
                        "total": len(fn.checks),
                        "seconds": fn.seconds,
                        "output_bytes": fn.output_size,
                        "checks": [
                            {
                                "check": c.check,
                                "status": c.status,
                                "value": c.value,
                                "bar": c.bar,
                                "why": c.why,
                                "seconds": c.seconds,
                            }
                            for c in fn.checks
                        ],
                    }
                    for fn in fr.functions
                ],
            }
            for fr in results
        ]
    }


CSV_FIELDS = ["file", "function", "check", "status", "value", "bar", "why"]


def as_csv(results: Sequence[FileResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_FIELDS)
    for fr in results:
        for fn in fr.functions:
            for c in fn.checks:
                w.writerow([fr.path, fn.name, c.check, c.status, c.value, c.bar, c.why])
    return buf.getvalue()


def write_json(results: Sequence[FileResult], path: str | os.PathLike) -> Path:
    """``--json``: :func:`as_dict`, written atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(as_dict(results), indent=2) + "\n")
    return Path(path)


def write_csv(results: Sequence[FileResult], path: str | os.PathLike) -> Path:
    """``--csv``: one row per check (file, function, check, status, value, bar, why)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write(as_csv(results))
    return Path(path)
