"""Rung 4 models: shapes through the registry, functional twins, seed-003 fidelity, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from deepclass.barebones.models import (
    three_layer_convnet,
    three_layer_convnet_params,
    two_layer_fc,
    two_layer_fc_params,
)
from deepclass.errors import ConfigError
from deepclass.nn.layers import NoisyLinear
from deepclass.nn.models import (
    MLP,
    MultiLayerPerceptron,
    NoisyMLP,
    ThreeLayerConvNet,
    TwoLayerFC,
    three_layer_convnet_sequential,
    two_layer_fc_sequential,
)
from deepclass.registry import build_model, model_names

NAMES = ["two_layer_fc", "three_layer_convnet", "mlp", "modulelist", "noisy", "linear"]
SMALL = {
    "two_layer_fc": {"hidden_size": 16},
    "three_layer_convnet": {"channel_1": 4, "channel_2": 3},
}


def test_registry_names():
    assert model_names("nn") == [*NAMES, "speednet"]  # speednet: tests/nn/test_speednet.py


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("input_shape", "num_classes"),
    [((3, 32, 32), 10), ((1, 28, 28), 10), ((2,), 1), ((3, 8, 8), 1)],
)
def test_every_model_maps_a_batch_to_logits(name, input_shape, num_classes):
    if name == "three_layer_convnet" and len(input_shape) == 1:
        with pytest.raises(ConfigError, match=r"input_shape must be \(C, H, W\)"):
            build_model("nn", name, input_shape=input_shape, num_classes=num_classes)
        return
    model = build_model(
        "nn", name, input_shape=input_shape, num_classes=num_classes, **SMALL.get(name, {})
    )
    assert isinstance(model, nn.Module)
    x = torch.rand(5, *input_shape)
    out = model(x)
    assert out.shape == (5, num_classes) and out.dtype == torch.float32
    out.sum().backward()  # differentiable end to end
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", NAMES)
def test_sigmoid_output_gives_probabilities(name):
    model = build_model(
        "nn", name, input_shape=(3, 8, 8), num_classes=1, output="sigmoid", **SMALL.get(name, {})
    )
    out = model(torch.randn(7, 3, 8, 8) * 10)
    assert out.shape == (7, 1) and (out >= 0).all() and (out <= 1).all()
    with pytest.raises(ConfigError, match="output='sigmoid' is for binary classifiers"):
        build_model("nn", name, input_shape=(3, 8, 8), num_classes=10, output="sigmoid")


def test_sequential_variants_through_the_registry():
    fc = build_model("nn", "two_layer_fc", input_shape=(3, 4, 4), hidden_size=5, sequential=True)
    conv = build_model(
        "nn",
        "three_layer_convnet",
        input_shape=(3, 4, 4),
        channel_1=2,
        channel_2=2,
        sequential=True,
    )
    assert isinstance(fc, nn.Sequential) and isinstance(conv, nn.Sequential)
    assert fc(torch.zeros(2, 3, 4, 4)).shape == (2, 10) and conv(torch.zeros(2, 3, 4, 4)).shape == (
        2,
        10,
    )


def _grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("sequential", [False, True])
def test_two_layer_fc_twins_agree(sequential):
    torch.manual_seed(0)
    w1, w2 = two_layer_fc_params(48, 20, 7, dtype=torch.float64)
    module = (two_layer_fc_sequential if sequential else TwoLayerFC)((3, 4, 4), 20, 7).double()
    fc1, fc2 = (module[1], module[3]) if sequential else (module.fc1, module.fc2)
    with torch.no_grad():  # nn.Linear(bias=False) holds the transposed w
        fc1.weight.copy_(w1.T)
        fc2.weight.copy_(w2.T)
    x = torch.randn(9, 3, 4, 4, dtype=torch.float64)
    xf, xm = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y = torch.randint(0, 7, (9,))
    out_f, out_m = two_layer_fc(xf, [w1, w2]), module(xm)
    assert torch.allclose(out_f, out_m, rtol=0, atol=1e-10)
    gf = _grads(nn.functional.cross_entropy(out_f, y), [xf, w1, w2])
    gm = _grads(nn.functional.cross_entropy(out_m, y), [xm, fc1.weight, fc2.weight])
    assert torch.allclose(gf[0], gm[0], rtol=0, atol=1e-10)
    assert torch.allclose(gf[1], gm[1].T, rtol=0, atol=1e-10)
    assert torch.allclose(gf[2], gm[2].T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("sequential", [False, True])
def test_three_layer_convnet_twins_agree(sequential):
    torch.manual_seed(1)
    params = three_layer_convnet_params((3, 6, 6), 5, 4, 3, dtype=torch.float64)
    with torch.no_grad():
        for b in params[1::2]:
            b.normal_()
    module = (three_layer_convnet_sequential if sequential else ThreeLayerConvNet)(
        (3, 6, 6), 5, 4, 3
    ).double()
    conv1, conv2, fc = (
        (module[0], module[2], module[5]) if sequential else (module.conv1, module.conv2, module.fc)
    )
    with torch.no_grad():
        conv1.weight.copy_(params[0])
        conv1.bias.copy_(params[1])
        conv2.weight.copy_(params[2])
        conv2.bias.copy_(params[3])
        fc.weight.copy_(params[4].T)
        fc.bias.copy_(params[5])
    x = torch.randn(4, 3, 6, 6, dtype=torch.float64)
    xf, xm = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y = torch.tensor([0, 2, 1, 2])
    out_f, out_m = three_layer_convnet(xf, params), module(xm)
    assert torch.allclose(out_f, out_m, rtol=0, atol=1e-10)
    gf = _grads(nn.functional.cross_entropy(out_f, y), [xf, *params])
    mod_params = [conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias]
    gm = list(_grads(nn.functional.cross_entropy(out_m, y), [xm, *mod_params]))
    gm[5] = gm[5].T
    for i, (a, b) in enumerate(zip(gf, gm, strict=True)):
        assert torch.allclose(a, b, rtol=0, atol=1e-10), f"gradient {i}"


def test_module_and_sequential_forms_initialise_identically():
    torch.manual_seed(4)
    a = ThreeLayerConvNet((3, 8, 8), 4, 3, 5)
    torch.manual_seed(4)
    b = three_layer_convnet_sequential((3, 8, 8), 4, 3, 5)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_seed000_networks_use_kaiming_init():
    torch.manual_seed(0)
    m = TwoLayerFC((3, 32, 32), 2000, 10)
    assert abs(m.fc1.weight.std().item() / math.sqrt(2 / 3072) - 1) < 0.03
    c = ThreeLayerConvNet((3, 32, 32), 64, 32, 10)
    assert abs(c.conv2.weight.std().item() / math.sqrt(2 / (64 * 9)) - 1) < 0.03
    assert not c.conv1.bias.any() and not c.fc.bias.any()


def test_mlp_modulelist_and_sequential_are_the_same_network():
    torch.manual_seed(7)
    seq = MultiLayerPerceptron((1, 28, 28), (32, 16), 10)
    torch.manual_seed(7)
    lst = MLP((32, 16), (1, 28, 28), 10)
    assert isinstance(lst.module_list, nn.ModuleList)
    assert [type(m) for m in seq.model] == [type(m) for m in lst.module_list]
    assert sum(p.numel() for p in lst.parameters()) == 784 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(seq(x), lst(x))


def test_xor_mlp_matches_the_books_sequential_model():
    """Seed 003: nn.Sequential(Linear(2,4), ReLU, Linear(4,4), ReLU, Linear(4,1), Sigmoid)."""
    torch.manual_seed(1)
    book = nn.Sequential(
        nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid()
    )
    for name in ("mlp", "modulelist"):
        torch.manual_seed(1)
        ours = build_model(
            "nn", name, input_shape=(2,), num_classes=1, hidden_units=(4, 4), output="sigmoid"
        )
        x = torch.rand(10, 2) * 2 - 1
        assert torch.equal(ours(x), book(x)), name


class SeedNoisyLinear(nn.Module):
    """Seed 003's NoisyLinear (the Xavier version), verbatim apart from style."""

    def __init__(self, input_size, output_size, noise_stddev=0.1):
        super().__init__()
        self.w = nn.Parameter(torch.Tensor(input_size, output_size))
        nn.init.xavier_uniform_(self.w)
        self.b = nn.Parameter(torch.Tensor(output_size).fill_(0))
        self.noise_stddev = noise_stddev

    def forward(self, x, training=False):
        x_new = torch.add(x, torch.normal(0.0, self.noise_stddev, x.shape)) if training else x
        return torch.add(torch.mm(x_new, self.w), self.b)


