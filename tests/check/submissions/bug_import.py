"""A file that imports a module that is not installed."""

import torch
import not_a_module_anyone_has  # noqa: F401


def flatten(x):
    return x.reshape(x.shape[0], -1)


def zero_weight(shape):
    return torch.zeros(shape, requires_grad=True)
