"""``deepclass bench [NAME ...]``: side-by-side benchmarks written to RESULTS.md."""

from __future__ import annotations

import argparse

from deepclass.cli.common import add_common

ORDER = 90


def register(sub: argparse._SubParsersAction) -> None:
    from deepclass.bench import BENCHES

    p = sub.add_parser(
        "bench",
        help="benchmarks, written to <out>/RESULTS.md",
        description="Benchmarks: " + "; ".join(f"{k}: {v}" for k, v in BENCHES.items()),
    )
    p.add_argument(
        "names", nargs="*", metavar="NAME", help=f"{', '.join(BENCHES)} or all (default: all)"
    )
    p.add_argument("--quick", action="store_true", help="tiny configurations (smoke test)")
    p.add_argument(
        "--no-compile",
        action="store_true",
        help="cifar: leave out the torch.compile rows (minutes of C++ builds on a small CPU)",
    )
    add_common(p, out="benchmarks")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from deepclass.bench import BenchConfig, run_benchmarks
    from deepclass.cli.common import resolve_device
    from deepclass.errors import ConfigError

    if args.no_compile and args.names and not {"cifar", "all"} & set(args.names):
        raise ConfigError(f"--no-compile applies to bench cifar, not to {' '.join(args.names)}")
    cfg = BenchConfig(
        quick=args.quick,
        compile=not args.no_compile,
        device=str(resolve_device(args.device)),
        seed=args.seed,
        data_dir=args.data_dir,
    )
    run_benchmarks(args.names, cfg, args.out)
    return 0
