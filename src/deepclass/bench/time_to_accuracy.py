"""Time-to-accuracy of a `deepclass train` preset: test accuracy after every epoch.

    python -m deepclass.bench.time_to_accuracy --preset best --seed 0 --out runs/tta
    python -m deepclass.bench.time_to_accuracy --preset best --overrides '{"cutout": 8}'

Runs the preset through the real trainer (``deepclass.lightning.train``) and,
at the end of every training epoch, evaluates the current weights on the
whole test split with the preset's test-time augmentation. The clock is the
training wall time since the first batch, without these extra evaluations
(the trainer's own per-epoch validation on its 1,000 images is included, as
in a normal run). The test split is only measured, never used to choose
anything. Prints one line per epoch, the time to 85/90/93/94% and writes
``time_to_accuracy.json`` into the run directory.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from deepclass.lightning import TrainConfig, build_config, train
from deepclass.metrics import accuracy

THRESHOLDS = (0.85, 0.90, 0.93, 0.94)


def module_accuracy(trainer, pl_module, loader, *, tta: bool = True) -> float:
    """Accuracy of ``pl_module``'s current weights over ``loader``'s ``(x, y)`` batches.

    In eval mode (restored after), without gradients, under the trainer's precision
    (bf16 autocast for a bf16 run); ``tta`` uses the module's test-time augmentation
    (``eval_logits``), else one view.
    """
    was_training = pl_module.training
    pl_module.eval()
    preds, labels = [], []
    try:
        with torch.no_grad(), trainer.precision_plugin.forward_context():
            for x, y in loader:
                x = x.to(pl_module.device)
                logits = pl_module.eval_logits(x) if tta else pl_module(x)
                preds.append(logits.argmax(1).cpu())
                labels.append(y)
    finally:
        pl_module.train(was_training)
    return accuracy(torch.cat(preds), torch.cat(labels))


class TestEveryEpoch(Callback):
    """Test accuracy of the current weights after each training epoch, on a paused clock."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.t0 = 0.0
        self.paused = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.t0, self.paused = time.perf_counter(), 0.0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        start = time.perf_counter()
        acc = module_accuracy(trainer, pl_module, trainer.datamodule.test_dataloader())
        train_time = start - self.t0 - self.paused
        row = {"epoch": trainer.current_epoch + 1, "train_time_s": train_time,
               "test_acc": acc}  # fmt: skip
        self.rows.append(row)
        print(f"[time-to-accuracy] epoch {row['epoch']}: test acc {row['test_acc']:.4f} "
              f"after {train_time:.1f} s of training", flush=True)  # fmt: skip
        self.paused += time.perf_counter() - start


def time_to_accuracy(
    cfg: TrainConfig, thresholds: tuple[float, ...] = THRESHOLDS
) -> dict[str, Any]:
    """Train ``cfg`` with a test evaluation after every epoch; the curve and the times to reach.

    Returns ``{"epochs": [{"epoch", "train_time_s", "test_acc"}, ...],
    "time_to": {"85%": seconds or None, ...}, "final_test_acc", "wall_time_s",
    "run_dir"}`` and writes it as ``time_to_accuracy.json`` into the run directory.
    """
    cb = TestEveryEpoch()
    result = train(cfg, callbacks=[cb])
    reached: dict[str, float | None] = {}
    for th in thresholds:
        hit = next((r for r in cb.rows if r["test_acc"] >= th), None)
        reached[f"{th:.0%}"] = None if hit is None else round(hit["train_time_s"], 1)
    out = {"preset": cfg.preset, "seed": cfg.seed, "epochs": cb.rows, "time_to": reached,
           "final_test_acc": result.test_acc, "wall_time_s": result.wall_time,
           "run_dir": str(result.run_dir)}  # fmt: skip
    (result.run_dir / "time_to_accuracy.json").write_text(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="best")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--out", default="runs/time_to_accuracy")
    p.add_argument(
        "--overrides",
        default="{}",
        help="more TrainConfig options as a JSON object, e.g. '{\"cutout\": 8}'",
    )
    args = p.parse_args(argv)
    try:
        extra = json.loads(args.overrides)
    except json.JSONDecodeError as e:
        p.error(f"--overrides must be a JSON object: {e}")
    if not isinstance(extra, dict):
        p.error(
            f"--overrides must be a JSON object, e.g. '{{\"cutout\": 8}}', got {args.overrides}"
        )
    overrides: dict[str, Any] = {"seed": args.seed, "out": args.out, "data_dir": args.data_dir}
    if args.epochs:
        overrides["epochs"] = args.epochs
    overrides.update(extra)
    out = time_to_accuracy(build_config(preset=args.preset, overrides=overrides))
    for key, seconds in out["time_to"].items():
        print(f"time to {key}: " + ("not reached" if seconds is None else f"{seconds:.1f} s"))
    print(f"wrote {out['run_dir']}/time_to_accuracy.json")


if __name__ == "__main__":
    main()
