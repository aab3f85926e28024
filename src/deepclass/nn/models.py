"""Rung 4 models: ``torch.nn`` modules (seeds 000 and 003).

Every model maps a float batch ``(N, *input_shape)`` to raw scores (logits)
``(N, num_classes)``; ``num_classes=1`` makes a binary classifier with one
logit ``(N, 1)``. ``output="sigmoid"`` appends ``nn.Sigmoid`` instead, so the
model returns probabilities, as seed 003's XOR models do for ``nn.BCELoss``.

- ``TwoLayerFC`` / ``ThreeLayerConvNet``: seed 000's networks as modules with
  a ``forward``; ``two_layer_fc_sequential`` / ``three_layer_convnet_sequential``
  the same layers in an ``nn.Sequential``. Their functional twins are
  ``deepclass.barebones.two_layer_fc`` / ``three_layer_convnet``.
- ``MultiLayerPerceptron``: seed 003's MNIST MLP (``nn.Sequential`` of
  Flatten, Linear + ReLU per hidden layer, Linear).
- ``MLP``: the same layers held in an ``nn.ModuleList`` (seed 003's ``MyModule``).
- ``NoisyMLP``: ``NoisyLinear`` as the first layer (seed 003's ``MyNoisyModule``).
- ``LinearModel``: no hidden layer (the XOR baseline).

Registered in the "nn" rung as ``two_layer_fc``, ``three_layer_convnet``,
``mlp``, ``modulelist``, ``noisy`` and ``linear``; every builder takes
``input_shape``, ``num_classes`` and ``output`` plus its own hyperparameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from deepclass.checks import check_input_shape, check_positive_int
from deepclass.errors import ConfigError
from deepclass.nn.layers import NoisyLinear
from deepclass.registry import register_model

OUTPUTS = ("logits", "sigmoid")


# ---------------------------------------------------------------- argument checks


def _hidden_units(hidden_units: Sequence[int], model: str) -> tuple[int, ...]:
    units = tuple(hidden_units) if isinstance(hidden_units, (list, tuple)) else ()
    if not units or not all(
        isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in units
    ):
        raise ConfigError(
            f"{model}: hidden_units must be a non-empty sequence of positive ints, "
            f"got {hidden_units!r}"
        )
    return units


def _output_layers(output: str, num_classes: int, model: str) -> list[nn.Module]:
    """The layers after the last Linear: none for logits, ``nn.Sigmoid`` for probabilities."""
    if output not in OUTPUTS:
        raise ConfigError(f"{model}: output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    if output == "sigmoid":
        if num_classes != 1:
            raise ConfigError(
                f"{model}: output='sigmoid' is for binary classifiers (num_classes=1), "
                f"got num_classes={num_classes}"
            )
        return [nn.Sigmoid()]
    return []


def _kaiming_init(*layers: nn.Module) -> None:
    """Kaiming-normal weights (std ``sqrt(2 / fan_in)``) and zero biases: seed 000's init."""
    for layer in layers:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def mlp_layers(
    input_size: int, hidden_units: Sequence[int], num_classes: int, output: str = "logits"
) -> list[nn.Module]:
    """``[Flatten, Linear, ReLU, ..., Linear(hidden_units[-1], num_classes)]`` (+ Sigmoid).

    The layer list seed 003's ``MultiLayerPerceptron`` and ``MyModule`` share;
    PyTorch's default initialisation, created in order (so one seed gives
    the same weights whichever container holds them).
    """
    layers: list[nn.Module] = [nn.Flatten()]
    for h in hidden_units:
        layers += [nn.Linear(input_size, h), nn.ReLU()]
        input_size = h
    layers.append(nn.Linear(input_size, num_classes))
    return layers + _output_layers(output, num_classes, "mlp_layers")


# ---------------------------------------------------------------- seed 000's networks


