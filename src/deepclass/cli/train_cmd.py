"""``deepclass train | evaluate | predict | export``: the production trainer (rung 5).

Thin: parse, build a ``TrainConfig`` (preset < ``--config`` file < flags),
call ``deepclass.lightning``, print. Every ``TrainConfig`` field is a flag
(``--batch-size``, ``--ema-decay`` ...); booleans have ``--no-`` forms.
"""

from __future__ import annotations

import argparse
import typing
from pathlib import Path

import yaml

from deepclass.cli.common import IMAGE_SIZE_HELP, add_image_size, print_metric

ORDER = 30

# flags listed in the issue come first in --help, the rest follow in TrainConfig order
HELP = {
    "dataset": "cifar10, mnist, xor or a path to an image folder (default: cifar10)",
    "model": "an nn model name (deepclass models --rung nn); default: the data set's",
    "model_kwargs": "model arguments as YAML/JSON, e.g. '{hidden_units: [32, 16]}'",
    "epochs": "epochs to train",
    "batch_size": "training batch size",
    "lr": "learning rate (peak lr for schedules)",
    "optimizer": "sgd, adam, adamw or muon (Muon for the conv filters, SGD for the rest)",
    "scheduler": "none, cosine, linear or onecycle (per-step, with --warmup-epochs)",
    "accelerator": "cpu, gpu, cuda, mps or auto",
    "devices": "devices (CPU: processes) to train on, or auto",
    "strategy": "auto or ddp (several devices; on CPU the gloo backend)",
    "precision": "32-true, bf16-mixed, 16-mixed, ... (Lightning precision)",
    "seed": "random seed (default: 0)",
    "out": "runs directory; each run writes OUT/version_N (default: runs)",
    "resume": "continue the latest run in OUT from its last.ckpt, or from CKPT",
    "data_dir": "where the data sets are (default: $DEEPCLASS_DATA, else ./data)",
    "val_size": "validation samples carved from train (default: the data set's split)",
    "train_samples": "keep only the first N training samples",
    "val_samples": "keep only the first N validation samples",
    "test_samples": "keep only the first N test samples",
    "normalize": "normalise inputs by the training images' per-channel mean/std",
    "crop_padding": "random-crop augmentation: pad by this many pixels (0 = off)",
    "flip": "random horizontal-flip augmentation",
    "alternate_flip": "with --flip: mirror each image on alternate epochs instead of at random",
    "pad_mode": "crop padding: reflect or constant",
    "cutout": "cutout augmentation: zero a random square of this size (0 = off)",
    "loader": "auto (memory if it fits, else stream), memory (batched in-memory iterator), "
    "stream (a user folder from its on-disk cache of resized images) or dataloader",
    "image_size": IMAGE_SIZE_HELP,
    "skip_bad_images": "leave unreadable image files out (listed in RUN/skipped_images.txt)",
    "crop_scale": "random resized crop: area fractions MIN MAX of the box (e.g. 0.35 1)",
    "crop_ratio": "random resized crop: aspect ratios MIN MAX (default 0.75 1.333)",
    "num_workers": "DataLoader workers (--loader dataloader only)",
    "data_device": "auto (data on the training device) or cpu",
    "binary": "one logit + BCE for a 2-class data set (default: auto)",
    "preset": "a named recipe (see --help epilog)",
    "eval_batch_size": "validation/test batch size (default: max(batch size, 256))",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum (SGD)",
    "muon_lr": "optimizer muon: lr of the convolution filters (default 0.24)",
    "muon_momentum": "optimizer muon: momentum of the convolution filters (default 0.6)",
    "betas": "Adam/AdamW betas",
    "weight_decay": "weight decay",
    "bias_lr_scale": "lr multiplier for biases",
    "bias_weight_decay": "weight decay for biases (default: --weight-decay)",
    "norm_weight_decay": "weight decay for norm layers (default: --weight-decay)",
    "warmup_epochs": "linear lr warm-up length in epochs (may be fractional)",
    "warmup_fraction": "warm-up as a fraction of all steps (wins over --warmup-epochs)",
    "final_lr_ratio": "cosine/linear schedules end at lr * this",
    "label_smoothing": "label smoothing of the training loss",
    "grad_clip": "clip the gradient norm to this (0 = off)",
    "ema_decay": "validate/test an EMA of the weights with this decay (0 = off)",
    "ema_start_step": "first optimizer step that updates the EMA",
    "ema_every": "update the EMA every N optimizer steps",
    "lookahead": "airbench's EMA lookahead: pull the weights back to their EMA every 5 steps",
    "tta_flip": "test-time augmentation: average with the mirrored image",
    "tta_translate": "test-time augmentation: also average over 1-pixel shifts",
    "val_tta": "use the test-time augmentation in the per-epoch validation too",
    "channels_last": "channels_last memory format for images",
    "compile": "torch.compile the model",
    "num_nodes": "machines (Lightning's launchers: torchrun, SLURM)",
    "deterministic": "ask torch for deterministic algorithms",
    "threads": "torch CPU threads per process (0 = torch's default)",
    "test": "evaluate on the test split at the end (the weights --test-ckpt names)",
    "test_ckpt": "which weights the final test uses: best (by valid acc) or last",
    "limit_train_batches": "at most N training batches per epoch",
    "log_every_n_steps": "log the step loss every N steps",
    "progress": "show progress (a rich bar on a terminal, lines otherwise)",
}


