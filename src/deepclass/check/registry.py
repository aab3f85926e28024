"""The course names ``deepclass check`` knows and the checks each one gets.

A *check* is one thing the course's notebook would verify about a student's
function: ``run(obj, module, name)`` gets the student's object (a function or a class),
the whole submission module (for a vectorized loss, its naive twin) and the
course name it is graded as, and
returns an :class:`Outcome`, or raises :class:`Fail` to stop with a verdict.
Anything else it raises came from the student's code and becomes an *error*
verdict (``NotImplementedError``: *not implemented*). Checks run in the child
process that holds the submission (see ``runner``), never in deepclass's own.

The check modules (``linear_checks``, ``layer_checks``, ``optim_checks``,
``model_checks``, ``barebones_checks``) register their checks here with
:func:`check`; :func:`course_names` imports them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CHECK_MODULES = (
    "linear_checks",
    "layer_checks",
    "optim_checks",
    "model_checks",
    "barebones_checks",
)


@dataclass
class Outcome:
    """A check's verdict: ``ok``, the measured value, and one line of why (for a FAIL)."""

    ok: bool
    value: str = ""
    why: str = ""


class Fail(Exception):  # noqa: N818 - a verdict, not an error of the grader
    """Raised by a check to stop with a FAIL: ``Fail(why, value="...")``."""

    def __init__(self, why: str, value: str = "") -> None:
        super().__init__(why)
        self.why, self.value = why, value


@dataclass
class Check:
    """One check of one course name: its name, its bar (as shown in the table), its test."""

    name: str
    bar: str
    run: Callable[[Any, Any, str], Outcome]


@dataclass
class CourseName:
    """A name of seeds 000-002 (or a course layer deepclass has) and how it is graded.

    kind: ``function``, ``layer`` (a class with static ``forward``/``backward``) or
    ``model`` (a class with ``loss``). template: the starter file it belongs to.
    signature: the ``def`` line (or, for a class, its methods) a starter file writes.
    """

    name: str
    kind: str
    template: str
    signature: str
    doc: str
    checks: list[Check] = field(default_factory=list)


REGISTRY: dict[str, CourseName] = {}


def course_name(name: str, kind: str, template: str, signature: str, doc: str) -> None:
    """Declare a course name (the check modules do, before their checks)."""
    REGISTRY[name] = CourseName(name, kind, template, signature, doc.strip("\n"))


def check(names: str | tuple[str, ...], title: str, bar: str = ""):
    """Decorator: register ``fn(obj, module, name) -> Outcome`` as check ``title`` of ``names``."""
    names = (names,) if isinstance(names, str) else names

    def deco(fn: Callable[[Any, Any, str], Outcome]) -> Callable[[Any, Any, str], Outcome]:
        for n in names:
            REGISTRY[n].checks.append(Check(title, bar, fn))
        return fn

    return deco


def course_names() -> dict[str, CourseName]:
    """Every course name with its checks (imports the check modules once)."""
    for mod in CHECK_MODULES:
        importlib.import_module(f"deepclass.check.{mod}")
    return REGISTRY
