"""``deepclass scratch``: train a from-scratch network (rung 2) on CIFAR-10 with the Solver."""

from __future__ import annotations

import argparse

from deepclass.cli.common import add_common

ORDER = 32


def _weight_scale(v: str) -> float | str:
    if v == "kaiming":
        return v
    try:
        return float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'kaiming', got {v!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    from deepclass.scratch.optim import UPDATE_RULES

    p = sub.add_parser(
        "scratch",
        help="rung 2: hand-derived layers + Solver on CIFAR-10",
        description=(
            "Train a network built from layers with hand-derived gradients (no autograd) "
            "on CIFAR-10 (40k train / 10k val / 10k test), print the Solver log and the "
            "final accuracies, and write log.txt, model.pt, history.json, loss.png, "
            "accuracy.png and weights.png to --out."
        ),
    )
    p.add_argument(
        "--model",
        default="two_layer",
        help="two_layer, fc, conv or deep_conv (default: two_layer)",
    )
    p.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        metavar="H",
        help="hidden size(s): two_layer and conv one value (default 100), fc one per layer (default 100 100)",
    )
    p.add_argument(
        "--filters",
        type=int,
        nargs="+",
        metavar="F",
        help="conv: number of filters (default 32); deep_conv: filters per conv layer (default 8 8 8 8 8)",
    )
    p.add_argument("--filter-size", type=int, help="conv: filter size (default 7)")
    p.add_argument(
        "--max-pools",
        type=int,
        nargs="*",
        metavar="I",
        help="deep_conv: conv layers (0-based) followed by a 2x2 max pool (default 0 1 2 3 4)",
    )
    p.add_argument("--batchnorm", action="store_true", help="batch normalization (fc, deep_conv)")
    p.add_argument("--dropout", type=float, default=0.0, help="fc: drop probability (default 0)")
    p.add_argument("--reg", type=float, default=0.0, help="L2 strength (default 0)")
    p.add_argument(
        "--weight-scale",
        type=_weight_scale,
        help="std of the initial weights, or 'kaiming' (deep_conv's default)",
    )
    p.add_argument(
        "--update-rule",
        default="sgd",
        choices=list(UPDATE_RULES),
        help="update rule (default: sgd)",
    )
    p.add_argument("--lr", type=float, help="learning rate (default: the update rule's)")
    p.add_argument("--lr-decay", type=float, default=1.0, help="lr factor per epoch (default 1)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch size (default 100)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    p.add_argument(
        "--overfit",
        type=int,
        metavar="N",
        help="train on the first N training examples only (the overfitting check)",
    )
    p.add_argument(
        "--num-train",
        type=int,
        metavar="N",
        help="use only the first N CIFAR-10 training images (80%% train / 20%% val)",
    )
    p.add_argument("--num-test", type=int, metavar="N", help="use only the first N test images")
    p.add_argument(
        "--num-val-samples",
        type=int,
        metavar="N",
        help="check validation accuracy on N random examples each epoch (default: all); "
        "the final val acc always uses all",
    )
    p.add_argument("--time-limit", type=float, metavar="S", help="stop training after S seconds")
    p.add_argument(
        "--print-every", type=int, default=100, help="log the loss every N iterations (100)"
    )
    add_common(p, out="runs/scratch")
    p.set_defaults(func=cmd_scratch)


def cmd_scratch(args: argparse.Namespace) -> int:
    from deepclass.cli.common import print_metric, resolve_device
    from deepclass.scratch.experiment import ScratchRunConfig, run_scratch

    cfg = ScratchRunConfig(
        model=args.model,
        hidden=args.hidden,
        filters=args.filters,
        filter_size=args.filter_size,
        max_pools=args.max_pools,
        batchnorm=args.batchnorm,
        dropout=args.dropout,
        reg=args.reg,
        weight_scale=args.weight_scale,
        update_rule=args.update_rule,
        lr=args.lr,
        lr_decay=args.lr_decay,
        batch_size=args.batch_size,
        epochs=args.epochs,
        overfit=args.overfit,
        num_train=args.num_train,
        num_test=args.num_test,
        num_val_samples=args.num_val_samples,
        time_limit=args.time_limit,
        print_every=args.print_every,
        seed=args.seed,
        device=str(resolve_device(args.device)),
        data_dir=args.data_dir,
        out=args.out,
    )
    result = run_scratch(cfg)
    print(f"wrote {', '.join(result['files'])}")
    if args.overfit:
        print_metric("train acc", result["train_acc"])
    print_metric("val acc", result["val_acc"])
    print_metric("test acc", result["test_acc"])
    return 0
