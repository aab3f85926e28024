"""Throughput and MFU of the main CIFAR-10 recipe: fp32 vs bf16, NCHW vs channels_last, eager vs compiled.

One training step = forward, backward and the recipe's Nesterov SGD step on
a batch of the ``best`` preset's size, for ``SpeedNet`` with the preset's
widths, timed the same way for every variant in one process (random inputs:
the speed of a step does not depend on the pixels). FLOPs per image are
counted from the layers (``flops_per_image``); a training step is taken as
3x the forward FLOPs (backward = 2x forward). MFU is the achieved FLOP/s
over this machine's measured matmul peak in the same precision, measured
here too (the faster of a large square matmul and a GEMM run as a 1x1
convolution, best of several runs each: ``matmul_peak``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from deepclass.bench import BenchConfig, Table, timeit
from deepclass.bench.op_breakdown import PARTS, profiled_data, step_breakdown
from deepclass.data.batching import Augment, BatchIterator
from deepclass.lightning.muon import Muon, muon_param_groups
from deepclass.lightning.presets import DEFAULT_PRESET, preset_options
from deepclass.nn.speednet import SpeedNet, flops_per_image


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeat: int = 5) -> float:
    """This CPU's best measured GEMM FLOP/s in ``dtype`` (best of ``repeat`` runs of each path).

    Two paths, the faster counts: an ``(n, n) @ (n, n)`` matmul (torch.mm, whose fp32 BLAS
    can be far from the machine's best: on an AMD EPYC it ran at 137-162 GFLOP/s where
    oneDNN reached 212) and a ``(16n, n/2) @ (n/2, n/2)`` GEMM as a 1x1 channels_last
    convolution, which runs on oneDNN like the network's convolutions.
    """
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    best = 2 * n**3 / timeit(lambda: a @ b, repeat=repeat, warmup=2)
    k, rows = n // 2, 16 * n
    cl = torch.channels_last
    x = torch.randn(rows // 64, k, 8, 8).to(dtype).contiguous(memory_format=cl)
    w = torch.randn(k, k, 1, 1).to(dtype).contiguous(memory_format=cl)
    conv = 2 * rows * k * k / timeit(lambda: F.conv2d(x, w), repeat=repeat, warmup=2)
    return max(best, conv)


def augmented_batches(batch: int, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless ``(x (batch, 3, 32, 32) float32, y (batch,))`` batches the way training makes them.

    Random uint8 images (two batches' worth) through ``BatchIterator`` with the
    preset's augmentation (2-pixel reflect translation, flip) and a normalisation.
    """
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (2 * batch, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (2 * batch,), generator=g)
    it = BatchIterator(images, labels, batch, seed=seed, drop_last=True,
                       augment=Augment(crop_padding=2, flip=True, pad_mode="reflect"),
                       transform=lambda x: x.sub_(0.5).div_(0.25))  # fmt: skip
    while True:
        yield from it


def train_step_fn(
    net: SpeedNet,
    batch: int,
    *,
    bf16: bool,
    channels_last: bool,
    compiled: bool,
    lr: float = 0.1,
    data: bool = False,
    muon: bool = False,
) -> Callable[[], None]:
    """A closure running one training step of ``net`` on a fixed random batch.

    data: draw each step's batch from ``augmented_batches`` instead (labelled
    as data for ``op_breakdown``), so the step includes making its batch.
    muon: the ``fast`` preset's optimizer (Muon for the filters, SGD for the
    rest) instead of Nesterov SGD for everything.
    """
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    if muon:
        groups = net.optimizer_param_groups(lr=lr, weight_decay=0.0)
        opt: torch.optim.Optimizer = Muon(
            muon_param_groups(net, groups, lr=0.24, momentum=0.6), lr=lr, momentum=0.85
        )
    else:
        params = [p for p in net.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=lr, momentum=0.85, nesterov=True)
    model = torch.compile(net) if compiled else net
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g)
    batches = augmented_batches(batch) if data else None

    def fetch() -> tuple[torch.Tensor, torch.Tensor]:
        assert batches is not None
        xb, yb = next(batches)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb, yb

    def step() -> None:
        nonlocal x, y
        if batches is not None:
            x, y = profiled_data(fetch)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.2)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def run(cfg: BenchConfig) -> list[Table]:
    opts = preset_options(DEFAULT_PRESET)
    widths = tuple(opts["model_kwargs"]["widths"])
    batch, steps = int(opts["batch_size"]), 5
    # eager: every precision x memory format; compiled: channels_last only (each compiled
    # variant costs minutes of C++ builds on 2 cores)
    variants = [(bf16, cl, False) for bf16 in (False, True) for cl in (False, True)]
    if cfg.compile:
        variants += [(False, True, True), (True, True, True)]
    if cfg.quick:  # tiny: narrow net, small batch, no compilation (minutes of C++ builds)
        widths, batch, steps = (8, 16, 16), 32, 2
        variants = [v for v in variants if not v[2]]
    peaks = {
        "fp32": matmul_peak(torch.float32, 512 if cfg.quick else 2048),
        "bf16": matmul_peak(torch.bfloat16, 512 if cfg.quick else 2048),
    }
    fwd = flops_per_image(SpeedNet(widths=widths), (3, 32, 32))
    table = Table(
        f"SpeedNet widths {list(widths)}, training step of batch {batch} (best of {steps})",
        [
            "precision",
            "memory format",
            "mode",
            "images/s",
            "train GFLOP/s",
            "MFU",
            "first step (s)",
        ],
    )
    for bf16, cl, comp in variants:
        torch.manual_seed(cfg.seed)
        step = train_step_fn(SpeedNet(widths=widths), batch, bf16=bf16, channels_last=cl,
                             compiled=comp)  # fmt: skip
        t0 = time.perf_counter()
        step()  # warm-up (and compilation)
        first = time.perf_counter() - t0
        seconds = timeit(step, repeat=steps, warmup=1)
        rate = batch / seconds
        flops = 3 * fwd * rate
        prec = "bf16" if bf16 else "fp32"
        table.add(prec, "channels_last" if cl else "NCHW", "compiled" if comp else "eager",
                  round(rate), round(flops / 1e9, 1), f"{100 * flops / peaks[prec]:.0f}%",
                  round(first, 1))  # fmt: skip
    table.notes.append(
        f"forward {fwd / 1e6:.1f} MFLOP/image (convolutions + linear), training step 3x that"
    )
    table.notes.append(
        f"measured matmul peak: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 "
        f"{peaks['bf16'] / 1e9:.0f} GFLOP/s (the faster of torch.mm and a 1x1-convolution GEMM "
        "on oneDNN); MFU is against the peak of the row's precision"
    )
    if cfg.quick:
        table.notes.append("quick configuration: compiled variants skipped")
    elif not cfg.compile:
        table.notes.append("--no-compile: compiled variants left out")
    return [table, ab_table(widths, cfg), breakdown_table(widths, batch, cfg)]


