"""The grader's child process: runs a submission's functions, one forked process each.

Started by :mod:`deepclass.check.runner` as ``python -I -c BOOT SRC`` (isolated:
no user site, no ``PYTHON*`` variables, a temporary working directory) with a
JSON request on stdin. It imports torch, deepclass and the checks once, then
forks one process per course name (a *zygote*: a fork costs milliseconds, an
import of torch seconds). Each forked process

- starts its own session (so a kill takes whatever it started with it), sets
  its limits (address space, CPU seconds, file size, no core dumps) and sends its
  stdout/stderr to a file, with Python's ``print`` capped at ``output_limit`` bytes;
- executes the submission's source as a fresh module and runs that name's checks,
  appending one JSON line per check to a result file as it goes (so a crash in
  check 3 keeps checks 1-2 and names check 3);
- ends with ``os._exit`` (no atexit handlers of the submission run).

The zygote waits for each with a wall-clock deadline, kills it when it runs over,
and writes one JSON line per name to its stdout: nothing but JSON crosses back,
never a pickle. The submission's code runs only in the forked processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import time
import traceback
import types
from typing import Any

MODULE_NAME = "submission"


class _CappedWriter:
    """A text stream that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size, self.kept, self.parts = limit, 0, 0, []

    def write(self, s: str) -> int:
        s = str(s)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.size += len(s)
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        return "".join(self.parts)


def _vm_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _limit(kind: int, value: int) -> None:
    try:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, hard))
    except (ValueError, OSError):
        pass


def _where(exc: BaseException, path: str) -> str:
    """`` (line N)`` of the deepest frame in the submission file, if any."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    return f" (line {line})" if line else ""


def describe_exception(exc: BaseException, path: str) -> tuple[str, str]:
    """``(status, why)`` for an exception raised by the submission."""
    where = _where(exc, path)
    if isinstance(exc, NotImplementedError):
        return "not implemented", f"raises NotImplementedError{where}"
    if isinstance(exc, SystemExit):
        return "error", f"called sys.exit({exc.code!r}){where}"
    if isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
    ):
        return "error", f"ran out of memory{where}: it asked for more than --memory-limit allows"
    if isinstance(exc, RecursionError):
        return "error", f"RecursionError{where}: infinite recursion?"
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    if len(text) > 200:
        text = text[:197] + "..."
    return "error", f"raised {text}{where}"


def load_submission(path: str, source: str) -> types.ModuleType:
    """Execute ``source`` as a fresh module named ``submission`` (its classes may refer to
    one another; its directory is importable last, for its own helper modules)."""
    mod = types.ModuleType(MODULE_NAME)
    mod.__file__ = path
    sys.modules[MODULE_NAME] = mod
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.append(folder)
    exec(compile(source, path, "exec"), mod.__dict__)
    return mod


def _run_in_fork(req: dict, name: str | None, result_path: str, out_path: str) -> None:
    """Body of a forked process (never returns)."""
    code = 0
    try:
        os.setsid()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a huge file write fails, not kills
        fd_out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        fd_null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(fd_null, 0)
        os.dup2(fd_out, 1)
        os.dup2(fd_out, 2)
        res = os.open(result_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        capped = _CappedWriter(req["output_limit"])
        sys.stdout = sys.stderr = capped  # type: ignore[assignment]
        if req.get("memory_mb"):
            _limit(resource.RLIMIT_AS, _vm_bytes() + req["memory_mb"] * (1 << 20))
        cpu = int(req["timeout"]) + 2
        _limit(resource.RLIMIT_CPU, cpu)
        _limit(resource.RLIMIT_FSIZE, 64 << 20)
        _limit(resource.RLIMIT_CORE, 0)

        def emit(obj: dict) -> None:
            os.write(res, (json.dumps(obj) + "\n").encode())

        import torch

        torch.manual_seed(req.get("seed", 0))
        path = req["path"]
        emit({"start": "import"})
        try:
            mod = load_submission(path, req["source"])
        except BaseException as e:  # the file itself fails: every name gets this verdict
            emit({"import_error": "importing the file " + describe_exception(e, path)[1]})
            raise SystemExit(0) from None
        emit({"imported": True})
        if name is not None:
            _run_checks(req, name, mod, emit)
        emit({"stdout": capped.text(), "stdout_size": capped.size})
    except SystemExit:
        pass
    except BaseException:  # pragma: no cover - a failure of the grader's own code
        code = 3
        with contextlib.suppress(OSError):
            os.write(2, traceback.format_exc().encode())
    os._exit(code)


def _run_checks(req: dict, name: str, mod: types.ModuleType, emit) -> None:
    import torch

    from deepclass.check.registry import Fail, course_names

    entry = course_names()[name]
    obj = getattr(mod, name, None)
    for chk in entry.checks:
        emit({"start": chk.name})
        torch.manual_seed(req.get("seed", 0))
        row: dict[str, Any] = {"check": chk.name, "bar": chk.bar}
        t0 = time.perf_counter()
        try:
            if obj is None:
                raise Fail(f"{name} is not defined when the file runs")
            out = chk.run(obj, mod, name)
            row.update(
                status="pass" if out.ok else "FAIL", value=out.value, why="" if out.ok else out.why
            )
        except Fail as f:
            row.update(status="FAIL", value=f.value, why=f.why)
        except BaseException as e:
            status, why = describe_exception(e, req["path"])
            row.update(status=status, value="", why=why)
        row["seconds"] = round(time.perf_counter() - t0, 3)
        emit(row)


def _read_lines(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(8 << 20)
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _head(path: str, limit: int) -> tuple[str, int]:
    try:
        size = os.path.getsize(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit), size
    except OSError:
        return "", 0


def _wait(pid: int, deadline: float) -> tuple[int | None, bool]:
    """``(wait status, timed out)``; kills the process group at the deadline, and in any
    case once it has ended (whatever it started in the background goes with it)."""
    delay = 0.001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            return status, False
        if time.monotonic() >= deadline:
            for target in (
                lambda: os.killpg(pid, signal.SIGKILL),
                lambda: os.kill(pid, signal.SIGKILL),
            ):
                with contextlib.suppress(OSError):
                    target()
            _, status = os.waitpid(pid, 0)
            return status, True
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _ended(status: int | None) -> str:
    if status is None:
        return "ended"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            sname = signal.Signals(sig).name
        except ValueError:
            sname = f"signal {sig}"
        if sig == signal.SIGXCPU:
            return "used up its CPU time limit (SIGXCPU)"
        return f"was killed by {sname}" + (
            " (a crash of the interpreter)"
            if sig in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS)
            else ""
        )
    return f"exited with status {os.WEXITSTATUS(status)} (os._exit?)"


def run_one(req: dict, name: str | None, tmp: str, index: int) -> dict:
    """Fork, run ``name``'s checks (None: only import the file), and collect the verdicts."""
    result_path = os.path.join(tmp, f"result-{index}.jsonl")
    out_path = os.path.join(tmp, f"output-{index}.txt")
    for p in (result_path, out_path):
        if os.path.exists(p):
            os.remove(p)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        _run_in_fork(req, name, result_path, out_path)
    start = time.monotonic()
    status, timed_out = _wait(pid, start + float(req["timeout"]))
    lines = _read_lines(result_path)
    fd_text, fd_size = _head(out_path, req["output_limit"])
    checks = [ln for ln in lines if "check" in ln and "status" in ln]
    starts = [ln["start"] for ln in lines if "start" in ln]
    tail = next((ln for ln in reversed(lines) if "stdout" in ln), None)
    out = {
        "name": name,
        "checks": checks,
        "seconds": round(time.monotonic() - start, 3),
        "output": ((tail or {}).get("stdout", "") + fd_text)[: req["output_limit"]],
        "output_size": (tail or {}).get("stdout_size", 0) + fd_size,
    }
    imp = next((ln for ln in lines if "import_error" in ln), None)
    if imp is not None:
        out["import_error"] = imp["import_error"]
        return out
    finished = (
        tail is not None
        and not timed_out
        and status is not None
        and os.WIFEXITED(status)
        and os.WEXITSTATUS(status) == 0
    )
    if not finished:
        current = starts[-1] if starts else "start"
        if timed_out:
            what = f"timeout: still running after {req['timeout']:g} s"
        else:
            what = f"the process {_ended(status)}"
        where = "while importing the file" if current == "import" else f"during check '{current}'"
        out["crash"] = {
            "status": "timeout" if timed_out else "error",
            "why": f"{what} {where}",
            "check": current,
        }
    return out


