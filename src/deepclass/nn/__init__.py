"""Rung 4: ``torch.nn`` (seeds 000, 003, 004).

- ``models``: seed 000's networks as modules (and ``nn.Sequential``), seed
  003's MLPs (``nn.Sequential`` and ``nn.ModuleList``), the NoisyLinear MLP
  and the linear baseline, registered in the "nn" rung
- ``layers``: ``NoisyLinear``, a custom layer with its own parameters
- ``fit``: the one training loop for ``nn`` models (``fit``, ``evaluate``)
- ``speednet``: ``SpeedNet``, the airbench-shaped CIFAR-10 net of the main job
- ``xor``: seed 003's XOR experiment (``run_xor``, ``train_xor``)
"""

from deepclass.nn.fit import evaluate, fit
from deepclass.nn.layers import NoisyLinear
from deepclass.nn.models import (
    MLP,
    LinearModel,
    MultiLayerPerceptron,
    MyModule,
    MyNoisyModule,
    NoisyMLP,
    ThreeLayerConvNet,
    TwoLayerFC,
    three_layer_convnet_sequential,
    two_layer_fc_sequential,
)
from deepclass.nn.speednet import SpeedNet

__all__ = [
    "MLP",
    "LinearModel",
    "MultiLayerPerceptron",
    "MyModule",
    "MyNoisyModule",
    "NoisyLinear",
    "NoisyMLP",
    "SpeedNet",
    "ThreeLayerConvNet",
    "TwoLayerFC",
    "evaluate",
    "fit",
    "three_layer_convnet_sequential",
    "two_layer_fc_sequential",
]
