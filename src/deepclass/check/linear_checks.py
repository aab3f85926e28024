"""Checks of rung 1 (seed 001): the SVM and softmax losses, sample_batch, training, search grids.

The losses get the EECS 498 notebook's checks on float64 inputs: the loss and dW
against ours, dW against a numeric gradient of the student's own loss,
``reg * sum(W * W)`` with no 1/2 (so ``2 * reg * W`` in dW), inputs untouched,
and for a vectorized version its agreement with the naive one and its speed-up.
"""

from __future__ import annotations

import math

import torch

from deepclass import linear as ref
from deepclass.check.compare import (
    GRAD_BAR,
    VALUE_BAR,
    as_tuple,
    best_time,
    compare_scalar,
    compare_tensor,
    copies,
    describe,
    labels,
    randn,
    regularisation,
    scalar,
    sparse_numeric,
    tensor,
    unchanged,
)
from deepclass.check.registry import Fail, Outcome, check, course_name

LOSS_DOC = """
Inputs have dimension D, there are C classes, and we operate on minibatches of N examples.
Do NOT multiply the regularization term by 1/2 (no coefficient).

Inputs:
- W: A PyTorch tensor of shape (D, C) containing weights.
- X: A PyTorch tensor of shape (N, D) containing a minibatch of data.
- y: A PyTorch tensor of shape (N,) containing training labels; y[i] = c means
  that X[i] has label c, where 0 <= c < C.
- reg: (float) regularization strength

Returns a tuple of:
- loss as torch scalar
- gradient of loss with respect to weights W; a tensor of same shape as W
"""
LOSSES = {
    "svm_loss_naive": (
        "Structured SVM loss function, naive implementation (with loops).",
        ref.svm_loss_naive,
    ),
    "svm_loss_vectorized": (
        "Structured SVM loss function, vectorized implementation.",
        ref.svm_loss_vectorized,
    ),
    "softmax_loss_naive": (
        "Softmax loss function, naive implementation (with loops).",
        ref.softmax_loss_naive,
    ),
    "softmax_loss_vectorized": (
        "Softmax loss function, vectorized version (no explicit loops).",
        ref.softmax_loss_vectorized,
    ),
}
for _name, (_first, _) in LOSSES.items():
    course_name(
        _name, "function", "linear", f"def {_name}(W, X, y, reg):", _first + "\n" + LOSS_DOC
    )

course_name(
    "sample_batch",
    "function",
    "linear",
    "def sample_batch(X, y, num_train, batch_size):",
    """
Sample batch_size elements from the training data and their corresponding labels
to use in this round of gradient descent. After sampling, X_batch should have shape
(batch_size, dim) and y_batch should have shape (batch_size,).

Hint: Use torch.randint to generate indices.
""",
)
course_name(
    "train_linear_classifier",
    "function",
    "linear",
    "def train_linear_classifier(loss_func, W, X, y, learning_rate=1e-3, reg=1e-5, "
    "num_iters=100, batch_size=200, verbose=False):",
    """
Train this linear classifier using stochastic gradient descent.

Inputs:
- loss_func: loss function to use when training. It should take W, X, y
  and reg as input, and output a tuple of (loss, dW)
- W: A PyTorch tensor of shape (D, C) giving the initial weights of the
  classifier. If W is None then it will be initialized here.
- X: A PyTorch tensor of shape (N, D) containing training data.
- y: A PyTorch tensor of shape (N,) containing training labels.
- learning_rate: (float) learning rate for optimization.
- reg: (float) regularization strength.
- num_iters: (integer) number of steps to take when optimizing
- batch_size: (integer) number of training examples to use at each step.
- verbose: (boolean) If true, print progress during optimization.

Returns: A tuple of:
- W: The final value of the weight matrix and the end of optimization
- loss_history: A list of Python scalars giving the values of the loss at each
  training iteration.
""",
)
course_name(
    "predict_linear_classifier",
    "function",
    "linear",
    "def predict_linear_classifier(W, X):",
    """
Use the trained weights of this linear classifier to predict labels for data points.

Inputs:
- W: A PyTorch tensor of shape (D, C), containing weights of a model
- X: A PyTorch tensor of shape (N, D) containing training data.

Returns:
- y_pred: PyTorch int64 tensor of shape (N,) giving predicted labels for each
  element of X. Each element of y_pred should be between 0 and C - 1.
""",
)
for _name, _model in (("svm_get_search_params", "SVM"), ("softmax_get_search_params", "Softmax")):
    course_name(
        _name,
        "function",
        "linear",
        f"def {_name}():",
        f"""
Return candidate hyperparameters for the {_model} model. You should provide at least
two param for each, and total grid search combinations should be less than 25.

Returns:
- learning_rates: learning rate candidates, e.g. [1e-3, 1e-2, ...]
- regularization_strengths: regularization strengths candidates, e.g. [1e0, 1e1, ...]
""",
    )

