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
``time_to_accuracy.json`` and ``time_to_accuracy.png`` (test accuracy
against minutes of training) into the run directory.

    python -m deepclass.bench.time_to_accuracy --plot runs/time_to_accuracy.png \
        runs/a/version_0/time_to_accuracy.json runs/b/version_0/time_to_accuracy.json

draws several such runs into one PNG (no training).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
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

    def __init__(self, tta: bool = True) -> None:
        self.rows: list[dict[str, float]] = []
        self.t0 = 0.0
        self.paused = 0.0
        self.tta = tta  # False: one view per image (6x cheaper; the final test keeps the TTA)

    def on_train_start(self, trainer, pl_module) -> None:
        self.t0, self.paused = time.perf_counter(), 0.0

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        start = time.perf_counter()
        acc = module_accuracy(
            trainer, pl_module, trainer.datamodule.test_dataloader(), tta=self.tta
        )
        train_time = start - self.t0 - self.paused
        row = {"epoch": trainer.current_epoch + 1, "train_time_s": train_time,
               "test_acc": acc}  # fmt: skip
        self.rows.append(row)
        print(f"[time-to-accuracy] epoch {row['epoch']}: test acc {row['test_acc']:.4f} "
              f"after {train_time:.1f} s of training", flush=True)  # fmt: skip
        self.paused += time.perf_counter() - start


def time_to_accuracy(
    cfg: TrainConfig, thresholds: tuple[float, ...] = THRESHOLDS, *, epoch_tta: bool = True
) -> dict[str, Any]:
    """Train ``cfg`` with a test evaluation after every epoch; the curve and the times to reach.

    epoch_tta: the per-epoch evaluations use the preset's test-time augmentation
    (False: one view per image, ~6x cheaper; the final test keeps the TTA).
    Returns ``{"epochs": [{"epoch", "train_time_s", "test_acc"}, ...],
    "time_to": {"85%": seconds or None, ...}, "final_test_acc", "wall_time_s",
    "paused_s" (the per-epoch evaluations, inside wall_time_s), "epoch_tta", "run_dir"}``
    and writes it as ``time_to_accuracy.json`` into the run directory.
    """
    cb = TestEveryEpoch(tta=epoch_tta)
    result = train(cfg, callbacks=[cb])
    reached: dict[str, float | None] = {}
    for th in thresholds:
        hit = next((r for r in cb.rows if r["test_acc"] >= th), None)
        reached[f"{th:.0%}"] = None if hit is None else round(hit["train_time_s"], 1)
    out = {"preset": cfg.preset, "seed": cfg.seed, "epochs": cb.rows, "time_to": reached,
           "final_test_acc": result.test_acc, "wall_time_s": result.wall_time,
           "paused_s": cb.paused, "epoch_tta": epoch_tta,
           "run_dir": str(result.run_dir)}  # fmt: skip
    (result.run_dir / "time_to_accuracy.json").write_text(json.dumps(out, indent=1))
    plot_time_to_accuracy([out], result.run_dir / "time_to_accuracy.png")
    return out


def curve_label(run: dict[str, Any]) -> str:
    """``fast, seed 0: 90.62%`` for a ``time_to_accuracy`` result."""
    acc = run.get("final_test_acc")
    return f"{run.get('preset') or 'run'}, seed {run.get('seed')}" + (
        f": {100 * acc:.2f}%" if acc is not None else ""
    )


def plot_time_to_accuracy(runs: list[dict[str, Any]], path: str | Path) -> Path:
    """Test accuracy (%) against minutes of training, one line per ``time_to_accuracy`` result.

    runs: results as ``time_to_accuracy`` returns (or wrote as JSON) them; each
    needs ``epochs`` rows with ``train_time_s`` and ``test_acc``.
    """
    from deepclass.viz import new_figure, save_figure

    fig, (ax,) = new_figure(size=(6.0, 4.0))
    for run in runs:
        rows = run["epochs"]
        minutes = [r["train_time_s"] / 60 for r in rows]
        label = curve_label(run) + ("" if run.get("epoch_tta", True) else " (epochs: 1 view)")
        ax.plot(minutes, [100 * r["test_acc"] for r in rows], marker="o", label=label)
    for th in (90.0, 94.0):
        ax.axhline(th, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("minutes of training (test evaluations excluded)")
    ax.set_ylabel("test accuracy (%), after each epoch")
    ax.set_ylim(bottom=max(0.0, ax.get_ylim()[0]))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("CIFAR-10 time to accuracy (deepclass train presets)")
    return save_figure(fig, path)


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
    p.add_argument(
        "--one-view",
        action="store_true",
        help="per-epoch test accuracy from one view per image (the final test keeps the TTA)",
    )
    p.add_argument(
        "--plot",
        nargs="+",
        metavar=("PNG", "JSON"),
        help="only draw the time_to_accuracy.json files given after PNG into PNG (no training)",
    )
    args = p.parse_args(argv)
    if args.plot is not None:
        if len(args.plot) < 2 or not args.plot[0].endswith(".png"):
            p.error("--plot takes OUT.png then one or more time_to_accuracy.json files")
        runs = []
        for f in args.plot[1:]:
            try:
                runs.append(json.loads(Path(f).read_text()))
            except (OSError, json.JSONDecodeError) as e:
                p.error(f"--plot: cannot read {f}: {e}")
            if "epochs" not in runs[-1]:
                p.error(f"--plot: {f} is not a time_to_accuracy.json (no 'epochs')")
        print(f"wrote {plot_time_to_accuracy(runs, args.plot[0])}")
        return
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
    out = time_to_accuracy(
        build_config(preset=args.preset, overrides=overrides), epoch_tta=not args.one_view
    )
    for key, seconds in out["time_to"].items():
        print(f"time to {key}: " + ("not reached" if seconds is None else f"{seconds:.1f} s"))
    print(f"final test acc (TTA): {out['final_test_acc']:.4f}; wall time {out['wall_time_s']:.1f} s, "
          f"of which {out['paused_s']:.1f} s per-epoch test evaluations")  # fmt: skip
    print(f"wrote {out['run_dir']}/time_to_accuracy.json and time_to_accuracy.png")


if __name__ == "__main__":
    main()
