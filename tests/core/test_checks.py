"""deepclass.checks: the argument checks the model builders share."""

from __future__ import annotations

import re

import pytest

from deepclass.checks import check_input_shape, check_positive_int
from deepclass.errors import ConfigError


def test_check_input_shape_accepts_images_and_features():
    assert check_input_shape([3, 32, 32], "m", images=True) == (3, 32, 32)
    assert check_input_shape((2,), "m") == (2,)
    with pytest.raises(ConfigError, match=r"m: input_shape must be \(C, H, W\) positive ints"):
        check_input_shape((2,), "m", images=True)
    for bad in ((3, 0, 4), (3, True, 4), (3, 2.0, 4), "abc", (1, 2)):
        with pytest.raises(ConfigError, match=r"input_shape must be \(C, H, W\) or \(D,\)"):
            check_input_shape(bad, "m")


def test_check_positive_int_names_the_argument():
    assert check_positive_int(5, "hidden_size", "m") == 5
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(ConfigError, match="m: hidden_size must be a positive int"):
            check_positive_int(bad, "hidden_size", "m")


def test_check_positive_int_without_a_model_names_only_the_argument():
    assert check_positive_int(1, "K") == 1
    with pytest.raises(ConfigError, match=r"^K must be a positive int, got 0$"):
        check_positive_int(0, "K")


def test_numpy_integers_are_ints_and_bools_are_not():
    import numpy as np

    from deepclass.checks import check_int, is_int, is_real

    for v in (3, np.int64(3), np.int32(3), np.uint8(3)):
        assert (
            is_int(v)
            and check_positive_int(v, "n") == 3
            and type(check_positive_int(v, "n")) is int
        )
    for v in (True, np.bool_(True), 3.0, np.float32(3), "3", None):
        assert not is_int(v), v
    assert is_real(np.float32(0.5)) and is_real(2) and not is_real(True) and not is_real("1")
    assert check_int(0, "n") == 0
    with pytest.raises(ConfigError, match=r"^m: n must be an int >= 2, got 1$"):
        check_int(1, "n", 2, "m")


def test_check_number_ranges_and_messages():
    import numpy as np

    from deepclass.checks import check_number

    assert check_number(np.float32(0.25), "lr", low=0, low_open=True) == 0.25
    assert check_number(0, "p", low=0, high=1) == 0.0
    for bad, kw, want in (
        (0.0, {"low": 0, "low_open": True}, "> 0"),
        (-1, {"low": 0}, ">= 0"),
        (1.0, {"low": 0, "high": 1}, "in [0, 1)"),
        (2.0, {"high": 1, "high_open": False}, "<= 1"),
        (float("nan"), {}, ""),
        (True, {}, ""),
        ("0.1", {"low": 0}, ">= 0"),
    ):
        with pytest.raises(
            ConfigError, match=re.escape(f"x must be a finite number {want}".rstrip())
        ):
            check_number(bad, "x", **kw)


def test_check_options_names_each_option_its_own_way():
    from deepclass.checks import check_options

    opts = {"batch_size": 0, "lr": 0.1, "hidden": [4, 0], "reg": None}
    with pytest.raises(ConfigError, match=r"^--batch-size must be a positive int, got 0$"):
        check_options(
            opts, name=lambda k: "--" + k.replace("_", "-"), positive_ints=("batch_size",)
        )
    with pytest.raises(ConfigError, match=r"^hidden must be a positive int, got 0$"):
        check_options(opts, positive_ints=("hidden",))
    check_options(opts, positive_numbers=("lr", "reg"), non_negative_ints=("hidden",))
    with pytest.raises(ConfigError, match=r"lr must be a finite number >= 0, got -1"):
        check_options({"lr": -1}, non_negative_numbers=("lr",))


def test_check_float_dtype_takes_names():
    import torch

    from deepclass.checks import check_float_dtype

    assert check_float_dtype("float64") is torch.float64
    assert check_float_dtype("torch.bfloat16") is torch.bfloat16
    assert check_float_dtype(torch.float32) is torch.float32
    assert check_float_dtype("float") is torch.float32  # torch's alias
    for bad in ("int64", "flaot32", torch.int32, None):
        with pytest.raises(ConfigError, match="m: dtype must be a floating-point torch dtype"):
            check_float_dtype(bad, model="m")
