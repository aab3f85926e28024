"""``deepclass data info|prepare|verify``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from deepclass.cli.common import add_common

ORDER = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect, prepare and verify data sets")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    info = dsub.add_parser("info", help="sources found, sizes, per-class counts, cache state")
    info.add_argument(
        "name",
        nargs="?",
        help="cifar10, mnist, xor or an image-folder path (default: all built-ins)",
    )
    info.add_argument("--no-decode", action="store_true", help="do not decode to count samples")
    add_common(info, seed=None, device=False)
    info.set_defaults(func=cmd_info)

    prep = dsub.add_parser("prepare", help="find or download, extract, decode and cache a data set")
    prep.add_argument("name", help="cifar10, mnist, xor or an image-folder path")
    prep.add_argument("--offline", action="store_true", help="never download")
    add_common(prep, seed=None, device=False)
    prep.set_defaults(func=cmd_prepare)

    ver = dsub.add_parser("verify", help="checksums of every known data file found")
    add_common(ver, seed=None, device=False)
    ver.set_defaults(func=cmd_verify)


def _fmt_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_info(args: argparse.Namespace) -> int:
    from deepclass.data import BUILTIN, dataset_info

    names = [args.name] if args.name else list(BUILTIN)
    for name in names:
        info = dataset_info(
            name,
            args.data_dir,
            decode=not args.no_decode and (args.name is not None or _cached(name, args)),
        )
        print(f"== {name}")
        if not info["found"]:
            print(f"  not found under {info['data_dir']}: {info['hint']}")
            continue
        print(f"  source: {info['source']}")
        for path, size in info["files"]:
            print(f"  file: {path} ({_fmt_size(size)})")
        if "cache" in info:
            state = "present" if info["cache"]["present"] else "absent"
            print(f"  cache: {state} ({info['cache']['path']})")
        if "splits" in info:
            print(f"  classes: {', '.join(info['classes'])}")
            for split, s in info["splits"].items():
                shape = "x".join(map(str, s["shape"]))
                print(
                    f"  {split}: {s['n']} samples of {shape} {s['dtype']}; per class {s['per_class']}"
                )
            print(f"  load time: {info['load_seconds']:.2f} s")
    return 0


def _cached(name: str, args: argparse.Namespace) -> bool:
    """Count samples without an explicit name only when it is cheap (cache present or generated)."""
    from deepclass.data.cache import cache_state
    from deepclass.data.datasets import find_source

    src = find_source(name, args.data_dir)
    if src is None:
        return False
    return src.dataset == "xor" or cache_state(src.cache_name, src.files)[1]


def cmd_prepare(args: argparse.Namespace) -> int:
    from deepclass.data import load_dataset

    t = time.perf_counter()
    splits = load_dataset(args.name, args.data_dir, offline=args.offline or None)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    load_dataset(args.name, args.data_dir, offline=True)
    warm = time.perf_counter() - t
    print(
        f"{splits.name}: train {len(splits.train)}, val {len(splits.val)}, test {len(splits.test)}; "
        f"{splits.num_classes} classes"
    )
    print(f"first load {cold:.2f} s, cached load {warm:.2f} s")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from deepclass.data.checksums import KNOWN_DIGESTS, verify_file
    from deepclass.data.mnist import IDX_DIRS
    from deepclass.data.paths import resolve_data_dir
    from deepclass.errors import ChecksumError

    root = resolve_data_dir(args.data_dir)
    candidates = []
    for d in (".", *IDX_DIRS):
        for name in KNOWN_DIGESTS:
            p = (root / d / name).resolve()
            if p.is_file() and p not in candidates:
                candidates.append(p)
    if not candidates:
        print(f"no known data files under {root}")
        return 0
    bad = []
    for p in candidates:
        try:
            print(f"ok       {p}  [{verify_file(p)}]")
        except ChecksumError as e:
            bad.append(p)
            print(f"MISMATCH {p}  ({e})")
    if bad:
        raise ChecksumError(
            f"{len(bad)} of {len(candidates)} files failed verification: "
            + ", ".join(Path(b).name for b in bad)
        )
    print(f"{len(candidates)} files verified")
    return 0
