"""Argument checks shared by every rung (one message format).

Integers and real numbers are accepted in every form Python and NumPy give them
(``3``, ``np.int64(3)``, ``np.float32(1e-2)``: the seeds compute sizes with
``np.prod``), never as a bool, and returned as plain ``int`` / ``float``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from deepclass.errors import ConfigError


def is_int(value: Any) -> bool:
    """True for an ``int`` or a NumPy integer; False for a bool (even ``np.bool_``)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for an int, a float or a NumPy number that is not complex; False for a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _prefix(model: str | None) -> str:
    return f"{model}: " if model else ""


def check_input_shape(
    input_shape: Sequence[int], model: str, *, images: bool = False
) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints: ``(C, H, W)``, or also ``(D,)`` unless ``images``.

    Raises ``ConfigError`` naming ``model`` and the shape it got.
    """
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    ok = len(shape) in ((3,) if images else (1, 3)) and all(is_int(s) and s > 0 for s in shape)
    if not ok:
        want = "(C, H, W)" if images else "(C, H, W) or (D,)"
        raise ConfigError(f"{model}: input_shape must be {want} positive ints, got {input_shape!r}")
    return tuple(int(s) for s in shape)


def check_positive_int(value: int, name: str, model: str | None = None) -> int:
    """``int(value)`` if it is an integer >= 1 (not a bool); else ``ConfigError`` naming
    ``name`` (and ``model``, as a prefix, when given)."""
    if not is_int(value) or value < 1:
        raise ConfigError(f"{_prefix(model)}{name} must be a positive int, got {value!r}")
    return int(value)


def check_int(value: int, name: str, minimum: int = 0, model: str | None = None) -> int:
    """``int(value)`` if it is an integer >= ``minimum`` (not a bool); else ``ConfigError``."""
    if not is_int(value) or value < minimum:
        raise ConfigError(f"{_prefix(model)}{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_number(
    value: float,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = True,
    model: str | None = None,
) -> float:
    """``float(value)`` if it is a finite real number in the given range; else ``ConfigError``.

    ``low``/``high`` bound the range (None: unbounded), closed unless ``low_open`` /
    ``high_open``: ``check_number(lr, "learning_rate", low=0, low_open=True)`` is ``> 0``,
    ``check_number(p, "p", low=0, high=1)`` is ``[0, 1)``.
    """
    ok = is_real(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is not None and high is not None:
            want = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            want = f"{'>' if low_open else '>='} {low:g}"
        elif high is not None:
            want = f"{'<' if high_open else '<='} {high:g}"
        else:
            want = ""
        raise ConfigError(
            f"{_prefix(model)}{name} must be a finite number {want}".rstrip() + f", got {value!r}"
        )
    return float(value)


def check_float_dtype(dtype: torch.dtype | str, name: str = "dtype", model: str | None = None):
    """A floating-point ``torch.dtype``, also given by name (``"float64"``, ``"torch.float64"``).

    Anything else (an int dtype, a NumPy dtype, a typo) is a ``ConfigError`` listing the valid
    names.
    """
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.removeprefix("torch."), dtype)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(
            f"{_prefix(model)}{name} must be a floating-point torch dtype (torch.float32, "
            f"torch.float64, ... or its name 'float64'), got {dtype!r}"
        )
    return dtype


_RULES = {
    "positive_ints": (lambda v: is_int(v) and v >= 1, "a positive int"),
    "non_negative_ints": (lambda v: is_int(v) and v >= 0, "an int >= 0"),
    "positive_numbers": (
        lambda v: is_real(v) and math.isfinite(v) and v > 0,
        "a finite number > 0",
    ),
    "non_negative_numbers": (
        lambda v: is_real(v) and math.isfinite(v) and v >= 0,
        "a finite number >= 0",
    ),
}


def check_options(
    options: Mapping[str, Any],
    *,
    name: Callable[[str], str] = str,
    positive_ints: Sequence[str] = (),
    non_negative_ints: Sequence[str] = (),
    positive_numbers: Sequence[str] = (),
    non_negative_numbers: Sequence[str] = (),
) -> None:
    """Range checks of several options at once (each value of a list option).

    options: option name -> value; a value of None is skipped (not given). ``name(key)``
    is what the error calls an option (a CLI passes its flag: ``--batch-size``).
    """
    groups = {
        "positive_ints": positive_ints,
        "non_negative_ints": non_negative_ints,
        "positive_numbers": positive_numbers,
        "non_negative_numbers": non_negative_numbers,
    }
    for group, keys in groups.items():
        ok, want = _RULES[group]
        for key in keys:
            value = options[key]
            for v in value if isinstance(value, (list, tuple)) else (value,):
                if v is not None and not ok(v):
                    raise ConfigError(f"{name(key)} must be {want}, got {v!r}")
