"""Muon for convolution filters, Nesterov SGD for everything else, as one optimizer.

airbench94_muon's split (Keller Jordan's airbench): the 3x3 filters of the
conv groups follow Muon (momentum, then the update replaced by an
approximately orthogonal matrix of the same row and column spaces, the
weights renormalised to a fixed norm every step); biases, batchnorm shifts
and the linear head keep SGD. One ``torch.optim.Optimizer`` holds both kinds
(``group["muon"]``), so the trainer's single lr scheduler, checkpoints and
resume treat it like any other optimizer.

``torch.optim.Muon`` takes 2-D parameters only and neither renormalises nor
takes SpeedNet's 4-D filters, hence this module; its orthogonalisation is the
same quintic Newton-Schulz iteration (``newton_schulz``, checked against it in
the tests). The SGD groups run ``torch.optim.sgd.sgd`` (torch's SGD step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.optim.sgd import sgd

from deepclass.errors import ConfigError

# The quintic's coefficients (the Muon authors' choice, also torch.optim.Muon's defaults):
# they maximise the slope at zero, so few steps lift every singular value into ~[0.5, 1.5].
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(
    g: torch.Tensor, steps: int = 3, eps: float = 1e-7, dtype: torch.dtype = torch.bfloat16
) -> torch.Tensor:
    """An approximately orthogonal matrix with ``g``'s singular vectors: ``(m, n) -> (m, n)``.

    ``X <- a X + (b A + c A^2) X`` with ``A = X X^T``, from ``X = g / |g|_F``
    (so every singular value starts <= 1), computed in ``dtype`` (bf16 is what
    Muon uses; the iteration tolerates its rounding) on the wide orientation.
    Returns ``dtype``.
    """
    if g.ndim != 2:
        raise ConfigError(f"newton_schulz: g must be a matrix (m, n), got shape {tuple(g.shape)}")
    a, b, c = NS_COEFFICIENTS
    x = g.to(dtype)
    x = x / (x.norm() + eps)
    tall = g.shape[0] > g.shape[1]
    if tall:
        x = x.T
    for _ in range(steps):
        A = x @ x.T
        x = a * x + (b * A + c * A @ A) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Muon on the groups with ``muon=True``, torch's (Nesterov) SGD on the others.

    A Muon parameter ``p`` (a matrix or a conv filter bank ``(out, in, k, k)``,
    seen as ``(out, in*k*k)``) with gradient ``g`` and buffer ``b``:
    ``b <- momentum * b + g``; ``u = g + momentum * b`` (Nesterov) or ``b``;
    if ``renormalize``, ``p <- p * sqrt(out) / |p|_F`` (filters of mean unit
    norm, which also makes weight decay moot); then
    ``p <- p - lr * newton_schulz(u)``. No weight decay on these groups.
    An SGD group takes ``lr``, ``momentum``, ``nesterov`` and (coupled)
    ``weight_decay`` exactly as ``torch.optim.SGD``.
    """

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.6,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 3,
        renormalize: bool = True,
    ) -> None:
        if not lr > 0:
            raise ConfigError(f"Muon: lr must be > 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ConfigError(f"Muon: momentum must be in [0, 1), got {momentum}")
        defaults = {"lr": lr, "momentum": momentum, "nesterov": nesterov,
                    "weight_decay": weight_decay, "muon": False, "ns_steps": ns_steps,
                    "renormalize": renormalize}  # fmt: skip
        super().__init__(list(params), defaults)
        for group in self.param_groups:
            if group["muon"]:
                bad = [tuple(p.shape) for p in group["params"] if p.ndim < 2]
                if bad:
                    raise ConfigError(f"Muon: its groups take matrices or filters, got {bad}")
                if group["weight_decay"]:
                    raise ConfigError("Muon: the muon groups take no weight_decay")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if group["muon"]:
                self._muon_step(group, params)
                continue
            bufs = [self.state[p].get("momentum_buffer") for p in params]
            sgd(
                params, [p.grad for p in params], bufs, weight_decay=group["weight_decay"],
                momentum=group["momentum"], lr=group["lr"], dampening=0.0,
                nesterov=group["nesterov"], maximize=False,
            )  # fmt: skip
            for p, b in zip(params, bufs, strict=True):
                self.state[p]["momentum_buffer"] = b
        return loss

    def _muon_step(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        m, lr = group["momentum"], group["lr"]
        for p in params:
            g = p.grad
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(g)
            buf = state["momentum_buffer"]
            buf.mul_(m).add_(g)
            u = g.add(buf, alpha=m) if group["nesterov"] else buf
            if group["renormalize"]:
                p.mul_(math.sqrt(p.shape[0]) / p.norm().clamp_min(1e-12))
            update = newton_schulz(u.reshape(u.shape[0], -1), group["ns_steps"])
            p.add_(update.reshape(u.shape).to(p.dtype), alpha=-lr)


def muon_param_groups(
    net: nn.Module, sgd_groups: list[dict[str, Any]], *, lr: float, momentum: float
) -> list[dict[str, Any]]:
    """``sgd_groups`` (the model's usual groups) with its trainable filters moved to one Muon group.

    Filters are the trainable 4-D parameters (convolution weights); what is
    left of each SGD group keeps its settings (empty groups are dropped).
    """
    filters = [p for p in net.parameters() if p.requires_grad and p.ndim == 4]
    ids = {id(p) for p in filters}
    groups = [{**g, "params": [p for p in g["params"] if id(p) not in ids]} for g in sgd_groups]
    groups = [g for g in groups if g["params"]]
    if not filters:
        raise ConfigError("optimizer muon: the model has no trainable convolution filters")
    return [{"params": filters, "muon": True, "lr": lr, "momentum": momentum,
             "weight_decay": 0.0}, *groups]  # fmt: skip