def ab_table(widths: tuple[int, ...], cfg: BenchConfig) -> Table:
    """Today's ``best`` training step against the ``fast-muon`` preset's (its batch and optimizer).

    Both bf16 channels_last eager, timed alternately in this process (best of
    the rounds); images/s is what an epoch's length follows.
    """
    old, new = preset_options(DEFAULT_PRESET), preset_options("fast-muon")
    cands = {
        f"best: {old['optimizer']}, batch {old['batch_size']}": (int(old["batch_size"]),
                                                                 old["optimizer"] == "muon"),
        f"fast-muon: {new['optimizer']}, batch {new['batch_size']}": (int(new["batch_size"]),
                                                                 new["optimizer"] == "muon"),
    }  # fmt: skip
    rounds = 3
    if cfg.quick:
        cands = {k: (max(8, b // 32), m) for k, (b, m) in cands.items()}
        rounds = 1
    steps = {}
    for name, (batch, muon) in cands.items():
        torch.manual_seed(cfg.seed)
        steps[name] = (
            batch,
            train_step_fn(
                SpeedNet(widths=widths),
                batch,
                bf16=True,
                channels_last=True,
                compiled=False,
                muon=muon,
            ),
        )
        steps[name][1]()  # warm-up  # fmt: skip
    best_s = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, (_batch, step) in steps.items():
            best_s[name] = min(best_s[name], timeit(step, repeat=1, warmup=0))
    table = Table(
        f"A/B in one run: today's configuration vs the new one (bf16 channels_last eager, best of "
        f"{rounds} alternating rounds)",
        ["configuration", "batch", "step (s)", "images/s", "vs today"],
    )
    base = None
    for name, (batch, _step) in steps.items():
        rate = batch / best_s[name]
        base = base or rate
        # 4 significant digits: a quick run's ~10 ms step at 3 decimals would be off by up to 5%
        table.add(name, batch, float(f"{best_s[name]:.4g}"), round(rate), f"{rate / base:.2f}x")
    table.notes.append(
        "muon: the filters' Newton-Schulz update (3 bf16 iterations) is in the step; per image "
        "the FLOPs are the same, so the ratio is what the batch size and optimizer change"
    )
    return table


def breakdown_table(widths: tuple[int, ...], batch: int, cfg: BenchConfig) -> Table:
    """Per-op time shares of a bf16 channels_last eager step, its batch made as in training."""
    torch.manual_seed(cfg.seed)
    step = train_step_fn(SpeedNet(widths=widths), batch, bf16=True, channels_last=True,
                         compiled=False, data=True)  # fmt: skip
    steps = 1 if cfg.quick else 3
    b = step_breakdown(step, steps=steps, warmup=1)
    table = Table(
        f"where a bf16 channels_last training step goes (torch.profiler, {steps} step(s) "
        f"of batch {batch})",
        ["part", "ms per step", "share"],
    )
    for part in PARTS:
        table.add(part, round(1000 * b.seconds[part], 1), f"{100 * b.share(part):.1f}%")
    table.notes.append(
        "self time of every profiled op, grouped by the op or its nearest enclosing op "
        "(deepclass.bench.op_breakdown); norm/activation/pool is forward + backward; "
        "other = loss, linear head, autocast casts, copies, fills"
    )
    table.notes.append(
        f"profiled {1000 * b.profiled_s:.0f} ms of {1000 * b.wall_s:.0f} ms wall per step "
        "(the profiler's own overhead is in the wall time); data = crop + flip + normalise of "
        "the uint8 batch, as BatchIterator does in training"
    )
    return table
