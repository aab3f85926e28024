"""Rung 3 models: networks as plain functions of a list of parameter tensors (seed 000).

``scores = model_fn(x, params)``: the forward pass is written with tensor ops
and ``torch.nn.functional``; autograd builds the backward pass. Parameters
are leaf tensors with ``requires_grad=True`` made by :func:`random_weight`
(Kaiming normal) and :func:`zero_weight`. Each model function checks the
number and shapes of its parameters first and names the one that is wrong.

Registered in the "barebones" rung: ``two_layer_fc`` and
``three_layer_convnet`` (builders return a :class:`FunctionalModel`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deepclass.checks import check_input_shape, check_positive_int, is_int
from deepclass.errors import ConfigError
from deepclass.registry import register_model

TWO_LAYER_FC_PARAMS = ("w1", "w2")
LINEAR_PARAMS = ("w", "b")
THREE_LAYER_CONVNET_PARAMS = ("conv_w1", "conv_b1", "conv_w2", "conv_b2", "fc_w", "fc_b")
# seed 000: conv 5x5 with zero-padding 2, then conv 3x3 with zero-padding 1
CONV1_PADDING, CONV2_PADDING = 2, 1


def flatten(x: torch.Tensor) -> torch.Tensor:
    """``(N, d1, ..., dM)`` -> ``(N, d1 * ... * dM)``: one vector per sample (a view when possible)."""
    return x.reshape(x.shape[0], -1)


# ---------------------------------------------------------------- checks


def _unpack(params: Sequence[torch.Tensor], names: Sequence[str], model: str) -> list[torch.Tensor]:
    if not isinstance(params, (list, tuple)) or len(params) != len(names):
        got = (
            f"{len(params)} item(s)" if isinstance(params, (list, tuple)) else type(params).__name__
        )
        raise ConfigError(
            f"{model}: params must be a list of {len(names)} tensors [{', '.join(names)}], got {got}"
        )
    for p, name in zip(params, names, strict=True):
        if not isinstance(p, torch.Tensor):
            raise ConfigError(f"{model}: param {name} must be a tensor, got {type(p).__name__}")
    return list(params)


def _expect(model: str, name: str, p: torch.Tensor, shape: tuple, meaning: str) -> None:
    """Raise unless ``p.shape`` matches ``shape`` (None entries match anything)."""
    ok = p.ndim == len(shape) and all(
        s is None or s == d for s, d in zip(shape, p.shape, strict=True)
    )
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ConfigError(
            f"{model}: param {name} must have shape {want} {meaning}, got {tuple(p.shape)}"
        )


def _check_x(model: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise ConfigError(
            f"{model}: x must be a torch.Tensor, got {type(x).__name__} "
            "(torch.as_tensor(x, dtype=torch.float32) converts an array)"
        )


def _check_dtype(model: str, x: torch.Tensor, first: torch.Tensor) -> None:
    if x.dtype != first.dtype:
        raise ConfigError(
            f"{model}: x has dtype {x.dtype} but the params are {first.dtype}; "
            "convert x (x.to(dtype)) or build the params with that dtype"
        )


# ---------------------------------------------------------------- models


def two_layer_fc(x: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Fully connected -> ReLU -> fully connected (no biases).

    x: ``(N, d1, ..., dM)`` float, flattened to ``(N, D)``.
    params: ``[w1, w2]`` with w1 ``(D, H)`` and w2 ``(H, C)``.
    Returns scores ``(N, C)``.
    """
    w1, w2 = _unpack(params, TWO_LAYER_FC_PARAMS, "two_layer_fc")
    _check_x("two_layer_fc", x)
    if x.ndim < 2:
        raise ConfigError(f"two_layer_fc: x must be a batch (N, ...), got shape {tuple(x.shape)}")
    x = flatten(x)
    _expect(
        "two_layer_fc",
        "w1",
        w1,
        (x.shape[1], None),
        f"(D, H) with D = {x.shape[1]}, the features per sample of x {tuple(x.shape)}",
    )
    _expect(
        "two_layer_fc",
        "w2",
        w2,
        (w1.shape[1], None),
        f"(H, C) with H = {w1.shape[1]} (w1's columns)",
    )
    _check_dtype("two_layer_fc", x, w1)
    x = F.relu(x.mm(w1))
    return x.mm(w2)


