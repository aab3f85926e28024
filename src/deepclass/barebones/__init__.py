"""Rung 3: barebones PyTorch (seed 000).

Models are plain functions of explicit parameter tensors; autograd computes
the gradients and a hand-written SGD loop applies them.

- ``models``: ``flatten``, ``linear``, ``two_layer_fc``, ``three_layer_convnet``,
  ``random_weight`` (Kaiming normal), ``zero_weight`` and the parameter builders
- ``train``: ``check_accuracy``, ``train`` (the seed's SGD loop), the seed's own
  ``check_accuracy_part2`` / ``train_part2`` (default loaders from
  ``set_default_loaders``, e.g. ``cifar10_loaders()``) and ``run_cifar10`` (what
  ``deepclass barebones`` runs)
"""

from deepclass.barebones.models import (
    FunctionalModel,
    flatten,
    linear,
    random_weight,
    three_layer_convnet,
    three_layer_convnet_params,
    two_layer_fc,
    two_layer_fc_params,
    zero_weight,
)
from deepclass.barebones.train import (
    check_accuracy,
    check_accuracy_part2,
    cifar10_loaders,
    run_cifar10,
    set_default_loaders,
    split_of,
    train,
    train_part2,
)

__all__ = [
    "FunctionalModel",
    "check_accuracy",
    "check_accuracy_part2",
    "cifar10_loaders",
    "flatten",
    "linear",
    "random_weight",
    "run_cifar10",
    "set_default_loaders",
    "split_of",
    "three_layer_convnet",
    "three_layer_convnet_params",
    "train",
    "train_part2",
    "two_layer_fc",
    "two_layer_fc_params",
    "zero_weight",
]
