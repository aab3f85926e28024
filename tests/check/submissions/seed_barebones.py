"""Seed 000's code (barebones PyTorch), as a student would hand it in.

The seed's functions, unchanged but for formatting, with the notebook globals
``device`` and ``dtype`` they read.
"""

import numpy as np
import torch

device = torch.device("cpu")
dtype = torch.float32


def flatten(x):
    N = x.shape[0]  # read in N, C, H, W
    return x.view(N, -1)  # "flatten" the C * H * W values into a single vector per image


def two_layer_fc(x, params):
    x = flatten(x)  # shape: [batch_size, C x H x W]
    w1, w2 = params
    x = torch.nn.functional.relu(x.mm(w1))
    x = x.mm(w2)
    return x


def three_layer_convnet(x, params):
    conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b = params
    scores = None
    x1 = torch.nn.functional.conv2d(x, conv_w1, padding=2) + conv_b1.view(1, -1, 1, 1)
    x2 = torch.nn.functional.conv2d(x1.clamp(min=0), conv_w2, padding=1) + conv_b2.view(1, -1, 1, 1)
    x3 = x2.view(x1.shape[0], -1).clamp(min=0).mm(fc_w) + fc_b
    scores = x3
    return scores


def random_weight(shape):
    if len(shape) == 2:  # FC weight
        fan_in = shape[0]
    else:
        fan_in = np.prod(shape[1:])  # conv weight [out_channel, in_channel, kH, kW]
    w = torch.randn(shape, device=device, dtype=dtype) * np.sqrt(2.0 / fan_in)
    w.requires_grad = True
    return w


def zero_weight(shape):
    return torch.zeros(shape, device=device, dtype=dtype, requires_grad=True)
