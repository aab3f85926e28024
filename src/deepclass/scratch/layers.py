"""Layers with hand-derived gradients: EECS 498 A3's ``layers``, the lesson a student reads.

Every layer is a class with two static methods, read together:

- ``forward(inputs..., params) -> (out, cache)``
- ``backward(dout, cache) -> gradients``, one per input of ``forward`` that
  has a gradient (``dx``, then ``dw, db`` or ``dgamma, dbeta``).

``cache`` is a small named tuple holding exactly what ``backward`` needs.
Autograd is never used, not by the layers and not by the losses. All tensors
stay on the device and in the dtype they arrive in (float64 for gradient checks).

Here: Linear, ReLU, Dropout, BatchNorm, SpatialBatchNorm, the naive Conv and
MaxPool (one output position at a time), ``softmax_loss`` and ``svm_loss``.
Beside it, as in the course: ``fast_layers`` (FastConv, FastMaxPool: the same
contracts, engineered for speed, with their own backward passes) and
``layer_utils`` (the "sandwich" layers that compose these).

Shapes: ``N`` examples, ``D`` features, ``C`` channels, ``F`` filters,
``H x W`` spatial size, ``HH x WW`` filter size, ``H' x W'`` output size.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from deepclass.errors import ConfigError

# --------------------------------------------------------------------------------------
# argument checks (cheap: shapes only, so they run on every call)


def _shape(t: Any) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def _check_tensor(layer: str, name: str, t: Any, ndim: int | None = None, desc: str = "") -> None:
    if not isinstance(t, torch.Tensor):
        raise ConfigError(f"{layer}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise ConfigError(f"{layer}: {name} must be a floating-point tensor, got dtype {t.dtype}")
    if ndim is not None and t.ndim != ndim:
        raise ConfigError(f"{layer}: {name} must have shape {desc}, got shape {_shape(t)}")


def _check_same(layer: str, ref_name: str, ref: torch.Tensor, **others: torch.Tensor) -> None:
    """Every tensor in ``others`` has ``ref``'s dtype and device (torch's own error is obscure)."""
    for name, t in others.items():
        if t.dtype != ref.dtype or t.device != ref.device:
            raise ConfigError(
                f"{layer}: {name} must have the dtype and device of {ref_name} "
                f"({ref.dtype} on {ref.device}), got {t.dtype} on {t.device}"
            )


def _check_labels(layer: str, x: torch.Tensor, y: Any) -> None:
    if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int64, torch.int32):
        raise ConfigError(
            f"{layer}: y must be an integer tensor of labels, got "
            f"{y.dtype if isinstance(y, torch.Tensor) else type(y).__name__}"
        )
    if y.shape != (x.shape[0],):
        raise ConfigError(
            f"{layer}: y must have shape (N,) = ({x.shape[0]},) for x of shape {_shape(x)}, "
            f"got {_shape(y)}"
        )
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= x.shape[1]):
        raise ConfigError(
            f"{layer}: labels must be in [0, C) = [0, {x.shape[1]}), "
            f"got range [{int(y.min())}, {int(y.max())}]"
        )


def _int_param(layer: str, params: Any, key: str, minimum: int) -> int:
    if not isinstance(params, dict) or key not in params:
        raise ConfigError(f"{layer}: the parameter dict must have key {key!r}, got {params!r}")
    v = params[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"{layer}: {key} must be an int >= {minimum}, got {v!r}")
    return v


def _out_size(layer: str, what: str, size: int, window: int, stride: int, pad: int = 0) -> int:
    """Output length of a sliding window; windows that do not tile the input are an error."""
    span = size + 2 * pad - window
    if span < 0 or span % stride:
        raise ConfigError(
            f"{layer}: a window of {window} with stride {stride} and pad {pad} does not tile "
            f"the input {what} {size}: (size + 2*pad - window) = {span} must be a non-negative "
            f"multiple of stride"
        )
    return 1 + span // stride


def _zero_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``(N, C, H, W)`` -> ``(N, C, H + 2 pad, W + 2 pad)`` with a zero border."""
    if pad == 0:
        return x.contiguous()
    N, C, H, W = x.shape
    out = x.new_zeros(N, C, H + 2 * pad, W + 2 * pad)
    out[:, :, pad : pad + H, pad : pad + W] = x
    return out


