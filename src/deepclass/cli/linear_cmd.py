"""``deepclass linear``: rung 1, a linear SVM or softmax classifier on CIFAR-10 (seed 001)."""

from __future__ import annotations

import argparse

from deepclass.cli.common import add_common, check_flag_values, print_metric

ORDER = 30


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "linear",
        help="rung 1: linear SVM / softmax on CIFAR-10 with hand-derived gradients",
        description=(
            "Train a linear classifier on CIFAR-10 with the course preprocessing "
            "([0,1], mean RGB subtracted, bias column, 40,000/10,000 train/val split). "
            "With --search, one model per (lr, reg) of the grid; the best by validation "
            "accuracy is tested, saved and plotted."
        ),
    )
    p.add_argument("--loss", required=True, choices=["svm", "softmax"], help="which classifier")
    p.add_argument(
        "--search",
        action="store_true",
        help="search the learning-rate x reg grid (the loss's get_search_params, "
        "or the --lr/--reg values given)",
    )
    p.add_argument(
        "--lr",
        type=float,
        nargs="+",
        default=None,
        metavar="LR",
        help="learning rate(s) (default: the best found; with --search: the search grid)",
    )
    p.add_argument(
        "--reg",
        type=float,
        nargs="+",
        default=None,
        metavar="REG",
        help="regularization strength(s) (default: the best found; with --search: the grid)",
    )
    p.add_argument(
        "--iters", type=int, default=2000, help="SGD iterations per model (default: 2000)"
    )
    p.add_argument("--batch-size", type=int, default=200, help="minibatch size (default: 200)")
    p.add_argument(
        "--num-train",
        type=int,
        default=None,
        metavar="N",
        help="use only the first N training images (80%% train, 20%% val) for a quick run",
    )
    p.add_argument(
        "--num-test", type=int, default=None, metavar="N", help="use only the first N test images"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p, out="runs/linear", seed=0)
    p.set_defaults(func=cmd_linear)


def _grid(args: argparse.Namespace) -> tuple[list[float], list[float]]:
    from deepclass.linear.search import BEST_PARAMS, SEARCH_PARAMS, check_grid

    if args.search:
        lrs, regs = SEARCH_PARAMS[args.loss]()
    else:
        lr, reg = BEST_PARAMS[args.loss]
        lrs, regs = [lr], [reg]
    # validated here, before the data is loaded, so a typo fails at once; a value the user
    # gave is named by its flag
    return (
        check_grid(args.lr or lrs, "--lr" if args.lr else "learning_rates", positive=True),
        check_grid(args.reg or regs, "--reg" if args.reg else "regularization_strengths", False),
    )


def _check_args(args: argparse.Namespace) -> None:
    from deepclass.errors import ConfigError

    check_flag_values(args, positive_ints=("iters", "batch_size", "num_train", "num_test"))
    if args.num_train is not None and args.num_train < 5:
        raise ConfigError(f"--num-train must be >= 5 (a fifth is validation), got {args.num_train}")


def cmd_linear(args: argparse.Namespace) -> int:
    from deepclass.cli.common import resolve_device
    from deepclass.data import preprocess_cifar10
    from deepclass.data.cifar import CLASSES
    from deepclass.linear.experiment import run_experiment

    _check_args(args)
    device = resolve_device(args.device)
    lrs, regs = _grid(args)
    data = preprocess_cifar10(
        bias_trick=True,
        device=device,
        data_dir=args.data_dir,
        num_train=args.num_train,
        num_test=args.num_test,
    )
    n = {k: data[k].shape[0] for k in ("X_train", "X_val", "X_test")}
    print(
        f"CIFAR-10: {n['X_train']} train, {n['X_val']} val, {n['X_test']} test, "
        f"D = {data['X_train'].shape[1]}; device {device}"
    )
    print(
        f"{args.loss}: {len(lrs)} learning rate(s) x {len(regs)} reg(s), "
        f"{args.iters} iterations of batch {args.batch_size} each"
    )
    res = run_experiment(
        args.loss,
        data,
        lrs,
        regs,
        num_iters=args.iters,
        batch_size=args.batch_size,
        seed=args.seed,
        out_dir=args.out,
        classes=CLASSES,
        progress=not args.no_progress,
    )
    print(res.search.table())
    lr, reg = res.search.best_params
    print(f"best: lr {lr:.3e}, reg {reg:.3e} (train acc {res.train_acc:.4f})")
    for f in res.files.values():
        print(f"wrote {f}")
    print_metric("val acc", res.val_acc)
    print_metric("test acc", res.test_acc)
    return 0
