"""Networks built from the hand-derived layers (EECS 498 A3's models).

Every model keeps its weights in a dict ``params`` and has
``loss(X, y=None)``: the scores ``(N, C)`` when ``y`` is None (test mode), else
``(loss, grads)`` with ``grads`` holding one gradient per key of ``params``
(training mode: dropout and batch statistics on). L2 regularization adds
``reg * sum(W ** 2)`` over the weight matrices and filters (no factor 0.5, as
the course; biases, gamma and beta are not regularized).

Registered in the model registry (rung ``scratch``) as ``two_layer``, ``fc``,
``conv`` and ``deep_conv``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from deepclass.checks import check_float_dtype, check_number, check_positive_int, is_int
from deepclass.errors import CheckpointError, ConfigError
from deepclass.files import atomic_torch_save
from deepclass.registry import register_model
from deepclass.scratch import layer_utils as LU
from deepclass.scratch.layers import Dropout, Linear, _out_size, softmax_loss
from deepclass.scratch.solver import Solver

CHECKPOINT_FORMAT = "deepclass.scratch/1"


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a deepclass scratch checkpoint (tensors and plain values only: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle, ...
        raise CheckpointError(f"{path} is not a readable checkpoint: {e}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a deepclass scratch checkpoint ({CHECKPOINT_FORMAT})")
    return ckpt


def kaiming_initializer(
    Din: int,
    Dout: int,
    K: int | None = None,
    relu: bool = True,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Kaiming (He) initialization: zero-mean Gaussian with variance ``gain / fan_in``.

    gain = 2 before a ReLU (it zeroes half of the units), 1 otherwise.
    K None: a linear weight ``(Din, Dout)`` with fan_in = Din; else a conv
    filter bank ``(Dout, Din, K, K)`` with fan_in = Din * K * K.
    """
    check_positive_int(Din, "Din")
    check_positive_int(Dout, "Dout")
    gain = 2.0 if relu else 1.0
    if K is None:
        return torch.randn(Din, Dout, dtype=dtype, device=device) * math.sqrt(gain / Din)
    check_positive_int(K, "K")
    return torch.randn(Dout, Din, K, K, dtype=dtype, device=device) * math.sqrt(
        gain / (Din * K * K)
    )


