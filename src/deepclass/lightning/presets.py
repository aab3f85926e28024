"""Named training recipes: ``--preset NAME`` = a set of ``TrainConfig`` overrides.

A preset is a plain dict of option: value that a reader can check in one
place; a config file and flags override it (see ``config.build_config``).
``deepclass train`` with no options runs ``DEFAULT_PRESET``. With no
``--preset``, a run whose data set has an entry in ``DATASET_PRESETS`` gets
that preset (CIFAR-10, MNIST, XOR); a user's folder starts from the
``TrainConfig`` defaults.

To add a recipe: add an entry to ``PRESETS`` (and point ``DEFAULT_PRESET`` /
``DATASET_PRESETS["cifar10"]`` at it to make it what ``deepclass train``
runs). Every key must be a ``TrainConfig`` field.
"""

from __future__ import annotations

import copy
from typing import Any

from deepclass.errors import ConfigError

# The main job's recipe (airbench94's settings, mean-loss units): SpeedNet, Nesterov SGD with
# momentum 0.85, lr 11.5 per 1024 summed examples = 1.5 on the batch-mean loss, weight decay
# 0.0153 per 1024 examples = 0.0153 / 11.5 on torch's coupled scale, batchnorm shifts at 64x lr,
# label smoothing 0.2, warm-up over 23% of the steps then linear decay to 7%, flip + 2-pixel translate (reflect),
# flip + shift TTA, bf16 autocast with channels_last (AMX on this CPU).
_SPEEDNET: dict[str, Any] = {
    "dataset": "cifar10",
    "model": "speednet",
    "batch_size": 1024,
    "eval_batch_size": 1000,
    "optimizer": "sgd",
    "lr": 1.5,
    "momentum": 0.85,
    "nesterov": True,
    "weight_decay": 0.0153 / 11.5,
    "scheduler": "linear",
    "warmup_fraction": 0.23,
    "final_lr_ratio": 0.07,
    "label_smoothing": 0.2,
    "crop_padding": 2,
    "pad_mode": "reflect",
    "flip": True,
    "normalize": True,
    "tta_flip": True,
    "tta_translate": True,
    "val_tta": False,  # the per-epoch validation is a progress report here (test_ckpt: last)
    "channels_last": True,
    "precision": "bf16-mixed",
    "lookahead": True,
    # the lookahead-averaged final weights beat any earlier epoch; choosing among epochs by
    # 1,000 validation images (+-0.9% noise) picked epoch 22 of 24 and lost 0.9 points
    "test_ckpt": "last",
}

PRESETS: dict[str, dict[str, Any]] = {
    # deepclass train: airbench's full widths, 24 epochs (~20 min here). At 10 epochs (airbench's
    # length) this copy of CIFAR-10 (JPEG q75) gave 90.1% (91.0% with lookahead, fp32 whitening).
    "best": {
        **_SPEEDNET,
        "model_kwargs": {"widths": [64, 256, 256]},
        "epochs": 24,
    },
    # the same net for 9 epochs (~7 min on the AMX machine). Narrower widths lose more than they
    # gain: 64/128/128 with cutout 8 reached 89.1% in 14 epochs (7.4 min of training).
    "fast": {
        **_SPEEDNET,
        "model_kwargs": {"widths": [64, 256, 256]},
        "epochs": 9,
    },
    # the same net with airbench94_muon's optimizer and schedule (issue 17): Muon (lr 0.24,
    # momentum 0.6, Nesterov) for the conv filters, batch 2000, alternating flip, no warm-up,
    # linear decay to 0, 8 epochs. The SGD part (head, biases) keeps airbench94's per-example
    # lr (1.5 per 1024 on the mean loss -> 2.9 at 2000), the same lr x decay product per step,
    # and the batchnorm shifts at 36x lr (airbench94_muon's bias lr, 0.053 per summed example).
    # Not yet a replacement for `fast`: no complete full-data run (docs/speed-recipe.md).
    "fast-muon": {
        **_SPEEDNET,
        "model_kwargs": {"widths": [64, 256, 256], "bias_lr_scale": 36.0},
        "optimizer": "muon",
        "batch_size": 2000,
        "lr": 2.9,
        "warmup_fraction": 0.0,
        "final_lr_ratio": 0.0,
        "alternate_flip": True,
        "epochs": 8,
    },
    # The first CIFAR-10 default: the `nn` rung's three-layer convnet with standard
    # augmentation and Nesterov SGD.
    # lr from a 3-epoch sweep on 20k images (test acc): 0.05 -> 0.518, 0.02 -> 0.595,
    # 0.01 -> 0.579; Adam 1e-3 -> 0.545 (a sweep of an earlier build; its log was not kept).
    "cifar10-convnet": {
        "dataset": "cifar10",
        "model": "three_layer_convnet",
        "model_kwargs": {},
        "epochs": 10,
        "batch_size": 128,
        "optimizer": "sgd",
        "lr": 0.02,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 5e-4,
        "scheduler": "cosine",
        "warmup_epochs": 1.0,
        "crop_padding": 4,
        "flip": True,
        "normalize": True,
        "label_smoothing": 0.0,
    },
    # Seed 003: MultiLayerPerceptron(image_shape=(1, 28, 28), hidden_units=(32, 16)),
    # Adam lr 1e-3, batch 64, 10 epochs, inputs scaled to [0, 1] only (ToTensor).
    "mnist-mlp": {
        "dataset": "mnist",
        "model": "mlp",
        "model_kwargs": {"hidden_units": [32, 16]},
        "epochs": 10,
        "batch_size": 64,
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "scheduler": "none",
        "normalize": False,
        "crop_padding": 0,
        "flip": False,
        # a 26k-parameter MLP gains nothing from intra-op threads; on a busy 2-core CPU one
        # thread ran 10 epochs in 39 s vs 11.5 min with two (measured on an earlier build;
        # the logs were not kept)
        "threads": 1,
    },
    # Seed 003's XOR network: MyModule (2 -> 4 -> 4 -> 1, an nn.ModuleList), plain SGD
    # lr 0.015, batch 2, 200 epochs; one logit with BCE (the seed's sigmoid + BCELoss).
    "xor": {
        "dataset": "xor",
        "model": "modulelist",
        "model_kwargs": {"hidden_units": [4, 4]},
        "epochs": 200,
        "batch_size": 2,
        "optimizer": "sgd",
        "lr": 0.015,
        "momentum": 0.0,
        "scheduler": "none",
        "log_every_n_steps": 50,
        "threads": 1,
    },
}

DEFAULT_PRESET = "best"
# The preset a run gets when it names none, by data set.
DATASET_PRESETS: dict[str, str] = {"cifar10": DEFAULT_PRESET, "mnist": "mnist-mlp", "xor": "xor"}


def preset_names() -> list[str]:
    return list(PRESETS)


def preset_options(name: str) -> dict[str, Any]:
    """A deep copy of preset ``name``'s options (a caller may change any nested value, e.g. a
    width in ``model_kwargs``, without touching ``PRESETS``); an unknown name lists the valid
    ones."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def default_preset(dataset: str) -> str | None:
    """The preset a run on ``dataset`` gets when it names none (None: plain defaults)."""
    return DATASET_PRESETS.get(dataset)
