"""Models: gradients (numeric and autograd), initialization, checkpoints, registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepclass.errors import CheckpointError, ConfigError
from deepclass.gradcheck import compute_numeric_gradient, rel_error
from deepclass.registry import build_model, model_names
from deepclass.scratch.layers import Dropout
from deepclass.scratch.models import (
    DeepConvNet,
    FullyConnectedNet,
    ThreeLayerConvNet,
    TwoLayerNet,
    create_solver_instance,
    kaiming_initializer,
    load_model,
)
from deepclass.scratch.solver import Solver

DT = torch.float64


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def check_model_grads(model, X, y, reference):
    """Every parameter's gradient vs the numeric one (rel < 1e-7) and vs autograd on ``reference``."""
    loss, grads = model.loss(X, y)
    assert set(grads) == set(model.params)
    leaves = {k: v.detach().clone().requires_grad_() for k, v in model.params.items()}
    ref_loss = reference(leaves, X, y)
    ref_loss.backward()
    assert rel_error(loss, ref_loss.detach()) < 1e-10
    for name, p in model.params.items():
        num = compute_numeric_gradient(lambda _: model.loss(X, y)[0], p)
        if leaves[name].grad.abs().max() < 1e-12:  # a bias before batchnorm: exactly zero gradient
            assert grads[name].abs().max() < 1e-12 and num.abs().max() < 1e-6
            continue
        assert rel_error(grads[name], num) < 1e-7, f"{name}: {rel_error(grads[name], num)}"
        assert rel_error(grads[name], leaves[name].grad) < 1e-7, f"{name} vs autograd"


def _reg(P, reg):
    return reg * sum((v * v).sum() for k, v in P.items() if k.startswith("W"))


