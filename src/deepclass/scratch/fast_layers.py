"""The fast convolution and max pooling: EECS 498 A3's ``fast_layers``.

``FastConv`` and ``FastMaxPool`` have the contracts of ``layers.Conv`` and
``layers.MaxPool`` (same arguments, same shapes, same gradients, checked
against them and against torch.autograd in the tests) and their own
hand-written backward passes: col2im and argmax routing, no autograd. What
lives here is performance engineering (batch slices that stay in cache,
channels-last outputs, shifted matrix products instead of im2col); the
lesson is in ``layers.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from deepclass.errors import ConfigError
from deepclass.scratch.layers import _conv_params, _pool_params

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