N, D, C = 40, 30, 10
W_SCALE = 0.1  # scores of std ~0.5: some SVM margins positive, some not


def _problem(seed: int = 0):
    return randn(D, C, seed=seed, scale=W_SCALE), randn(N, D, seed=seed + 1), labels(N, C, seed + 2)


def _loss_dw(fn, W, X, y, reg):
    loss, dW = as_tuple(fn(W, X, y, reg), 2, "(loss, dW)")
    return scalar(loss, "loss"), tensor(dW, "dW", W.shape)


_ALL = tuple(LOSSES)
_VECTORIZED = ("svm_loss_vectorized", "softmax_loss_vectorized")


@check(_ALL, "returns (loss, dW)", "scalar, (D, C) float64")
def _returns(fn, module, name):
    W, X, y = _problem()
    loss, dW = as_tuple(fn(W, X, y, 0.1), 2, "(loss, dW)")
    scalar(loss, "loss")
    tensor(dW, "dW", W.shape, W.dtype)
    return Outcome(True, f"loss {describe(loss)}, dW {tuple(dW.shape)}")


@check(_ALL, "loss vs ours (reg 0)", f"< {VALUE_BAR:.0e}")
def _loss_value(fn, module, name):
    W, X, y = _problem()
    loss, _ = _loss_dw(fn, W, X, y, 0.0)
    expected, _ = LOSSES[name][1](W, X, y, 0.0)
    return compare_scalar("loss", loss, float(expected), n=N, c=C)


@check(_ALL, "dW vs ours (reg 0)", f"< {GRAD_BAR:.0e}")
def _dw_value(fn, module, name):
    W, X, y = _problem()
    _, dW = _loss_dw(fn, W, X, y, 0.0)
    _, expected = LOSSES[name][1](W, X, y, 0.0)
    return compare_tensor("dW", dW, expected, n=N, c=C)


@check(_ALL, "dW vs numeric gradient", f"< {GRAD_BAR:.0e}")
def _dw_numeric(fn, module, name):
    W, X, y = _problem(seed=10)
    reg = 0.05
    _, dW = _loss_dw(fn, W, X, y, reg)
    idx, num = sparse_numeric(lambda w: _loss_dw(fn, w, X, y, reg)[0], W.clone(), count=10)
    return compare_tensor(
        "dW",
        dW.reshape(-1)[idx],
        num,
        against=" (against the numeric gradient of your loss, 10 entries)",
        picked=(idx, W.shape),
    )


@check(_ALL, "regularisation (no 1/2)", "reg*sum(W*W), 2*reg*W")
def _regularisation(fn, module, name):
    W, X, y = _problem(seed=20)
    reg = 0.3
    l0, d0 = _loss_dw(fn, W, X, y, 0.0)
    l1, d1 = _loss_dw(fn, W, X, y, reg)
    return regularisation(l1 - l0, reg * float((W * W).sum()), {"dW": (d1 - d0, 2 * reg * W)})


@check(_ALL, "inputs unchanged", "W, X, y not modified")
def _inputs_unchanged(fn, module, name):
    W, X, y = _problem(seed=30)
    args = {"W": W, "X": X, "y": y}
    before = copies(args)
    fn(W, X, y, 0.1)
    unchanged(args, before, name)
    return Outcome(True, "unchanged")


def _naive_for(name: str, module) -> tuple[object, str]:
    """The student's naive twin if it runs, else ours (and which one it is)."""
    naive_name = name.replace("vectorized", "naive")
    theirs = getattr(module, naive_name, None)
    if callable(theirs):
        try:
            W, X, y = _problem(seed=40)
            _loss_dw(theirs, W, X, y, 0.1)
            return theirs, f"your {naive_name}"
        except (Exception, Fail):
            pass
    return LOSSES[naive_name][1], f"deepclass's {naive_name}"