# --------------------------------------------------------------------------------------
# Linear and ReLU


class LinearCache(NamedTuple):
    x: torch.Tensor  # the input in its original shape (N, d_1, ..., d_k)
    w: torch.Tensor  # (D, M)


class Linear:
    """Affine layer ``out = x.reshape(N, D) @ w + b``."""

    @staticmethod
    def forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
        """x: ``(N, d_1, ..., d_k)``, reshaped to ``(N, D)``; w: ``(D, M)``; b: ``(M,)``.

        Returns ``out (N, M)`` and ``LinearCache(x, w)``.
        """
        _check_tensor("Linear", "x", x)
        _check_tensor("Linear", "w", w, 2, "(D, M)")
        _check_tensor("Linear", "b", b, 1, "(M,)")
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != w.shape[0] or b.shape[0] != w.shape[1]:
            raise ConfigError(
                f"Linear: x {_shape(x)} has D = {x2.shape[1]} features per example; "
                f"w must be (D, M) and b (M,), got w {_shape(w)} and b {_shape(b)}"
            )
        _check_same("Linear", "x", x, w=w, b=b)
        return torch.addmm(b, x2, w), LinearCache(x, w)

    @staticmethod
    def backward(dout: torch.Tensor, cache: LinearCache):
        """dout: ``(N, M)``. Returns ``dx`` (x's shape), ``dw (D, M)``, ``db (M,)``."""
        x, w = cache
        dx = dout.mm(w.t()).reshape(x.shape)
        dw = x.reshape(x.shape[0], -1).t().mm(dout)
        db = dout.sum(dim=0)
        return dx, dw, db


class ReLU:
    """``out = max(x, 0)`` elementwise; the cache is the input ``x``."""

    @staticmethod
    def forward(x: torch.Tensor):
        """x: any shape. Returns ``out`` (same shape, a new tensor) and ``x``."""
        _check_tensor("ReLU", "x", x)
        return x.clamp(min=0), x

    @staticmethod
    def backward(dout: torch.Tensor, cache: torch.Tensor):
        """dx = dout where x > 0, else 0 (the subgradient at 0 is 0, as torch's)."""
        return dout * (cache > 0)


# --------------------------------------------------------------------------------------
# Dropout


class DropoutCache(NamedTuple):
    mode: str
    mask: torch.Tensor | None  # kept / (1 - p) in train mode, None in test mode


class Dropout:
    """Inverted dropout: in training, drop each unit with probability ``p`` and scale by 1/(1-p)."""

    @staticmethod
    def forward(x: torch.Tensor, dropout_param: dict):
        """dropout_param: ``mode`` ('train'|'test'), ``p`` (probability of *dropping*, in [0, 1)),
        optional ``seed`` (the same mask on every call: for gradient checks; the global
        random stream is left untouched).

        Test mode is the identity (the train-time scaling keeps expectations equal).
        Returns ``out`` (x's shape) and ``DropoutCache(mode, mask)``.
        """
        _check_tensor("Dropout", "x", x)
        if not isinstance(dropout_param, dict):
            raise ConfigError(f"Dropout: dropout_param must be a dict, got {dropout_param!r}")
        p, mode = dropout_param.get("p"), dropout_param.get("mode")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ConfigError(f"Dropout: p (drop probability) must be in [0, 1), got {p!r}")
        if mode not in ("train", "test"):
            raise ConfigError(f"Dropout: mode must be 'train' or 'test', got {mode!r}")
        if mode == "test":
            return x, DropoutCache(mode, None)
        gen = None
        if dropout_param.get("seed") is not None:
            gen = torch.Generator(device=x.device)
            gen.manual_seed(int(dropout_param["seed"]))
        mask = torch.empty_like(x).bernoulli_(1.0 - p, generator=gen).div_(1.0 - p)
        return x * mask, DropoutCache(mode, mask)

    @staticmethod
    def backward(dout: torch.Tensor, cache: DropoutCache):
        mode, mask = cache
        return dout if mode == "test" else dout * mask


# --------------------------------------------------------------------------------------
# Batch normalization


