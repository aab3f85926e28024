"""``deepclass ladder``: the five rungs side by side.

``deepclass ladder`` trains each rung's strongest model under one wall-clock budget
(plus a scikit-learn peer) and writes ``ladder.md/.csv/.png``; ``deepclass ladder
--same-model`` trains one model through every rung from the same weights on the same
batches and checks that they agree (``same-model.md/.csv/.png``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from deepclass.cli.common import add_common, check_flag_values
from deepclass.errors import ConfigError

ORDER = 90
DATASETS = ("cifar10", "mnist")
DTYPES = ("float64", "float32")
# flags of one mode only: given in the other, they are an error (not silently ignored)
SAME_MODEL_FLAGS = ("steps", "batch_size", "dtype", "models")
BUDGET_FLAGS = ("budget", "num_train")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ladder",
        help="the five rungs side by side: each rung's best under one budget, or one model "
        "through every rung (--same-model)",
        description="Default: each rung trains its strongest model on the same split under the "
        "same wall-clock budget, plus a scikit-learn peer; writes ladder.md/.csv/.png. "
        "--same-model: the same linear classifier and seed 000's convnet through every rung "
        "from the same weights on the same batches with plain SGD; the rungs must agree "
        "(float64: 1e-9 relative, float32: 1e-4); writes same-model.md/.csv/.png.",
    )
    p.add_argument(
        "--same-model", action="store_true", help="one model through every rung (agreement)"
    )
    p.add_argument(
        "--rungs",
        default=None,
        metavar="LIST",
        help="comma-separated rungs to run, e.g. 1,3,5 (default: all; the budget run adds "
        "the peer row 'sklearn' unless the list leaves it out: 1,2,sklearn)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="training seconds per rung (default: 120; budget run only)",
    )
    p.add_argument(
        "--num-train",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N training images only (budget run; default: all)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        metavar="K",
        help="SGD steps per rung (--same-model; default: 50)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per step (--same-model; default: 100)",
    )
    p.add_argument(
        "--dtype", default=None, choices=DTYPES, help="--same-model: float64 (default) or float32"
    )
    p.add_argument(
        "--models",
        default=None,
        metavar="LIST",
        help="--same-model: linear, convnet or linear,convnet (default)",
    )
    p.add_argument(
        "--dataset", default="cifar10", choices=DATASETS, help="data set (default: cifar10)"
    )
    add_common(p, out="runs/ladder-N", seed=0)
    p.set_defaults(func=cmd_ladder)


def parse_rungs(text: str | None, *, peer: bool) -> tuple[list[int], bool]:
    """``"1,3,5"`` -> ``([1, 3, 5], peer row?)``. None: every rung (and the peer if ``peer``).

    With ``peer`` (the budget run) the list may name ``sklearn``; a list of rungs only
    leaves the peer out.
    """
    if text is None:
        return [1, 2, 3, 4, 5], peer
    rungs, with_peer = [], False
    for part in text.split(","):
        part = part.strip()
        if peer and part == "sklearn":
            with_peer = True
        elif part in ("1", "2", "3", "4", "5"):
            if int(part) not in rungs:
                rungs.append(int(part))
        else:
            extra = " or sklearn" if peer else ""
            raise ConfigError(
                f"--rungs must be a comma-separated list of 1-5{extra}, e.g. 1,3,5; got {text!r}"
            )
    return sorted(rungs), with_peer


def parse_models(text: str | None) -> list[str]:
    from deepclass.bench.ladder_same_model import MODELS

    if text is None:
        return list(MODELS)
    models = [m.strip() for m in text.split(",")]
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        raise ConfigError(
            f"--models must be a comma-separated list of {', '.join(MODELS)}; got {text!r}"
        )
    return list(dict.fromkeys(models))


def out_dir(out: str) -> Path:
    """``runs/ladder-N`` -> the first ``runs/ladder-<n>`` that does not exist yet (n = 1, 2, ...);
    any other ``--out`` as given."""
    if out != "runs/ladder-N":
        return Path(out)
    root = Path("runs")
    taken = [
        int(m.group(1))
        for d in (root.iterdir() if root.is_dir() else [])
        if (m := re.fullmatch(r"ladder-(\d+)", d.name))
    ]
    return root / f"ladder-{max(taken, default=0) + 1}"


def cmd_ladder(args: argparse.Namespace) -> int:
    from deepclass.cli.common import flag_name, resolve_device

    wrong = BUDGET_FLAGS if args.same_model else SAME_MODEL_FLAGS
    for dest in wrong:
        if getattr(args, dest) is not None:
            mode = "--same-model" if args.same_model else "the budget run (no --same-model)"
            where = "the budget run" if args.same_model else "--same-model"
            raise ConfigError(f"{flag_name(dest)} does not apply to {mode}; it applies to {where}")
    check_flag_values(
        args,
        positive_ints=("steps", "batch_size", "num_train"),
        positive_numbers=("budget",),
    )
    rungs, peer = parse_rungs(args.rungs, peer=not args.same_model)
    if not rungs and not peer:
        raise ConfigError("--rungs names nothing to run")
    device = resolve_device(args.device)
    if args.same_model:
        return _same_model(args, rungs, parse_models(args.models), device)
    from deepclass.bench.ladder import run_ladder

    result = run_ladder(
        dataset=args.dataset,
        rungs=rungs,
        peer_row=peer,
        budget=120.0 if args.budget is None else args.budget,
        num_train=args.num_train,
        seed=args.seed,
        data_dir=args.data_dir,
        device=device,
        out=out_dir(args.out),
        command=_command(args),
    )
    for line in result.summary_lines():
        print(line, flush=True)
    return 0


def _same_model(args: argparse.Namespace, rungs: list[int], models: list[str], device) -> int:
    import torch

    from deepclass.bench.ladder_same_model import run_same_model, summary_lines, write_same_model
    from deepclass.data import load_dataset

    steps = 50 if args.steps is None else args.steps
    batch = 100 if args.batch_size is None else args.batch_size
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    splits = load_dataset(args.dataset, args.data_dir)
    n = min(len(splits.train), steps * batch)
    if batch > len(splits.train):
        raise ConfigError(
            f"--batch-size {batch} is more than the {len(splits.train)} training images"
        )
    out = out_dir(args.out)
    print(f"same-model: {', '.join(models)} on the first {n:,} {args.dataset} training images, "
          f"{steps} steps of {batch}, {str(dtype).removeprefix('torch.')}, seed {args.seed}; "
          f"writing {out}", flush=True)  # fmt: skip
    result = run_same_model(
        splits.train.images[:n], splits.train.labels[:n], splits.num_classes,
        models=models, rungs=rungs, steps=steps, batch_size=batch, seed=args.seed,
        dtype=dtype, device=device,
    )  # fmt: skip
    title = (
        f"Data: the first {n:,} {args.dataset} training images; seed {args.seed}; "
        f"command: `deepclass ladder --same-model` with {_flags(args)}."
    )
    write_same_model(result, out, title=title)
    print(f"wrote {result.files['md']}, {result.files['csv']}, {result.files['png']}")
    for line in summary_lines(result):
        print(line, flush=True)
    return 0 if result.agrees() else 1


def _command(args: argparse.Namespace) -> str:
    """The budget run's command line as the user gave it (for ladder.md)."""
    import sys

    argv = sys.argv[1:] if sys.argv and sys.argv[0].endswith(("deepclass", "__main__.py")) else []
    return "deepclass " + " ".join(argv) if argv else "deepclass ladder"


def _flags(args: argparse.Namespace) -> str:
    given = [
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if k in ("rungs", "steps", "batch_size", "dtype", "models", "dataset", "seed")
        and v is not None
    ]
    return " ".join(given)
