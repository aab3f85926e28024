"""Muon for the convolution filters (``deepclass.lightning.muon``) and the trainer's use of it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from deepclass.errors import ConfigError
from deepclass.lightning import build_config
from deepclass.lightning.module import ClassifierModule
from deepclass.lightning.muon import NS_COEFFICIENTS, Muon, muon_param_groups, newton_schulz
from deepclass.nn.speednet import SpeedNet


def _quintic(s: torch.Tensor, steps: int) -> torch.Tensor:
    a, b, c = NS_COEFFICIENTS
    for _ in range(steps):
        s = a * s + b * s**3 + c * s**5
    return s


@pytest.mark.parametrize("shape", [(16, 40), (40, 16)])
def test_newton_schulz_maps_each_singular_value_through_the_quintic(shape):
    # the definition: a polynomial in X X^T acts on the singular values alone, with the
    # singular vectors kept: NS(G) = U p(p(p(S / |G|_F))) V^T
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    want = u @ torch.diag(_quintic(s / g.norm(), 3)) @ vh
    got = newton_schulz(g, steps=3, eps=0.0, dtype=torch.float64)
    assert got.shape == g.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    # bf16 (what the optimizer runs) is the same up to its rounding
    torch.testing.assert_close(newton_schulz(g).double(), want, rtol=0, atol=0.05)
    # and the point of it: the update's singular values all land near 1
    sv = torch.linalg.svdvals(newton_schulz(g, 5, dtype=torch.float64))
    assert sv.min() > 0.6 and sv.max() < 1.25, sv
    with pytest.raises(ConfigError, match="matrix"):
        newton_schulz(torch.ones(2, 3, 4))


def test_muon_without_renormalising_matches_torch_optim_muon_on_a_matrix():
    torch.manual_seed(0)
    w0 = torch.randn(8, 24)
    ours, ref = nn.Parameter(w0.clone()), nn.Parameter(w0.clone())
    opt = Muon([{"params": [ours], "muon": True}], lr=0.05, momentum=0.6, renormalize=False)
    # torch's momentum is an EMA ((1 - m) x ours): the same direction, and Newton-Schulz
    # normalises the scale away; a wide matrix keeps its lr unadjusted
    ref_opt = torch.optim.Muon([ref], lr=0.05, weight_decay=0.0, momentum=0.6, nesterov=True,
                               ns_steps=3)  # fmt: skip
    for k in range(4):
        g = torch.randn(8, 24, generator=torch.Generator().manual_seed(k))
        ours.grad, ref.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
    assert not torch.allclose(ours, w0, atol=0.05)
    torch.testing.assert_close(ours.detach(), ref.detach(), rtol=0, atol=0.02)


def test_muon_step_on_conv_filters_follows_its_definition():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(6, 4, 3, 3) * 3)
    opt = Muon([{"params": [w], "muon": True}], lr=0.1, momentum=0.5)
    ref_w, buf = w.detach().clone(), torch.zeros_like(w)
    for k in range(3):
        g = torch.randn(6, 4, 3, 3, generator=torch.Generator().manual_seed(k))
        w.grad = g.clone()
        opt.step()
        buf = 0.5 * buf + g
        u = g + 0.5 * buf  # Nesterov
        ref_w = ref_w * math.sqrt(6) / ref_w.norm()  # filters renormalised, then the step
        ref_w = ref_w - 0.1 * newton_schulz(u.reshape(6, -1)).float().reshape(6, 4, 3, 3)
        torch.testing.assert_close(w.detach(), ref_w, rtol=0, atol=1e-5)
    # a channels_last filter bank takes the same step
    w2 = nn.Parameter(torch.randn(6, 4, 3, 3).contiguous(memory_format=torch.channels_last))
    w3 = nn.Parameter(w2.detach().contiguous())
    g = torch.randn(6, 4, 3, 3)
    for p in (w2, w3):
        p.grad = g.clone().contiguous(memory_format=torch.channels_last)
        Muon([{"params": [p], "muon": True}], lr=0.1).step()
    torch.testing.assert_close(w2.detach(), w3.detach(), rtol=0, atol=1e-6)


def test_the_sgd_groups_are_torch_sgd():
    torch.manual_seed(0)
    a, b = nn.Parameter(torch.randn(5)), nn.Parameter(torch.randn(5))
    filt = nn.Parameter(torch.randn(2, 2, 3, 3))
    opt = Muon([{"params": [filt], "muon": True}, {"params": [a], "lr": 0.3, "weight_decay": 0.1}],
               lr=0.05, momentum=0.85, nesterov=True)  # fmt: skip
    ref = torch.optim.SGD([b], lr=0.3, momentum=0.85, nesterov=True, weight_decay=0.1)
    b.data.copy_(a.data)
    for k in range(3):
        g = torch.randn(5, generator=torch.Generator().manual_seed(k))
        a.grad, b.grad, filt.grad = g.clone(), g.clone(), torch.randn(2, 2, 3, 3)
        opt.step()
        ref.step()
    torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-7)
    assert opt.state_dict()["state"]  # momentum buffers of both kinds are checkpointed


def test_speednet_groups_put_only_the_trainable_filters_on_muon():
    net = SpeedNet(widths=(8, 16, 16))
    sgd_groups = net.optimizer_param_groups(lr=1.5, weight_decay=1e-3)
    groups = muon_param_groups(net, sgd_groups, lr=0.24, momentum=0.6)
    muon = groups[0]
    assert muon["muon"] and muon["lr"] == 0.24 and muon["momentum"] == 0.6
    filters = [p for n, p in net.named_parameters() if n.endswith("conv1.weight")
               or n.endswith("conv2.weight")]  # fmt: skip
    assert {id(p) for p in muon["params"]} == {id(p) for p in filters} and len(filters) == 6
    rest = {id(p) for g in groups[1:] for p in g["params"]}
    assert id(net.head.weight) in rest and id(net.whiten.bias) in rest  # head, biases: SGD
    assert not rest & {id(q) for q in filters}
    assert id(net.whiten.weight) not in rest | {id(q) for q in filters}  # frozen
    # the SGD groups keep the model's settings (batchnorm shifts at 64x lr)
    assert sorted(g["lr"] for g in groups[1:]) == [1.5, 1.5 * 64]
    with pytest.raises(ConfigError, match="no trainable convolution filters"):
        muon_param_groups(nn.Linear(2, 2), [{"params": list(nn.Linear(2, 2).parameters())}],
                          lr=0.1, momentum=0.5)  # fmt: skip


def test_the_module_builds_muon_from_the_config_and_rejects_what_does_not_apply():
    module = ClassifierModule(SpeedNet(widths=(8, 8, 8)), num_classes=10, optimizer="muon",
                              lr=1.5, momentum=0.85, nesterov=True, muon_lr=0.3)  # fmt: skip
    opt = module.make_optimizer(module.param_groups())
    assert isinstance(opt, Muon)
    muon = [g for g in opt.param_groups if g["muon"]]
    assert len(muon) == 1 and muon[0]["lr"] == 0.3 and muon[0]["momentum"] == 0.6
    assert all(g["momentum"] == 0.85 and g["nesterov"] for g in opt.param_groups if not g["muon"])
    cfg = build_config(preset="fast", overrides={"optimizer": "muon", "muon_momentum": 0.5})
    assert cfg.optimizer == "muon" and cfg.muon_momentum == 0.5
    muon = build_config(preset="fast-muon")
    assert (muon.optimizer, muon.batch_size, muon.alternate_flip) == ("muon", 2000, True)
    for bad, msg in (
        ({"muon_lr": 0.2}, "muon_lr applies to optimizer muon"),
        ({"optimizer": "muon", "muon_lr": 0.0}, "muon_lr must be > 0"),
        ({"optimizer": "muon", "scheduler": "onecycle"}, "onecycle"),
        ({"alternate_flip": True, "flip": False}, "alternate_flip needs flip"),
    ):
        with pytest.raises(ConfigError, match=msg):
            build_config(preset="best", overrides=bad)


@pytest.mark.slow
def test_a_tiny_real_run_with_muon_and_alternating_flip_learns(tmp_path, data_dir):
    from deepclass.lightning import train

    cfg = build_config(
        preset="fast",
        overrides={
            "data_dir": str(data_dir), "out": str(tmp_path), "epochs": 2, "batch_size": 200,
            "train_samples": 3000, "val_samples": 200, "test_samples": 500,
            "model_kwargs": {"widths": [16, 32, 32]}, "optimizer": "muon",
            "alternate_flip": True, "progress": False,
        },
    )  # fmt: skip
    result = train(cfg, printer=lambda _s: None)
    # 3,000 images, 2 epochs (chance 0.1); about 0.4 measured
    assert result.test_acc is not None and result.test_acc > 0.3
    ckpt = torch.load(result.last_checkpoint, weights_only=True)
    hp = ckpt["hyper_parameters"]
    assert hp["optimizer"] == "muon" and hp["muon_lr"] is None
    groups = ckpt["optimizer_states"][0]["param_groups"]
    assert [g["muon"] for g in groups].count(True) == 1
    assert yaml_value(result.run_dir / "config.yaml", "alternate_flip") is True


def yaml_value(path, key):
    import yaml

    return yaml.safe_load(path.read_text())[key]


@pytest.mark.slow
def test_alternating_flip_refuses_the_per_image_dataloader(data_dir):
    from deepclass.lightning.datamodules import build_datamodule

    cfg = build_config(preset="fast-muon", overrides={
        "data_dir": str(data_dir), "train_samples": 200, "val_samples": 50, "test_samples": 50,
        "loader": "dataloader"})  # fmt: skip
    dm = build_datamodule(cfg)
    dm.setup("fit")
    with pytest.raises(ConfigError, match="alternate_flip needs the in-memory loader"):
        dm.train_dataloader()
