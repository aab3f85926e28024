"""Rung 5: the production trainer on PyTorch Lightning (``deepclass train``).

- ``TrainConfig`` / ``build_config`` / ``PRESETS``: every option, from presets,
  YAML files and flags
- ``ClassifierModule``: any ``nn.Module`` classifier as a ``LightningModule``
- ``build_datamodule`` and the CIFAR-10 / MNIST / XOR / image-folder DataModules
- ``train(cfg)``: one run with checkpoints, loggers, plots and a summary
- ``evaluate``, ``predict``, ``export_model``: what a checkpoint is for
- ``load_checkpoint``: safe (``weights_only``) checkpoint reading
"""

from deepclass.lightning.checkpoints import AtomicCheckpointIO, load_checkpoint, safe_load
from deepclass.lightning.config import TrainConfig, build_config, load_config
from deepclass.lightning.datamodules import (
    ArrayDataModule,
    CIFAR10DataModule,
    DataInfo,
    ImageFolderDataModule,
    MNISTDataModule,
    MnistDataModule,
    XORDataModule,
    build_datamodule,
)
from deepclass.lightning.module import ClassifierModule
from deepclass.lightning.presets import DEFAULT_PRESET, PRESETS
from deepclass.lightning.train import TrainResult, train

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "ArrayDataModule",
    "AtomicCheckpointIO",
    "CIFAR10DataModule",
    "ClassifierModule",
    "DataInfo",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "MnistDataModule",
    "TrainConfig",
    "TrainResult",
    "XORDataModule",
    "build_config",
    "build_datamodule",
    "load_checkpoint",
    "load_config",
    "safe_load",
    "train",
]
