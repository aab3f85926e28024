"""Argument checks shared by the model builders of several rungs (one message format)."""

from __future__ import annotations

from collections.abc import Sequence

from deepclass.errors import ConfigError


def check_input_shape(
    input_shape: Sequence[int], model: str, *, images: bool = False
) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints: ``(C, H, W)``, or also ``(D,)`` unless ``images``.

    Raises ``ConfigError`` naming ``model`` and the shape it got.
    """
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    ok = len(shape) in ((3,) if images else (1, 3)) and all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    )
    if not ok:
        want = "(C, H, W)" if images else "(C, H, W) or (D,)"
        raise ConfigError(f"{model}: input_shape must be {want} positive ints, got {input_shape!r}")
    return shape


def check_positive_int(value: int, name: str, model: str | None = None) -> int:
    """``value`` if it is an int >= 1 (not a bool); else ``ConfigError`` naming ``name``
    (and ``model``, as a prefix, when given)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        prefix = f"{model}: " if model else ""
        raise ConfigError(f"{prefix}{name} must be a positive int, got {value!r}")
    return value
