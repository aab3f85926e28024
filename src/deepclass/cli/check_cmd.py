"""``deepclass check``: grade a student's own implementations of the course functions."""

from __future__ import annotations

import argparse
import sys

ORDER = 80


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="grade your own implementation of the course functions (rungs 1-3)",
        description=(
            "Find the course names each FILE defines (svm_loss_naive, Linear, adam, "
            "two_layer_fc, ...) and run the checks the course would, against deepclass's "
            "own implementations. The submission runs in a child process with a time and a "
            "memory limit; whatever it does becomes a verdict. Exit status: 0 every check "
            "passes, 1 some check does not, 2 bad usage."
        ),
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="Python files to grade")
    p.add_argument(
        "--only", default=None, metavar="A,B", help="grade only these course names (comma list)"
    )
    p.add_argument("--json", default=None, metavar="F", help="also write the results as JSON")
    p.add_argument("--csv", default=None, metavar="F", help="also write one CSV row per check")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds each function (all its checks) may run (default: 60)",
    )
    p.add_argument(
        "--memory-limit",
        type=int,
        default=None,
        metavar="MB",
        help="memory a submission may allocate, MB (default: 2048; 0: no limit)",
    )
    p.add_argument(
        "--template",
        default=None,
        metavar="NAME",
        help="print a starter file (linear, layers, optim, models, barebones) and exit",
    )
    p.add_argument(
        "--list", action="store_true", help="list the course names and their checks, and exit"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of torch's global generator before each check (default: 0)",
    )
    p.set_defaults(func=cmd_check)


def _only(value: str | None) -> list[str] | None:
    from deepclass.check.registry import course_names
    from deepclass.errors import ConfigError

    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ConfigError("--only needs at least one course name (--only Linear,ReLU)")
    known = course_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"--only: unknown course name(s) {', '.join(unknown)} (deepclass check --list shows them)"
        )
    return names


def _refuse_with(args: argparse.Namespace, what: str) -> None:
    from deepclass.errors import ConfigError

    given = [
        flag
        for flag, v in (
            ("FILE", args.files),
            ("--only", args.only),
            ("--json", args.json),
            ("--csv", args.csv),
            ("--timeout", args.timeout),
            ("--memory-limit", args.memory_limit),
            ("--seed", args.seed),
        )
        if v is not None and v != []
    ]
    if given:
        raise ConfigError(f"{given[0]} does not apply to {what} (it prints and exits)")


def _check_files(paths: list[str]) -> None:
    from pathlib import Path

    from deepclass.errors import ConfigError

    if not paths:
        raise ConfigError(
            "no FILE given (deepclass check my_linear.py; --template linear for a start)"
        )
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise ConfigError(f"no such file: {p}")
        if not path.is_file():
            raise ConfigError(f"not a file: {p}")
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{p} is not a UTF-8 text file (a Python source file?)") from None


def print_list() -> None:
    from deepclass.check.registry import course_names

    for name, entry in course_names().items():
        print(f"{name} ({entry.kind}, template {entry.template})")
        for c in entry.checks:
            print(f"    {c.name}: {c.bar}" if c.bar else f"    {c.name}")


def cmd_check(args: argparse.Namespace) -> int:
    from deepclass.check import report
    from deepclass.check.discover import discover
    from deepclass.check.registry import course_names
    from deepclass.check.runner import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, grade, select_names
    from deepclass.check.templates import template
    from deepclass.cli.common import check_flag_values
    from deepclass.errors import ConfigError

    if args.template is not None and args.list:
        raise ConfigError("--template and --list do not go together")
    if args.template is not None:
        _refuse_with(args, "--template")
        sys.stdout.write(template(args.template))
        return 0
    if args.list:
        _refuse_with(args, "--list")
        print_list()
        return 0
    check_flag_values(args, positive_numbers=("timeout",), non_negative_ints=("memory_limit",))
    only = _only(args.only)
    _check_files(args.files)
    known = course_names()
    found = [discover(p, known) for p in args.files]
    todo = [select_names(f, only) for f in found]
    if not any(todo):
        what = f" of --only {args.only}" if only else ""
        listed = ", ".join(args.files) if len(args.files) <= 3 else f"{len(args.files)} files"
        raise ConfigError(
            f"nothing gradable{what} found in {listed}: no course name is defined "
            "(deepclass check --list shows them)"
        )
    timeout = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT
    memory = args.memory_limit if args.memory_limit is not None else DEFAULT_MEMORY_MB
    tty = sys.stderr.isatty()

    def progress(i: int, name: str) -> None:
        if tty:
            print(
                f"\rchecking {found[i].path.name}: {name}\033[K",
                end="",
                file=sys.stderr,
                flush=True,
            )

    results = grade(
        list(zip(found, todo, strict=True)),
        timeout=timeout,
        memory_mb=memory,
        seed=args.seed if args.seed is not None else 0,
        progress=progress,
    )
    if tty:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    for f, names, fr in zip(found, todo, results, strict=True):
        print(fr.path)
        if not names:
            print(f"  no course names{' of --only' if only else ''} found")
        table = report.file_table(fr)
        if table:
            print(table)
        if fr.skipped:
            print(report.skipped_line(fr))
        print(report.summary(fr) if names else f"{f.path.name}: nothing to grade")
        print()
    if len(results) > 1:
        print(report.grade_table(results))
    if args.json:
        print(f"wrote {report.write_json(results, args.json)}")
    if args.csv:
        print(f"wrote {report.write_csv(results, args.csv)}")
    every = all(fr.ok for fr in results) and all(todo)
    return 0 if every else 1