class ScratchModel:
    """What every scratch model shares: params, dtype/device, checkpoints.

    Subclasses set ``params``, ``reg``, ``dtype``, ``num_classes``, ``config``
    (the constructor arguments that rebuild the architecture) and, with batch
    normalization, ``bn_params`` (whose running statistics are saved too).
    """

    params: dict[str, torch.Tensor]
    bn_params: list[dict]
    config: dict[str, Any]
    reg: float
    dtype: torch.dtype
    num_classes: int

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):  # pragma: no cover
        raise NotImplementedError

    def _set_common(self, reg: float, dtype: torch.dtype, num_classes: int) -> torch.dtype:
        """Check and set ``reg`` (>= 0), ``dtype`` (a float dtype) and ``num_classes``, as every
        model's constructor does; returns the checked dtype."""
        self.reg = check_number(reg, "reg", low=0)
        self.dtype = check_float_dtype(dtype, model=type(self).__name__)
        self.num_classes = num_classes
        return self.dtype

    def _input(self, X: torch.Tensor) -> torch.Tensor:
        """X in the model's dtype and on its device (data often arrives as float32 on CPU)."""
        if not isinstance(X, torch.Tensor):
            raise ConfigError(f"X must be a torch.Tensor, got {type(X).__name__}")
        ref = next(iter(self.params.values()))
        return X.to(dtype=ref.dtype, device=ref.device)

    def _set_mode(self, mode: str) -> None:
        for bn in getattr(self, "bn_params", []):
            bn["mode"] = mode
        if getattr(self, "dropout_param", None) is not None:
            self.dropout_param["mode"] = mode

    def _reg_loss(self, grads: dict[str, torch.Tensor], weights: Sequence[str]) -> torch.Tensor:
        """Add ``2 reg W`` to each weight's gradient; return ``reg * sum(W^2)``."""
        total = 0.0
        for k in weights:
            W = self.params[k]
            total = total + (W * W).sum()
            grads[k] = grads[k] + 2 * self.reg * W
        return self.reg * total

    def checkpoint(self) -> dict[str, Any]:
        """Everything that rebuilds this model: class, config, params, batchnorm running stats."""
        bn = [
            {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in p.items()}
            for p in getattr(self, "bn_params", [])
        ]
        for p in bn:
            p["mode"] = "train"
        return {
            "format": CHECKPOINT_FORMAT,
            "model": type(self).__name__,
            "config": dict(self.config),
            "reg": self.reg,
            "dtype": str(self.dtype).removeprefix("torch."),
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "bn_params": bn,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`checkpoint` to ``path`` atomically."""
        path = atomic_torch_save(self.checkpoint(), path)
        print(f"Saved in {path}")
        return path

    def load(
        self,
        path: str | os.PathLike,
        dtype: torch.dtype | None = None,
        device: str | torch.device = "cpu",
    ) -> ScratchModel:
        """Load a checkpoint of this same architecture into this model (course signature).

        The checkpoint may come from :meth:`save` or from a Solver checkpoint.
        dtype None keeps the checkpoint's dtype.
        """
        return self.load_checkpoint(read_checkpoint(path), dtype, device, source=str(path))

    def load_checkpoint(
        self, ckpt: dict, dtype=None, device: str | torch.device = "cpu", source: str = ""
    ) -> ScratchModel:
        """Load an in-memory checkpoint dict (see :meth:`checkpoint`) into this model."""
        where = source or "checkpoint"
        if ckpt.get("model") != type(self).__name__:
            raise CheckpointError(
                f"{where} holds a {ckpt.get('model')}, not a {type(self).__name__}"
            )
        params = ckpt.get("params", {})
        if set(params) != set(self.params):
            raise CheckpointError(
                f"{where}: parameters {sorted(params)} do not match this model's {sorted(self.params)}"
            )
        for k, v in params.items():
            if v.shape != self.params[k].shape:
                raise CheckpointError(
                    f"{where}: parameter {k} has shape {tuple(v.shape)}, "
                    f"this model expects {tuple(self.params[k].shape)}"
                )
        dtype = dtype or getattr(torch, ckpt.get("dtype", "float32"))
        self.dtype = dtype
        self.reg = ckpt.get("reg", self.reg)
        self.params = {k: v.to(dtype=dtype, device=device) for k, v in params.items()}
        bn_saved = ckpt.get("bn_params", [])
        if len(bn_saved) != len(getattr(self, "bn_params", [])):
            raise CheckpointError(f"{where}: batchnorm layers do not match this model")
        for mine, saved in zip(getattr(self, "bn_params", []), bn_saved, strict=True):
            for k, v in saved.items():
                if k != "mode":
                    mine[k] = v.to(dtype=dtype, device=device) if isinstance(v, torch.Tensor) else v
        return self


# --------------------------------------------------------------------------------------


@register_model("scratch", "two_layer", "affine - relu - affine (EECS 498 TwoLayerNet)")
class TwoLayerNet(ScratchModel):
    """Two-layer fully connected network: affine - relu - affine - softmax.

    params: ``W1 (D, H)``, ``b1 (H,)``, ``W2 (H, C)``, ``b2 (C,)``; weights from
    N(0, weight_scale^2), biases zero.
    """

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        check_positive_int(input_dim, "input_dim")
        check_positive_int(hidden_dim, "hidden_dim")
        check_positive_int(num_classes, "num_classes")
        check_number(weight_scale, "weight_scale", low=0)
        dtype = self._set_common(reg, dtype, num_classes)
        self.config = dict(input_dim=input_dim, hidden_dim=hidden_dim, num_classes=num_classes)
        kw = dict(dtype=dtype, device=device)
        self.params = {
            "W1": weight_scale * torch.randn(input_dim, hidden_dim, **kw),
            "b1": torch.zeros(hidden_dim, **kw),
            "W2": weight_scale * torch.randn(hidden_dim, num_classes, **kw),
            "b2": torch.zeros(num_classes, **kw),
        }

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):
        """X: ``(N, d_1, ..., d_k)`` with D = prod(d_i); y: ``(N,)`` int64 or None.

        Returns scores ``(N, C)`` if y is None, else ``(loss, grads)``.
        """
        X = self._input(X)
        p = self.params
        h, cache1 = LU.Linear_ReLU.forward(X, p["W1"], p["b1"])
        scores, cache2 = Linear.forward(h, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, grads["W2"], grads["b2"] = Linear.backward(dscores, cache2)
        _, grads["W1"], grads["b1"] = LU.Linear_ReLU.backward(dh, cache1)
        return loss + self._reg_loss(grads, ("W1", "W2")), grads


@register_model("scratch", "fc", "{affine - [batchnorm] - relu - [dropout]} x (L-1) - affine")
class FullyConnectedNet(ScratchModel):
    """Fully connected network with any number of hidden layers.

    ``{affine - [batchnorm] - relu - [dropout]} x (L - 1) - affine - softmax``.
    params: ``W1..WL``, ``b1..bL``; with batchnorm also ``gamma1..gamma{L-1}``
    (ones) and ``beta1..beta{L-1}`` (zeros). dropout is the probability of
    dropping a unit (0 = no dropout); seed fixes the dropout masks (gradient checks).
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout: float = 0.0,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        seed: int | None = None,
        dtype: torch.dtype = torch.float,
        device: str | torch.device = "cpu",
        *,
        normalization: str | None = None,
    ) -> None:
        if isinstance(hidden_dims, int) or not hidden_dims:
            raise ConfigError(f"hidden_dims must be a non-empty list of ints, got {hidden_dims!r}")
        hidden_dims = [check_positive_int(h, "hidden_dims[i]") for h in hidden_dims]
        check_positive_int(input_dim, "input_dim")
        check_positive_int(num_classes, "num_classes")
        dropout = check_number(dropout, "dropout (drop probability)", low=0, high=1)
        if normalization not in (None, "batchnorm"):
            raise ConfigError(f"normalization must be None or 'batchnorm', got {normalization!r}")
        check_number(weight_scale, "weight_scale", low=0)
        dtype = self._set_common(reg, dtype, num_classes)
        self.normalization = normalization
        self.use_dropout = dropout != 0
        self.num_layers = 1 + len(hidden_dims)
        self.config = dict(
            hidden_dims=hidden_dims,
            input_dim=input_dim,
            num_classes=num_classes,
            dropout=dropout,
            normalization=normalization,
        )
        kw = dict(dtype=dtype, device=device)
        dims = [input_dim, *hidden_dims, num_classes]
        self.params = {}
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = weight_scale * torch.randn(dims[i - 1], dims[i], **kw)
            self.params[f"b{i}"] = torch.zeros(dims[i], **kw)
            if normalization == "batchnorm" and i < self.num_layers:
                self.params[f"gamma{i}"] = torch.ones(dims[i], **kw)
                self.params[f"beta{i}"] = torch.zeros(dims[i], **kw)
        self.dropout_param = None
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params = (
            [{"mode": "train"} for _ in hidden_dims] if normalization == "batchnorm" else []
        )

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):
        """X: ``(N, d_1, ..., d_k)``; y: ``(N,)`` or None. Scores, or ``(loss, grads)``."""
        X = self._input(X)
        self._set_mode("test" if y is None else "train")
        p, L = self.params, self.num_layers
        caches = []
        h = X
        for i in range(1, L):
            if self.normalization == "batchnorm":
                h, c = LU.Linear_BatchNorm_ReLU.forward(
                    h, p[f"W{i}"], p[f"b{i}"], p[f"gamma{i}"], p[f"beta{i}"], self.bn_params[i - 1]
                )
            else:
                h, c = LU.Linear_ReLU.forward(h, p[f"W{i}"], p[f"b{i}"])
            dc = None
            if self.use_dropout:
                h, dc = Dropout.forward(h, self.dropout_param)
            caches.append((c, dc))
        scores, last_cache = Linear.forward(h, p[f"W{L}"], p[f"b{L}"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = Linear.backward(dscores, last_cache)
        for i in range(L - 1, 0, -1):
            c, dc = caches[i - 1]
            if dc is not None:
                dh = Dropout.backward(dh, dc)
            if self.normalization == "batchnorm":
                dh, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = (
                    LU.Linear_BatchNorm_ReLU.backward(dh, c)
                )
            else:
                dh, grads[f"W{i}"], grads[f"b{i}"] = LU.Linear_ReLU.backward(dh, c)
        return loss + self._reg_loss(grads, [f"W{i}" for i in range(1, L + 1)]), grads


@register_model("scratch", "conv", "conv - relu - 2x2 max pool - affine - relu - affine")
class ThreeLayerConvNet(ScratchModel):
    """EECS 498's three-layer convnet: conv - relu - 2x2 max pool - linear - relu - linear.

    The convolution keeps the spatial size (stride 1, pad (filter_size - 1) / 2).
    params: ``W1 (F, C, K, K)``, ``b1 (F,)``, ``W2 (F*H/2*W/2, hidden)``, ``b2``,
    ``W3 (hidden, classes)``, ``b3``; weights from N(0, weight_scale^2).
    """

    def __init__(
        self,
        input_dims: Sequence[int] = (3, 32, 32),
        num_filters: int = 32,
        filter_size: int = 7,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: torch.dtype = torch.float,
        device: str | torch.device = "cpu",
    ) -> None:
        C, H, W = _input_dims(input_dims)
        check_positive_int(num_filters, "num_filters")
        check_positive_int(filter_size, "filter_size")
        check_positive_int(hidden_dim, "hidden_dim")
        check_positive_int(num_classes, "num_classes")
        check_number(weight_scale, "weight_scale", low=0)
        dtype = self._set_common(reg, dtype, num_classes)
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        Hc = _out_size("ThreeLayerConvNet", "height", H, filter_size, 1, self.conv_param["pad"])
        Wc = _out_size("ThreeLayerConvNet", "width", W, filter_size, 1, self.conv_param["pad"])
        Hp = _out_size("ThreeLayerConvNet (2x2 pool)", "height", Hc, 2, 2)
        Wp = _out_size("ThreeLayerConvNet (2x2 pool)", "width", Wc, 2, 2)
        self.config = dict(
            input_dims=(C, H, W),
            num_filters=num_filters,
            filter_size=filter_size,
            hidden_dim=hidden_dim,
            num_classes=num_classes,
        )
        kw = dict(dtype=dtype, device=device)
        K = filter_size
        self.params = {
            "W1": weight_scale * torch.randn(num_filters, C, K, K, **kw),
            "b1": torch.zeros(num_filters, **kw),
            "W2": weight_scale * torch.randn(num_filters * Hp * Wp, hidden_dim, **kw),
            "b2": torch.zeros(hidden_dim, **kw),
            "W3": weight_scale * torch.randn(hidden_dim, num_classes, **kw),
            "b3": torch.zeros(num_classes, **kw),
        }

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):
        """X: ``(N, C, H, W)``; y: ``(N,)`` or None. Scores, or ``(loss, grads)``."""
        X = self._input(X)
        p = self.params
        h1, c1 = LU.Conv_ReLU_Pool.forward(X, p["W1"], p["b1"], self.conv_param, self.pool_param)
        h2, c2 = LU.Linear_ReLU.forward(h1, p["W2"], p["b2"])
        scores, c3 = Linear.forward(h2, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh2, grads["W3"], grads["b3"] = Linear.backward(dscores, c3)
        dh1, grads["W2"], grads["b2"] = LU.Linear_ReLU.backward(dh2, c2)
        _, grads["W1"], grads["b1"] = LU.Conv_ReLU_Pool.backward(dh1, c1)
        return loss + self._reg_loss(grads, ("W1", "W2", "W3")), grads


class LinearNet(ScratchModel):
    """A linear softmax classifier from the scratch layers: ``Linear`` then ``softmax_loss``.

    params: ``W (D, C)`` from N(0, weight_scale^2), ``b (C,)`` zeros. The same model as
    rung 1's ``X @ W`` with the bias trick, written as layers (``deepclass ladder
    --same-model`` trains both from the same weights).
    """

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        check_positive_int(input_dim, "input_dim")
        check_positive_int(num_classes, "num_classes")
        check_number(weight_scale, "weight_scale", low=0)
        dtype = self._set_common(reg, dtype, num_classes)
        self.config = dict(input_dim=input_dim, num_classes=num_classes)
        kw = dict(dtype=dtype, device=device)
        self.params = {
            "W": weight_scale * torch.randn(input_dim, num_classes, **kw),
            "b": torch.zeros(num_classes, **kw),
        }

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):
        """X: ``(N, d_1, ..., d_k)`` with D = prod(d_i); y: ``(N,)`` or None.

        Returns scores ``(N, C)`` if y is None, else ``(loss, grads)``.
        """
        X = self._input(X)
        scores, cache = Linear.forward(X, self.params["W"], self.params["b"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads = {}
        _, grads["W"], grads["b"] = Linear.backward(dscores, cache)
        return loss + self._reg_loss(grads, ("W",)), grads


class Seed000ConvNet(ScratchModel):
    """Seed 000's three-layer convnet from the scratch layers (fast convolutions).

    ``FastConv(5x5, pad 2) - ReLU - FastConv(3x3, pad 1) - ReLU - Linear - softmax``.
    params: ``W1 (channel_1, C, 5, 5)``, ``b1``, ``W2 (channel_2, channel_1, 3, 3)``,
    ``b2``, ``W3 (channel_2 * H * W, num_classes)``, ``b3``: the layout of the
    barebones ``three_layer_convnet``'s ``conv_w1 ... fc_b`` (Kaiming-normal weights,
    zero biases, as that rung initialises them).
    """

    def __init__(
        self,
        input_dims: Sequence[int] = (3, 32, 32),
        channel_1: int = 32,
        channel_2: int = 16,
        num_classes: int = 10,
        reg: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        C, H, W = _input_dims(input_dims)
        for v, n in (
            (channel_1, "channel_1"),
            (channel_2, "channel_2"),
            (num_classes, "num_classes"),
        ):
            check_positive_int(v, n)
        dtype = self._set_common(reg, dtype, num_classes)
        self.conv_params = ({"stride": 1, "pad": 2}, {"stride": 1, "pad": 1})
        self.config = dict(
            input_dims=(C, H, W), channel_1=channel_1, channel_2=channel_2, num_classes=num_classes
        )
        kw = dict(dtype=dtype, device=device)
        self.params = {
            "W1": kaiming_initializer(C, channel_1, K=5, **kw),
            "b1": torch.zeros(channel_1, **kw),
            "W2": kaiming_initializer(channel_1, channel_2, K=3, **kw),
            "b2": torch.zeros(channel_2, **kw),
            "W3": kaiming_initializer(channel_2 * H * W, num_classes, **kw),
            "b3": torch.zeros(num_classes, **kw),
        }

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):
        """X: ``(N, C, H, W)``; y: ``(N,)`` or None. Scores, or ``(loss, grads)``."""
        X = self._input(X)
        p = self.params
        h1, c1 = LU.Conv_ReLU.forward(X, p["W1"], p["b1"], self.conv_params[0])
        h2, c2 = LU.Conv_ReLU.forward(h1, p["W2"], p["b2"], self.conv_params[1])
        scores, c3 = Linear.forward(h2, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh2, grads["W3"], grads["b3"] = Linear.backward(dscores, c3)
        dh1, grads["W2"], grads["b2"] = LU.Conv_ReLU.backward(dh2, c2)
        _, grads["W1"], grads["b1"] = LU.Conv_ReLU.backward(dh1, c1)
        return loss + self._reg_loss(grads, ("W1", "W2", "W3")), grads


def _input_dims(input_dims: Sequence[int]) -> tuple[int, int, int]:
    if isinstance(input_dims, int) or len(input_dims) != 3:
        raise ConfigError(f"input_dims must be (C, H, W), got {input_dims!r}")
    return tuple(check_positive_int(d, "input_dims[i]") for d in input_dims)  # type: ignore[return-value]


Initializer = Callable[..., torch.Tensor]


@register_model("scratch", "deep_conv", "{conv3x3 - [batchnorm] - relu - [pool]} x (L-1) - affine")
class DeepConvNet(ScratchModel):
    """A convnet of any depth: ``{conv - [batchnorm] - relu - [pool]} x (L - 1) - linear``.

    Convolutions are 3x3 with stride 1 and pad 1 (they keep the size); pools are
    2x2 with stride 2, after the macro layers listed in ``max_pools`` (0-based).
    weight_scale: the std of N(0, std^2) weights, or ``'kaiming'`` for
    :func:`kaiming_initializer`; weight_initializer: a function with
    ``kaiming_initializer``'s signature that, when given, initializes every weight.
    params: ``W1..WL``, ``b1..bL``; with batchnorm ``gamma1..`` and ``beta1..``
    for the L - 1 conv layers.
    """

    def __init__(
        self,
        input_dims: Sequence[int] = (3, 32, 32),
        num_filters: Sequence[int] = (8, 8, 8, 8, 8),
        max_pools: Sequence[int] = (0, 1, 2, 3, 4),
        batchnorm: bool = False,
        num_classes: int = 10,
        weight_scale: float | str = 1e-3,
        reg: float = 0.0,
        weight_initializer: Initializer | None = None,
        dtype: torch.dtype = torch.float,
        device: str | torch.device = "cpu",
    ) -> None:
        C, H, W = _input_dims(input_dims)
        if isinstance(num_filters, int) or not num_filters:
            raise ConfigError(f"num_filters must be a non-empty list of ints, got {num_filters!r}")
        num_filters = [check_positive_int(f, "num_filters[i]") for f in num_filters]
        max_pools = sorted(set(max_pools))
        if any(not is_int(i) or not 0 <= i < len(num_filters) for i in max_pools):
            raise ConfigError(
                f"max_pools must hold conv layer indices in [0, {len(num_filters)}), got {max_pools}"
            )
        check_positive_int(num_classes, "num_classes")
        if weight_scale != "kaiming":
            check_number(weight_scale, "weight_scale", low=0)
        dtype = self._set_common(reg, dtype, num_classes)
        self.num_layers = len(num_filters) + 1
        self.max_pools = max_pools
        self.batchnorm = bool(batchnorm)
        self.conv_param = {"stride": 1, "pad": 1}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        self.config = dict(
            input_dims=(C, H, W),
            num_filters=num_filters,
            max_pools=max_pools,
            batchnorm=self.batchnorm,
            num_classes=num_classes,
        )

        def init(Din: int, Dout: int, K: int | None, relu: bool) -> torch.Tensor:
            if weight_initializer is not None:
                return weight_initializer(Din, Dout, K, relu, device=device, dtype=dtype)
            if weight_scale == "kaiming":
                return kaiming_initializer(Din, Dout, K, relu, device=device, dtype=dtype)
            shape = (Din, Dout) if K is None else (Dout, Din, K, K)
            return weight_scale * torch.randn(shape, dtype=dtype, device=device)

        kw = dict(dtype=dtype, device=device)
        self.params = {}
        din = C
        for i, f in enumerate(num_filters, start=1):
            self.params[f"W{i}"] = init(din, f, 3, True)
            self.params[f"b{i}"] = torch.zeros(f, **kw)
            if self.batchnorm:
                self.params[f"gamma{i}"] = torch.ones(f, **kw)
                self.params[f"beta{i}"] = torch.zeros(f, **kw)
            if i - 1 in max_pools:
                H = _out_size(f"DeepConvNet (pool after layer {i - 1})", "height", H, 2, 2)
                W = _out_size(f"DeepConvNet (pool after layer {i - 1})", "width", W, 2, 2)
            din = f
        L = self.num_layers
        self.params[f"W{L}"] = init(din * H * W, num_classes, None, False)
        self.params[f"b{L}"] = torch.zeros(num_classes, **kw)
        self.bn_params = [{"mode": "train"} for _ in num_filters] if self.batchnorm else []

    def loss(self, X: torch.Tensor, y: torch.Tensor | None = None):
        """X: ``(N, C, H, W)``; y: ``(N,)`` or None. Scores, or ``(loss, grads)``."""
        X = self._input(X)
        self._set_mode("test" if y is None else "train")
        p, L = self.params, self.num_layers
        caches = []
        h = X
        for i in range(1, L):
            pool = i - 1 in self.max_pools
            w, b = p[f"W{i}"], p[f"b{i}"]
            if self.batchnorm:
                args = (
                    h,
                    w,
                    b,
                    p[f"gamma{i}"],
                    p[f"beta{i}"],
                    self.conv_param,
                    self.bn_params[i - 1],
                )
                layer = LU.Conv_BatchNorm_ReLU_Pool if pool else LU.Conv_BatchNorm_ReLU
                h, c = layer.forward(*args, self.pool_param) if pool else layer.forward(*args)
            else:
                layer = LU.Conv_ReLU_Pool if pool else LU.Conv_ReLU
                args = (h, w, b, self.conv_param)
                h, c = layer.forward(*args, self.pool_param) if pool else layer.forward(*args)
            caches.append((layer, c))
        scores, last_cache = Linear.forward(h, p[f"W{L}"], p[f"b{L}"])
        if y is None:
            return scores

        loss, dscores = softmax_loss(scores, y)
        grads = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = Linear.backward(dscores, last_cache)
        for i in range(L - 1, 0, -1):
            layer, c = caches[i - 1]
            if self.batchnorm:
                dh, grads[f"W{i}"], grads[f"b{i}"], grads[f"gamma{i}"], grads[f"beta{i}"] = (
                    layer.backward(dh, c)
                )
            else:
                dh, grads[f"W{i}"], grads[f"b{i}"] = layer.backward(dh, c)
        return loss + self._reg_loss(grads, [f"W{i}" for i in range(1, L + 1)]), grads


MODELS: dict[str, type[ScratchModel]] = {
    cls.__name__: cls for cls in (TwoLayerNet, FullyConnectedNet, ThreeLayerConvNet, DeepConvNet)
}


def load_model(
    path: str | os.PathLike, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
) -> ScratchModel:
    """Rebuild a model from a checkpoint written by ``save`` or by a Solver."""
    ckpt = read_checkpoint(path)
    cls = MODELS.get(ckpt.get("model"))
    if cls is None:
        raise CheckpointError(
            f"{path}: unknown model {ckpt.get('model')!r}; valid: {', '.join(MODELS)}"
        )
    dtype = dtype or getattr(torch, ckpt.get("dtype", "float32"))
    model = cls(**ckpt["config"], dtype=dtype, device=device)
    return model.load_checkpoint(ckpt, dtype, device, source=str(path))


def create_solver_instance(data_dict: dict, dtype: torch.dtype, device: str | torch.device):
    """The seed's configuration: ``TwoLayerNet(hidden_dim=200)`` and a Solver for 100 epochs
    (SGD, learning rate 1e-2, batch 100: the Solver's defaults)."""
    model = TwoLayerNet(hidden_dim=200, dtype=dtype, device=device)
    return Solver(model, data_dict, device=device, num_epochs=100)