@check(_VECTORIZED, "agrees with naive", f"< {GRAD_BAR:.0e}")
def _agrees_with_naive(fn, module, name):
    naive, which = _naive_for(name, module)
    W, X, y = _problem(seed=40)
    l_v, d_v = _loss_dw(fn, W, X, y, 0.1)
    l_n, d_n = _loss_dw(naive, W, X, y, 0.1)
    err_l = abs(l_v - l_n) / max(abs(l_v) + abs(l_n), 1e-10)
    if err_l > VALUE_BAR:
        raise Fail(
            f"loss differs from {which}'s: rel error {err_l:.1e} > {VALUE_BAR:.0e}", f"{err_l:.1e}"
        )
    return compare_tensor("dW", d_v, d_n, against=f" (against {which})")


@check(_VECTORIZED, "speed-up over naive", ">= 3x")
def _speed_up(fn, module, name):
    naive, which = _naive_for(name, module)
    W, X, y = randn(500, C, scale=1e-2), randn(100, 500, seed=1), labels(100, C, seed=2)
    t_naive = best_time(lambda: naive(W, X, y, 1e-3), repeat=3)
    t_vec = best_time(lambda: fn(W, X, y, 1e-3), repeat=5)
    speed = t_naive / max(t_vec, 1e-9)
    value = f"{speed:.1f}x"
    if speed < 3:
        raise Fail(
            f"only {speed:.1f}x faster than {which} (N=100, D=500): is it still looping over examples?",
            value,
        )
    return Outcome(True, value)


@check(
    ("softmax_loss_naive", "softmax_loss_vectorized"),
    "numerically stable",
    "finite at scores ~1e3, < 1e-6",
)
def _stable(fn, module, name):
    W, X, y = _problem(seed=50)
    X[:, 0] = 1.0
    W[0, :] = 1000.0  # every score + 1000: exp overflows unless each row's maximum is subtracted
    loss, dW = _loss_dw(fn, W, X, y, 0.0)
    if not math.isfinite(loss) or not torch.isfinite(dW).all():
        raise Fail(
            f"loss {loss} / dW not finite when every score is about 1000: subtract each row's "
            "maximum score before exp",
            str(loss),
        )
    expected, _ = ref.softmax_loss_vectorized(W, X, y, 0.0)
    return compare_scalar("loss", loss, float(expected), bar=1e-6)


# ---------------------------------------------------------------- sample_batch


def _indexed(n: int, d: int = 4):
    """X whose row i is all i, y[i] = i: a batch tells which rows it drew."""
    X = torch.arange(n, dtype=torch.float64)[:, None].repeat(1, d)
    return X, torch.arange(n)


def _draw(fn, X, y, num_train, batch_size):
    Xb, yb = as_tuple(fn(X, y, num_train, batch_size), 2, "(X_batch, y_batch)")
    tensor(Xb, "X_batch", (batch_size, X.shape[1]))
    tensor(yb, "y_batch", (batch_size,))
    return Xb, yb


@check("sample_batch", "shapes", "(batch_size, D), (batch_size,)")
def _sample_shapes(fn, module, name):
    X, y = randn(100, 7), labels(100, 10)
    _draw(fn, X, y, 100, 32)
    return Outcome(True, "(32, 7), (32,)")


@check("sample_batch", "rows keep their labels", "X_batch[i] is row y_batch[i]")
def _sample_pairs(fn, module, name):
    X, y = _indexed(100)
    Xb, yb = _draw(fn, X, y, 100, 64)
    if not torch.equal(Xb[:, 0].long(), yb) or not torch.equal(Xb, X[yb]):
        raise Fail("X_batch and y_batch are not drawn with the same indices", "mismatch")
    return Outcome(True, "64/64 pairs")


@check("sample_batch", "with replacement", "batch_size > num_train works, repeats")
def _sample_replacement(fn, module, name):
    X, y = _indexed(50)
    _, yb = _draw(fn, X, y, 50, 200)
    distinct = int(yb.unique().numel())
    if distinct >= 200:
        raise Fail("200 rows drawn from 50 without a repeat", f"{distinct} distinct")
    return Outcome(True, f"{distinct} distinct of 200")