def _number(s: str) -> int | float:
    try:
        return int(s)
    except ValueError:
        return float(s)


def _devices(s: str) -> int | str:
    return s if s == "auto" else int(s)


def _mapping(s: str) -> dict:
    try:
        v = yaml.safe_load(s)
    except yaml.YAMLError as e:
        raise argparse.ArgumentTypeError(f"not YAML/JSON: {e}") from None
    if not isinstance(v, dict):
        raise argparse.ArgumentTypeError(f"expected a mapping like '{{name: value}}', got {s!r}")
    return v


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    from deepclass.lightning.config import FIELD_NAMES, FIELD_TYPES

    order = [k for k in HELP if k in FIELD_NAMES] + [f for f in FIELD_NAMES if f not in HELP]
    for name in order:
        if name == "preset":
            continue
        flag = "--" + name.replace("_", "-")
        tp = FIELD_TYPES[name]
        args = set(typing.get_args(tp)) | {tp}
        kw: dict = {"default": None, "help": HELP.get(name, name.replace("_", " "))}
        if name == "resume":
            p.add_argument(flag, nargs="?", const="last", metavar="CKPT", **kw)
        elif name == "devices":
            p.add_argument(flag, type=_devices, metavar="N", **kw)
        elif name == "betas":
            p.add_argument(flag, type=float, nargs=2, metavar=("B1", "B2"), **kw)
        elif name in ("crop_scale", "crop_ratio"):
            p.add_argument(flag, type=float, nargs=2, metavar=("MIN", "MAX"), **kw)
        elif name == "image_size":
            add_image_size(p, kw["help"])
        elif name == "model_kwargs":
            p.add_argument(flag, type=_mapping, metavar="MAPPING", **kw)
        elif bool in args:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif float in args and int in args:
            p.add_argument(flag, type=_number, **kw)
        elif float in args:
            p.add_argument(flag, type=float, **kw)
        elif int in args:
            p.add_argument(flag, type=int, **kw)
        else:
            p.add_argument(flag, **kw)


