"""Rung 3: barebones PyTorch (seed 000).

Models are plain functions of explicit parameter tensors; autograd computes
the gradients and a hand-written SGD loop applies them.

- ``models``: ``flatten``, ``two_layer_fc``, ``three_layer_convnet``,
  ``random_weight`` (Kaiming normal), ``zero_weight`` and the parameter builders
- ``train``: ``check_accuracy``, ``train`` (the seed's SGD loop) and
  ``run_cifar10`` (what ``deepclass barebones`` runs)
"""

from deepclass.barebones.models import (
    FunctionalModel,
    flatten,
    random_weight,
    three_layer_convnet,
    three_layer_convnet_params,
    two_layer_fc,
    two_layer_fc_params,
    zero_weight,
)
from deepclass.barebones.train import check_accuracy, run_cifar10, train

__all__ = [
    "FunctionalModel",
    "check_accuracy",
    "flatten",
    "random_weight",
    "run_cifar10",
    "three_layer_convnet",
    "three_layer_convnet_params",
    "train",
    "two_layer_fc",
    "two_layer_fc_params",
    "zero_weight",
]
