"""Writing checkpoints atomically and reading them safely.

Writing: ``AtomicCheckpointIO`` serialises to a temporary file in the target
directory, ``fsync``s it and ``os.replace``s it over the final name, so a
crash or SIGKILL leaves either the previous checkpoint or the new one, never
half a file. (Lightning's own ``TorchCheckpointIO`` goes through an fsspec
transaction that writes the temporary file in the system temp directory and
``shutil.move``s it: a copy, not a rename, whenever that directory is on
another file system, and without an fsync.)

Reading: ``load_checkpoint`` uses ``torch.load(weights_only=True)``, which
rebuilds only tensors and plain containers; a pickle that names any other
global (``os.system``, a class whose ``__reduce__`` runs code) is refused
before anything runs. Corrupt, truncated and foreign files raise
``CheckpointError`` saying which.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

from deepclass.errors import CheckpointError
from deepclass.files import atomic_torch_save

HPARAMS_KEY = "hyper_parameters"
# keys every deepclass checkpoint's hyper_parameters carry
REQUIRED_HPARAMS = ("model", "num_classes", "input_shape", "classes")


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete temporary files a killed run left in ``directory`` (``.NAME.*.tmp``)."""
    removed = []
    d = Path(directory)
    if d.is_dir():
        for p in d.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning ``CheckpointIO``: atomic writes, ``weights_only`` reads with clear errors."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(
        self, path: Any, map_location: Callable | Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        # weights_only is forced: a checkpoint is data, never code.
        return safe_load(path, map_location=map_location or "cpu")


_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _pickle_bytes(path: Path) -> bytes:
    """The pickle stream of a file: ``*/data.pkl`` inside a torch zip archive, else the file."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("data.pkl")]
            return z.read(names[0]) if names else b""
    return path.read_bytes()


def pickle_globals(path: str | os.PathLike) -> list[str]:
    """The ``module.name`` globals a pickle would import, found by parsing its opcodes.

    ``pickletools.genops`` only decodes the stream; nothing is imported or
    called. Returns [] for data that is not a pickle.
    """
    found: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(_pickle_bytes(Path(path))):
            if op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # not a pickle, or a truncated one: whatever was decoded so far
        pass
    return list(dict.fromkeys(found))


_SAFE_GLOBAL_PREFIXES = ("torch.", "collections.OrderedDict", "builtins.set", "builtins.frozenset")


def safe_load(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with every failure turned into ``CheckpointError``.

    Returns the checkpoint dict. A pickle that would import or call anything
    beyond tensors and plain containers is refused without running it.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Detected pickle protocol 4 ..."
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        m = _GLOBAL.search(str(e))
        risky = [m.group(1)] if m else [
            g for g in pickle_globals(path) if not g.startswith(_SAFE_GLOBAL_PREFIXES)
        ]  # fmt: skip
        if risky:
            raise CheckpointError(
                f"refused to load {path}: it contains pickled objects that could run code "
                f"(it references {', '.join(risky[:3])}); deepclass only loads tensors and "
                "plain values"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable checkpoint (not a PyTorch checkpoint, or corrupt)"
        ) from None
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        KeyError,
        IndexError,
    ) as e:
        first = str(e).strip().split(". ")[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt or truncated: {first})"
        ) from None
    if not isinstance(obj, dict) or "state_dict" not in obj:
        what = (
            f"keys {', '.join(map(str, list(obj)[:5]))}"
            if isinstance(obj, dict)
            else type(obj).__name__
        )
        raise CheckpointError(
            f"{path} is not a Lightning checkpoint (no 'state_dict'; found {what})"
        )
    return obj


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """A deepclass training checkpoint: ``safe_load`` plus a check of its model metadata."""
    ckpt = safe_load(path, map_location)
    hp = ckpt.get(HPARAMS_KEY)
    if not isinstance(hp, dict) or any(k not in hp for k in REQUIRED_HPARAMS):
        raise CheckpointError(
            f"{path} is not a deepclass checkpoint (its hyper_parameters lack "
            f"{', '.join(REQUIRED_HPARAMS)})"
        )
    return ckpt


def check_compatible(
    hparams: dict[str, Any],
    source: str | os.PathLike,
    *,
    model: str | None = None,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    dataset: str | None = None,
) -> None:
    """Raise ``CheckpointError`` when a checkpoint was made for another model or data shape."""
    where = f"checkpoint {source}"
    if model is not None and hparams["model"] != model:
        raise CheckpointError(
            f"{where} holds model {hparams['model']!r}, not {model!r} "
            f"(pass --model {hparams['model']} or start a new run)"
        )
    if num_classes is not None and int(hparams["num_classes"]) != int(num_classes):
        what = f" ({dataset})" if dataset else ""
        raise CheckpointError(
            f"{where} was trained for {len(hparams['classes'])} classes "
            f"({hparams.get('dataset', '?')}), but the data{what} has {num_classes}"
        )
    if input_shape is not None and tuple(hparams["input_shape"]) != tuple(input_shape):
        raise CheckpointError(
            f"{where} expects inputs of shape {tuple(hparams['input_shape'])}, "
            f"but the data has {tuple(input_shape)}"
        )


def find_last_checkpoint(out: str | os.PathLike) -> Path:
    """The most recently written ``version_*/checkpoints/last.ckpt`` under ``out``."""
    out = Path(out)
    found = sorted(out.glob("version_*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise CheckpointError(f"--resume: no run with a checkpoints/last.ckpt under {out}")
    return found[-1]


def run_dir_of(ckpt_path: str | os.PathLike) -> Path | None:
    """The ``version_N`` directory a checkpoint under ``version_N/checkpoints/`` belongs to."""
    p = Path(ckpt_path).resolve()
    if p.parent.name == "checkpoints" and p.parent.parent.name.startswith("version_"):
        return p.parent.parent
    return None
