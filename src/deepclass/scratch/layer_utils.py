"""Sandwich layers: common stacks composed from the primitives (the course's ``layer_utils``).

Each composes the ``forward``/``backward`` of the layers it stacks, nothing
re-derived; the convolutional ones use the fast convolution and pooling, as
the course's do. ``cache`` is the tuple of the stacked layers' caches.
"""

from __future__ import annotations

from typing import Any

import torch

from deepclass.scratch.fast_layers import FastConv, FastMaxPool
from deepclass.scratch.layers import BatchNorm, Linear, ReLU, SpatialBatchNorm


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


class _Affine_BatchNorm_ReLU:
    """affine - batchnorm - relu, for the affine and normalization layers a subclass names.

    ``forward(x, w, b, gamma, beta, *affine_params, bn_param)``; the cache is the three
    layers' caches. Backward uses the closed-form batchnorm gradient.
    """

    affine: Any  # Linear or FastConv
    norm: Any  # BatchNorm or SpatialBatchNorm

    @classmethod
    def forward(cls, x, w, b, gamma, beta, *params):
        *affine_params, bn_param = params
        a, affine_cache = cls.affine.forward(x, w, b, *affine_params)
        an, bn_cache = cls.norm.forward(a, gamma, beta, bn_param)
        out, relu_cache = ReLU.forward(an)
        return out, (affine_cache, bn_cache, relu_cache)

    @classmethod
    def backward(cls, dout, cache):
        """Returns ``dx, dw, db, dgamma, dbeta``."""
        affine_cache, bn_cache, relu_cache = cache
        da, dgamma, dbeta = cls.norm.backward_alt(ReLU.backward(dout, relu_cache), bn_cache)
        return (*cls.affine.backward(da, affine_cache), dgamma, dbeta)


class Linear_BatchNorm_ReLU(_Affine_BatchNorm_ReLU):
    """Linear - BatchNorm - ReLU: ``forward(x, w, b, gamma, beta, bn_param)``.

    x: ``(N, D)``; w: ``(D, M)``; b, gamma, beta: ``(M,)``. Returns ``out (N, M)``.
    """

    affine, norm = Linear, BatchNorm


class Conv_ReLU:
    """FastConv - ReLU."""

    @staticmethod
    def forward(x, w, b, conv_param):
        """x: ``(N, C, H, W)``; w: ``(F, C, HH, WW)``; b: ``(F,)``. Returns ``out (N, F, H', W')``."""
        a, conv_cache = FastConv.forward(x, w, b, conv_param)
        out, relu_cache = ReLU.forward(a)
        return out, (conv_cache, relu_cache)

    @staticmethod
    def backward(dout, cache):
        """Returns ``dx, dw, db``."""
        conv_cache, relu_cache = cache
        return FastConv.backward(ReLU.backward(dout, relu_cache), conv_cache)


class Conv_BatchNorm_ReLU(_Affine_BatchNorm_ReLU):
    """FastConv - SpatialBatchNorm - ReLU: ``forward(x, w, b, gamma, beta, conv_param, bn_param)``.

    x: ``(N, C, H, W)``; w: ``(F, C, HH, WW)``; b, gamma, beta: ``(F,)``.
    Returns ``out (N, F, H', W')``.
    """

    affine, norm = FastConv, SpatialBatchNorm


class _Then_Pool:
    """The layer a subclass names, then a 2-D max pool: ``forward(*layer_args, pool_param)``.

    The cache is ``(layer_cache, pool_cache)``; backward returns the layer's gradients.
    """

    layer: Any

    @classmethod
    def forward(cls, *args):
        *layer_args, pool_param = args
        s, layer_cache = cls.layer.forward(*layer_args)
        out, pool_cache = FastMaxPool.forward(s, pool_param)
        return out, (layer_cache, pool_cache)

    @classmethod
    def backward(cls, dout, cache):
        layer_cache, pool_cache = cache
        return cls.layer.backward(FastMaxPool.backward(dout, pool_cache), layer_cache)


class Conv_ReLU_Pool(_Then_Pool):
    """FastConv - ReLU - FastMaxPool: ``forward(x, w, b, conv_param, pool_param)``.

    Backward returns ``dx, dw, db``.
    """

    layer = Conv_ReLU


class Conv_BatchNorm_ReLU_Pool(_Then_Pool):
    """FastConv - SpatialBatchNorm - ReLU - FastMaxPool:
    ``forward(x, w, b, gamma, beta, conv_param, bn_param, pool_param)``.

    Backward returns ``dx, dw, db, dgamma, dbeta``.
    """

    layer = Conv_BatchNorm_ReLU
