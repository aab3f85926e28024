"""``deepclass ladder --same-model``: one model through every rung must train to the same weights.

This is the agreement test the issue asks for: float64, a few steps on real CIFAR-10 images,
every rung of both models, tolerance 1e-9 relative to rung 4. Planted bugs (a 0.1% error in
one gradient, a weight decay only one rung applies) must make it fail.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from deepclass.bench import ladder_same_model as SM

STEPS, BATCH, N = 6, 20, 120
LINE = r"same-model (linear|convnet) rung [1235]: max rel diff \d\.\de[+-]\d\d vs rung 4"


@pytest.fixture(scope="module")
def images(cifar10):
    return cifar10.train.images[:N], cifar10.train.labels[:N]


@pytest.fixture(scope="module")
def result(images):
    x, y = images
    return SM.run_same_model(x, y, 10, steps=STEPS, batch_size=BATCH, seed=3, log=None)


def test_every_rung_of_both_models_agrees_in_float64(result):
    assert set(result.runs) == {"linear", "convnet"}
    assert set(result.runs["linear"]) == {1, 2, 3, 4, 5}
    assert set(result.runs["convnet"]) == {2, 3, 4, 5}
    for model, runs in result.runs.items():
        for rung, r in runs.items():
            assert len(r.losses) == STEPS and len(r.step_times) == STEPS
            assert r.loss_diff < 1e-9 and r.weight_diff < 1e-9, (model, rung, r.max_rel_diff)
            assert math.isfinite(r.seconds_per_step) and r.seconds_per_step > 0
    assert result.agrees()


def test_the_reference_is_an_independent_computation(result, images):
    """Rung 4's first loss is the cross-entropy of the initial weights on the first batch, and
    training moved the weights: the agreement is not that of runs that did nothing."""
    x, y = images
    p = SM.make_problem("linear", x, y, 10, steps=STEPS, batch_size=BATCH, seed=3)
    xb, yb = p.x[p.batches[0]], p.y[p.batches[0]]
    expected = F.cross_entropy(xb @ p.init["w"] + p.init["b"], yb).item()
    ref = result.runs["linear"][4]
    assert ref.losses[0] == pytest.approx(expected, rel=1e-12)
    moved = SM.weight_difference(ref.weights, p.init)
    assert moved > 1e-3, moved
    # the batches are distinct rows of the slice, in a seeded order
    assert p.batches.shape == (STEPS, BATCH)
    assert len(set(p.batches.flatten().tolist())) == STEPS * BATCH


def test_a_planted_gradient_bug_fails_the_agreement(images, monkeypatch):
    """A 0.1% error in the scratch convolutions' bias gradient: only rung 2 disagrees."""
    from deepclass.scratch import layer_utils as LU

    backward = LU.Conv_ReLU.backward

    def wrong(dout, cache):
        dx, dw, db = backward(dout, cache)
        return dx, dw, db * 1.001

    monkeypatch.setattr(LU.Conv_ReLU, "backward", staticmethod(wrong))
    x, y = images
    res = SM.run_same_model(
        x, y, 10, models=["convnet"], rungs=[2, 3], steps=3, batch_size=BATCH, log=None
    )
    runs = res.runs["convnet"]
    assert runs[2].max_rel_diff > 1e-6 and runs[3].max_rel_diff < 1e-9
    assert not res.agrees()
    assert SM.summary_lines(res)[-1].startswith(
        "same-model: DISAGREES beyond 1e-09: convnet rung 2"
    )


def test_a_weight_decay_only_one_rung_applies_fails_the_agreement(images, monkeypatch):
    import deepclass.linear.losses as losses

    vectorized = losses.softmax_loss_vectorized

    def with_decay(W, X, y, reg):
        loss, dW = vectorized(W, X, y, reg)
        return loss, dW + 1e-4 * W

    monkeypatch.setattr(losses, "softmax_loss_vectorized", with_decay)
    x, y = images
    res = SM.run_same_model(x, y, 10, models=["linear"], rungs=[1], steps=3, batch_size=BATCH,
                            log=None)  # fmt: skip
    assert res.runs["linear"][1].weight_diff > 1e-7
    assert not res.agrees()


def test_float32_is_checked_one_step_at_a_time(images):
    x, y = images
    res = SM.run_same_model(x, y, 10, models=["linear"], rungs=[1, 3], steps=3,
                            batch_size=BATCH, dtype=torch.float32, log=None)  # fmt: skip
    for r in res.runs["linear"].values():
        assert r.step_loss_diff is not None and r.step_weight_diff is not None
        assert r.max_rel_diff == max(r.step_loss_diff, r.step_weight_diff) < 1e-4
        assert r.free_rel_diff < 1e-4
    assert res.tolerance == 1e-4 and res.agrees()


def test_differences(tmp_path):
    assert SM.loss_difference([1.0, 2.0], [1.0, 2.5]) == pytest.approx(0.2)
    assert SM.loss_difference([1.0], [1.0, 2.0]) == math.inf
    ref = {"w": torch.tensor([[2.0, -4.0]]), "b": torch.tensor([0.0])}
    got = {"w": torch.tensor([[2.0, -4.0]]), "b": torch.tensor([0.4])}
    assert SM.weight_difference(got, ref) == pytest.approx(0.1)  # 0.4 / max|ref| = 4
    assert SM.weight_difference({"w": ref["w"]}, ref) == math.inf


def test_files_and_lines(result, tmp_path):
    SM.write_same_model(result, tmp_path, title="test run")
    for name in ("same-model.md", "same-model.csv", "same-model-losses.csv", "same-model.png"):
        assert (tmp_path / name).stat().st_size > 200, name
    rows = (tmp_path / "same-model.csv").read_text().splitlines()
    assert len(rows) == 1 + 9 and rows[0].startswith("model,rung,implementation")
    losses = (tmp_path / "same-model-losses.csv").read_text().splitlines()
    assert losses[0] == "model,step,rung_1,rung_2,rung_3,rung_4,rung_5"
    assert len(losses) == 1 + 2 * STEPS and losses[-1].startswith(f"convnet,{STEPS},,")
    md = (tmp_path / "same-model.md").read_text()
    assert "| linear | 1 | train_linear_classifier" in md and "**NO**" not in md
    lines = SM.summary_lines(result)
    assert len(lines) == 4 + 3
    for line in lines:
        assert re.fullmatch(LINE, line), line
