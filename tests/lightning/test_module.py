"""ClassifierModule against independent references: losses, metrics, schedules, param groups."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepclass.data import normalize
from deepclass.errors import ConfigError
from deepclass.lightning.module import (
    ClassifierModule,
    InferenceModel,
    LRSchedule,
    split_param_groups,
    tta_logits,
)


def small_net(k: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, k)
    )


def test_multiclass_loss_and_metrics_match_references():
    m = ClassifierModule(small_net(), num_classes=3, label_smoothing=0.1)
    torch.manual_seed(1)
    logits, y = torch.randn(8, 3), torch.randint(0, 3, (8,))
    assert torch.allclose(m.loss(logits, y), F.cross_entropy(logits, y))
    # label smoothing: (1 - e) * CE + e * mean over classes of -log p
    logp = logits.log_softmax(1)
    ref = 0.9 * F.nll_loss(logp, y) + 0.1 * (-logp.mean(1)).mean()
    assert torch.allclose(m.loss(logits, y, 0.1), ref, atol=1e-6)
    m.valid_acc.update(m.metric_input(logits), y)
    assert m.valid_acc.compute().item() == pytest.approx(
        (logits.argmax(1) == y).float().mean().item()
    )
    p = m.probabilities(logits)
    assert torch.allclose(p.sum(1), torch.ones(8)) and torch.equal(p.argmax(1), logits.argmax(1))


def test_binary_head_uses_bce_and_sigmoid():
    m = ClassifierModule(nn.Linear(2, 1), num_classes=2, binary=True)
    logits, y = torch.tensor([[2.0], [-1.0], [0.3], [-0.2]]), torch.tensor([1, 0, 0, 0])
    ref = F.binary_cross_entropy(torch.sigmoid(logits[:, 0]), y.float())
    assert torch.allclose(m.loss(logits, y), ref, atol=1e-6)
    # smoothing moves targets to y(1-e) + e/2
    ref_s = F.binary_cross_entropy_with_logits(logits[:, 0], torch.tensor([0.95, 0.05, 0.05, 0.05]))
    assert torch.allclose(m.loss(logits, y, 0.1), ref_s, atol=1e-6)
    m.test_acc.update(m.metric_input(logits), y)
    assert m.test_acc.compute().item() == pytest.approx(0.75)  # 0.3 -> class 1 is wrong
    p = m.probabilities(logits)
    assert p.shape == (4, 2) and torch.allclose(p[:, 1], torch.sigmoid(logits[:, 0]))


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="unknown optimizer 'lbfgs'; valid: sgd, adam, adamw"):
        ClassifierModule(nn.Linear(2, 3), num_classes=3, optimizer="lbfgs")
    with pytest.raises(ConfigError, match="unknown scheduler"):
        ClassifierModule(nn.Linear(2, 3), num_classes=3, scheduler="plateau")
    with pytest.raises(ConfigError, match="binary=True needs num_classes=2"):
        ClassifierModule(nn.Linear(2, 1), num_classes=3, binary=True)
    m = ClassifierModule(nn.Linear(2, 4), num_classes=3)
    with pytest.raises(ConfigError, match=r"returned shape \(5, 4\); expected \(N, 3\)"):
        m._check_logits(m(torch.randn(5, 2)))


def test_lr_schedule_closed_forms():
    s = LRSchedule("cosine", total_steps=110, warmup_steps=10, final_ratio=0.1)
    assert s(0) == pytest.approx(0.1) and s(9) == pytest.approx(1.0)
    assert s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert s(110) == pytest.approx(0.1)
    lin = LRSchedule("linear", 100, 0, 0.0)
    assert lin(0) == 1.0 and lin(50) == pytest.approx(0.5) and lin(100) == 0.0
    assert LRSchedule("none", 100, 0, 0.0)(70) == 1.0


def test_param_groups_scale_biases_and_norms():
    net = small_net()
    groups = split_param_groups(
        net, lr=0.1, weight_decay=5e-4, bias_lr_scale=4.0, bias_weight_decay=0.0,
        norm_weight_decay=0.0,
    )  # fmt: skip
    by = {(g["lr"], g["weight_decay"]): {id(p) for p in g["params"]} for g in groups}
    conv, bn, fc = net[0], net[1], net[4]
    assert by[(0.1, 5e-4)] == {id(conv.weight), id(fc.weight)}
    assert by[(0.4, 0.0)] == {id(conv.bias), id(fc.bias), id(bn.bias)}
    assert by[(0.1, 0.0)] == {id(bn.weight)}
    n_all = sum(len(g["params"]) for g in groups)
    assert n_all == len(list(net.parameters()))
    # default settings: one group
    assert len(split_param_groups(net, lr=0.1, weight_decay=0.0)) == 1

    class Custom(nn.Linear):
        def optimizer_param_groups(self, lr, weight_decay):
            return [{"params": [self.weight], "lr": lr * 2}, {"params": [self.bias], "lr": lr}]

    g = split_param_groups(Custom(2, 2), lr=0.5, weight_decay=0.0)
    assert [x["lr"] for x in g] == [1.0, 0.5]


class _FakeTrainer:
    estimated_stepping_batches = 100
    max_epochs = 10


@pytest.mark.parametrize(
    ("name", "cls"),
    [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)],
)
def test_optimizers_and_schedulers_by_name(name, cls, monkeypatch):
    kw = {"nesterov": True} if name == "sgd" else {}
    m = ClassifierModule(
        small_net(), num_classes=3, optimizer=name, lr=0.2, weight_decay=1e-3,
        scheduler="cosine", warmup_epochs=1.0, **kw,
    )  # fmt: skip
    monkeypatch.setattr(ClassifierModule, "trainer", _FakeTrainer(), raising=False)
    out = m.configure_optimizers()
    opt, sched = out["optimizer"], out["lr_scheduler"]["scheduler"]
    assert isinstance(opt, cls) and out["lr_scheduler"]["interval"] == "step"
    assert opt.param_groups[0]["weight_decay"] == 1e-3
    if name == "sgd":
        assert opt.param_groups[0]["nesterov"] is True
    # warm-up: 10 steps (1 of 10 epochs of 100 steps)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2 / 10)
    m.hparams.scheduler = "onecycle"
    out = m.configure_optimizers()
    assert isinstance(out["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.OneCycleLR)
    m.hparams.scheduler, m.hparams.warmup_epochs = "none", 0.0
    assert isinstance(m.configure_optimizers(), cls)  # no scheduler at all
    del sched


def test_eval_tta_flip_and_inference_model():
    net = small_net()
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    m = ClassifierModule(net, num_classes=3, tta_flip=True, normalize_mean=mean, normalize_std=std)
    m.eval()
    x = torch.rand(4, 3, 4, 4)
    with torch.no_grad():
        xn = normalize(x, torch.tensor(mean), torch.tensor(std))
        want = (net(xn) + net(xn.flip(3))) / 2
        assert torch.allclose(m.eval_logits(xn), want, atol=1e-6)
        inf = m.inference_model()
        assert isinstance(inf, InferenceModel)
        assert torch.allclose(inf(x), want, atol=1e-5)  # normalisation inside


def test_tta_translate_averages_six_views_and_inference_model_agrees():
    torch.manual_seed(0)
    net = small_net().eval()  # batchnorm on running statistics, as at evaluation
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    x = torch.rand(4, 3, 4, 4)
    xn = normalize(x, torch.tensor(mean), torch.tensor(std))
    with torch.no_grad():
        p = torch.nn.functional.pad(xn, (1, 1, 1, 1), mode="reflect")
        views = [xn, p[:, :, :4, :4], p[:, :, 2:, 2:]]
        mirrored = [(net(v) + net(v.flip(3))) / 2 for v in views]
        want = mirrored[0] / 2 + (mirrored[1] + mirrored[2]) / 4
        # a shift moves the content by one pixel: the up-left view's pixel (1, 1) is (0, 0)
        assert torch.equal(views[1][:, :, 1:, 1:], xn[:, :, :3, :3])
        got = tta_logits(net, xn, flip=True, translate=True)
        assert torch.allclose(got, want, atol=1e-6)
        assert not torch.allclose(got, tta_logits(net, xn, flip=True), atol=1e-4)
        assert torch.equal(tta_logits(net, xn), net(xn))
        m = ClassifierModule(
            net, num_classes=3, tta_flip=True, tta_translate=True, normalize_mean=mean,
            normalize_std=std,
        ).eval()  # fmt: skip
        assert torch.allclose(m.eval_logits(xn), want, atol=1e-6)
        assert torch.allclose(m.inference_model()(x), want, atol=1e-5)


def test_channels_last_gives_the_same_logits():
    net = small_net()
    x = torch.rand(2, 3, 4, 4)
    with torch.no_grad():
        ref = net.eval()(x)
        m = ClassifierModule(net, num_classes=3, channels_last=True).eval()
        assert torch.allclose(m(x), ref, atol=1e-5)
    assert m.net[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_hparams_are_plain_values():
    m = ClassifierModule(
        nn.Linear(2, 3), num_classes=3, input_shape=(2,), normalize_mean=torch.tensor([0.5]),
        normalize_std=[0.1], betas=(0.8, 0.9), model="x", model_kwargs={"a": (1, 2)},
    )  # fmt: skip
    hp = dict(m.hparams)
    assert hp["input_shape"] == [2] and hp["classes"] == ["0", "1", "2"]
    assert hp["normalize_mean"] == [0.5] and hp["betas"] == [0.8, 0.9]
    assert hp["num_classes"] == 3 and hp["binary"] is False


def test_val_tta_off_validates_one_view_and_still_tests_with_tta():
    torch.manual_seed(0)
    net = small_net().eval()
    x, y = torch.rand(8, 3, 4, 4), torch.randint(0, 3, (8,))
    with torch.no_grad():
        plain = net(x)
        tta = tta_logits(net, x, flip=True, translate=True)
    assert not torch.allclose(plain, tta, atol=1e-3)
    losses = {}
    for val_tta in (True, False):
        m = ClassifierModule(
            net, num_classes=3, tta_flip=True, tta_translate=True, val_tta=val_tta
        ).eval()
        with torch.no_grad():
            m.validation_step((x, y), 0)
            m.test_step((x, y), 0)
        losses[val_tta] = (float(m.valid_loss.compute()), float(m.test_loss.compute()))
    loss = torch.nn.functional.cross_entropy
    assert losses[False][0] == pytest.approx(float(loss(plain, y)), abs=1e-5)
    assert losses[True][0] == pytest.approx(float(loss(tta, y)), abs=1e-5)
    assert losses[False][1] == losses[True][1] == pytest.approx(float(loss(tta, y)), abs=1e-5)


def test_predict_step_gives_the_eval_probabilities():
    """predict_step: class probabilities (N, K) of the eval logits, for (x, y) or x batches;
    with test-time augmentation they are the average over views."""
    torch.manual_seed(2)
    x = torch.randn(6, 3, 4, 4)
    m = ClassifierModule(small_net(), num_classes=3).eval()
    with torch.no_grad():
        ref = torch.softmax(m(x), dim=1)
        for batch in ((x, torch.zeros(6, dtype=torch.long)), [x], x):
            p = m.predict_step(batch, 0)
            assert p.shape == (6, 3) and torch.allclose(p, ref, atol=1e-6)
        tta = ClassifierModule(small_net(), num_classes=3, tta_flip=True).eval()
        flipped = (tta(x) + tta(x.flip(-1))) / 2
        assert torch.allclose(tta.predict_step(x, 0), torch.softmax(flipped, 1), atol=1e-6)
        binary = ClassifierModule(nn.Linear(2, 1), num_classes=2, binary=True).eval()
        z = torch.randn(5, 2)
        p = binary.predict_step((z, None), 0)
        assert torch.allclose(p[:, 1], torch.sigmoid(binary(z)[:, 0])) and torch.allclose(
            p.sum(1), torch.ones(5)
        )