def linear(x: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """A linear classifier: ``flatten(x).mm(w) + b``.

    x: ``(N, d1, ..., dM)`` float, flattened to ``(N, D)``.
    params: ``[w (D, C), b (C,)]``. Returns scores ``(N, C)``.
    """
    w, b = _unpack(params, LINEAR_PARAMS, "linear")
    _check_x("linear", x)
    if x.ndim < 2:
        raise ConfigError(f"linear: x must be a batch (N, ...), got shape {tuple(x.shape)}")
    x = flatten(x)
    _expect("linear", "w", w, (x.shape[1], None), f"(D, C) with D = {x.shape[1]}")
    _expect("linear", "b", b, (w.shape[1],), f"(C,) with C = {w.shape[1]}")
    _check_dtype("linear", x, w)
    return x.mm(w) + b


def _conv_out(size: int, kernel: int, padding: int) -> int:
    return size + 2 * padding - kernel + 1


def three_layer_convnet(x: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """conv (pad 2) -> ReLU -> conv (pad 1) -> ReLU -> fully connected.

    x: ``(N, C, H, W)`` float images.
    params: ``[conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b]``:
    conv_w1 ``(channel_1, C, KH1, KW1)``, conv_b1 ``(channel_1,)``,
    conv_w2 ``(channel_2, channel_1, KH2, KW2)``, conv_b2 ``(channel_2,)``,
    fc_w ``(channel_2 * H2 * W2, num_classes)``, fc_b ``(num_classes,)`` where
    ``H2 x W2`` is the size after both convolutions (``H x W`` for the seed's
    5x5 and 3x3 kernels). Returns scores ``(N, num_classes)``.
    """
    m = "three_layer_convnet"
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = _unpack(params, THREE_LAYER_CONVNET_PARAMS, m)
    _check_x(m, x)
    if x.ndim != 4:
        raise ConfigError(f"{m}: x must be images (N, C, H, W), got shape {tuple(x.shape)}")
    _expect(
        m,
        "conv_w1",
        conv_w1,
        (None, x.shape[1], None, None),
        f"(channel_1, C, KH1, KW1) with C = {x.shape[1]}, the channels of x {tuple(x.shape)}",
    )
    c1 = conv_w1.shape[0]
    _expect(m, "conv_b1", conv_b1, (c1,), "(channel_1,)")
    _expect(m, "conv_w2", conv_w2, (None, c1, None, None), f"(channel_2, channel_1={c1}, KH2, KW2)")
    c2 = conv_w2.shape[0]
    _expect(m, "conv_b2", conv_b2, (c2,), "(channel_2,)")
    h = _conv_out(
        _conv_out(x.shape[2], conv_w1.shape[2], CONV1_PADDING), conv_w2.shape[2], CONV2_PADDING
    )
    w = _conv_out(
        _conv_out(x.shape[3], conv_w1.shape[3], CONV1_PADDING), conv_w2.shape[3], CONV2_PADDING
    )
    if h < 1 or w < 1:
        raise ConfigError(f"{m}: the kernels do not fit x of shape {tuple(x.shape)}")
    _expect(
        m,
        "fc_w",
        fc_w,
        (c2 * h * w, None),
        f"(channel_2 * H2 * W2, num_classes) with channel_2 * H2 * W2 = {c2}*{h}*{w} = {c2 * h * w}",
    )
    _expect(m, "fc_b", fc_b, (fc_w.shape[1],), f"(num_classes,) with num_classes = {fc_w.shape[1]}")
    _check_dtype(m, x, conv_w1)

    x = F.relu(F.conv2d(x, conv_w1, conv_b1, padding=CONV1_PADDING))
    x = F.relu(F.conv2d(x, conv_w2, conv_b2, padding=CONV2_PADDING))
    return flatten(x).mm(fc_w) + fc_b


# ---------------------------------------------------------------- initialisation


def _check_shape(shape: int | Sequence[int], name: str) -> tuple[int, ...]:
    shape = (shape,) if is_int(shape) else tuple(shape)
    if not shape or not all(is_int(s) and s > 0 for s in shape):
        raise ConfigError(f"{name}: shape must be positive ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def random_weight(
    shape: Sequence[int],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Kaiming normal weight: ``randn(shape) * sqrt(2 / fan_in)``, ``requires_grad=True``.

    fan_in is ``shape[0]`` for a linear weight ``(D_in, D_out)`` and
    ``prod(shape[1:])`` for a conv weight ``(C_out, C_in, KH, KW)``
    (He et al., 2015). Draws from torch's global generator.
    """
    shape = _check_shape(shape, "random_weight")
    if len(shape) < 2:
        raise ConfigError(
            f"random_weight: shape must be (D_in, D_out) or (C_out, C_in, KH, KW), got {shape}; "
            "use zero_weight for biases"
        )
    fan_in = shape[0] if len(shape) == 2 else math.prod(shape[1:])
    w = torch.randn(shape, device=device, dtype=dtype) * math.sqrt(2.0 / fan_in)
    w.requires_grad = True
    return w


def zero_weight(
    shape: int | Sequence[int],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """All-zero tensor with ``requires_grad=True`` (biases)."""
    return torch.zeros(
        _check_shape(shape, "zero_weight"), device=device, dtype=dtype, requires_grad=True
    )


def two_layer_fc_params(
    input_dim: int = 3 * 32 * 32,
    hidden_size: int = 4000,
    num_classes: int = 10,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """``[w1 (input_dim, hidden_size), w2 (hidden_size, num_classes)]``, Kaiming normal."""
    for v, n in (
        (input_dim, "input_dim"),
        (hidden_size, "hidden_size"),
        (num_classes, "num_classes"),
    ):
        check_positive_int(v, n, "two_layer_fc_params")
    kw = {"device": device, "dtype": dtype}
    return [
        random_weight((input_dim, hidden_size), **kw),
        random_weight((hidden_size, num_classes), **kw),
    ]


def three_layer_convnet_params(
    input_shape: Sequence[int] = (3, 32, 32),
    channel_1: int = 32,
    channel_2: int = 16,
    num_classes: int = 10,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """The seed's ConvNet parameters: 5x5 and 3x3 kernels, Kaiming normal weights, zero biases.

    input_shape: ``(C, H, W)``. Returns ``[conv_w1 (channel_1, C, 5, 5),
    conv_b1, conv_w2 (channel_2, channel_1, 3, 3), conv_b2,
    fc_w (channel_2 * H * W, num_classes), fc_b]``.
    """
    c, h, w = check_input_shape(input_shape, "three_layer_convnet_params", images=True)
    for v, n in ((channel_1, "channel_1"), (channel_2, "channel_2"), (num_classes, "num_classes")):
        check_positive_int(v, n, "three_layer_convnet_params")
    kw = {"device": device, "dtype": dtype}
    return [
        random_weight((channel_1, c, 5, 5), **kw),
        zero_weight(channel_1, **kw),
        random_weight((channel_2, channel_1, 3, 3), **kw),
        zero_weight(channel_2, **kw),
        random_weight((channel_2 * h * w, num_classes), **kw),
        zero_weight(num_classes, **kw),
    ]


# ---------------------------------------------------------------- registry


@dataclass
class FunctionalModel:
    """A model function with its parameters: ``model(x) == fn(x, params)``."""

    name: str
    fn: Callable[[torch.Tensor, Sequence[torch.Tensor]], torch.Tensor]
    params: list[torch.Tensor]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x, self.params)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.params)


@register_model("barebones", "two_layer_fc", "seed 000: fc -> ReLU -> fc (no biases), functional")
def build_two_layer_fc(
    *,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    hidden_size: int = 4000,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> FunctionalModel:
    """``two_layer_fc`` with fresh Kaiming-normal ``[w1, w2]`` for inputs of ``input_shape``."""
    shape = check_input_shape(input_shape, "two_layer_fc", images=False)
    params = two_layer_fc_params(
        math.prod(shape), hidden_size, num_classes, device=device, dtype=dtype
    )
    return FunctionalModel("two_layer_fc", two_layer_fc, params)


@register_model(
    "barebones",
    "three_layer_convnet",
    "seed 000: conv5x5 -> ReLU -> conv3x3 -> ReLU -> fc, functional",
)
def build_three_layer_convnet(
    *,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    channel_1: int = 32,
    channel_2: int = 16,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> FunctionalModel:
    """``three_layer_convnet`` with fresh parameters (:func:`three_layer_convnet_params`)."""
    params = three_layer_convnet_params(
        input_shape, channel_1, channel_2, num_classes, device=device, dtype=dtype
    )
    return FunctionalModel("three_layer_convnet", three_layer_convnet, params)