@check("sample_batch", "from the first num_train rows", "every row hit, none beyond")
def _sample_coverage(fn, module, name):
    X, y = _indexed(100)
    seen = torch.cat([_draw(fn, X, y, 60, 30)[1] for _ in range(100)])
    if int(seen.max()) >= 60:
        raise Fail(f"drew row {int(seen.max())}, beyond num_train = 60", f"max {int(seen.max())}")
    hit = int(seen.unique().numel())
    if hit < 60:
        raise Fail(
            f"3,000 draws hit only {hit} of the 60 rows: sample uniformly from all num_train rows",
            f"{hit}/60",
        )
    counts = torch.bincount(seen, minlength=60).double()
    if counts.max() > 3 * counts.mean():
        raise Fail(
            f"row {int(counts.argmax())} drawn {int(counts.max())} times, 3x the mean: not uniform",
            "skewed",
        )
    return Outcome(True, "60/60 rows")


@check("sample_batch", "random between calls", "two batches differ")
def _sample_random(fn, module, name):
    X, y = _indexed(1000)
    a = _draw(fn, X, y, 1000, 50)[1]
    b = _draw(fn, X, y, 1000, 50)[1]
    if torch.equal(a, b):
        raise Fail("two calls returned the same batch: draw new indices every call", "same")
    return Outcome(True, "differ")


# ---------------------------------------------------------------- training and prediction


def _train(fn, loss_func, W, X, y, **kw):
    W_out, hist = as_tuple(fn(loss_func, W, X, y, **kw), 2, "(W, loss_history)")
    return W_out, hist


