"""From-scratch fast layers vs the same operations through ``torch.autograd``.

For each operation, one forward and one backward pass on the same inputs and
upstream gradient:

- deepclass: ``FastConv``, ``FastMaxPool`` (``deepclass.scratch.fast_layers``),
  ``BatchNorm`` / ``SpatialBatchNorm`` and ``Linear`` (``deepclass.scratch.layers``),
  all with hand-written backward passes;
- torch: ``F.conv2d``, ``F.max_pool2d``, ``F.batch_norm``, ``F.linear`` on
  leaf tensors with ``requires_grad``, then ``out.backward(dout)``.

The two candidates of a row are timed alternately in the same process (best
of the rounds), and their outputs and gradients are compared, so the ratio
is meaningful even on a busy machine. A second table gives the speed-up of
``FastConv`` over the naive loop ``Conv``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from deepclass.bench import BenchConfig, Table, timeit
from deepclass.gradcheck import rel_error
from deepclass.scratch import fast_layers as FL
from deepclass.scratch import layers as L


def _best_alternating(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best wall time of each function, calling them in turn ``rounds`` times after a warm-up."""
    for fn in fns.values():
        fn()
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            best[k] = min(best[k], timeit(fn, repeat=1, warmup=0))
    return best


def _autograd(op: Callable[..., torch.Tensor], inputs: list[torch.Tensor], dout: torch.Tensor):
    """A closure running ``op(*inputs)`` forward and backward through autograd; returns grads."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]

    def run():
        for t in leaves:
            t.grad = None
        out = op(*leaves)
        out.backward(dout)
        return (out.detach(), *(t.grad for t in leaves))

    return run


def _cases(quick: bool, gen: torch.Generator):
    """``(name, shape text, deepclass closure, autograd closure)`` for every row."""

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    # (N, C, H, W, F, K, pad, channels-last input): NCHW as a user passes it, and
    # channels-last as the layers hand it to each other inside DeepConvNet
    conv_shapes = (
        [(8, 3, 16, 16, 8, 3, 1, False), (8, 16, 8, 8, 16, 3, 1, True)]
        if quick
        else [
            (64, 3, 32, 32, 32, 3, 1, False),
            (64, 32, 32, 32, 32, 3, 1, False),
            (64, 64, 16, 16, 64, 3, 1, False),
            (64, 128, 8, 8, 128, 3, 1, False),
            (64, 3, 32, 32, 32, 7, 3, False),
            (64, 32, 32, 32, 32, 3, 1, True),
            (64, 64, 16, 16, 64, 3, 1, True),
            (64, 128, 8, 8, 128, 3, 1, True),
        ]
    )
    for N, C, H, W, Fo, K, pad, cl in conv_shapes:
        fmt = torch.channels_last if cl else torch.contiguous_format
        x, w, b = (
            randn(N, C, H, W).contiguous(memory_format=fmt),
            randn(Fo, C, K, K) * 0.1,
            randn(Fo),
        )
        cp = {"stride": 1, "pad": pad}
        dout = randn(N, Fo, H + 2 * pad - K + 1, W + 2 * pad - K + 1).contiguous(memory_format=fmt)

        def ours(x=x, w=w, b=b, cp=cp, dout=dout):
            out, cache = FL.FastConv.forward(x, w, b, cp)
            return (out, *FL.FastConv.backward(dout, cache))

        ref = _autograd(lambda x, w, b, pad=pad: F.conv2d(x, w, b, padding=pad), [x, w, b], dout)
        layout = ", channels-last" if cl else ""
        yield "FastConv", f"x {N}x{C}x{H}x{W}, w {Fo}x{C}x{K}x{K}, pad {pad}{layout}", ours, ref

    pool_shapes = (
        [(8, 8, 16, 16, False)] if quick else [(64, 32, 32, 32, False), (64, 32, 32, 32, True)]
    )
    pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
    for N, C, H, W, cl in pool_shapes:
        fmt = torch.channels_last if cl else torch.contiguous_format
        x = randn(N, C, H, W).contiguous(memory_format=fmt)
        dout = randn(N, C, H // 2, W // 2).contiguous(memory_format=fmt)

        def ours(x=x, dout=dout):
            out, cache = FL.FastMaxPool.forward(x, pp)
            return out, FL.FastMaxPool.backward(dout, cache)

        ref = _autograd(lambda x: F.max_pool2d(x, 2, 2), [x], dout)
        layout = ", channels-last" if cl else ""
        yield "FastMaxPool 2x2/2", f"x {N}x{C}x{H}x{W}{layout}", ours, ref

    bn_shapes = [(32, 64), (8, 8, 8, 8)] if quick else [(256, 1024), (64, 32, 32, 32)]
    for shape in bn_shapes:
        D = shape[1]
        x, dout = randn(*shape) * 2 + 1, randn(*shape)
        gamma, beta = randn(D), randn(D)
        layer = L.BatchNorm if len(shape) == 2 else L.SpatialBatchNorm

        def ours(x=x, gamma=gamma, beta=beta, dout=dout, layer=layer):
            out, cache = layer.forward(x, gamma, beta, {"mode": "train"})
            return (out, *layer.backward(dout, cache))

        def bn(x, g, b):
            return F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)

        ref = _autograd(bn, [x, gamma, beta], dout)
        yield layer.__name__, "x " + "x".join(map(str, shape)), ours, ref

    lin_shapes = [(32, 64, 16)] if quick else [(256, 3072, 512), (100, 4096, 10)]
    for N, D, M in lin_shapes:
        x, w, b, dout = randn(N, D), randn(D, M) * 0.01, randn(M), randn(N, M)

        def ours(x=x, w=w, b=b, dout=dout):
            out, cache = L.Linear.forward(x, w, b)
            return (out, *L.Linear.backward(dout, cache))

        ref = _autograd(lambda x, w, b: F.linear(x, w.t(), b), [x, w, b], dout)
        yield "Linear", f"x {N}x{D}, w {D}x{M}", ours, ref


def run(cfg: BenchConfig) -> list[Table]:
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rounds = 2 if cfg.quick else 7
    vs = Table(
        "forward + backward: deepclass (hand-written backward) vs torch.autograd (float32, CPU)",
        ["layer", "shape", "deepclass ms", "autograd ms", "ratio", "max rel error"],
    )
    for name, shape, ours, ref in _cases(cfg.quick, gen):
        err = max(rel_error(a, r) for a, r in zip(ours(), ref(), strict=True))
        t = _best_alternating({"ours": ours, "ref": ref}, rounds)
        vs.add(
            name,
            shape,
            t["ours"] * 1e3,
            t["ref"] * 1e3,
            f"{t['ours'] / t['ref']:.2f}x",
            f"{err:.1e}",
        )
    vs.notes += [
        "ratio = deepclass time / autograd time (lower is better; < 1 means deepclass is faster)",
        "target for FastConv: <= 2x, stretch 1.2x; autograd's conv runs oneDNN kernels",
        "channels-last rows: x and dout in the layout FastConv itself returns (inside DeepConvNet "
        "every map after the first is channels-last); both candidates get the same tensors",
        "each pair timed alternately, best of the rounds; max rel error: out and every gradient",
        f"torch threads: {torch.get_num_threads()}",
    ]

    naive = Table(
        "naive Conv (loop over output positions) vs FastConv (im2col or shifted products)",
        ["shape", "Conv ms", "FastConv ms", "speed-up", "max rel error"],
    )
    shapes = [(4, 3, 8, 8, 4)] if cfg.quick else [(32, 3, 32, 32, 16), (32, 16, 16, 16, 32)]
    for N, C, H, W, Fo in shapes:
        x, w, b = (
            torch.randn(N, C, H, W, generator=gen),
            torch.randn(Fo, C, 3, 3, generator=gen),
            torch.zeros(Fo),
        )
        cp = {"stride": 1, "pad": 1}
        dout = torch.randn(N, Fo, H, W, generator=gen)

        def fwd_bwd(layer, x=x, w=w, b=b, cp=cp, dout=dout):
            out, cache = layer.forward(x, w, b, cp)
            return (out, *layer.backward(dout, cache))

        err = max(
            rel_error(a, r) for a, r in zip(fwd_bwd(L.Conv), fwd_bwd(FL.FastConv), strict=True)
        )
        t = _best_alternating(
            {"naive": lambda: fwd_bwd(L.Conv), "fast": lambda: fwd_bwd(FL.FastConv)},
            max(1, rounds // 2),
        )
        naive.add(
            f"x {N}x{C}x{H}x{W}, w {Fo}x{C}x3x3, pad 1",
            t["naive"] * 1e3,
            t["fast"] * 1e3,
            f"{t['naive'] / t['fast']:.1f}x",
            f"{err:.1e}",
        )
    naive.notes.append("forward + backward, float32")
    return [vs, naive]