def test_two_layer_net_gradients_and_scores():
    N, D, H, C = 3, 5, 6, 4
    model = TwoLayerNet(
        input_dim=D, hidden_dim=H, num_classes=C, weight_scale=0.5, reg=0.3, dtype=DT
    )
    X, y = torch.randn(N, D, dtype=DT), torch.tensor([0, 3, 1])

    def ref(P, X, y):
        scores = F.relu(X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
        return F.cross_entropy(scores, y) + _reg(P, 0.3)

    check_model_grads(model, X, y, ref)
    assert model.loss(X).shape == (N, C)
    assert set(model.params) == {"W1", "b1", "W2", "b2"}


def test_two_layer_net_init():
    model = TwoLayerNet(hidden_dim=200, weight_scale=1e-2)
    assert model.params["W1"].shape == (3072, 200) and model.params["W1"].dtype == torch.float32
    assert abs(model.params["W1"].std().item() - 1e-2) < 1e-3
    assert torch.equal(model.params["b1"], torch.zeros(200))


def _fc_reference(model, dropout_param):
    def ref(P, X, y):
        h = X.reshape(X.shape[0], -1)
        for i in range(1, model.num_layers):
            h = h @ P[f"W{i}"] + P[f"b{i}"]
            if model.normalization == "batchnorm":
                h = F.batch_norm(h, None, None, P[f"gamma{i}"], P[f"beta{i}"], training=True)
            h = F.relu(h)
            if dropout_param is not None:
                h = h * Dropout.forward(torch.ones_like(h), dropout_param)[0]
        scores = h @ P[f"W{model.num_layers}"] + P[f"b{model.num_layers}"]
        return F.cross_entropy(scores, y) + _reg(P, model.reg)

    return ref


@pytest.mark.parametrize(
    "normalization,dropout,reg",
    [
        (None, 0.0, 0.0),
        (None, 0.0, 3.14),
        ("batchnorm", 0.0, 0.5),
        ("batchnorm", 0.3, 0.1),
        (None, 0.4, 0.0),
    ],
)
def test_fully_connected_net_gradients(normalization, dropout, reg):
    N, D, C = 4, 6, 5
    model = FullyConnectedNet(
        [5, 7],
        input_dim=D,
        num_classes=C,
        dropout=dropout,
        reg=reg,
        weight_scale=0.5,
        seed=42,
        dtype=DT,
        normalization=normalization,
    )
    X, y = torch.randn(N, 2, 3, dtype=DT), torch.tensor([0, 4, 1, 2])
    check_model_grads(model, X, y, _fc_reference(model, model.dropout_param))
    expected = {"W1", "b1", "W2", "b2", "W3", "b3"}
    if normalization:
        expected |= {"gamma1", "beta1", "gamma2", "beta2"}
    assert set(model.params) == expected


def test_fully_connected_net_test_mode():
    model = FullyConnectedNet(
        [8], input_dim=4, num_classes=3, dropout=0.5, dtype=DT, normalization="batchnorm"
    )
    X = torch.randn(6, 4, dtype=DT)
    a, b = model.loss(X), model.loss(X)
    assert torch.equal(a, b)  # no dropout at test time; running stats do not change
    model.loss(X, torch.zeros(6, dtype=torch.long))  # one training step updates the running stats
    assert model.bn_params[0]["mode"] == "train" and "running_mean" in model.bn_params[0]
    assert not torch.equal(model.loss(X), a)


def test_three_layer_convnet_gradients():
    model = ThreeLayerConvNet(
        input_dims=(2, 6, 6),
        num_filters=3,
        filter_size=3,
        hidden_dim=5,
        num_classes=4,
        weight_scale=0.3,
        reg=0.05,
        dtype=DT,
    )
    X, y = torch.randn(2, 2, 6, 6, dtype=DT), torch.tensor([1, 3])

    def ref(P, X, y):
        h = F.max_pool2d(F.relu(F.conv2d(X, P["W1"], P["b1"], padding=1)), 2, 2)
        h = F.relu(h.reshape(2, -1) @ P["W2"] + P["b2"])
        return F.cross_entropy(h @ P["W3"] + P["b3"], y) + _reg(P, 0.05)

    check_model_grads(model, X, y, ref)
    assert model.params["W2"].shape == (3 * 3 * 3, 5)
    assert ThreeLayerConvNet().params["W1"].shape == (32, 3, 7, 7)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_deep_convnet_gradients(batchnorm):
    model = DeepConvNet(
        input_dims=(2, 4, 4),
        num_filters=[3, 2],
        max_pools=[0],
        batchnorm=batchnorm,
        num_classes=3,
        weight_scale="kaiming",
        reg=0.02,
        dtype=DT,
    )
    X, y = torch.randn(3, 2, 4, 4, dtype=DT), torch.tensor([0, 2, 1])

    def ref(P, X, y):
        h = X
        for i in (1, 2):
            h = F.conv2d(h, P[f"W{i}"], P[f"b{i}"], padding=1)
            if batchnorm:
                h = F.batch_norm(h, None, None, P[f"gamma{i}"], P[f"beta{i}"], training=True)
            h = F.relu(h)
            if i == 1:
                h = F.max_pool2d(h, 2, 2)
        return F.cross_entropy(h.reshape(3, -1) @ P["W3"] + P["b3"], y) + _reg(P, 0.02)

    check_model_grads(model, X, y, ref)
    assert model.params["W3"].shape == (2 * 2 * 2, 3)


def test_deep_convnet_shapes_and_errors():
    model = DeepConvNet()  # course defaults: 5 conv layers of 8 filters, pooling after each
    assert model.params["W6"].shape == (8, 10)
    with pytest.raises(ConfigError, match="does not tile the input height 1"):
        DeepConvNet(num_filters=[8] * 6, max_pools=list(range(6)))
    with pytest.raises(ConfigError, match=r"max_pools must hold conv layer indices in \[0, 2\)"):
        DeepConvNet(num_filters=[4, 4], max_pools=[2])
    with pytest.raises(ConfigError, match="weight_scale"):
        DeepConvNet(weight_scale="xavier")


def test_kaiming_initializer():
    torch.manual_seed(1)
    w = kaiming_initializer(500, 400)
    assert w.shape == (500, 400) and abs(w.var().item() - 2 / 500) < 2e-4
    w = kaiming_initializer(64, 128, K=3, relu=False, dtype=DT)
    assert w.shape == (128, 64, 3, 3) and w.dtype == DT
    assert abs(w.var().item() - 1 / (64 * 9)) < 1e-4
    calls = []

    def init(Din, Dout, K=None, relu=True, device="cpu", dtype=torch.float32):
        calls.append((Din, Dout, K, relu))
        return kaiming_initializer(Din, Dout, K, relu, device, dtype)

    DeepConvNet(input_dims=(3, 8, 8), num_filters=[4], max_pools=[0], weight_initializer=init)
    assert calls == [(3, 4, 3, True), (4 * 4 * 4, 10, None, False)]


def test_constructor_errors():
    with pytest.raises(ConfigError, match="hidden_dims must be a non-empty list"):
        FullyConnectedNet([])
    with pytest.raises(
        ConfigError, match=r"dropout \(drop probability\) must be a finite number in \[0, 1\)"
    ):
        FullyConnectedNet([10], dropout=1.5)
    with pytest.raises(ConfigError, match="normalization must be None or 'batchnorm'"):
        FullyConnectedNet([10], normalization="layernorm")
    with pytest.raises(ConfigError, match="hidden_dim must be a positive int"):
        TwoLayerNet(hidden_dim=0)
    with pytest.raises(ConfigError, match=r"input_dims must be \(C, H, W\)"):
        ThreeLayerConvNet(input_dims=(32, 32))
    with pytest.raises(ConfigError, match="does not tile the input height 7"):
        ThreeLayerConvNet(input_dims=(3, 7, 8), filter_size=3)
    model = TwoLayerNet(input_dim=12, hidden_dim=3)
    with pytest.raises(ConfigError, match=r"Linear: x \(2, 10\) has D = 10"):
        model.loss(torch.randn(2, 10))


@pytest.mark.parametrize(
    "make",
    [
        lambda: TwoLayerNet(input_dim=12, hidden_dim=5, reg=0.1),
        lambda: FullyConnectedNet([6, 5], input_dim=12, normalization="batchnorm", dropout=0.2),
        lambda: ThreeLayerConvNet(input_dims=(3, 2, 2), num_filters=2, filter_size=3, hidden_dim=4),
        lambda: DeepConvNet(
            input_dims=(3, 2, 2), num_filters=[2, 3], max_pools=[1], batchnorm=True
        ),
    ],
)
def test_save_and_load_round_trip(tmp_path, make, capsys):
    model = make()
    X = torch.randn(5, 3, 2, 2)
    for _ in range(3):  # move the batchnorm running statistics away from their start
        model.loss(X, torch.randint(10, (5,)))
    scores = model.loss(X)
    model.save(tmp_path / "m.pt")
    assert "Saved in" in capsys.readouterr().out
    restored = load_model(tmp_path / "m.pt")
    assert type(restored) is type(model) and restored.reg == model.reg
    assert torch.equal(restored.loss(X), scores)
    other = make()
    other.load(tmp_path / "m.pt", DT, "cpu")  # the course's signature, into an existing model
    assert other.params["W1"].dtype == DT
    assert torch.allclose(other.loss(X).float(), scores, atol=1e-5)


def test_load_errors(tmp_path):
    TwoLayerNet(input_dim=12, hidden_dim=5).save(tmp_path / "two.pt")
    with pytest.raises(CheckpointError, match="holds a TwoLayerNet, not a FullyConnectedNet"):
        FullyConnectedNet([5], input_dim=12).load(tmp_path / "two.pt")
    with pytest.raises(CheckpointError, match="parameter W1 has shape"):
        TwoLayerNet(input_dim=12, hidden_dim=6).load(tmp_path / "two.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_model(tmp_path / "junk.pt")
    torch.save({"params": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a deepclass scratch checkpoint"):
        load_model(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_model(tmp_path / "missing.pt")


def test_registry():
    assert model_names("scratch") == ["two_layer", "fc", "conv", "deep_conv"]
    assert isinstance(build_model("scratch", "fc", hidden_dims=[10]), FullyConnectedNet)
    assert isinstance(build_model("scratch", "deep_conv"), DeepConvNet)
    with pytest.raises(ConfigError, match="valid: two_layer, fc, conv, deep_conv"):
        build_model("scratch", "resnet")


def test_create_solver_instance():
    data = {
        "X_train": torch.randn(20, 3, 32, 32),
        "y_train": torch.randint(10, (20,)),
        "X_val": torch.randn(10, 3, 32, 32),
        "y_val": torch.randint(10, (10,)),
    }
    solver = create_solver_instance(data, torch.float64, "cpu")
    assert isinstance(solver, Solver) and solver.num_epochs == 100
    assert solver.model.params["W1"].shape == (3072, 200) and solver.model.params["W1"].dtype == DT
    assert solver.update_rule.__name__ == "sgd" and solver.batch_size == 100
