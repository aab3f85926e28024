"""A/B: the weight gradient of SpeedNet's 3x3 convolutions, oneDNN vs a few large matmuls.

    python benchmarks/ab/conv_weight_grad.py [--batch 1024] [--repeat 3]

Per layer shape of SpeedNet 64/256/256 (bf16, channels_last, batch 1024), one
process, candidates alternated, best of ``--repeat``:
- onednn: ``aten.convolution_backward`` asked for the weight gradient only;
- im2col: the padded input unfolded into ``(N*H*W, 9*C)`` (one copy), one matmul;
- shifted: 9 matmuls of ``dy^T`` with the shifted (copied) input slices;
- padflat: 9 matmuls on contiguous slices of the padded input flattened over
  (N, H+2, W+2), with dy embedded in the same padded grid (no copies, more FLOPs).
Each candidate's result is checked against oneDNN's.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from deepclass.bench import timeit

# (c_in, c_out, H=W of the convolution's input and output) in SpeedNet 64/256/256
LAYERS = [(24, 64, 31), (64, 64, 15), (64, 256, 15), (256, 256, 7), (256, 256, 3)]


def onednn(x, dy, w):
    return torch.ops.aten.convolution_backward(
        dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [False, True, False]
    )[1]


def im2col(x, dy, w):
    n, c, h, wd = x.shape
    xp = F.pad(x, (1, 1, 1, 1))  # channels_last kept
    xl = xp.permute(0, 2, 3, 1)  # (N, H+2, W+2, C) contiguous
    cols = xl.unfold(1, 3, 1).unfold(2, 3, 1)  # (N, H, W, C, 3, 3)
    cols = cols.permute(0, 1, 2, 4, 5, 3).reshape(n * h * wd, 9 * c)  # the one copy
    dyl = dy.permute(0, 2, 3, 1).reshape(n * h * wd, -1)  # (NHW, O), a view
    dw = dyl.T @ cols  # (O, 9C) in (kh, kw, c) order
    return dw.view(-1, 3, 3, c).permute(0, 3, 1, 2)


def shifted(x, dy, w):
    n, c, h, wd = x.shape
    xl = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)
    dyl = dy.permute(0, 2, 3, 1).reshape(n * h * wd, -1)
    out = torch.empty(w.shape[0], 3, 3, c, dtype=x.dtype)
    for i in range(3):
        for j in range(3):
            out[:, i, j] = dyl.T @ xl[:, i : i + h, j : j + wd].reshape(n * h * wd, c)
    return out.permute(0, 3, 1, 2)


def padflat(x, dy, w):
    n, c, h, wd = x.shape
    hp, wp = h + 2, wd + 2
    xf = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1).reshape(n * hp * wp, c)
    # dy on the padded grid at the top-left of each window: position (a, b) of the padded
    # grid holds dy[a, b] for a < h, b < w, zeros elsewhere
    dyp = F.pad(dy, (0, 2, 0, 2)).permute(0, 2, 3, 1).reshape(n * hp * wp, -1)
    L = n * hp * wp
    out = torch.empty(w.shape[0], 3, 3, c, dtype=x.dtype)
    for i in range(3):
        for j in range(3):
            off = i * wp + j
            out[:, i, j] = dyp[: L - off].T @ xf[off:]
    return out.permute(0, 3, 1, 2)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    torch.manual_seed(0)
    cands = {"onednn": onednn, "im2col": im2col, "shifted": shifted, "padflat": padflat}
    print(f"batch {args.batch}, bf16, channels_last, {torch.get_num_threads()} threads")
    print("| layer | GFLOP | " + " | ".join(f"{k} ms (TFLOP/s)" for k in cands) + " |")
    for cin, cout, hw in LAYERS:
        cl = torch.channels_last
        x = torch.randn(args.batch, cin, hw, hw).to(torch.bfloat16).contiguous(memory_format=cl)
        dy = torch.randn(args.batch, cout, hw, hw).to(torch.bfloat16).contiguous(memory_format=cl)
        w = torch.randn(cout, cin, 3, 3).to(torch.bfloat16).contiguous(memory_format=cl)
        flops = 2 * args.batch * hw * hw * cout * cin * 9
        ref = onednn(x, dy, w).float()
        cells = []
        for name, fn in cands.items():
            err = (fn(x, dy, w).float() - ref).abs().max() / ref.abs().max()
            assert err < 2e-2, (name, cin, cout, hw, float(err))
            t = timeit(lambda fn=fn, x=x, dy=dy, w=w: fn(x, dy, w), repeat=args.repeat, warmup=1)
            cells.append(f"{1000 * t:.1f} ({flops / t / 1e12:.2f})")
        print(
            f"| {cin}->{cout} @{hw}x{hw} | {flops / 1e9:.1f} | " + " | ".join(cells) + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
