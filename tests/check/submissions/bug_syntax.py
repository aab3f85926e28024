"""A syntax error (line 8): nothing in the file can run."""

import torch


def flatten(x):
    N = x.shape[0]
    return x.view(N, -1