class SeedNoisyModule(nn.Module):
    """Seed 003's MyNoisyModule."""

    def __init__(self):
        super().__init__()
        self.l1 = SeedNoisyLinear(2, 4, 0.07)
        self.a1, self.l2, self.a2 = nn.ReLU(), nn.Linear(4, 4), nn.ReLU()
        self.l3, self.a3 = nn.Linear(4, 1), nn.Sigmoid()

    def forward(self, x, training=False):
        x = self.a1(self.l1(x, training))
        return self.a3(self.l3(self.a2(self.l2(x))))


def test_noisy_model_matches_the_seeds_mynoisymodule():
    torch.manual_seed(1)
    seed_model = SeedNoisyModule()
    torch.manual_seed(1)
    ours = build_model("nn", "noisy", input_shape=(2,), num_classes=1, output="sigmoid")
    assert isinstance(ours.noisy, NoisyLinear) and ours.noisy.noise_stddev == 0.07
    x = torch.rand(6, 2) * 2 - 1
    ours.eval()
    assert torch.equal(ours(x), seed_model(x))  # eval: no noise
    torch.manual_seed(5)
    noisy_seed = seed_model(x, True)
    torch.manual_seed(5)
    ours.train()
    assert torch.equal(ours(x), noisy_seed)  # train mode: the same noise draw
    assert not torch.equal(noisy_seed, seed_model(x))


