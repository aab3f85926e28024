"""Rung 2: networks from scratch (EECS 498 Assignment 3, seed 002).

Every layer is a class with a static ``forward(...) -> (out, cache)`` and
``backward(dout, cache)`` side by side; gradients are derived by hand and
autograd is never used, not even by the fast convolution and pooling layers.

- ``layers``       Linear, ReLU, Dropout, BatchNorm, SpatialBatchNorm, the naive
  Conv and MaxPool, ``softmax_loss`` and ``svm_loss``: the lesson
- ``fast_layers``  FastConv, FastMaxPool: the same contracts, engineered for speed
- ``layer_utils``  the sandwich layers (Linear_ReLU, Conv_BatchNorm_ReLU_Pool, ...)
- ``optim``        ``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam``
- ``models``       TwoLayerNet, FullyConnectedNet, ThreeLayerConvNet, DeepConvNet, LinearNet,
                   Seed000ConvNet
  (registered as ``two_layer``, ``fc``, ``conv``, ``deep_conv``)
- ``solver``       the course's ``Solver``
- ``experiment``   one CIFAR-10 training run (``deepclass scratch``)

The public names are importable from the package itself
(``from deepclass.scratch import TwoLayerNet, Solver, Linear, adam``).
"""

from deepclass.scratch.experiment import ScratchRunConfig, run_scratch
from deepclass.scratch.fast_layers import FastConv, FastMaxPool
from deepclass.scratch.layer_utils import (
    Conv_BatchNorm_ReLU,
    Conv_BatchNorm_ReLU_Pool,
    Conv_ReLU,
    Conv_ReLU_Pool,
    Linear_BatchNorm_ReLU,
    Linear_ReLU,
)
from deepclass.scratch.layers import (
    BatchNorm,
    Conv,
    Dropout,
    Linear,
    MaxPool,
    ReLU,
    SpatialBatchNorm,
    softmax_loss,
    svm_loss,
)
from deepclass.scratch.models import (
    DeepConvNet,
    FullyConnectedNet,
    LinearNet,
    ScratchModel,
    Seed000ConvNet,
    ThreeLayerConvNet,
    TwoLayerNet,
    create_solver_instance,
    kaiming_initializer,
    load_model,
)
from deepclass.scratch.optim import UPDATE_RULES, adam, rmsprop, sgd, sgd_momentum
from deepclass.scratch.solver import Solver

__all__ = [
    "UPDATE_RULES",
    "BatchNorm",
    "Conv",
    "Conv_BatchNorm_ReLU",
    "Conv_BatchNorm_ReLU_Pool",
    "Conv_ReLU",
    "Conv_ReLU_Pool",
    "DeepConvNet",
    "Dropout",
    "FastConv",
    "FastMaxPool",
    "FullyConnectedNet",
    "Linear",
    "LinearNet",
    "Linear_BatchNorm_ReLU",
    "Linear_ReLU",
    "MaxPool",
    "ReLU",
    "ScratchModel",
    "ScratchRunConfig",
    "Seed000ConvNet",
    "Solver",
    "SpatialBatchNorm",
    "ThreeLayerConvNet",
    "TwoLayerNet",
    "adam",
    "create_solver_instance",
    "kaiming_initializer",
    "load_model",
    "rmsprop",
    "run_scratch",
    "sgd",
    "sgd_momentum",
    "softmax_loss",
    "svm_loss",
]