def _warm_up(torch) -> None:
    """Pay once, before forking, for what torch.optim loads on first use: each fork
    would pay for it again."""
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    for opt in (
        torch.optim.SGD([p], lr=0.1, momentum=0.9),
        torch.optim.RMSprop([p], lr=0.1),
        torch.optim.Adam([p], lr=0.1),
    ):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()


def _grade_file(job: dict, tmp: str, send) -> None:
    """Import probe, then one fork per name, for one file of the request."""
    probe = run_one(job, None, tmp, 0)
    problem = probe.get("import_error") or (probe.get("crash") or {}).get("why")
    if problem:
        status = (probe.get("crash") or {}).get("status", "error")
        for name in job["names"]:
            send(
                {
                    "name": name,
                    "checks": [],
                    "file_error": {"status": status, "why": problem},
                    "output": probe["output"],
                    "output_size": probe["output_size"],
                }
            )
        return
    for i, name in enumerate(job["names"], start=1):
        send({"running": name})
        send(run_one(job, name, tmp, i))


def main() -> None:
    """Entry point of the child: read the request, grade each file's names, print JSON lines.

    The request: ``files`` (each ``path``, ``source``, ``names``), and ``timeout``,
    ``memory_mb``, ``seed``, ``output_limit`` for all of them. Every line sent back
    carries ``file``, the index of its file.
    """
    req = json.loads(sys.stdin.read())
    real_stdout = sys.stdout
    import torch

    torch.set_num_threads(1)  # a fork keeps one thread; and timings compare like with like
    if {n for f in req["files"] for n in f["names"]} & {"sgd", "sgd_momentum", "rmsprop", "adam"}:
        _warm_up(torch)  # ~2 s (torch.optim loads torch._dynamo): only when a rule is graded
    from deepclass.check.registry import course_names

    course_names()
    common = {k: v for k, v in req.items() if k != "files"}
    for index, f in enumerate(req["files"]):
        tmp = os.path.join(os.getcwd(), f"file-{index}")
        os.makedirs(tmp, exist_ok=True)

        def send(obj: dict, _i=index) -> None:
            real_stdout.write(json.dumps(dict(obj, file=_i)) + "\n")
            real_stdout.flush()

        _grade_file(dict(common, **f), tmp, send)
    real_stdout.write(json.dumps({"done": True}) + "\n")
    real_stdout.flush()