class BatchNormCache(NamedTuple):
    mode: str
    xhat: torch.Tensor  # normalized input, in the "rows" form of x (see _bn_rows)
    inv_std: torch.Tensor  # 1 / sqrt(var + eps), (D,): batch var in train, running var in test
    gamma: torch.Tensor  # (D,)
    axes: tuple[int, ...]  # the dimensions of xhat averaged over: (0,) or (0, 2, 3)
    x_shape: torch.Size  # to give dx x's shape back


def _param_view(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """A per-feature ``(D,)`` vector shaped to broadcast over dimension 1 of an ndim tensor."""
    return t.view((1, -1) + (1,) * (ndim - 2))


def _bn_rows(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """x as a tensor whose dimension 1 holds the features, and the axes to average over.

    ``(N, D)`` stays as it is; a channels-last ``(N, C, H, W)`` map (the fast conv's
    output) is viewed, without a copy, as ``(N*H*W, C)`` rows, where the reductions
    and broadcasts run over contiguous memory; any other map keeps its shape and is
    reduced over (0, 2, 3).
    """
    if x.ndim == 4:
        rows = x.permute(0, 2, 3, 1)
        if rows.is_contiguous():
            return rows.view(-1, x.shape[1]), (0,)
        return x, (0, 2, 3)
    return x, (0,)


def _bn_unrows(t: torch.Tensor, x_shape: torch.Size) -> torch.Tensor:
    """Undo :func:`_bn_rows` for a result in rows form."""
    if len(x_shape) == 4 and t.ndim == 2:
        N, C, H, W = x_shape
        return t.view(N, H, W, C).permute(0, 3, 1, 2)
    return t


def _bn_dout_rows(dout: torch.Tensor, cache: BatchNormCache) -> torch.Tensor:
    """dout in the same form as the cached xhat (a copy only if their layouts differ)."""
    if cache.xhat.ndim == 2 and dout.ndim == 4:
        return dout.permute(0, 2, 3, 1).reshape(-1, dout.shape[1])
    return dout


def _batchnorm_forward(layer, x, gamma, beta, bn_param, spatial):
    D = x.shape[1]
    _check_tensor(layer, "gamma", gamma, 1, f"(D,) = ({D},)")
    _check_tensor(layer, "beta", beta, 1, f"(D,) = ({D},)")
    if gamma.shape[0] != D or beta.shape[0] != D:
        raise ConfigError(
            f"{layer}: gamma and beta must have shape ({D},) for x of shape {_shape(x)}, "
            f"got {_shape(gamma)} and {_shape(beta)}"
        )
    _check_same(layer, "x", x, gamma=gamma, beta=beta)
    if not isinstance(bn_param, dict) or bn_param.get("mode") not in ("train", "test"):
        got = bn_param.get("mode") if isinstance(bn_param, dict) else bn_param
        raise ConfigError(f"{layer}: bn_param['mode'] must be 'train' or 'test', got {got!r}")
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = torch.zeros(D, dtype=x.dtype, device=x.device)
    if running_var is None:
        running_var = torch.zeros(D, dtype=x.dtype, device=x.device)

    xr, axes = _bn_rows(x) if spatial else (x, (0,))
    nd = xr.ndim
    if mode == "train":
        # Two passes (mean, then mean of squared deviations): exact, and much faster
        # than torch.var_mean on CPU; the centered x is reused for xhat.
        m = xr.numel() // D
        mean = xr.sum(dim=axes) / m
        xhat = xr - _param_view(mean, nd)
        var = (xhat * xhat).sum(dim=axes) / m  # biased, as the course
        inv_std = (var + eps).rsqrt()
        xhat.mul_(_param_view(inv_std, nd))
        # EECS 498 convention: momentum weighs the old value (torch's weighs the new one).
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        inv_std = (running_var + eps).rsqrt()
        xhat = torch.addcmul(_param_view(-running_mean * inv_std, nd), xr, _param_view(inv_std, nd))
    out = torch.addcmul(_param_view(beta, nd), xhat, _param_view(gamma, nd))
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    cache = BatchNormCache(mode, xhat, inv_std, gamma, axes, x.shape)
    return _bn_unrows(out, x.shape), cache


def _batchnorm_backward_alt(dout: torch.Tensor, cache: BatchNormCache):
    """Closed form: dx = gamma / sigma * (dout - mean(dout) - xhat * mean(dout * xhat))."""
    mode, xhat, inv_std, gamma, axes, x_shape = cache
    d = _bn_dout_rows(dout, cache)
    nd = d.ndim
    dbeta = d.sum(dim=axes)
    dgamma = (d * xhat).sum(dim=axes)
    a = gamma * inv_std
    if mode == "test":  # mean and var are constants
        return _bn_unrows(d * _param_view(a, nd), x_shape), dgamma, dbeta
    m = d.numel() // d.shape[1]
    dx = torch.addcmul(_param_view(-a * dbeta / m, nd), d, _param_view(a, nd))
    dx.addcmul_(xhat, _param_view(-a * dgamma / m, nd))
    return _bn_unrows(dx, x_shape), dgamma, dbeta


class BatchNorm:
    """Batch normalization of ``(N, D)`` features (EECS 498 semantics)."""

    @staticmethod
    def forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, bn_param: dict):
        """x: ``(N, D)``; gamma, beta: ``(D,)``.

        bn_param: ``mode`` ('train'|'test', required), ``eps`` (1e-5), ``momentum`` (0.9),
        ``running_mean`` and ``running_var`` ((D,), zeros when absent). In train mode the
        batch mean and *biased* variance normalize x and the running statistics become
        ``momentum * running + (1 - momentum) * batch``, written back into ``bn_param``;
        test mode normalizes with the running statistics.
        Returns ``out (N, D)`` and a ``BatchNormCache``.
        """
        _check_tensor("BatchNorm", "x", x, 2, "(N, D)")
        return _batchnorm_forward("BatchNorm", x, gamma, beta, bn_param, spatial=False)

    @staticmethod
    def backward(dout: torch.Tensor, cache: BatchNormCache):
        """Backward through the computation graph, one node at a time.

        Forward graph: mu = mean(x); xc = x - mu; var = mean(xc^2);
        inv_std = (var + eps)^(-1/2); xhat = xc * inv_std; out = gamma * xhat + beta.
        Returns ``dx (N, D)``, ``dgamma (D,)``, ``dbeta (D,)``.
        """
        mode, xhat, inv_std, gamma, axes, _ = cache
        nd = dout.ndim
        dbeta = dout.sum(dim=axes)
        dgamma = (dout * xhat).sum(dim=axes)
        dxhat = dout * _param_view(gamma, nd)
        dxc = dxhat * _param_view(inv_std, nd)  # through xhat = xc * inv_std, to xc
        if mode == "test":
            return dxc, dgamma, dbeta
        m = dout.numel() // dout.shape[1]
        xc = xhat / _param_view(inv_std, nd)
        dinv_std = (dxhat * xc).sum(dim=axes)  # ... and to inv_std
        dvar = -0.5 * inv_std**3 * dinv_std
        dxc = dxc + xc * _param_view(2.0 * dvar / m, nd)  # var = mean(xc^2)
        dmu = -dxc.sum(dim=axes)  # xc = x - mu
        dx = dxc + _param_view(dmu / m, nd)  # mu = mean(x)
        return dx, dgamma, dbeta

    @staticmethod
    def backward_alt(dout: torch.Tensor, cache: BatchNormCache):
        """The simplified closed form (same results, fewer passes over the data).

        Returns ``dx (N, D)``, ``dgamma (D,)``, ``dbeta (D,)``.
        """
        return _batchnorm_backward_alt(dout, cache)


class SpatialBatchNorm:
    """Batch normalization of ``(N, C, H, W)`` maps: statistics per channel over N, H, W.

    The course transposes x to ``(N*H*W, C)`` and calls BatchNorm; here a
    channels-last x is *viewed* as those rows (no copy) and any other x is reduced
    over (0, 2, 3) in place: the same numbers, no transposed copies.
    """

    @staticmethod
    def forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, bn_param: dict):
        """x: ``(N, C, H, W)``; gamma, beta: ``(C,)``; bn_param as in :meth:`BatchNorm.forward`.

        Returns ``out (N, C, H, W)`` and a ``BatchNormCache``.
        """
        _check_tensor("SpatialBatchNorm", "x", x, 4, "(N, C, H, W)")
        return _batchnorm_forward("SpatialBatchNorm", x, gamma, beta, bn_param, spatial=True)

    @staticmethod
    def backward(dout: torch.Tensor, cache: BatchNormCache):
        """Returns ``dx (N, C, H, W)``, ``dgamma (C,)``, ``dbeta (C,)`` (the closed form)."""
        return _batchnorm_backward_alt(dout, cache)

    backward_alt = backward  # the course has one backward here: it is the closed form