class TwoLayerFC(nn.Module):
    """Flatten -> Linear(D, H, bias=False) -> ReLU -> Linear(H, C, bias=False).

    The module twin of ``barebones.two_layer_fc``: ``fc1.weight`` is ``w1.T``
    and ``fc2.weight`` is ``w2.T``. Kaiming-normal initialisation.
    x: ``(N, *input_shape)`` -> ``(N, num_classes)``.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        hidden_size: int = 4000,
        num_classes: int = 10,
        output: str = "logits",
    ) -> None:
        super().__init__()
        shape = check_input_shape(input_shape, "TwoLayerFC")
        check_positive_int(hidden_size, "hidden_size", "TwoLayerFC")
        check_positive_int(num_classes, "num_classes", "TwoLayerFC")
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(math.prod(shape), hidden_size, bias=False)
        self.fc2 = nn.Linear(hidden_size, num_classes, bias=False)
        self.head = nn.Sequential(*_output_layers(output, num_classes, "TwoLayerFC"))
        _kaiming_init(self.fc1, self.fc2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(self.flatten(x)))
        return self.head(self.fc2(x))


def two_layer_fc_sequential(
    input_shape: Sequence[int] = (3, 32, 32),
    hidden_size: int = 4000,
    num_classes: int = 10,
    output: str = "logits",
) -> nn.Sequential:
    """:class:`TwoLayerFC`'s layers in an ``nn.Sequential`` (indices 1 and 3 are the Linears)."""
    shape = check_input_shape(input_shape, "two_layer_fc_sequential")
    check_positive_int(hidden_size, "hidden_size", "two_layer_fc_sequential")
    check_positive_int(num_classes, "num_classes", "two_layer_fc_sequential")
    fc1 = nn.Linear(math.prod(shape), hidden_size, bias=False)
    fc2 = nn.Linear(hidden_size, num_classes, bias=False)
    _kaiming_init(fc1, fc2)
    head = _output_layers(output, num_classes, "two_layer_fc_sequential")
    return nn.Sequential(nn.Flatten(), fc1, nn.ReLU(), fc2, *head)


class ThreeLayerConvNet(nn.Module):
    """Conv(C, channel_1, 5, pad 2) -> ReLU -> Conv(channel_1, channel_2, 3, pad 1) -> ReLU -> Linear.

    The module twin of ``barebones.three_layer_convnet``: ``conv1/conv2``
    hold ``conv_w1/conv_w2`` as they are, ``fc.weight`` is ``fc_w.T``.
    Kaiming-normal weights, zero biases.
    x: ``(N, C, H, W)`` -> ``(N, num_classes)``.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        channel_1: int = 32,
        channel_2: int = 16,
        num_classes: int = 10,
        output: str = "logits",
    ) -> None:
        super().__init__()
        c, h, w = check_input_shape(input_shape, "ThreeLayerConvNet", images=True)
        for v, n in (
            (channel_1, "channel_1"),
            (channel_2, "channel_2"),
            (num_classes, "num_classes"),
        ):
            check_positive_int(v, n, "ThreeLayerConvNet")
        self.conv1 = nn.Conv2d(c, channel_1, 5, padding=2)
        self.conv2 = nn.Conv2d(channel_1, channel_2, 3, padding=1)
        self.fc = nn.Linear(channel_2 * h * w, num_classes)
        self.head = nn.Sequential(*_output_layers(output, num_classes, "ThreeLayerConvNet"))
        _kaiming_init(self.conv1, self.conv2, self.fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.head(self.fc(torch.flatten(x, 1)))


def three_layer_convnet_sequential(
    input_shape: Sequence[int] = (3, 32, 32),
    channel_1: int = 32,
    channel_2: int = 16,
    num_classes: int = 10,
    output: str = "logits",
) -> nn.Sequential:
    """:class:`ThreeLayerConvNet`'s layers in an ``nn.Sequential`` (indices 0, 2 and 5 hold weights)."""
    m = "three_layer_convnet_sequential"
    c, h, w = check_input_shape(input_shape, m, images=True)
    for v, n in ((channel_1, "channel_1"), (channel_2, "channel_2"), (num_classes, "num_classes")):
        check_positive_int(v, n, m)
    conv1 = nn.Conv2d(c, channel_1, 5, padding=2)
    conv2 = nn.Conv2d(channel_1, channel_2, 3, padding=1)
    fc = nn.Linear(channel_2 * h * w, num_classes)
    _kaiming_init(conv1, conv2, fc)
    head = _output_layers(output, num_classes, m)
    return nn.Sequential(conv1, nn.ReLU(), conv2, nn.ReLU(), nn.Flatten(), fc, *head)


# ---------------------------------------------------------------- seed 003's networks


