"""``deepclass xor``: seed 003's XOR experiment (which models can separate XOR?)."""

from __future__ import annotations

import argparse

from deepclass.cli.common import add_common, check_flag_values, check_flags_apply, print_metric

ORDER = 45
MODELS = ("linear", "mlp", "modulelist", "noisy")
MODEL_FLAGS = {"hidden": ("mlp", "modulelist", "noisy", "all")}  # linear has no hidden layer


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "xor",
        help="seed 003's XOR experiment: a linear baseline against hidden-layer models",
        description="The exact XOR data of seed 003, torch.manual_seed(SEED), batches of 2, "
        "nn.BCELoss, SGD (lr 0.001 for the linear baseline, 0.015 for the others), 200 "
        "epochs. Writes loss/accuracy curves and decision regions per model, xor_all.png "
        "side by side, and TensorBoard logs (tensorboard --logdir OUT/tensorboard).",
    )
    p.add_argument(
        "--model",
        default="all",
        choices=[*MODELS, "all"],
        help="which model (default: all four)",
    )
    p.add_argument("--epochs", type=int, default=200, help="training epochs (default: 200)")
    p.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=None,
        metavar="H",
        help="hidden layer widths of mlp, modulelist and noisy (default: 4 4)",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate for every model (default: the book's, 0.001 linear / 0.015 others)",
    )
    p.add_argument("--batch-size", type=int, default=2, help="minibatch size (default: 2)")
    p.add_argument(
        "--live",
        action="store_true",
        help="show the curves in a window updated every epoch (needs a display)",
    )
    p.add_argument(
        "--log-every", type=int, default=20, help="print a line every N epochs (0: quiet)"
    )
    add_common(p, out="runs/xor", seed=1, device=False, data_dir=False)
    p.set_defaults(func=cmd_xor)


def cmd_xor(args: argparse.Namespace) -> int:
    from deepclass.nn.xor import DEFAULT_HIDDEN, run_xor

    check_flags_apply(args, args.model, MODEL_FLAGS)
    check_flag_values(
        args,
        positive_ints=("epochs", "hidden", "batch_size"),
        non_negative_ints=("log_every",),
        positive_numbers=("lr",),
    )
    models = list(MODELS) if args.model == "all" else [args.model]
    runs = run_xor(
        models,
        hidden=tuple(args.hidden) if args.hidden is not None else DEFAULT_HIDDEN,
        seed=args.seed,
        lr=args.lr,
        epochs=args.epochs,
        batch_size=args.batch_size,
        out_dir=args.out,
        live=args.live,
        log_every=args.log_every,
    )
    print(f"figures in {args.out}: xor_all.png, xor_<model>_curves.png, xor_<model>_regions.png")
    for run in runs.values():
        print(f"{run.label:<32} train acc {run.train_acc:.4f}  valid acc {run.valid_acc:.4f}")
    if args.live:
        from deepclass.nn.fit import has_display

        if has_display():
            import matplotlib.pyplot as plt

            print("close the windows to exit", flush=True)
            plt.show()
    for name, run in runs.items():
        print_metric("val acc" if len(runs) == 1 else f"val acc ({name})", run.valid_acc)
    return 0
