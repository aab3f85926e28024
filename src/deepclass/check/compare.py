"""What the checks share: random course inputs, relative errors with a diagnosis, shape tests.

Every helper that finds something wrong raises :class:`~deepclass.check.registry.Fail`
with a message that says what is wrong, in the student's terms (``dW[3, 7]: yours
-0.12, expected 0.12 (sign flipped)``), so that the check functions stay a few lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from deepclass.check.registry import Fail, Outcome
from deepclass.gradcheck import compute_numeric_gradient, rel_error

DTYPE = torch.float64  # the course checks gradients in float64
GRAD_BAR = 1e-7  # the course's bar for an analytic gradient (against ours or a numeric one)
VALUE_BAR = 1e-7  # outputs and losses against the reference, on float64 inputs


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=gen(seed), dtype=DTYPE)


def labels(n: int, c: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, c, (n,), generator=gen(seed))


def describe(v: Any) -> str:
    """``tensor (3, 4) float64`` / ``float`` / ``tuple of 3``: what a value is, in a few words."""
    if isinstance(v, torch.Tensor):
        return f"tensor {tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}"
    if isinstance(v, (tuple, list)):
        return f"{type(v).__name__} of {len(v)}"
    return type(v).__name__


def as_tuple(out: Any, n: int, what: str) -> tuple:
    """``out`` as a tuple of ``n`` items (``what`` names them: ``(loss, dW)``), else Fail."""
    if not isinstance(out, (tuple, list)) or len(out) != n:
        raise Fail(f"must return {what}, returned {describe(out)}", describe(out))
    return tuple(out)


def tensor(v: Any, name: str, shape: Sequence[int] | None = None, dtype=None) -> torch.Tensor:
    """``v`` if it is a tensor of ``shape`` (and ``dtype``), else Fail naming ``name``."""
    if not isinstance(v, torch.Tensor):
        raise Fail(f"{name} must be a torch.Tensor, got {describe(v)}", describe(v))
    if shape is not None and tuple(v.shape) != tuple(shape):
        raise Fail(
            f"{name} has shape {tuple(v.shape)}, expected {tuple(shape)}", str(tuple(v.shape))
        )
    if dtype is not None and v.dtype != dtype:
        want = str(dtype).removeprefix("torch.")
        got = str(v.dtype).removeprefix("torch.")
        raise Fail(f"{name} has dtype {got}, expected {want} (the input's dtype)", got)
    return v


def scalar(v: Any, name: str = "loss") -> float:
    """A Python float from a 0-d / 1-element tensor or a number, else Fail."""
    if isinstance(v, torch.Tensor):
        if v.numel() != 1:
            raise Fail(f"{name} must be a scalar, got a tensor of shape {tuple(v.shape)}")
        return float(v.detach().reshape(()).item())
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    raise Fail(f"{name} must be a scalar (a 0-d tensor or a float), got {describe(v)}")


def scalar_error(a: float, b: float) -> float:
    """Relative error of two scalars: ``|a - b| / max(|a| + |b|, 1e-10)``."""
    if math.isnan(a) or math.isnan(b):
        return math.inf
    return abs(a - b) / max(abs(a) + abs(b), 1e-10)


_SCALES = (
    (lambda n, c: n, "summed over the N examples instead of averaged"),
    (lambda n, c: n / c, "divided by C (the classes) instead of N (the examples)"),
    (lambda n, c: 1 / c, "averaged over all N * C scores instead of over the N examples"),
    (lambda n, c: 0.5, "half the expected value (a 1/2 factor?)"),
    (lambda n, c: 2.0, "twice the expected value"),
    (lambda n, c: -1.0, "the sign is flipped"),
)


def scale_diagnosis(ratio: float, n: int | None = None, c: int | None = None) -> str:
    """What a wrong result is, when it is the reference times a telling factor."""
    for f, text in _SCALES:
        try:
            k = f(n or 1, c or 1)
        except ZeroDivisionError:
            continue
        if n is None and text.startswith(("summed", "divided", "averaged")):
            continue
        if abs(k - 1) > 1e-9 and abs(ratio - k) <= 1e-6 * abs(k):
            return text
    return ""


def compare_scalar(name: str, yours: Any, ref: float, bar: float = VALUE_BAR, n=None, c=None):
    """Outcome of a scalar against the reference (Fail with a diagnosis if off)."""
    v = scalar(yours, name)
    err = scalar_error(v, ref)
    if err <= bar:
        return Outcome(True, f"{err:.1e}")
    why = f"{name} rel error {err:.1e} > {bar:.0e}: yours {v:.6g}, expected {ref:.6g}"
    hint = scale_diagnosis(v / ref if ref else math.inf, n, c)
    raise Fail(why + (f" ({hint})" if hint else ""), f"{err:.1e}")


def worst_entry(yours: torch.Tensor, ref: torch.Tensor, shape=None) -> str:
    """Where two tensors differ most, as ``dW[3, 7]: yours -0.12, expected 0.12``.

    shape: for entries picked from a larger tensor (a sparse gradient check), ``(index
    of each entry in the flattened tensor, that tensor's shape)``, to name the real entry.
    """
    diff = (yours.double() - ref.double()).abs()
    if diff.numel() == 0:
        return ""
    flat = int(diff.reshape(-1).argmax())
    if shape is not None:
        picked, full = shape
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(int(picked[flat])), full))
    else:
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape))
    a, b = float(yours.reshape(-1)[flat]), float(ref.reshape(-1)[flat])
    bad = int((diff > 1e-6 * (yours.abs() + ref.abs()).max().clamp(min=1e-12)).sum())
    where = f"[{', '.join(map(str, idx))}]" if idx else ""
    note = f"{where}: yours {a:.4g}, expected {b:.4g}"
    if b != 0 and abs(a + b) <= 1e-6 * abs(b):
        note += " (sign flipped)"
    return note + f"; {bad} of {diff.numel()} entries differ"


def compare_tensor(
    name: str,
    yours: Any,
    ref: torch.Tensor,
    bar: float = GRAD_BAR,
    n: int | None = None,
    c: int | None = None,
    against: str = "",
    floor: float = 0.0,
    picked=None,
) -> Outcome:
    """Outcome of a tensor against ``ref`` (our implementation or a numeric gradient).

    floor: the smallest denominator of the relative error, for a gradient that should be
    zero (a bias before batchnorm), where a numeric gradient is all rounding noise.
    picked: ``(flat indices, full shape)`` when ``yours``/``ref`` are entries of a larger
    tensor (see :func:`worst_entry`).
    """
    t = tensor(yours, name, ref.shape)
    err = rel_error(t.detach(), ref, eps=max(floor, 1e-10))
    if err <= bar:
        return Outcome(True, f"{err:.1e}")
    why = f"{name} rel error {err:.1e} > {bar:.0e}{against}"
    ratio = _ratio(t.detach(), ref)
    hint = scale_diagnosis(ratio, n, c) if ratio is not None else ""
    raise Fail(
        f"{why}; {hint}" if hint else f"{why}; {name}{worst_entry(t.detach(), ref, picked)}",
        f"{err:.1e}",
    )


def _ratio(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """k if ``a == k * b`` for one k (to 1e-6), else None."""
    bd = b.double()
    denom = float((bd * bd).sum())
    if denom == 0:
        return None
    k = float((a.double() * bd).sum()) / denom
    return k if rel_error(a.double(), k * bd) < 1e-6 else None


def numeric_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, dout=None, h=1e-6):
    """Centered-difference gradient of ``f`` at ``x`` (the shared gradcheck)."""
    return compute_numeric_gradient(f, x, dout, h=h)


def sparse_numeric(
    f: Callable[[torch.Tensor], float],
    x: torch.Tensor,
    count: int = 12,
    h: float = 1e-6,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(flat indices, numeric gradient there)`` of a scalar ``f`` at ``count`` random entries
    of ``x`` (the course's ``grad_check_sparse``, for functions too slow to probe everywhere)."""
    idx = torch.randperm(x.numel(), generator=gen(seed))[:count]
    flat = x.view(-1)
    num = torch.zeros(len(idx), dtype=torch.float64)
    for k, i in enumerate(idx.tolist()):
        old = flat[i].item()
        flat[i] = old + h
        fp = f(x)
        flat[i] = old - h
        fm = f(x)
        flat[i] = old
        num[k] = (fp - fm) / (2 * h)
    return idx, num


def unchanged(args: dict[str, Any], before: dict[str, Any], fn_name: str) -> None:
    """Fail if a tensor argument was changed in place by ``fn_name``."""
    changed = [
        k for k, v in args.items() if isinstance(v, torch.Tensor) and not torch.equal(v, before[k])
    ]
    if changed:
        raise Fail(
            f"{fn_name} changed its input {', '.join(changed)} in place "
            "(work on a copy: x.clone(), or out-of-place ops)",
            ", ".join(changed),
        )


def copies(args: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in args.items()}


def best_time(fn: Callable[[], Any], repeat: int = 5, budget: float = 2.0) -> float:
    """The fastest of ``repeat`` runs of ``fn`` (fewer if they exceed ``budget`` seconds)."""
    best = math.inf
    start = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start > budget:
            break
    return best


def _factor(ratio: float) -> float | None:
    """0 or 0.5 when ``ratio`` is one of them (to 1e-6), else None."""
    return next((k for k in (0.0, 0.5) if abs(ratio - k) < 1e-6), None)


def regularisation(
    loss_diff: float, reg_sum: float, grads: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> Outcome:
    """The course's L2 term: ``loss(reg) - loss(0) == reg * sum(W * W)`` (``reg_sum``) and,
    for each gradient name, ``d(reg) - d(0) == 2 * reg * W`` (``grads[name] = (diff,
    expected)``). Fail naming a missing term or a 1/2 factor."""
    ratio = loss_diff / reg_sum
    if abs(ratio - 1) > 1e-6:
        what = {
            0.0: "the loss has no regularisation term (reg * sum(W * W))",
            0.5: "the loss counts 0.5 * reg * sum(W * W): the course has no 1/2 factor",
        }.get(_factor(ratio), f"loss(reg) - loss(0) is {ratio:.3g} x reg * sum(W * W)")
        raise Fail(what, f"{ratio:.3g}x")
    for name, (diff, expected) in grads.items():
        if (diff - expected).abs().max() > 1e-7 * expected.abs().max():
            k = float((diff * expected).sum() / (expected * expected).sum())
            what = {
                0.0: f"{name} has no regularisation gradient (expected + 2 * reg * W)",
                0.5: f"{name} adds reg * W, the gradient of 0.5 * reg * sum(W * W): "
                "expected 2 * reg * W",
            }.get(
                _factor(k),
                f"{name}(reg) - {name}(0) is not 2 * reg * W; at "
                f"{name}{worst_entry(diff, expected)}",
            )
            raise Fail(what, f"{k:.3g}x")
    return Outcome(True, "1x")
