"""``deepclass barebones``: rung 3 (seed 000) on CIFAR-10 with the hand-written SGD loop."""

from __future__ import annotations

import argparse

from deepclass.cli.common import add_common, check_flag_values, check_flags_apply, print_metric

ORDER = 40
# flags of one model only: given with the other, they are an error (not silently ignored)
MODEL_FLAGS = {"hidden_size": ("two_layer_fc",), "channels": ("three_layer_convnet",)}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "barebones",
        help="train a barebones model (plain functions + autograd) on CIFAR-10",
        description="Seed 000: a model is a function of explicit weight tensors; autograd gives "
        "the gradients and a hand-written SGD loop applies them. Defaults are the seed's "
        "settings (two_layer_fc: hidden 4000, lr 1e-2; three_layer_convnet: 32/16 channels, "
        "lr 3e-3; batch 64; one epoch).",
    )
    p.add_argument(
        "--model",
        default="two_layer_fc",
        choices=["two_layer_fc", "three_layer_convnet"],
        help="which network (default: two_layer_fc)",
    )
    p.add_argument(
        "--epochs", type=int, default=1, help="passes over the training set (default: 1)"
    )
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the seed's)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size (default: 64)")
    p.add_argument(
        "--hidden-size", type=int, default=None, help="two_layer_fc hidden units (default: 4000)"
    )
    p.add_argument(
        "--channels",
        type=int,
        nargs=2,
        default=None,
        metavar=("C1", "C2"),
        help="three_layer_convnet channels (default: 32 16)",
    )
    p.add_argument(
        "--num-train",
        type=int,
        default=None,
        metavar="N",
        help="train on the first N training images only (a quick run; default: all 49,000)",
    )
    p.add_argument(
        "--print-every", type=int, default=100, help="log loss and val acc every N iterations"
    )
    add_common(p, out="runs/barebones", seed=0)
    p.set_defaults(func=cmd_barebones)


def cmd_barebones(args: argparse.Namespace) -> int:
    from deepclass.barebones.train import run_cifar10
    from deepclass.cli.common import resolve_device

    check_flags_apply(args, args.model, MODEL_FLAGS)
    check_flag_values(
        args,
        positive_ints=(
            "epochs",
            "batch_size",
            "hidden_size",
            "channels",
            "num_train",
            "print_every",
        ),
        positive_numbers=("lr",),
    )
    result = run_cifar10(
        args.model,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        hidden_size=args.hidden_size,
        channels=tuple(args.channels) if args.channels else None,
        num_train=args.num_train,
        print_every=args.print_every,
        data_dir=args.data_dir,
        device=resolve_device(args.device),
        out_dir=args.out,
    )
    print(f"trained in {result.seconds:.1f} s; loss curve: {result.files['loss']}")
    print_metric("val acc", result.val_acc)
    print_metric("test acc", result.test_acc)
    return 0
