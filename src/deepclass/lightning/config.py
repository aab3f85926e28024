"""``TrainConfig``: every option of ``deepclass train`` in one dataclass.

Where a run's values come from, lowest to highest priority:

1. the dataclass defaults below (seed 003's values: Adam, lr 1e-3, batch 64);
2. a preset (``presets.PRESETS``; ``--preset NAME`` or ``preset:`` in the
   config file; with neither, the default preset of the run's data set);
3. a YAML config file (``--config FILE``: the same keys as the fields here,
   ``-`` and ``_`` interchangeable; an unknown key is an error listing the
   valid ones);
4. command-line flags.

When a higher layer changes ``model`` without giving ``model_kwargs``, the
lower layer's ``model_kwargs`` are dropped (they were meant for the other
model). Every run saves the merged config as ``config.yaml`` in its run
directory, so ``--config runs/version_3/config.yaml`` repeats it exactly.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deepclass.checks import check_positive_int
from deepclass.errors import ConfigError
from deepclass.files import atomic_open

OPTIMIZERS = ("sgd", "adam", "adamw", "muon")
SCHEDULERS = ("none", "cosine", "linear", "onecycle")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
STRATEGIES = ("auto", "ddp")
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "64-true")
LOADERS = ("auto", "memory", "stream", "dataloader")
# options that only mean something for image data (an error with the xor points)
IMAGE_OPTIONS = ("crop_padding", "cutout", "flip", "alternate_flip", "tta_flip", "tta_translate",
                 "channels_last")  # fmt: skip
PAD_MODES = ("reflect", "constant")


@dataclass
class TrainConfig:
    """Every option of a training run (see the module docstring for precedence).

    Data: ``dataset`` is "cifar10", "mnist", "xor" or a path to an image
    folder; ``val_size`` validation samples are carved from train (None: the
    data set's convention, e.g. MNIST 55,000/5,000 with seed 1);
    ``train_samples`` / ``val_samples`` / ``test_samples`` keep only the
    first N samples of a split (quick runs, tests). ``loader="memory"`` is the
    data layer's in-memory ``BatchIterator`` with batched augmentation;
    "stream" reads a user's folder from its on-disk cache of resized images
    (decoded on the first pass); "auto" is memory unless the folder would
    not fit; "dataloader" is a per-image ``DataLoader`` with ``num_workers``.
    ``image_size`` ``[H, W]`` (or ``[S]``) resizes a user's folder (None: its
    most common size with the longer side at most 64); ``skip_bad_images``
    leaves unreadable files out (listed in the run's ``skipped_images.txt``).
    """

    # data
    dataset: str = "cifar10"
    data_dir: str | None = None
    val_size: int | float | None = None
    train_samples: int | None = None
    val_samples: int | None = None
    test_samples: int | None = None
    normalize: bool = True  # per-channel mean/std of the training images
    crop_padding: int = 0  # random crop after padding by this many pixels (0 = off)
    flip: bool = False  # random horizontal flip
    alternate_flip: bool = False  # with flip: each image mirrored on alternate epochs (airbench)
    pad_mode: str = "reflect"
    cutout: int = 0  # zero a random square of this size after normalisation (0 = off)
    crop_scale: tuple[float, float] | None = None  # random resized crop: area fractions (off)
    crop_ratio: tuple[float, float] | None = None  # its aspect ratios (None: 3/4 to 4/3)
    image_size: list[int] | None = None  # a user folder's [H, W] (or [S]); None = default
    skip_bad_images: bool = False  # a user folder: leave unreadable files out
    loader: str = "auto"
    num_workers: int = 0
    data_device: str = "auto"  # where in-memory data lives: "auto" = the training device

    # model
    model: str | None = None  # an `nn` registry name; None = the data set's default
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    binary: bool | None = None  # one logit + BCE for 2 classes; None = auto (2 classes)
    preset: str | None = None

    # optimisation
    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int | None = None  # None = max(batch_size, 256)
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD only (with muon: of the SGD part)
    nesterov: bool = False  # SGD only (with muon: of the SGD part)
    muon_lr: float | None = None  # optimizer muon: lr of the conv filters (None: 0.24)
    muon_momentum: float | None = None  # optimizer muon: the filters' momentum (None: 0.6)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam / AdamW only
    weight_decay: float = 0.0
    bias_lr_scale: float = 1.0  # lr multiplier for biases
    bias_weight_decay: float | None = None  # None = weight_decay
    norm_weight_decay: float | None = None  # batch/layer-norm parameters; None = weight_decay
    scheduler: str = "none"
    warmup_epochs: float = 0.0  # linear warm-up (none/cosine/linear); one-cycle's rising part
    warmup_fraction: float | None = (
        None  # warm-up as a fraction of all steps; wins over warmup_epochs
    )
    final_lr_ratio: float = 0.0  # cosine/linear: lr at the end as a fraction of lr
    label_smoothing: float = 0.0
    grad_clip: float = 0.0  # clip the gradient norm to this (0 = off)
    ema_decay: float = 0.0  # EMA of the weights for validation/test (0 = off)
    ema_start_step: int = 0
    ema_every: int = 1  # update the EMA every this many optimizer steps
    lookahead: bool = False  # airbench's EMA lookahead (callbacks.Lookahead)
    tta_flip: bool = False  # average logits of the image and its mirror at eval
    tta_translate: bool = False  # also average over 1-pixel shifts (airbench TTA level 2)
    val_tta: bool = True  # the per-epoch validation uses the TTA too (off: one view, faster)
    channels_last: bool = False
    compile: bool = False  # torch.compile the model

    # hardware
    accelerator: str = "auto"
    devices: int | str = 1  # an int, or "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    deterministic: bool = False
    threads: int = 0  # torch CPU threads per process (0 = torch's default; DDP divides the cores)

    # run
    seed: int = 0
    out: str = "runs"
    resume: str | None = None  # "last" (latest run in `out`) or a checkpoint path
    test: bool = True  # evaluate on the test split at the end (the weights test_ckpt names)
    test_ckpt: str = "best"  # "best" (by valid_acc) or "last" (the final weights) for the test
    limit_train_batches: int | None = None  # stop each epoch after this many batches
    log_every_n_steps: int = 50
    progress: bool = True

    # ------------------------------------------------------------------ checks
    def validate(self) -> TrainConfig:
        """Check every value; raise ``ConfigError`` naming the option. Returns self."""
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), FIELD_TYPES[f.name])
        self.betas = tuple(float(b) for b in self.betas)  # YAML gives a list
        if self.image_size is not None:
            from deepclass.data.folder import check_image_size

            self.image_size = list(check_image_size(self.image_size, "image_size"))
        for name in ("crop_scale", "crop_ratio"):
            v = getattr(self, name)
            if v is not None:
                if len(v) != 2 or not all(isinstance(x, (int, float)) for x in v):
                    raise ConfigError(f"{name} must be two numbers (min max), got {list(v)}")
                setattr(self, name, tuple(float(x) for x in v))
        if self.crop_scale is not None and not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ConfigError(
                f"crop_scale must be area fractions 0 < min <= max <= 1, got {list(self.crop_scale)}"
            )
        if self.crop_ratio is not None:
            if self.crop_scale is None:
                raise ConfigError("crop_ratio needs crop_scale (the random resized crop is off)")
            if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
                raise ConfigError(
                    f"crop_ratio must satisfy 0 < min <= max, got {list(self.crop_ratio)}"
                )
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("scheduler", self.scheduler, SCHEDULERS)
        _choice("accelerator", self.accelerator, ACCELERATORS)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("precision", str(self.precision), PRECISIONS)
        _choice("loader", self.loader, LOADERS)
        _choice("pad_mode", self.pad_mode, PAD_MODES)
        _choice("test_ckpt", self.test_ckpt, ("best", "last"))
        _choice("data_device", self.data_device, ("auto", "cpu"))
        for name in ("epochs", "batch_size", "num_nodes", "ema_every", "log_every_n_steps"):
            check_positive_int(getattr(self, name), name)
        for name in ("eval_batch_size", "train_samples", "val_samples", "test_samples",
                     "limit_train_batches"):  # fmt: skip
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        for name in ("crop_padding", "cutout", "num_workers", "ema_start_step", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("weight_decay", "warmup_epochs", "grad_clip"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("bias_weight_decay", "norm_weight_decay"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"{name} must be >= 0 (or null), got {v}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not self.bias_lr_scale > 0:
            raise ConfigError(f"bias_lr_scale must be > 0, got {self.bias_lr_scale}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and (self.optimizer not in ("sgd", "muon") or self.momentum == 0):
            raise ConfigError("nesterov needs optimizer sgd (or muon) with momentum > 0")
        for name in ("muon_lr", "muon_momentum"):
            v = getattr(self, name)
            if v is not None and self.optimizer != "muon":
                raise ConfigError(f"{name} applies to optimizer muon, not {self.optimizer}")
        if self.muon_lr is not None and not self.muon_lr > 0:
            raise ConfigError(f"muon_lr must be > 0, got {self.muon_lr}")
        if self.muon_momentum is not None and not 0 <= self.muon_momentum < 1:
            raise ConfigError(f"muon_momentum must be in [0, 1), got {self.muon_momentum}")
        if self.optimizer == "muon" and self.scheduler == "onecycle":
            raise ConfigError("scheduler onecycle cycles SGD/Adam momentum; with optimizer muon "
                              "use none, cosine or linear")  # fmt: skip
        if self.alternate_flip and not self.flip:
            raise ConfigError("alternate_flip needs flip (it decides which images are flipped)")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {list(self.betas)}")
        if not 0 <= self.final_lr_ratio <= 1:
            raise ConfigError(f"final_lr_ratio must be in [0, 1], got {self.final_lr_ratio}")
        if self.warmup_fraction is not None and not 0.0 <= self.warmup_fraction < 1.0:
            raise ConfigError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.warmup_fraction is None and self.warmup_epochs > self.epochs:
            raise ConfigError(
                f"warmup_epochs ({self.warmup_epochs}) must not exceed epochs ({self.epochs})"
            )
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        if isinstance(self.devices, str) and self.devices != "auto":
            raise ConfigError(f"devices must be a positive int or 'auto', got {self.devices!r}")
        if isinstance(self.devices, int):
            check_positive_int(self.devices, "devices")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")
        if self.val_size is not None and self.val_size < 0:
            raise ConfigError(f"val_size must be >= 0, got {self.val_size}")
        if self.dataset == "xor":  # 2-D points: the image options would be silently ignored
            given = [name for name in IMAGE_OPTIONS if getattr(self, name)]
            if given:
                raise ConfigError(
                    f"{', '.join(given)} (--{given[0].replace('_', '-')}) appl"
                    f"{'ies' if len(given) == 1 else 'y'} to images; the xor data set is 2-D points"
                )
        return self

    # --------------------------------------------------------------- file I/O
    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML-safe: tuples become lists)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        for name in ("crop_scale", "crop_ratio"):
            if d[name] is not None:
                d[name] = list(d[name])
        return d

    def save(self, path: str | os.PathLike) -> Path:
        """Write the config as YAML atomically; ``load_config`` reads it back."""
        text = "# deepclass train config (deepclass train --config THIS_FILE repeats the run)\n"
        text += yaml.safe_dump(self.to_dict(), sort_keys=False)
        with atomic_open(path, "w") as f:
            f.write(text)
        return Path(path)


FIELD_TYPES: dict[str, Any] = typing.get_type_hints(TrainConfig)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if typing.get_origin(tp) is not None:
        return typing.get_origin(tp).__name__
    return getattr(tp, "__name__", str(tp))


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is Any:
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (tuple, list) or tp in (tuple, list):
        return isinstance(value, (tuple, list))
    if origin is dict or tp is dict:
        return isinstance(value, Mapping)
    return isinstance(value, tp)


def _check_type(name: str, value: Any, tp: Any) -> None:
    if not _matches(value, tp):
        raise ConfigError(
            f"option {name} must be {_type_name(tp)}, got {type(value).__name__} {value!r}"
        )


def normalize_keys(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``values`` with ``-`` in keys turned into ``_``; an unknown key is a ``ConfigError``.

    source: where the values came from (a file name, a preset), for the message.
    """
    out = {}
    for key, v in values.items():
        k = str(key).replace("-", "_")
        if k not in FIELD_NAMES:
            raise ConfigError(
                f"unknown config key {key!r} in {source}; valid keys: {', '.join(FIELD_NAMES)}"
            )
        out[k] = dict(v) if isinstance(v, Mapping) else v
    return out


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The options in a YAML config file (keys checked, values not yet merged or validated)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"--config {path}: not valid YAML ({e})".replace("\n", " ")) from e
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"--config {path}: expected a mapping of option: value, got {type(data).__name__}"
        )
    return normalize_keys(data, str(path))


