"""Which course names a submission file defines, found by reading it (never importing it).

A file is parsed with :mod:`ast`: its top-level ``def NAME`` for a course
function, ``class NAME`` with ``forward`` and ``backward`` for a layer, and
``class NAME`` with ``loss`` for a model. Other top-level functions and classes
are *skipped* (listed, not graded). A file that does not parse still names what
it defines, from its ``def``/``class`` lines, so that each gets the syntax error
as its verdict.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from deepclass.check.registry import CourseName

_DEF_LINE = re.compile(r"^(?:def|class)\s+([A-Za-z_]\w*)", re.M)


@dataclass
class Discovery:
    """What :func:`discover` found in one file."""

    path: Path
    names: list[str] = field(default_factory=list)  # graded course names, in file order
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why not graded)
    syntax_error: str | None = None  # "line 3: invalid syntax"
    source: str = ""


def _methods(node: ast.ClassDef) -> set[str]:
    """Names a class body defines: ``def forward`` or ``forward = staticmethod(...)``."""
    names = set()
    for n in node.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(n.name)
        elif isinstance(n, ast.Assign):
            names.update(t.id for t in n.targets if isinstance(t, ast.Name))
    return names


def _grade_as(node: ast.AST, known: dict[str, CourseName]) -> tuple[bool, str]:
    """``(graded, why not)`` for a top-level definition."""
    name = node.name  # type: ignore[attr-defined]
    entry = known.get(name)
    if entry is None:
        return False, "not a course name"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if entry.kind == "function":
            return True, ""
        return False, f"a function; the course's {name} is a class"
    if isinstance(node, ast.ClassDef):
        methods = _methods(node)
        if entry.kind == "layer":
            missing = {"forward", "backward"} - methods
            if missing:
                return False, f"a class without {' and '.join(sorted(missing))}"
            return True, ""
        if entry.kind == "model":
            if "loss" not in methods:
                return False, "a class without a loss method"
            return True, ""
        return False, f"a class; the course's {name} is a function"
    return False, "not a definition"


def discover(path: str | Path, known: dict[str, CourseName]) -> Discovery:
    """Read ``path`` and sort its top-level definitions into graded and skipped.

    Raises ``FileNotFoundError`` / ``IsADirectoryError`` / ``UnicodeDecodeError`` for a
    file that cannot be read as text (the caller makes them usage errors).
    """
    path = Path(path)
    source = path.read_text(encoding="utf-8")
    found = Discovery(path, source=source)
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        found.syntax_error = f"syntax error at line {e.lineno}: {e.msg}"
        seen = []
        for name in _DEF_LINE.findall(source):
            if name in seen:
                continue
            seen.append(name)
            if name in known:
                found.names.append(name)
            else:
                found.skipped.append((name, "not a course name"))
        return found
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        graded, why = _grade_as(node, known)
        if graded:
            if node.name in found.names:  # a later definition replaces the earlier one
                found.names.remove(node.name)
            found.names.append(node.name)
        elif not node.name.startswith("_"):
            found.skipped.append((node.name, why))
    return found
