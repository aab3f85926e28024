"""Grade submission files: discovery here, the submission's code in a child process.

:func:`grade_files` is the library entry point of ``deepclass check``. For each
file it finds the course names (by reading, :mod:`~deepclass.check.discover`),
then starts one child ``python -I`` (see :mod:`~deepclass.check.child`) in a
fresh temporary directory, hands it the source and the names as JSON on stdin,
and reads one JSON line per name back. The child imports the very deepclass this
process runs (its location is passed explicitly: ``-I`` ignores ``PYTHONPATH``).
Whatever the submission does (raise, loop, print megabytes, ``sys.exit``,
``os._exit``, crash the interpreter), it becomes a verdict of that name; a child
that dies or hangs as a whole ends as a verdict of every name it had left.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import deepclass
from deepclass.check.discover import Discovery, discover
from deepclass.check.registry import course_names

DEFAULT_TIMEOUT = 60.0  # seconds per course name (all its checks)
DEFAULT_MEMORY_MB = 2048  # address space a submission may add to the child's
OUTPUT_LIMIT = 64 * 1024  # characters of a submission's output that are kept

BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from deepclass.check.child import main; main()"
PASSING = "pass"
STATUSES = ("pass", "FAIL", "error", "timeout", "not implemented", "not run")


@dataclass
class CheckResult:
    """One row of the table: a check of a function and its verdict."""

    function: str
    check: str
    status: str  # one of STATUSES
    value: str = ""
    bar: str = ""
    why: str = ""
    seconds: float = 0.0


@dataclass
class FunctionResult:
    """Every check of one course name in one file."""

    name: str
    checks: list[CheckResult] = field(default_factory=list)
    output: str = ""  # what it printed (the first OUTPUT_LIMIT characters)
    output_size: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(c.status == PASSING for c in self.checks)

    @property
    def verdict(self) -> str:
        """``pass``, else the status of its first check that did not pass."""
        return next((c.status for c in self.checks if c.status != PASSING), PASSING)


@dataclass
class FileResult:
    """A graded file: its functions, what was skipped, and the file's own problem if any."""

    path: str
    functions: list[FunctionResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    problem: str | None = None  # a syntax error, a failed import

    @property
    def passed(self) -> int:
        return sum(f.passed for f in self.functions)

    @property
    def total(self) -> int:
        return sum(len(f.checks) for f in self.functions)

    @property
    def ok(self) -> bool:
        return all(f.verdict == PASSING for f in self.functions)


def deepclass_src() -> str:
    """The directory holding the ``deepclass`` package this process runs."""
    return str(Path(deepclass.__file__).resolve().parent.parent)


def _child_env(tmp: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tmp,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    return env


def _rows(name: str, status: str, why: str, value: str = "") -> list[CheckResult]:
    """One row per check of ``name``, all with the same verdict (the file's problem)."""
    return [
        CheckResult(name, c.name, status, value, c.bar, why) for c in course_names()[name].checks
    ]


def _function_result(msg: dict, seed_rows: Callable[[str, str, str], list[CheckResult]]):
    name = msg["name"]
    fr = FunctionResult(
        name,
        output=msg.get("output", ""),
        output_size=msg.get("output_size", 0),
        seconds=msg.get("seconds", 0.0),
    )
    if "file_error" in msg:
        fe = msg["file_error"]
        fr.checks = seed_rows(name, fe["status"], fe["why"])
        return fr
    if "import_error" in msg:
        fr.checks = seed_rows(name, "error", msg["import_error"])
        return fr
    done = {c["check"]: c for c in msg.get("checks", [])}
    crash = msg.get("crash")
    for c in course_names()[name].checks:
        row = done.get(c.name)
        if row is not None:
            fr.checks.append(
                CheckResult(
                    name,
                    c.name,
                    row.get("status", "error"),
                    str(row.get("value", "")),
                    c.bar,
                    str(row.get("why", "")),
                    float(row.get("seconds", 0.0)),
                )
            )
        elif crash and crash.get("check") == c.name:
            fr.checks.append(CheckResult(name, c.name, crash["status"], "", c.bar, crash["why"]))
        elif crash:
            fr.checks.append(
                CheckResult(name, c.name, "not run", "", c.bar, f"not run: {crash['why']}")
            )
        else:
            fr.checks.append(CheckResult(name, c.name, "error", "", c.bar, "no result came back"))
    if crash and crash.get("check") in ("start", "import"):
        for r in fr.checks:
            r.status, r.why = crash["status"], crash["why"]
    if fr.output_size > OUTPUT_LIMIT:
        for r in fr.checks:
            if r.status != PASSING and r.why:
                r.why += f" (it printed {fr.output_size / 1e6:.1f} MB; output kept: 64 KB)"
                break
    return fr


def grade_file(
    found: Discovery,
    names: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> FileResult:
    """Run the checks of ``names`` (course names ``found`` defines) in a child process."""
    cb = (lambda _i, n: progress(n)) if progress else None
    (result,) = grade(
        [(found, names)], timeout=timeout, memory_mb=memory_mb, seed=seed, progress=cb
    )
    return result


def grade(
    jobs: Sequence[tuple[Discovery, Sequence[str]]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    seed: int = 0,
    progress: Callable[[int, str], None] | None = None,
) -> list[FileResult]:
    """Grade several files in one child process (one torch import), each name in its own
    fork; ``jobs`` are ``(discovery, names to grade)``. ``progress(file index, name)``."""
    results = [FileResult(str(f.path), skipped=list(f.skipped)) for f, _ in jobs]
    runnable = []
    for i, (found, names) in enumerate(jobs):
        if found.syntax_error:
            results[i].problem = found.syntax_error
            results[i].functions = [
                FunctionResult(n, _rows(n, "error", found.syntax_error)) for n in names
            ]
        elif names:
            runnable.append(i)
    got: dict[tuple[int, str], FunctionResult] = {}
    failure = None
    if runnable:
        failure = _run_child(
            [
                {
                    "path": str(jobs[i][0].path.resolve()),
                    "source": jobs[i][0].source,
                    "names": list(jobs[i][1]),
                }
                for i in runnable
            ],
            runnable,
            {
                "timeout": float(timeout),
                "memory_mb": int(memory_mb),
                "seed": int(seed),
                "output_limit": OUTPUT_LIMIT,
            },
            got,
            progress,
        )
    for i in runnable:
        result = results[i]
        for n in jobs[i][1]:
            fr = got.get((i, n))
            result.functions.append(
                fr or FunctionResult(n, _rows(n, "error", failure or "no result"))
            )
        for f in result.functions:
            why = next((r.why for r in f.checks if "importing the file" in r.why), None)
            if why:
                result.problem = why
                break
    return results


def _run_child(
    files: list[dict], index: list[int], common: dict, got: dict, progress
) -> str | None:
    """Start the child on ``files``, collect its verdicts into ``got[(job index, name)]``;
    returns why it stopped early (None when it finished)."""
    timeout = common["timeout"]
    count = sum(len(f["names"]) + 1 for f in files)
    tmp = tempfile.mkdtemp(prefix="deepclass-check-")
    try:
        err_path = os.path.join(tmp, "child-stderr.txt")
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", BOOT, deepclass_src()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=tmp,
                env=_child_env(tmp),
                start_new_session=True,
            )
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(json.dumps(dict(common, files=files)).encode())
                proc.stdin.close()
                # the child's own budget: each name's timeout and each file's import, plus startup
                deadline = time.monotonic() + count * (timeout + 5) + 120
                failure = _read(proc, deadline, got, index, progress)
            finally:
                if proc.poll() is None:
                    _kill(proc)
                proc.wait()
        if failure is None and len(got) < sum(len(f["names"]) for f in files):
            tail = Path(err_path).read_text(errors="replace").strip().splitlines()[-1:]
            failure = "the grader's child process ended early" + (f": {tail[0]}" if tail else "")
        return failure
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kill(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def _read(proc, deadline: float, got: dict, index: list[int], progress) -> str | None:
    """Collect the child's JSON lines into ``got``; a reason string if it had to stop."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "the grader's child process ran over its time budget"
            if not sel.select(timeout=min(left, 1.0)):
                continue
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                return None
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("done"):
                    return None
                i = msg.get("file")
                if not isinstance(i, int) or not 0 <= i < len(index):
                    continue
                if "running" in msg:
                    if progress:
                        progress(index[i], msg["running"])
                elif "name" in msg:
                    got[(index[i], msg["name"])] = _function_result(msg, _rows)
    finally:
        sel.close()


def select_names(found: Discovery, only: Sequence[str] | None) -> list[str]:
    """The names of ``found`` to grade: all, or those of ``only`` it defines."""
    if not only:
        return list(found.names)
    return [n for n in found.names if n in set(only)]


def grade_files(
    paths: Sequence[str | os.PathLike],
    *,
    only: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: int = DEFAULT_MEMORY_MB,
    seed: int = 0,
    progress: Callable[[int, str], None] | None = None,
) -> list[FileResult]:
    """Grade every file (see the module docstring); one :class:`FileResult` each."""
    known = course_names()
    jobs = []
    for p in paths:
        found = discover(p, known)
        jobs.append((found, select_names(found, only)))
    return grade(jobs, timeout=timeout, memory_mb=memory_mb, seed=seed, progress=progress)
