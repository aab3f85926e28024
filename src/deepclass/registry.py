"""The model registry: each rung registers its models by name.

A rung's models module registers its names when imported; :func:`get_model`
imports it on demand, so ``deepclass models`` can list every rung without the
caller importing them all. An unknown name raises an error listing the valid
ones.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deepclass.errors import ConfigError

# rung -> module whose import registers that rung's models
RUNG_MODULES: dict[str, str] = {
    "linear": "deepclass.linear.classifiers",
    "scratch": "deepclass.scratch.models",
    "barebones": "deepclass.barebones.models",
    "nn": "deepclass.nn.models",
}


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: how to build it and a one-line description."""

    rung: str
    name: str
    builder: Callable[..., Any]
    description: str


_REGISTRY: dict[str, dict[str, ModelEntry]] = {}


def register_model(rung: str, name: str, description: str = "") -> Callable:
    """Decorator: register ``builder`` as model ``name`` of ``rung``.

    Re-registering the same builder (a module imported twice) is harmless;
    registering a different builder under a taken name is an error.
    """
    if rung not in RUNG_MODULES:
        raise ConfigError(f"unknown rung {rung!r}; valid: {', '.join(RUNG_MODULES)}")

    def deco(builder: Callable[..., Any]) -> Callable[..., Any]:
        rung_models = _REGISTRY.setdefault(rung, {})
        old = rung_models.get(name)
        if old is not None and old.builder.__qualname__ != builder.__qualname__:
            raise ConfigError(f"model name {name!r} is already registered in rung {rung!r}")
        doc = description or (builder.__doc__ or "").strip().split("\n")[0]
        rung_models[name] = ModelEntry(rung, name, builder, doc)
        return builder

    return deco


def _load(rung: str) -> dict[str, ModelEntry]:
    if rung not in RUNG_MODULES:
        raise ConfigError(f"unknown rung {rung!r}; valid: {', '.join(RUNG_MODULES)}")
    try:
        importlib.import_module(RUNG_MODULES[rung])
    except ModuleNotFoundError as e:
        # A rung that is not built yet has no models; anything else is a real bug.
        if e.name != RUNG_MODULES[rung]:
            raise
    return _REGISTRY.get(rung, {})


def model_names(rung: str) -> list[str]:
    """Registered model names of ``rung``, in registration order."""
    return list(_load(rung))


def get_model(rung: str, name: str) -> ModelEntry:
    """The entry registered as ``name`` in ``rung``; unknown names list the valid ones."""
    models = _load(rung)
    if name not in models:
        valid = ", ".join(models) or "(none)"
        raise ConfigError(f"unknown model {name!r} for rung {rung!r}; valid: {valid}")
    return models[name]


def build_model(rung: str, name: str, **kwargs: Any) -> Any:
    """Build model ``name`` of ``rung`` with ``kwargs``.

    A keyword the builder does not take raises ``ConfigError`` listing the ones it does.
    """
    entry = get_model(rung, name)
    _check_kwargs(entry, kwargs)
    return entry.builder(**kwargs)


def check_model_kwargs(rung: str, name: str, kwargs: dict[str, Any]) -> None:
    """What :func:`build_model` checks before building: the name, and that the builder takes
    every keyword of ``kwargs`` (their values are the builder's to check). Builds nothing."""
    _check_kwargs(get_model(rung, name), kwargs)


def _check_kwargs(entry: ModelEntry, kwargs: dict[str, Any]) -> None:
    try:
        params = inspect.signature(entry.builder).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = [p.name for p in params if p.kind in named]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model {entry.name!r} of rung {entry.rung!r} does not take {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted) or '(no arguments)'}"
        )


def all_models() -> dict[str, list[ModelEntry]]:
    """Every rung's registered models: ``{rung: [entry, ...]}``."""
    return {rung: list(_load(rung).values()) for rung in RUNG_MODULES}
