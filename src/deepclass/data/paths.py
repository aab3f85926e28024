"""Where data and caches live.

Data dir: ``--data-dir`` > ``$DEEPCLASS_DATA`` > ``./data``.
Cache dir: ``$DEEPCLASS_CACHE`` > ``$XDG_CACHE_HOME/deepclass`` > ``~/.cache/deepclass``.
Offline: ``$DEEPCLASS_OFFLINE`` set to 1/true/yes (or ``offline=True``) never downloads.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "DEEPCLASS_DATA"
CACHE_ENV = "DEEPCLASS_CACHE"
OFFLINE_ENV = "DEEPCLASS_OFFLINE"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: the argument, else ``$DEEPCLASS_DATA``, else ``./data``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path("data")


def cache_dir() -> Path:
    """The decoded-array cache directory (created on first use)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "deepclass"


def is_offline(offline: bool | None = None) -> bool:
    """True when downloads are disabled by argument or by ``$DEEPCLASS_OFFLINE``."""
    if offline is not None:
        return bool(offline)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
