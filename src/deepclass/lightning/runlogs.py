"""A run's directory: ``<out>/version_N/`` with its loggers, config, checkpoints and PNGs.

Layout of one run::

    runs/version_3/
      config.yaml                 the exact options of the run
      hparams.yaml                what Lightning records of the model
      metrics.csv                 CSVLogger (epoch rows: train_*/valid_*, test_* at the end)
      events.out.tfevents.*       TensorBoardLogger (tensorboard --logdir runs)
      checkpoints/best-*.ckpt     top-1 by valid_acc
      checkpoints/last.ckpt       the latest epoch end, for --resume
      curves.png                  loss and accuracy per epoch
      confusion_matrix.png        on the test split

A resumed run continues in the same directory: the CSV keeps the rows up to
the checkpoint's epoch (Lightning's CSVLogger would delete the file) and
TensorBoard purges events after the checkpoint's step.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from deepclass.files import atomic_open
from deepclass.viz import plot_confusion_matrix, plot_history

RUN_DIR_ENV = "DEEPCLASS_RUN_DIR"  # lets DDP child processes join their parent's run directory
_VERSION = re.compile(r"^version_(\d+)$")


def next_version(out: str | os.PathLike) -> int:
    """One more than the largest N of the ``version_N`` directories in ``out`` (0 if none)."""
    out = Path(out)
    if not out.is_dir():
        return 0
    return 1 + max(
        (int(m.group(1)) for p in out.iterdir() if (m := _VERSION.match(p.name))), default=-1
    )


def new_run_dir(out: str | os.PathLike) -> Path:
    """Create and return ``<out>/version_N`` with N one more than the largest existing."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = next_version(out)
    while True:
        path = out / f"version_{n}"
        try:
            path.mkdir()  # exclusive: two runs starting together get different versions
            return path
        except FileExistsError:
            n += 1


def version_of(run_dir: Path) -> int:
    m = _VERSION.match(run_dir.name)
    if m is None:
        raise ValueError(f"{run_dir} is not a version_N directory")
    return int(m.group(1))


class _KeepingWriter(ExperimentWriter):
    """CSV writer that keeps an existing ``metrics.csv`` up to a resumed checkpoint."""

    def __init__(self, log_dir: str, keep_epoch: int | None, keep_step: int | None) -> None:
        self._keep_epoch, self._keep_step = keep_epoch, keep_step
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        if self._keep_epoch is None:  # a fresh run never has one; do not append to a stranger's
            path.unlink()
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = [r for r in reader if self._keep(r)]
        _atomic_csv(path, header, rows)
        self.metrics_keys = header

    def _keep(self, row: dict[str, str]) -> bool:
        if row.get("epoch"):
            return float(row["epoch"]) <= self._keep_epoch
        return bool(row.get("step")) and float(row["step"]) < (self._keep_step or 0)


def _atomic_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` that, when resuming, keeps the rows up to the checkpoint's epoch/step."""

    def __init__(self, *args, keep_epoch: int | None = None, keep_step: int | None = None, **kw):
        super().__init__(*args, **kw)
        self._keep_epoch, self._keep_step = keep_epoch, keep_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(self.log_dir, self._keep_epoch, self._keep_step)
        return self._experiment


def make_loggers(
    run_dir: Path, resume_epoch: int | None = None, resume_step: int | None = None
) -> list:
    """TensorBoard + CSV loggers writing into ``run_dir`` (``<out>/version_N``)."""
    out, version = str(run_dir.parent), version_of(run_dir)
    tb_kwargs = {"purge_step": resume_step} if resume_step is not None else {}
    tb = TensorBoardLogger(out, name="", version=version, default_hp_metric=False, **tb_kwargs)
    csv_logger = ResumableCSVLogger(
        out, name="", version=version, keep_epoch=resume_epoch, keep_step=resume_step
    )
    return [tb, csv_logger]


def read_history(metrics_csv: str | os.PathLike) -> dict[str, list[float]]:
    """Per-epoch metrics from a run's ``metrics.csv``: ``{"epoch": [...], "train_loss": [...], ...}``.

    Each epoch's train and valid values are logged on separate rows; they are
    merged by epoch (later rows win). Step-level rows (``*_step``) and the
    final test rows are left out.
    """
    path = Path(metrics_csv)
    by_epoch: dict[int, dict[str, float]] = {}
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch") or any(row.get(k) for k in ("test_acc", "test_loss")):
                continue
            e = int(float(row["epoch"]))
            for k in ("train_loss", "train_acc", "valid_loss", "valid_acc"):
                if row.get(k):
                    by_epoch.setdefault(e, {})[k] = float(row[k])
    epochs = sorted(by_epoch)
    hist: dict[str, list[float]] = {"epoch": [e + 1 for e in epochs]}
    for k in ("train_loss", "valid_loss", "train_acc", "valid_acc"):
        hist[k] = [by_epoch[e].get(k, np.nan) for e in epochs]
    return hist


def write_curves(run_dir: Path, history: dict[str, list[float]]) -> Path | None:
    """``curves.png``: loss and accuracy per epoch (train and valid)."""
    if not history.get("epoch"):
        return None
    x = {k: history["epoch"] for k in history}
    return plot_history(
        {k: v for k, v in history.items() if k != "epoch"},
        run_dir / "curves.png",
        panels={"loss": ["train_loss", "valid_loss"], "accuracy": ["train_acc", "valid_acc"]},
        x=x,
        title=run_dir.name,
    )


def write_confusion(path: Path, confusion: np.ndarray, classes: Sequence[str], title: str) -> Path:
    """A confusion-matrix PNG (rows: true class, normalised per row)."""
    return plot_confusion_matrix(confusion, list(classes), path, title=title)