@check("train_linear_classifier", "returns (W, loss_history)", "W (D, C), num_iters floats")
def _train_returns(fn, module, name):
    X, y = randn(50, 5), labels(50, 3)
    W0 = randn(5, 3, seed=3, scale=1e-3)
    W, hist = _train(fn, ref.svm_loss_vectorized, W0.clone(), X, y, num_iters=7, batch_size=10)
    tensor(W, "W", (5, 3))
    if not isinstance(hist, list) or len(hist) != 7:
        raise Fail(f"loss_history must be a list of num_iters = 7 losses, got {describe(hist)}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in hist):
        raise Fail(f"loss_history must hold Python floats (loss.item()), got {describe(hist[0])}")
    return Outcome(True, "W (5, 3), 7 floats")


@check("train_linear_classifier", "update W -= lr * dW", "closed form, < 1e-12")
def _train_update(fn, module, name):
    X, y = randn(20, 4), labels(20, 3)
    W0 = randn(4, 3, seed=4)
    G = randn(4, 3, seed=5)

    def constant_grad(W, Xb, yb, reg):
        return (W * G).sum(), G.clone()

    W, _ = _train(fn, constant_grad, W0.clone(), X, y, learning_rate=0.1, num_iters=5, batch_size=4)
    W = tensor(W, "W", (4, 3))
    want = W0 - 0.5 * G
    err = float((W - want).abs().max())
    if err > 1e-12:
        k = _step_ratio(W - W0, -0.5 * G)
        hint = {
            -1.0: "W moves up the gradient (use W -= learning_rate * dW)",
            0.0: "W never changes",
            2.0: "two steps per iteration?",
        }.get(k, f"W moved {k:.3g} x the expected 5 steps of -0.1 * dW" if k is not None else "")
        raise Fail(
            f"after 5 steps of lr 0.1 with a constant dW, W is off by {err:.2g}: {hint}",
            f"{err:.1e}",
        )
    return Outcome(True, f"{err:.1e}")


def _step_ratio(moved: torch.Tensor, want: torch.Tensor):
    k = float((moved * want).sum()) / float((want * want).sum())
    k = round(k, 6)
    return k if (moved - k * want).abs().max() < 1e-9 else None


@check("train_linear_classifier", "minibatches of batch_size", "num_iters calls, batch rows, reg")
def _train_batches(fn, module, name):
    X, y = _indexed(30, 4)
    y = y % 3
    calls = []

    def spy(W, Xb, yb, reg):
        calls.append(
            (tuple(Xb.shape), tuple(yb.shape), reg, bool(torch.equal(Xb[:, 0].long() % 3, yb)))
        )
        return (W * 0).sum(), torch.zeros_like(W)

    _train(
        fn, spy, torch.zeros(4, 3, dtype=torch.float64), X, y, num_iters=6, batch_size=8, reg=0.25
    )
    if len(calls) != 6:
        raise Fail(f"loss_func called {len(calls)} times for num_iters = 6", str(len(calls)))
    bad = [c for c in calls if c[0] != (8, 4) or c[1] != (8,)]
    if bad:
        raise Fail(f"loss_func got X_batch {bad[0][0]}, y_batch {bad[0][1]}; expected (8, 4), (8,)")
    if any(c[2] != 0.25 for c in calls):
        raise Fail(f"loss_func got reg = {calls[0][2]!r}, expected the reg passed in (0.25)")
    if not all(c[3] for c in calls):
        raise Fail("the batches' labels are not the labels of their rows")
    return Outcome(True, "6 x (8, 4)")


@check("train_linear_classifier", "W None is initialised", "(D, max(y) + 1)")
def _train_init(fn, module, name):
    X, y = randn(40, 6), labels(40, 4)
    y[0] = 3
    W, _hist = _train(fn, ref.svm_loss_vectorized, None, X, y, num_iters=3, batch_size=10)
    tensor(W, "W", (6, 4))
    return Outcome(True, "(6, 4)")


@check("train_linear_classifier", "loss goes down", "last 10 < 0.7 x first 10")
def _train_learns(fn, module, name):
    X = randn(300, 10, seed=6)
    y = (X @ randn(10, 4, seed=7)).argmax(dim=1)
    W0 = randn(10, 4, seed=8, scale=1e-3)
    _, hist = _train(
        fn,
        ref.softmax_loss_vectorized,
        W0,
        X,
        y,
        learning_rate=0.5,
        reg=0.0,
        num_iters=200,
        batch_size=50,
    )
    first, last = sum(hist[:10]) / 10, sum(hist[-10:]) / 10
    if not last < 0.7 * first:
        raise Fail(
            f"the loss went from {first:.3f} to {last:.3f} on separable data", f"{last / first:.2f}"
        )
    return Outcome(True, f"{first:.2f} -> {last:.2f}")


@check("predict_linear_classifier", "returns (N,) int64", "shape, dtype")
def _predict_shape(fn, module, name):
    W, X = randn(8, 5), randn(30, 8, seed=1)
    tensor(fn(W, X), "y_pred", (30,), torch.int64)
    return Outcome(True, "(30,) int64")


@check("predict_linear_classifier", "argmax of X @ W", "all labels equal")
def _predict_values(fn, module, name):
    W, X = randn(8, 5), randn(30, 8, seed=1)
    y_pred = tensor(fn(W, X), "y_pred", (30,))
    want = ref.predict_linear_classifier(W, X)
    wrong = int((y_pred.long() != want).sum())
    if wrong:
        raise Fail(
            f"{wrong} of 30 labels differ from argmax over classes of X @ W", f"{wrong} wrong"
        )
    return Outcome(True, "30/30")


# ---------------------------------------------------------------- search grids


@check(
    ("svm_get_search_params", "softmax_get_search_params"), "grid", ">= 2 values each, < 25 pairs"
)
def _grid(fn, module, name):
    lrs, regs = as_tuple(fn(), 2, "(learning_rates, regularization_strengths)")
    for name, vals, positive in (
        ("learning_rates", lrs, True),
        ("regularization_strengths", regs, False),
    ):
        if not isinstance(vals, (list, tuple)) or not all(
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and math.isfinite(v)
            and (v > 0 if positive else v >= 0)
            for v in vals
        ):
            raise Fail(
                f"{name} must be a list of numbers {'> 0' if positive else '>= 0'}, got {vals!r}"
            )
        if len(vals) < 2:
            raise Fail(f"{name} needs at least two candidates, got {len(vals)}", str(len(vals)))
    pairs = len(lrs) * len(regs)
    if pairs >= 25:
        raise Fail(
            f"{len(lrs)} x {len(regs)} = {pairs} combinations; the course allows fewer than 25",
            str(pairs),
        )
    return Outcome(True, f"{len(lrs)} x {len(regs)}")