def register(sub: argparse._SubParsersAction) -> None:
    from deepclass.lightning.presets import DEFAULT_PRESET, PRESETS

    p = sub.add_parser(
        "train",
        help="train an nn model with the Lightning trainer (default: the CIFAR-10 preset)",
        description="Train with PyTorch Lightning: checkpoints, TensorBoard/CSV logs, "
        "curves and a confusion matrix under OUT/version_N. Priority: preset < --config "
        "< flags.",
        epilog="presets: "
        + "; ".join(f"{k}{' (default)' if k == DEFAULT_PRESET else ''}" for k in PRESETS),
    )
    p.add_argument("--config", metavar="FILE", help="YAML file of options (same names as flags)")
    p.add_argument("--preset", metavar="NAME", help=f"one of: {', '.join(PRESETS)}")
    _add_config_flags(p)
    p.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "evaluate", help="accuracy, per-class accuracy and confusion matrix of a checkpoint"
    )
    e.add_argument("checkpoint", metavar="CKPT")
    e.add_argument("--dataset", help="default: the data set the checkpoint was trained on")
    e.add_argument("--split", default="test", choices=("train", "val", "test"))
    e.add_argument("--data-dir", metavar="DIR")
    e.add_argument("--batch-size", type=int, default=512)
    e.add_argument("--out", metavar="DIR", help="where the PNG goes (default: the run directory)")
    add_image_size(e, "resize a folder's images to H x W (default: the size the checkpoint "
                   "was trained at)")  # fmt: skip
    e.add_argument("--skip-bad-images", action="store_true", help=HELP["skip_bad_images"])
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="top-k classes of image files")
    pr.add_argument("checkpoint", metavar="CKPT")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--top-k", type=int, default=3)
    add_image_size(pr, "resize the images to H x W (default: the size the checkpoint was "
                   "trained at)")  # fmt: skip
    pr.set_defaults(func=cmd_predict)

    x = sub.add_parser("export", help="export a checkpoint to ONNX or TorchScript (verified)")
    x.add_argument("checkpoint", metavar="CKPT")
    x.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    x.add_argument("--out", metavar="PATH", help="default: beside the checkpoint")
    x.set_defaults(func=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    from deepclass.lightning.checkpoints import run_dir_of
    from deepclass.lightning.config import FIELD_NAMES, build_config
    from deepclass.lightning.train import resolve_resume, train

    overrides = {k: getattr(args, k) for k in FIELD_NAMES if getattr(args, k, None) is not None}
    for name in ("betas", "crop_scale", "crop_ratio"):
        if overrides.get(name) is not None:
            overrides[name] = tuple(overrides[name])
    config_file = args.config
    if args.resume is not None and config_file is None:
        # resuming: the run's own saved options are the base; flags still win
        from deepclass.lightning.config import TrainConfig

        probe = TrainConfig(resume=args.resume, out=args.out or TrainConfig.out)
        run_dir = run_dir_of(resolve_resume(probe))
        if run_dir is not None and (run_dir / "config.yaml").is_file():
            config_file = run_dir / "config.yaml"
    cfg = build_config(preset=args.preset, config_file=config_file, overrides=overrides)
    result = train(cfg)
    if result.is_global_zero:
        if result.tested_valid_acc is not None:
            print_metric("val acc", result.tested_valid_acc)
        if result.test_acc is not None:
            print_metric("test acc", result.test_acc)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from deepclass.lightning.inference import evaluate

    r = evaluate(
        args.checkpoint,
        args.dataset,
        data_dir=args.data_dir,
        split=args.split,
        batch_size=args.batch_size,
        out=args.out,
        image_size=args.image_size,
        skip_bad_images=args.skip_bad_images,
    )
    print(f"checkpoint: {r.checkpoint}")
    size = f", resized to {r.image_size[0]}x{r.image_size[1]}" if r.image_size else ""
    print(f"data: {r.dataset} {r.split} ({r.n:,} samples{size}), loss {r.loss:.4f}")
    if r.skipped:
        print(f"data: skipped {len(r.skipped)} unreadable image file(s):")
        for where, why in r.skipped:
            print(f"  {where}: {why}")
    print("per-class accuracy:")
    width = max(len(c) for c in r.classes)
    for c, a, n in zip(r.classes, r.per_class, r.confusion.sum(axis=1), strict=True):
        print(f"  {c:<{width}}  {a:.4f}  ({n} samples)")
    print(f"confusion matrix: {r.plot}")
    print_metric(f"{r.split} acc", r.accuracy)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from deepclass.lightning.inference import predict

    for pred in predict(args.checkpoint, args.images, top_k=args.top_k, image_size=args.image_size):
        print(Path(pred.path).name + "  " + "  ".join(f"{c} {p:.4f}" for c, p in pred.top))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from deepclass.lightning.inference import export_model

    out = args.out or str(
        Path(args.checkpoint).with_suffix(".onnx" if args.format == "onnx" else ".torchscript.pt")
    )
    r = export_model(args.checkpoint, args.format, out)
    print(f"exported {r.format}: {r.path} (metadata: {r.meta_path})")
    print(f"verified: max |exported - PyTorch| logit difference {r.max_abs_diff:.2e}")
    return 0