# --------------------------------------------------------------------------------------
# Convolution


def _conv_params(layer: str, x, w, b, conv_param) -> tuple[int, int, int, int]:
    """Validated ``(stride, pad, H', W')``."""
    _check_tensor(layer, "x", x, 4, "(N, C, H, W)")
    _check_tensor(layer, "w", w, 4, "(F, C, HH, WW)")
    _check_tensor(layer, "b", b, 1, "(F,)")
    if w.shape[1] != x.shape[1] or b.shape[0] != w.shape[0]:
        raise ConfigError(
            f"{layer}: x {_shape(x)} has C = {x.shape[1]} channels; w must be (F, C, HH, WW) "
            f"and b (F,), got w {_shape(w)} and b {_shape(b)}"
        )
    _check_same(layer, "x", x, w=w, b=b)
    stride = _int_param(layer, conv_param, "stride", 1)
    pad = _int_param(layer, conv_param, "pad", 0)
    Ho = _out_size(layer, "height", x.shape[2], w.shape[2], stride, pad)
    Wo = _out_size(layer, "width", x.shape[3], w.shape[3], stride, pad)
    return stride, pad, Ho, Wo


class ConvCache(NamedTuple):
    x: torch.Tensor  # (N, C, H, W)
    w: torch.Tensor  # (F, C, HH, WW)
    stride: int
    pad: int