def test_noisy_mlp_with_one_hidden_layer_and_images():
    m = NoisyMLP((8,), (1, 4, 4), 3, noise_stddev=0.5)
    assert m(torch.rand(2, 1, 4, 4)).shape == (2, 3)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("mlp", {"hidden_units": ()}, "hidden_units must be a non-empty sequence"),
        ("modulelist", {"hidden_units": (4, 0)}, "hidden_units must be a non-empty sequence"),
        ("noisy", {"noise_stddev": -0.1}, "noise_stddev must be a finite number >= 0"),
        ("linear", {"num_classes": 0}, "num_classes must be a positive int"),
        ("linear", {"input_shape": (3, 32)}, r"input_shape must be \(C, H, W\) or \(D,\)"),
        ("two_layer_fc", {"hidden_size": 2.5}, "hidden_size must be a positive int"),
        ("mlp", {"output": "softmax"}, "output must be one of logits, sigmoid"),
        ("linear", {"hidden_units": (4,)}, "does not take hidden_units; it takes: input_shape"),
        (
            "resnet18",
            {},
            "valid: two_layer_fc, three_layer_convnet, mlp, modulelist, noisy, linear",
        ),
    ],
)
def test_registry_errors_name_the_argument(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_model("nn", name, **kwargs)


def test_modulelist_mlp_learns_real_mnist(mnist):
    from deepclass.data import BatchIterator
    from deepclass.nn.fit import fit

    torch.manual_seed(1)
    model = build_model(
        "nn", "modulelist", input_shape=(1, 28, 28), num_classes=10, hidden_units=(32, 16)
    )
    train_loader = BatchIterator.from_dataset(mnist.train.subset(range(3000)), 64, seed=1)
    valid_loader = BatchIterator.from_dataset(mnist.val.subset(range(1000)), 500, shuffle=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # the seed's MNIST optimizer
    h = fit(model, nn.CrossEntropyLoss(), opt, train_loader, valid_loader, epochs=3, log_every=0)
    assert h["valid_acc"][-1] > 0.80, h["valid_acc"]


def test_seed_003_multilayer_perceptron_takes_image_shape():
    from deepclass.nn import MultiLayerPerceptron

    seed = MultiLayerPerceptron(image_shape=(1, 28, 28), hidden_units=(31, 26))
    ours = MultiLayerPerceptron((1, 28, 28), (31, 26))
    assert [p.shape for p in seed.parameters()] == [p.shape for p in ours.parameters()]
    assert MultiLayerPerceptron(image_shape=(3, 8, 8))(torch.zeros(2, 3, 8, 8)).shape == (2, 10)
    with pytest.raises(ConfigError, match="give input_shape or the seed's image_shape, not both"):
        MultiLayerPerceptron((3, 8, 8), image_shape=(1, 28, 28))