class MultiLayerPerceptron(nn.Module):
    """Seed 003's MLP: ``nn.Sequential(Flatten, [Linear, ReLU] per hidden layer, Linear)``.

    x: ``(N, *input_shape)`` -> ``(N, num_classes)``; defaults are the seed's
    MNIST model (1x28x28, hidden (32, 16), 10 classes).
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 28, 28),
        hidden_units: Sequence[int] = (32, 16),
        num_classes: int = 10,
        output: str = "logits",
        *,
        image_shape: Sequence[int] | None = None,
    ) -> None:
        """image_shape: the seed's name for ``input_shape`` (give one of them)."""
        super().__init__()
        if image_shape is not None:
            if tuple(input_shape) not in ((1, 28, 28), tuple(image_shape)):
                raise ConfigError(
                    "MultiLayerPerceptron: give input_shape or the seed's image_shape, not both "
                    f"(got {tuple(input_shape)} and {tuple(image_shape)})"
                )
            input_shape = image_shape
        shape = check_input_shape(input_shape, "MultiLayerPerceptron")
        units = _hidden_units(hidden_units, "MultiLayerPerceptron")
        check_positive_int(num_classes, "num_classes", "MultiLayerPerceptron")
        _output_layers(output, num_classes, "MultiLayerPerceptron")  # validate before building
        self.model = nn.Sequential(*mlp_layers(math.prod(shape), units, num_classes, output))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MLP(nn.Module):
    """The same layers as :class:`MultiLayerPerceptron`, kept in an ``nn.ModuleList``.

    Seed 003's ``MyModule`` pattern: the constructor puts every layer in a
    ``ModuleList`` (so its parameters are registered) and ``forward`` applies
    them in turn. x: ``(N, *input_shape)`` -> ``(N, num_classes)``.
    """

    def __init__(
        self,
        hidden_units: Sequence[int] = (4, 4),
        input_shape: Sequence[int] = (2,),
        num_classes: int = 1,
        output: str = "logits",
    ) -> None:
        super().__init__()
        shape = check_input_shape(input_shape, "MLP")
        units = _hidden_units(hidden_units, "MLP")
        check_positive_int(num_classes, "num_classes", "MLP")
        _output_layers(output, num_classes, "MLP")
        self.module_list = nn.ModuleList(mlp_layers(math.prod(shape), units, num_classes, output))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for f in self.module_list:
            x = f(x)
        return x


class NoisyMLP(nn.Module):
    """An MLP whose first layer is a :class:`NoisyLinear` (seed 003's ``MyNoisyModule``).

    Flatten -> NoisyLinear(D, hidden_units[0], noise_stddev) -> ReLU ->
    [Linear, ReLU] per further hidden layer -> Linear(.., num_classes).
    The seed's model is ``NoisyMLP((4, 4), (2,), 1, noise_stddev=0.07, output="sigmoid")``.
    """

    def __init__(
        self,
        hidden_units: Sequence[int] = (4, 4),
        input_shape: Sequence[int] = (2,),
        num_classes: int = 1,
        noise_stddev: float = 0.07,
        output: str = "logits",
    ) -> None:
        super().__init__()
        shape = check_input_shape(input_shape, "NoisyMLP")
        units = _hidden_units(hidden_units, "NoisyMLP")
        check_positive_int(num_classes, "num_classes", "NoisyMLP")
        _output_layers(output, num_classes, "NoisyMLP")
        self.flatten = nn.Flatten()
        self.noisy = NoisyLinear(math.prod(shape), units[0], noise_stddev)
        # mlp_layers' leading Flatten is dropped: the input is already flat here
        self.rest = nn.Sequential(
            nn.ReLU(), *mlp_layers(units[0], units[1:], num_classes, output)[1:]
        )

    def forward(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        """training: passed to the NoisyLinear (None: follow ``self.training``)."""
        return self.rest(self.noisy(self.flatten(x), training))


class MyModule(MLP):
    """Seed 003's ``MyModule()``: 2 -> 4 -> 4 -> 1 with a sigmoid output, in an ``nn.ModuleList``.

    The seed's exact network (for ``nn.BCELoss``); :class:`MLP` is the general form.
    """

    def __init__(self) -> None:
        super().__init__((4, 4), (2,), 1, output="sigmoid")


class MyNoisyModule(NoisyMLP):
    """Seed 003's ``MyNoisyModule()``: NoisyLinear(2, 4, 0.07) -> ReLU -> 4 -> ReLU -> 1 -> sigmoid.

    As in the seed, ``forward(x, training=False)`` adds the noise only when called with
    ``training=True`` (:class:`NoisyMLP` follows ``model.train()`` / ``model.eval()``
    instead), and ``predict(x)`` takes an array ``(N, 2)`` and returns 0/1 classes.
    """

    def __init__(self) -> None:
        super().__init__((4, 4), (2,), 1, noise_stddev=0.07, output="sigmoid")

    def forward(self, x: torch.Tensor, training: bool = False) -> torch.Tensor:
        return super().forward(x, training)

    def predict(self, x) -> torch.Tensor:
        """x: ``(N, 2)`` array or tensor -> ``(N,)`` float 0/1 (probability >= 0.5)."""
        x = torch.as_tensor(x, dtype=torch.float32)
        return (self.forward(x)[:, 0] >= 0.5).float()


class LinearModel(nn.Module):
    """No hidden layer: Flatten -> Linear(D, num_classes) (the XOR baseline: a linear boundary)."""

    def __init__(
        self, input_shape: Sequence[int] = (2,), num_classes: int = 1, output: str = "logits"
    ) -> None:
        super().__init__()
        shape = check_input_shape(input_shape, "LinearModel")
        check_positive_int(num_classes, "num_classes", "LinearModel")
        head = _output_layers(output, num_classes, "LinearModel")
        self.model = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), num_classes), *head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# ---------------------------------------------------------------- registry


