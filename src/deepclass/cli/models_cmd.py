"""``deepclass models``: every model name each rung registers."""

from __future__ import annotations

import argparse

ORDER = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered model names of every rung")
    p.add_argument("--rung", default=None, help="only this rung (linear, scratch, barebones, nn)")
    p.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from deepclass.registry import RUNG_MODULES, get_model, model_names

    for rung in [args.rung] if args.rung else list(RUNG_MODULES):
        print(f"{rung}:")
        names = model_names(rung)  # an unknown rung raises, listing the valid ones
        for name in names:
            print(f"  {name:<22} {get_model(rung, name).description}")
        if not names:
            print("  (none)")
    return 0