class Conv:
    """Naive convolution: one output position at a time (the reference for ``fast_layers.FastConv``)."""

    @staticmethod
    def forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, conv_param: dict):
        """x: ``(N, C, H, W)``; w: ``(F, C, HH, WW)``; b: ``(F,)``;
        conv_param: ``stride``, ``pad`` (zeros on every side).

        ``H' = 1 + (H + 2 pad - HH) / stride`` (likewise W'); a stride that does not tile the
        padded input is an error. Each output position is the dot product of every
        example's window with every filter. Returns ``out (N, F, H', W')`` and a ``ConvCache``.
        """
        stride, pad, Ho, Wo = _conv_params("Conv", x, w, b, conv_param)
        N, F, HH, WW = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
        xp = _zero_pad(x, pad)
        w_rows = w.reshape(F, -1)
        out = x.new_empty(N, F, Ho, Wo)
        for i in range(Ho):
            for j in range(Wo):
                window = xp[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
                out[:, :, i, j] = window.reshape(N, -1).mm(w_rows.t()) + b
        return out, ConvCache(x, w, stride, pad)

    @staticmethod
    def backward(dout: torch.Tensor, cache: ConvCache):
        """dout: ``(N, F, H', W')``. Returns ``dx (N, C, H, W)``, ``dw (F, C, HH, WW)``, ``db (F,)``.

        Each output position sends its gradient back to the window it read:
        ``dwindow = dout[:, :, i, j] @ w`` and ``dw += dout[:, :, i, j]^T @ window``.
        """
        x, w, stride, pad = cache
        N, C, H, W = x.shape
        F, HH, WW = w.shape[0], w.shape[2], w.shape[3]
        xp = _zero_pad(x, pad)
        dxp = torch.zeros_like(xp)
        w_rows = w.reshape(F, -1)
        dw_rows = torch.zeros_like(w_rows)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                rows = slice(i * stride, i * stride + HH)
                cols = slice(j * stride, j * stride + WW)
                d = dout[:, :, i, j]  # (N, F)
                dw_rows += d.t().mm(xp[:, :, rows, cols].reshape(N, -1))
                dxp[:, :, rows, cols] += d.mm(w_rows).view(N, C, HH, WW)
        dx = dxp[:, :, pad : pad + H, pad : pad + W]
        return dx, dw_rows.view_as(w), dout.sum(dim=(0, 2, 3))


# --------------------------------------------------------------------------------------
# Max pooling


def _pool_params(layer: str, x, pool_param) -> tuple[int, int, int, int, int]:
    """Validated ``(pool_height, pool_width, stride, H', W')``."""
    _check_tensor(layer, "x", x, 4, "(N, C, H, W)")
    ph = _int_param(layer, pool_param, "pool_height", 1)
    pw = _int_param(layer, pool_param, "pool_width", 1)
    stride = _int_param(layer, pool_param, "stride", 1)
    Ho = _out_size(layer, "height", x.shape[2], ph, stride)
    Wo = _out_size(layer, "width", x.shape[3], pw, stride)
    return ph, pw, stride, Ho, Wo


class MaxPoolCache(NamedTuple):
    x: torch.Tensor  # (N, C, H, W)
    pool_param: dict


class MaxPool:
    """Naive max pooling: one output position at a time (the reference for ``fast_layers.FastMaxPool``)."""

    @staticmethod
    def forward(x: torch.Tensor, pool_param: dict):
        """x: ``(N, C, H, W)``; pool_param: ``pool_height``, ``pool_width``, ``stride``.

        ``H' = 1 + (H - pool_height) / stride`` (an error unless whole). Returns
        ``out (N, C, H', W')`` and ``MaxPoolCache(x, pool_param)``.
        """
        ph, pw, s, Ho, Wo = _pool_params("MaxPool", x, pool_param)
        N, C = x.shape[:2]
        out = x.new_empty(N, C, Ho, Wo)
        for i in range(Ho):
            for j in range(Wo):
                window = x[:, :, i * s : i * s + ph, j * s : j * s + pw]
                out[:, :, i, j] = window.reshape(N, C, -1).amax(dim=2)
        return out, MaxPoolCache(x, pool_param)

    @staticmethod
    def backward(dout: torch.Tensor, cache: MaxPoolCache):
        """dout: ``(N, C, H', W')``. Returns ``dx (N, C, H, W)``.

        Each window's gradient goes to its maximum (the first one on ties, as
        ``torch.max`` picks it); overlapping windows add up.
        """
        x, pool_param = cache
        ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
        N, C = x.shape[:2]
        dx = torch.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                rows, cols = slice(i * s, i * s + ph), slice(j * s, j * s + pw)
                arg = x[:, :, rows, cols].reshape(N, C, -1).argmax(dim=2, keepdim=True)
                routed = x.new_zeros(N, C, ph * pw).scatter_(2, arg, dout[:, :, i, j, None])
                dx[:, :, rows, cols] += routed.view(N, C, ph, pw)
        return dx


# --------------------------------------------------------------------------------------
# Losses on class scores


def softmax_loss(x: torch.Tensor, y: torch.Tensor):
    """Softmax (cross-entropy) loss on scores.

    x: ``(N, C)`` scores; y: ``(N,)`` integer labels in [0, C).
    Returns ``loss`` (a 0-dim tensor, mean over N) and ``dx (N, C) = (softmax(x) - onehot(y)) / N``.
    """
    _check_tensor("softmax_loss", "x", x, 2, "(N, C)")
    _check_labels("softmax_loss", x, y)
    N = x.shape[0]
    shifted = x - x.amax(dim=1, keepdim=True)  # exp cannot overflow
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    rows = torch.arange(N, device=x.device)
    loss = -log_probs[rows, y].mean()
    dx = log_probs.exp()
    dx[rows, y] -= 1
    return loss, dx.div_(N)


def svm_loss(x: torch.Tensor, y: torch.Tensor):
    """Multiclass SVM (hinge) loss on scores, margin 1.

    x: ``(N, C)`` scores; y: ``(N,)`` integer labels in [0, C).
    Returns ``loss`` (a 0-dim tensor, mean over N of ``sum_{j != y} max(0, x_j - x_y + 1)``)
    and ``dx (N, C)``.
    """
    _check_tensor("svm_loss", "x", x, 2, "(N, C)")
    _check_labels("svm_loss", x, y)
    N = x.shape[0]
    rows = torch.arange(N, device=x.device)
    margins = (x - x[rows, y].unsqueeze(1) + 1).clamp(min=0)
    margins[rows, y] = 0
    loss = margins.sum() / N
    dx = (margins > 0).to(x.dtype)
    dx[rows, y] -= dx.sum(dim=1)
    return loss, dx.div_(N)
