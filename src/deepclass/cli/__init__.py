"""The ``deepclass`` command line: one sub-command per module ``deepclass.cli.*_cmd``.

Each command module defines ``register(subparsers)`` and sets ``func`` on
its parser; the CLI stays thin (parse, call a library function, print).
Errors deepclass raises on purpose become one line on stderr and exit
status 2; so do argparse usage errors.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence

from deepclass import __version__
from deepclass.cli.common import Parser, report_error


def _command_modules() -> list:
    pkg = importlib.import_module("deepclass.cli")
    mods = [
        importlib.import_module(f"deepclass.cli.{m.name}")
        for m in pkgutil.iter_modules(pkg.__path__)
        if m.name.endswith("_cmd")
    ]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 50), m.__name__))


def build_parser() -> Parser:
    parser = Parser(
        prog="deepclass", description="Image classification with PyTorch, up the whole ladder."
    )
    parser.add_argument("--version", action="version", version=f"deepclass {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for mod in _command_modules():
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deepclass`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("deepclass: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        code = report_error(e)
        if code is None:
            raise
        return code
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
