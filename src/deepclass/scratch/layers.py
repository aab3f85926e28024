"""Layers with hand-derived gradients: EECS 498 A3's ``layers`` in one module.

Every layer is a class with two static methods, read together:

- ``forward(inputs..., params) -> (out, cache)``
- ``backward(dout, cache) -> gradients``, one per input of ``forward`` that
  has a gradient (``dx``, then ``dw, db`` or ``dgamma, dbeta``).

``cache`` is a small named tuple holding exactly what ``backward`` needs.
Autograd is never used: not by the naive layers, not by the fast
convolution and pooling (whose backward passes are written here, col2im and
argmax routing included), not by the losses. All tensors stay on the device
and in the dtype they arrive in (float64 for gradient checks).

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


class Linear_ReLU:
    """Linear followed by ReLU."""

    @staticmethod
    def forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
        a, fc_cache = Linear.forward(x, w, b)
        out, relu_cache = ReLU.forward(a)
        return out, (fc_cache, relu_cache)

    @staticmethod
    def backward(dout: torch.Tensor, cache):
        """Returns ``dx, dw, db``."""
        fc_cache, relu_cache = cache
        return Linear.backward(ReLU.backward(dout, relu_cache), fc_cache)


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
    """Naive convolution: one output position at a time (the reference for :class:`FastConv`)."""

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


# FastConv works on one slice of the batch at a time, so that the im2col columns
# (HH*WW times the input) stay in cache between being written and multiplied,
# and one small buffer is reused instead of allocating (and page-faulting) the
# whole batch's columns. About this many bytes of columns per slice (fewer, larger
# slices pay off for RGB inputs, where col2im is HH*WW small adds per slice):
_CHUNK_BYTES = 8 << 20
# Below this many input channels the patch rows are short (HH*WW*C floats), so
# the columns are laid out channel-major instead (runs of W' floats; see _Layout).
_SMALL_C = 16


def _batch_slices(N: int, bytes_per_example: int) -> list[tuple[int, int]]:
    n = max(1, min(N, _CHUNK_BYTES // max(1, bytes_per_example)))
    return [(a, min(N, a + n)) for a in range(0, N, n)]


class _Layout:
    """Where the padded input and the im2col columns live, for one convolution.

    Output rows are always ordered (n, h', w') and column entries (di, dj, c), so that
    ``out (rows, F) = cols (rows, HH*WW*C) @ w_mat (HH*WW*C, F)``: NHWC, which is
    returned to the caller as a channels-last ``(N, F, H', W')`` view (no copy).

    - ``nhwc`` (C >= 16): padded input ``(N, Hp, Wp, C)``; columns ``(rows, HH*WW*C)``,
      built with one strided copy per filter row (runs of WW*C floats).
    - ``cn`` (few channels, e.g. RGB input): padded input ``(C, N, Hp, Wp)``; columns
      transposed, ``(HH*WW*C, rows)``, one strided copy per filter offset (runs of W').
    """

    def __init__(self, C: int, HH: int, WW: int, stride: int, Ho: int, Wo: int) -> None:
        self.kind = "cn" if C < _SMALL_C else "nhwc"
        self.C, self.HH, self.WW, self.s, self.Ho, self.Wo = C, HH, WW, stride, Ho, Wo

    def pad(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        """x ``(N, C, H, W)`` (any strides) -> the zero-padded input in this layout."""
        N, C, H, W = x.shape
        if self.kind == "nhwc":
            xt, shape = x.permute(0, 2, 3, 1), (N, H + 2 * pad, W + 2 * pad, C)
        else:
            xt, shape = x.transpose(0, 1), (C, N, H + 2 * pad, W + 2 * pad)
        if pad == 0:
            return xt.contiguous()
        xp = x.new_zeros(shape)
        _crop(xp, pad, H, W, self.kind).copy_(xt)
        return xp

    def im2col(self, xp: torch.Tensor, a: int, e: int, buf: torch.Tensor) -> torch.Tensor:
        """Columns of examples ``a:e``, written into ``buf``: ``(rows, K)`` or ``(K, rows)``."""
        HH, WW, s, Ho, Wo, C = self.HH, self.WW, self.s, self.Ho, self.Wo, self.C
        n = e - a
        # every patch entry is a strided view of the padded input, so one copy of one
        # (overlapping) view builds all the columns
        rows, K = n * Ho * Wo, HH * WW * C
        if self.kind == "nhwc":
            sN, sH, sW, _ = xp.stride()  # for a fixed filter row, (dj, c) is one contiguous run
            shape, strides = (n, Ho, Wo, HH, WW * C), (sN, sH * s, sW * s, sH, 1)
            matrix = (rows, K)
        else:
            sC, sN, sH, sW = xp.stride()
            shape, strides = (HH, WW, C, n, Ho, Wo), (sH, sW, sC, sN, sH * s, sW * s)
            matrix = (K, rows)
        cols = buf[: rows * K].view(shape)
        cols.copy_(xp.as_strided(shape, strides, xp.storage_offset() + a * sN))
        return cols.view(matrix)

    def col2im_add(self, dxp: torch.Tensor, dcols: torch.Tensor, a: int, e: int) -> None:
        """Add the column gradients of examples ``a:e`` back onto the padded input gradient."""
        HH, WW, s, Ho, Wo, C = self.HH, self.WW, self.s, self.Ho, self.Wo, self.C
        n = e - a
        if self.kind == "nhwc":
            d = dcols.view(n, Ho, Wo, HH, WW, C)
            target = dxp[a:e]
            for di in range(HH):
                for dj in range(WW):
                    target[:, _win(di, s, Ho), _win(dj, s, Wo)] += d[:, :, :, di, dj]
            return
        d = dcols.view(HH, WW, C, n, Ho, Wo)
        target = dxp[:, a:e]
        for di in range(HH):
            for dj in range(WW):
                target[:, :, _win(di, s, Ho), _win(dj, s, Wo)] += d[di, dj]

    def to_nchw(self, t: torch.Tensor) -> torch.Tensor:
        """The padded-layout tensor as an ``(N, C, H, W)`` view."""
        return t.permute(0, 3, 1, 2) if self.kind == "nhwc" else t.transpose(0, 1)


def _win(start: int, stride: int, n: int) -> slice:
    """The positions ``start, start + stride, ...`` (n of them) that one filter offset reads."""
    return slice(start, start + stride * (n - 1) + 1, stride)


def _crop(xp: torch.Tensor, pad: int, H: int, W: int, kind: str) -> torch.Tensor:
    """The un-padded ``H x W`` interior of a padded tensor (a view)."""
    if pad == 0:
        return xp
    if kind == "nhwc":  # (N, Hp, Wp, C)
        return xp[:, pad : pad + H, pad : pad + W, :]
    return xp[:, :, pad : pad + H, pad : pad + W]  # (C, N, Hp, Wp)


# Stride-1 convolutions over many channels skip the columns altogether ("shifted"
# matrix products, see _shifted_forward) when the grid they compute on is at most this
# many times the output (3x3 filters with pad 1: 32x32 maps 1.06, 16x16 1.13, 8x8 1.27;
# at 8x8 the columns are faster: 13 vs 17 ms forward+backward for 100x64x8x8 -> 128).
_SHIFT_MAX_WASTE = 1.2
_SHIFT_BLOCK_BYTES = 1 << 20  # grid rows per block of the shifted products (stays in L2)


class _Grid(NamedTuple):
    """Where a stride-1 convolution computes its shifted products.

    Every image is an ``Hq x Wq`` grid of rows (NHWC), images one after another, the
    input in the top-left ``H x W`` corner and zeros in the rest. The zeros right of one
    row are the left padding of the next, and the zero rows below one image the top
    padding of the next, so the grid is only ``pad`` wider and taller than the image (a
    separately padded image would be ``2 * pad``), or as large as the output. Output
    ``(n, h, w)`` is grid row ``p = (n*Hq + h)*Wq + w`` and reads input rows ``p + o``
    for ``o = (di - pad)*Wq + (dj - pad)``: a window running off the image lands on
    zeros (or on the zero rows before the first image and after the last).
    """

    Hq: int
    Wq: int
    offsets: list[tuple[int, int, int]]  # (o, di, dj) for every filter position
    lo: int  # -(most negative o): zero rows needed before the first image
    hi: int  # the largest o: zero rows needed after the last


def _grid(x_hw: tuple[int, int], k_hw: tuple[int, int], pad: int, out_hw: tuple[int, int]):
    """The grid of an ``H x W`` input, ``HH x WW`` filters and ``Ho x Wo`` outputs."""
    (H, W), (HH, WW), (Ho, Wo) = x_hw, k_hw, out_hw
    Hq, Wq = max(H + pad, Ho), max(W + pad, Wo)
    offsets = [((di - pad) * Wq + dj - pad, di, dj) for di in range(HH) for dj in range(WW)]
    return _Grid(Hq, Wq, offsets, max(0, -offsets[0][0]), max(0, offsets[-1][0]))


def _use_shifted(lay: _Layout, g: _Grid) -> bool:
    return lay.kind == "nhwc" and lay.s == 1 and g.Hq * g.Wq <= _SHIFT_MAX_WASTE * lay.Ho * lay.Wo


def _to_grid(t: torch.Tensor, g: _Grid, before: int, after: int) -> torch.Tensor:
    """t ``(N, C, h, w)`` (any strides, h <= Hq, w <= Wq) as grid rows, zeros elsewhere.

    Returns ``(before + N*Hq*Wq + after, C)``, contiguous; t's rows start at ``before``.
    Only the zeros are written besides t (no fill of the whole buffer first).
    """
    N, C, h, w = t.shape
    rows = t.new_empty(before + N * g.Hq * g.Wq + after, C)
    rows[:before].zero_()
    rows[rows.shape[0] - after :].zero_()
    grid = rows[before : before + N * g.Hq * g.Wq].view(N, g.Hq, g.Wq, C)
    grid[:, h:].zero_()
    grid[:, :h, w:].zero_()
    grid[:, :h, :w].copy_(t.permute(0, 2, 3, 1))
    return rows


def _row_blocks(n: int, width: int) -> list[tuple[int, int]]:
    """``(r0, r1)`` ranges of about ``_SHIFT_BLOCK_BYTES`` of float rows covering ``n`` rows."""
    step = max(64, _SHIFT_BLOCK_BYTES // (4 * width))
    return [(r0, min(n, r0 + step)) for r0 in range(0, n, step)]


def _shifted_sum(rows: torch.Tensor, terms: list, n: int, bias: torch.Tensor | None = None):
    """``out[p] = bias + sum over (s, m) in terms of rows[p + s] @ m`` for ``p < n``.

    rows: ``(R, K)``, contiguous; every m: ``(K, M)``. Each term is one contiguous slice
    of rows times a small matrix, accumulated block by block so that a block of ``out``
    stays in cache while its terms are added. Returns ``out (n, M)``.
    """
    (s0, m0), rest = terms[0], terms[1:]
    out = rows.new_empty(n, m0.shape[1])
    for r0, r1 in _row_blocks(n, max(rows.shape[1], m0.shape[1])):
        block = out[r0:r1]
        if bias is None:
            torch.mm(rows[r0 + s0 : r1 + s0], m0, out=block)
        else:
            torch.addmm(bias, rows[r0 + s0 : r1 + s0], m0, out=block)
        for s, m in rest:
            block.addmm_(rows[r0 + s : r1 + s], m)
    return out


def _shifted_forward(xg: torch.Tensor, g: _Grid, w: torch.Tensor, b: torch.Tensor, N: int):
    """Stride-1 convolution as HH*WW matrix products of shifted row slices, no im2col.

    xg: the input as grid rows (:func:`_to_grid` with ``g.lo`` rows before and ``g.hi``
    after), ``(lo + N*Hq*Wq + hi, C)``. ``out[p] = b + sum over (o, di, dj) of xg[p + o]
    @ w[:, :, di, dj]^T``. Returns ``out`` on the whole grid, ``(N*Hq*Wq, F)``; rows
    outside the output are garbage.
    """
    w_k = w.permute(2, 3, 1, 0).contiguous()  # w_k[di, dj]: (C, F)
    terms = [(g.lo + o, w_k[di, dj]) for o, di, dj in g.offsets]
    return _shifted_sum(xg, terms, N * g.Hq * g.Wq, b)


def _shifted_backward(dout: torch.Tensor, xg: torch.Tensor, g: _Grid, w: torch.Tensor):
    """Gradients of :func:`_shifted_forward`: ``dx`` on the grid ``(N*Hq*Wq, C)`` and ``dw``.

    dout ``(N, F, Ho, Wo)`` is placed on the grid (zeros at the rows that are not outputs,
    ``hi`` zero rows before and ``lo`` after). Then ``dw[:, :, di, dj] = sum_p (xg[p +
    o]^T @ d[p])^T`` and, like the forward, ``dx[q] = sum over (o, di, dj) of d[q - o] @
    w[:, :, di, dj]``.
    """
    N = dout.shape[0]
    F, C, HH, WW = w.shape
    d = _to_grid(dout, g, g.hi, g.lo)
    n = N * g.Hq * g.Wq
    dw_t = dout.new_zeros(HH, WW, F, C)
    terms = [(o, dw_t[di, dj]) for o, di, dj in g.offsets]
    for r0, r1 in _row_blocks(n, max(C, F)):
        d_t = d[g.hi + r0 : g.hi + r1].t()
        for o, dwk in terms:
            dwk.addmm_(d_t, xg[g.lo + r0 + o : g.lo + r1 + o])
    w_t = w.permute(2, 3, 0, 1).contiguous()  # w_t[di, dj]: (F, C)
    dx = _shifted_sum(d, [(g.hi - o, w_t[di, dj]) for o, di, dj in g.offsets], n)
    return dx, dw_t.permute(2, 3, 0, 1).contiguous()


class FastConvCache(NamedTuple):
    xp: torch.Tensor  # the zero-padded input in the layout's order, or the grid rows
    w: torch.Tensor  # (F, C, HH, WW)
    x_shape: torch.Size
    stride: int
    pad: int


class FastConv:
    """Convolution as im2col + matrix products over batch slices, with its own backward.

    No copy of the whole batch's columns is ever made: each slice's columns are
    built in a reused buffer (strided-view copies), multiplied, and rebuilt in the
    backward pass from the cached padded input. Stride-1 convolutions over 16 or
    more channels on maps of 16x16 and up need no columns at all: they are HH*WW
    products of shifted row slices of the input laid out on a zero-gapped grid
    (``_Grid``, ``_shifted_forward``). The output is channels-last in memory (an
    ``(N, F, H', W')`` view of an NHWC tensor), which the next fast layer reads
    without a copy.
    """

    @staticmethod
    def forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, conv_param: dict):
        """Same contract as :meth:`Conv.forward`: returns ``out (N, F, H', W')`` and a
        ``FastConvCache`` (the padded input, w and the geometry)."""
        stride, pad, Ho, Wo = _conv_params("FastConv", x, w, b, conv_param)
        N, C = x.shape[:2]
        F, HH, WW = w.shape[0], w.shape[2], w.shape[3]
        lay = _Layout(C, HH, WW, stride, Ho, Wo)
        g = _grid(x.shape[2:], w.shape[2:], pad, (Ho, Wo))
        if _use_shifted(lay, g):
            xg = _to_grid(x, g, g.lo, g.hi)
            out = _shifted_forward(xg, g, w, b, N).view(N, g.Hq, g.Wq, F)[:, :Ho, :Wo]
            cache = FastConvCache(xg, w, x.shape, stride, pad)
            return out.contiguous().permute(0, 3, 1, 2), cache
        xp = lay.pad(x, pad)
        cache = FastConvCache(xp, w, x.shape, stride, pad)
        w_mat = w.permute(2, 3, 1, 0).reshape(HH * WW * C, F)  # rows in (di, dj, c) order
        L, K = Ho * Wo, HH * WW * C
        slices = _batch_slices(N, L * K * x.element_size())
        buf = x.new_empty((slices[0][1] - slices[0][0]) * L * K)
        out = x.new_empty(N, Ho, Wo, F)
        for a, e in slices:
            cols = lay.im2col(xp, a, e, buf)
            cols = cols if lay.kind == "nhwc" else cols.t()
            torch.addmm(b, cols, w_mat, out=out[a:e].view((e - a) * L, F))
        return out.permute(0, 3, 1, 2), cache

    @staticmethod
    def backward(dout: torch.Tensor, cache: FastConvCache):
        """dout: ``(N, F, H', W')``. Returns ``dx (N, C, H, W)``, ``dw (F, C, HH, WW)``, ``db (F,)``.

        With ``out = cols @ w_mat`` per slice: ``dw_mat += cols^T @ dout_rows`` and
        ``dcols = dout_rows @ w_mat^T``, added back onto the input by col2im (every
        filter offset adds its slab into a strided view of the padded gradient).
        """
        xp, w, x_shape, stride, pad = cache
        N, F, Ho, Wo = dout.shape
        C, HH, WW = w.shape[1], w.shape[2], w.shape[3]
        lay = _Layout(C, HH, WW, stride, Ho, Wo)
        db = dout.sum(dim=(0, 2, 3))
        g = _grid(x_shape[2:], w.shape[2:], pad, (Ho, Wo))
        if _use_shifted(lay, g):
            dxg, dw = _shifted_backward(dout, xp, g, w)
            H, W = x_shape[2], x_shape[3]
            dx = dxg.view(N, g.Hq, g.Wq, C)[:, :H, :W].permute(0, 3, 1, 2)
            return dx, dw, db
        L, K = Ho * Wo, HH * WW * C
        d_rows = dout.permute(0, 2, 3, 1).reshape(N * L, F)  # no copy if dout is channels-last
        w_mat = w.permute(2, 3, 1, 0).reshape(K, F)
        dw_mat = dout.new_zeros(K, F)
        dxp = dout.new_zeros(xp.shape)
        slices = _batch_slices(N, L * K * dout.element_size())
        size = (slices[0][1] - slices[0][0]) * L * K
        buf, dbuf = dout.new_empty(size), dout.new_empty(size)
        for a, e in slices:
            cols = lay.im2col(xp, a, e, buf)
            d = d_rows[a * L : e * L]
            rows = (e - a) * L
            if lay.kind == "nhwc":
                dw_mat.addmm_(cols.t(), d)
                dcols = torch.mm(d, w_mat.t(), out=dbuf[: rows * K].view(rows, K))
            else:  # columns are (K, rows)
                dw_mat.addmm_(cols, d)
                dcols = torch.mm(w_mat, d.t(), out=dbuf[: rows * K].view(K, rows))
            lay.col2im_add(dxp, dcols, a, e)
        dx = lay.to_nchw(_crop(dxp, pad, x_shape[2], x_shape[3], lay.kind))
        dw = dw_mat.view(HH, WW, C, F).permute(3, 2, 0, 1).contiguous()
        return dx, dw, db


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
    """Naive max pooling: one output position at a time (the reference for :class:`FastMaxPool`)."""

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


class FastMaxPoolCache(NamedTuple):
    argmax: torch.Tensor  # (N, C, H', W') uint8: the winner's index inside its window, row-major
    x_shape: torch.Size
    channels_last: bool  # the input's memory layout, given to dx as well
    pool: tuple[int, int, int]  # pool_height, pool_width, stride


class FastMaxPool:
    """Max pooling over strided views, one window offset at a time, with its own backward.

    Every window offset (di, dj) is a strided view of x of the output's size;
    a running maximum over the ph*pw views gives the output and the argmax in a
    few passes over the data, in whatever memory layout x has (channels-last
    stays channels-last, as the fast convolution produces it).
    """

    @staticmethod
    def forward(x: torch.Tensor, pool_param: dict):
        """Same contract as :meth:`MaxPool.forward`; the cache keeps only each window's argmax."""
        ph, pw, s, Ho, Wo = _pool_params("FastMaxPool", x, pool_param)
        if ph * pw > 255:
            raise ConfigError(f"FastMaxPool: windows of at most 255 elements, got {ph}x{pw}")
        out = argmax = None
        for di in range(ph):
            for dj in range(pw):
                v = x[:, :, _win(di, s, Ho), _win(dj, s, Wo)]
                if out is None:
                    out = v.clone()
                    argmax = torch.zeros_like(out, dtype=torch.uint8)
                    continue
                better = v > out  # strict: ties keep the first maximum, as torch.max does
                out = torch.maximum(out, v)
                # offsets come in increasing order, so a later winner has the larger index:
                # argmax = max(argmax, k * better) (much faster than a masked fill)
                torch.maximum(argmax, better.to(torch.uint8).mul_(di * pw + dj), out=argmax)
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        return out, FastMaxPoolCache(argmax, x.shape, channels_last, (ph, pw, s))

    @staticmethod
    def backward(dout: torch.Tensor, cache: FastMaxPoolCache):
        """dout: ``(N, C, H', W')``. Returns ``dx (N, C, H, W)``: dout routed to each argmax."""
        argmax, x_shape, channels_last, (ph, pw, s) = cache
        Ho, Wo = dout.shape[2], dout.shape[3]
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        dx = torch.empty(x_shape, dtype=dout.dtype, device=dout.device, memory_format=fmt).zero_()
        overlap = s < ph or s < pw
        for di in range(ph):
            for dj in range(pw):
                won = argmax == di * pw + dj
                target = dx[:, :, _win(di, s, Ho), _win(dj, s, Wo)]
                if overlap:
                    target += dout * won
                else:  # every input position is in at most one window: write in place
                    torch.mul(dout, won, out=target)
        return dx


# --------------------------------------------------------------------------------------
# Sandwich layers (they use the fast convolution and pooling, as the course's do)


class Linear_BatchNorm_ReLU:
    """Linear - BatchNorm - ReLU."""

    @staticmethod
    def forward(x, w, b, gamma, beta, bn_param):
        a, fc_cache = Linear.forward(x, w, b)
        an, bn_cache = BatchNorm.forward(a, gamma, beta, bn_param)
        out, relu_cache = ReLU.forward(an)
        return out, (fc_cache, bn_cache, relu_cache)

    @staticmethod
    def backward(dout, cache):
        """Returns ``dx, dw, db, dgamma, dbeta``."""
        fc_cache, bn_cache, relu_cache = cache
        dan = ReLU.backward(dout, relu_cache)
        da, dgamma, dbeta = BatchNorm.backward_alt(dan, bn_cache)
        dx, dw, db = Linear.backward(da, fc_cache)
        return dx, dw, db, dgamma, dbeta


class Conv_ReLU:
    """FastConv - ReLU."""

    @staticmethod
    def forward(x, w, b, conv_param):
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        out, relu_cache = ReLU.forward(a)
        return out, (conv_cache, relu_cache)

    @staticmethod
    def backward(dout, cache):
        """Returns ``dx, dw, db``."""
        conv_cache, relu_cache = cache
        return FastConv.backward(ReLU.backward(dout, relu_cache), conv_cache)


class Conv_ReLU_Pool:
    """FastConv - ReLU - FastMaxPool."""

    @staticmethod
    def forward(x, w, b, conv_param, pool_param):
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        s, relu_cache = ReLU.forward(a)
        out, pool_cache = FastMaxPool.forward(s, pool_param)
        return out, (conv_cache, relu_cache, pool_cache)

    @staticmethod
    def backward(dout, cache):
        """Returns ``dx, dw, db``."""
        conv_cache, relu_cache, pool_cache = cache
        ds = FastMaxPool.backward(dout, pool_cache)
        return FastConv.backward(ReLU.backward(ds, relu_cache), conv_cache)


class Conv_BatchNorm_ReLU:
    """FastConv - SpatialBatchNorm - ReLU."""

    @staticmethod
    def forward(x, w, b, gamma, beta, conv_param, bn_param):
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        an, bn_cache = SpatialBatchNorm.forward(a, gamma, beta, bn_param)
        out, relu_cache = ReLU.forward(an)
        return out, (conv_cache, bn_cache, relu_cache)

    @staticmethod
    def backward(dout, cache):
        """Returns ``dx, dw, db, dgamma, dbeta``."""
        conv_cache, bn_cache, relu_cache = cache
        dan = ReLU.backward(dout, relu_cache)
        da, dgamma, dbeta = SpatialBatchNorm.backward(dan, bn_cache)
        dx, dw, db = FastConv.backward(da, conv_cache)
        return dx, dw, db, dgamma, dbeta


class Conv_BatchNorm_ReLU_Pool:
    """FastConv - SpatialBatchNorm - ReLU - FastMaxPool."""

    @staticmethod
    def forward(x, w, b, gamma, beta, conv_param, bn_param, pool_param):
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        an, bn_cache = SpatialBatchNorm.forward(a, gamma, beta, bn_param)
        s, relu_cache = ReLU.forward(an)
        out, pool_cache = FastMaxPool.forward(s, pool_param)
        return out, (conv_cache, bn_cache, relu_cache, pool_cache)

    @staticmethod
    def backward(dout, cache):
        """Returns ``dx, dw, db, dgamma, dbeta``."""
        conv_cache, bn_cache, relu_cache, pool_cache = cache
        ds = FastMaxPool.backward(dout, pool_cache)
        dan = ReLU.backward(ds, relu_cache)
        da, dgamma, dbeta = SpatialBatchNorm.backward(dan, bn_cache)
        dx, dw, db = FastConv.backward(da, conv_cache)
        return dx, dw, db, dgamma, dbeta


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