@register_model("nn", "two_layer_fc", "seed 000: fc -> ReLU -> fc (no biases), Kaiming init")
def build_two_layer_fc(
    *,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    hidden_size: int = 4000,
    output: str = "logits",
    sequential: bool = False,
) -> nn.Module:
    """:class:`TwoLayerFC`, or its ``nn.Sequential`` form with ``sequential=True``."""
    make = two_layer_fc_sequential if sequential else TwoLayerFC
    return make(input_shape, hidden_size, num_classes, output)


@register_model(
    "nn", "three_layer_convnet", "seed 000: conv5x5(32) -> ReLU -> conv3x3(16) -> ReLU -> fc"
)
def build_three_layer_convnet(
    *,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    channel_1: int = 32,
    channel_2: int = 16,
    output: str = "logits",
    sequential: bool = False,
) -> nn.Module:
    """:class:`ThreeLayerConvNet`, or its ``nn.Sequential`` form with ``sequential=True``."""
    make = three_layer_convnet_sequential if sequential else ThreeLayerConvNet
    return make(input_shape, channel_1, channel_2, num_classes, output)


@register_model("nn", "mlp", "seed 003: Flatten, Linear+ReLU per hidden layer, Linear (Sequential)")
def build_mlp(
    *,
    input_shape: Sequence[int] = (1, 28, 28),
    num_classes: int = 10,
    hidden_units: Sequence[int] = (32, 16),
    output: str = "logits",
) -> MultiLayerPerceptron:
    """:class:`MultiLayerPerceptron` (default: the seed's MNIST model, hidden (32, 16))."""
    return MultiLayerPerceptron(input_shape, hidden_units, num_classes, output)


@register_model("nn", "modulelist", "seed 003: the MLP held in an nn.ModuleList (MyModule)")
def build_modulelist(
    *,
    input_shape: Sequence[int] = (2,),
    num_classes: int = 1,
    hidden_units: Sequence[int] = (4, 4),
    output: str = "logits",
) -> MLP:
    """:class:`MLP` (default: the seed's XOR ``MyModule``, hidden (4, 4))."""
    return MLP(hidden_units, input_shape, num_classes, output)


@register_model("nn", "noisy", "seed 003: MLP with a NoisyLinear first layer (MyNoisyModule)")
def build_noisy(
    *,
    input_shape: Sequence[int] = (2,),
    num_classes: int = 1,
    hidden_units: Sequence[int] = (4, 4),
    noise_stddev: float = 0.07,
    output: str = "logits",
) -> NoisyMLP:
    """:class:`NoisyMLP` (default: the seed's XOR ``MyNoisyModule``)."""
    return NoisyMLP(hidden_units, input_shape, num_classes, noise_stddev, output)


@register_model("nn", "linear", "no hidden layer: Flatten -> Linear (the XOR baseline)")
def build_linear(
    *, input_shape: Sequence[int] = (2,), num_classes: int = 1, output: str = "logits"
) -> LinearModel:
    """:class:`LinearModel`."""
    return LinearModel(input_shape, num_classes, output)