def merge_layers(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge option dicts, later ones winning; a new ``model`` drops older ``model_kwargs``."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if (
            "model" in layer
            and "model_kwargs" not in layer
            and layer["model"] != merged.get("model")
        ):
            merged.pop("model_kwargs", None)
        merged.update(layer)
    return merged


def build_config(
    *,
    preset: str | None = None,
    config_file: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The run's ``TrainConfig``: defaults < preset < config file < overrides, validated.

    preset: a name in ``PRESETS``; None means the ``preset:`` key of the file,
    else the default preset of the run's data set (``presets.default_preset``).
    overrides: option values from flags (``None`` values are ignored: flag not given).
    """
    from deepclass.lightning.presets import default_preset, preset_options

    file_opts = read_config_file(config_file) if config_file is not None else {}
    flags = normalize_keys({k: v for k, v in (overrides or {}).items() if v is not None}, "flags")
    name = preset or flags.get("preset") or file_opts.get("preset")
    if name is None:
        dataset = flags.get("dataset", file_opts.get("dataset", TrainConfig.dataset))
        name = default_preset(dataset)
    preset_opts = preset_options(name) if name else {}
    merged = merge_layers(preset_opts, file_opts, flags)
    merged["preset"] = name
    return config_from_dict(merged)


def config_from_dict(values: Mapping[str, Any]) -> TrainConfig:
    """A validated ``TrainConfig`` from a dict of options (unknown keys are an error)."""
    values = normalize_keys(values, "config")
    for name in ("betas", "crop_scale", "crop_ratio"):
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    return TrainConfig(**values).validate()


def load_config(path: str | os.PathLike) -> TrainConfig:
    """A saved ``config.yaml`` as a ``TrainConfig`` (exactly the run it records)."""
    return config_from_dict(read_config_file(path))
