"""deepclass.checks: the argument checks the model builders share."""

from __future__ import annotations

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
