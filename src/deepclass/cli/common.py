"""What every command shares: the argument parser, common options, devices, errors, output."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from deepclass.errors import DeepclassError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``deepclass: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_common(
    p: argparse.ArgumentParser,
    *,
    out: str | None = None,
    seed: int | None = 0,
    device: bool = True,
    data_dir: bool = True,
) -> None:
    """Add the options every command shares: ``--data-dir``, ``--seed``, ``--device``, ``--out DIR``."""
    if data_dir:
        p.add_argument(
            "--data-dir",
            default=None,
            metavar="DIR",
            help="where the data sets are (default: $DEEPCLASS_DATA, else ./data)",
        )
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help=f"random seed (default: {seed})")
    if device:
        p.add_argument(
            "--device",
            default="auto",
            help="cpu, cuda, cuda:N, mps or auto (default: auto = cuda if available)",
        )
    if out is not None:
        p.add_argument(
            "--out", default=out, metavar="DIR", help=f"output directory (default: {out})"
        )


IMAGE_SIZE_HELP = (
    "resize a user's image folder to H x W (one value: S x S); default: its most common "
    "size with the longer side scaled to 64"
)


def add_image_size(p: argparse.ArgumentParser, help: str = IMAGE_SIZE_HELP) -> None:
    """Add ``--image-size H [W]`` (parsed as ``args.image_size``: a list of 1-2 ints, or None).

    Every command that reads a user's folder takes it the same way; check the
    value with ``deepclass.data.folder.check_image_size``.
    """
    p.add_argument("--image-size", type=int, nargs="+", metavar=("H", "W"), default=None, help=help)


def resolve_device(name: str = "auto"):
    """``torch.device`` for ``--device``; an unavailable device is a ``ConfigError``."""
    import torch

    from deepclass.errors import ConfigError

    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(
            f"--device {name!r} is not a device name (cpu, cuda, cuda:N, mps, auto)"
        ) from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: MPS is not available on this machine")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device {name!r}: unsupported device type; use cpu, cuda, mps or auto")
    return dev


def print_metric(name: str, value: float) -> None:
    """The headline line every training/evaluation command ends with: ``test acc: 0.8123``."""
    print(f"{name}: {value:.4f}", flush=True)


def report_error(e: BaseException) -> int | None:
    """Print a user-facing error as one line and return exit status 2; None for a bug.

    User-facing: every ``DeepclassError`` (bad arguments, data, checkpoints)
    and file-system errors. Anything else is a bug and keeps its traceback;
    ``DEEPCLASS_DEBUG=1`` shows the traceback for every error.
    """
    if os.environ.get("DEEPCLASS_DEBUG"):
        return None  # show the full traceback
    if isinstance(
        e,
        (DeepclassError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError),
    ):
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if (
            isinstance(e, (FileNotFoundError, PermissionError))
            and e.filename
            and str(e.filename) not in msg
        ):
            msg = f"{msg}: {e.filename}"
        print(f"deepclass: error: {msg}", file=sys.stderr)
        return 2
    return None


# ---------------------------------------------------------------- flag checks (before any work)


def flag_name(dest: str) -> str:
    """``batch_size`` -> ``--batch-size``."""
    return "--" + dest.replace("_", "-")


def _given(value: object) -> bool:
    return value is not None and value is not False


def check_flags_apply(args: argparse.Namespace, model: str, applies: dict[str, tuple[str, ...]]):
    """Refuse a flag the user gave that does nothing for ``--model MODEL``.

    applies: flag dest -> the models it applies to. A flag counts as given when its
    value is not None (or False for a switch), so such flags default to None.
    Raises ``ConfigError`` naming the flag, the model and where the flag does apply.
    """
    from deepclass.errors import ConfigError

    for dest, models in applies.items():
        if _given(getattr(args, dest)) and model not in models:
            raise ConfigError(
                f"{flag_name(dest)} does not apply to --model {model} "
                f"(it applies to --model {' / '.join(models)})"
            )


def check_flag_values(args: argparse.Namespace, **groups: tuple[str, ...]) -> None:
    """Range checks of numeric flags, naming the flag (see ``deepclass.checks.check_options``:
    ``positive_ints=("epochs",)``, ``positive_numbers=("lr",)`` ...). Flags left at None are
    skipped. Run before any data is loaded or anything printed."""
    from deepclass.checks import check_options

    check_options(vars(args), name=flag_name, **groups)
