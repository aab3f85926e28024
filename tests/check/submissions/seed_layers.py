"""Seed 002's answers (EECS 498 A3: Linear, ReLU, Linear_ReLU, TwoLayerNet), as handed in.

The seed's course code, unchanged but for formatting (softmax_loss comes from
deepclass, as the seed's file imports it from the course's): an implementation
independent of deepclass's, which ``deepclass check`` must pass on every check.
"""

import torch

from deepclass.scratch import softmax_loss


class Linear(object):
    @staticmethod
    def forward(x, w, b):
        out = x.reshape(x.shape[0], -1).mm(w) + b
        cache = (x, w, b)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        x, w, b = cache
        db = dout.sum(axis=0)
        dw = x.reshape(x.shape[0], -1).t().mm(dout)
        dx = dout.mm(w.t()).view(x.shape)
        return dx, dw, db


class ReLU(object):
    @staticmethod
    def forward(x):
        out = x.clone()
        out[out < 0] = 0
        cache = x
        return out, cache

    @staticmethod
    def backward(dout, cache):
        dx, x = None, cache
        dx = dout.clone()
        dx[x < 0] = 0
        return dx


class Linear_ReLU(object):
    @staticmethod
    def forward(x, w, b):
        a, fc_cache = Linear.forward(x, w, b)
        out, relu_cache = ReLU.forward(a)
        cache = (fc_cache, relu_cache)
        return out, cache

    @staticmethod
    def backward(dout, cache):
        fc_cache, relu_cache = cache
        da = ReLU.backward(dout, relu_cache)
        dx, dw, db = Linear.backward(da, fc_cache)
        return dx, dw, db


class TwoLayerNet(object):
    def __init__(
        self,
        input_dim=3 * 32 * 32,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=torch.float32,
        device="cpu",
    ):
        self.params = {}
        self.reg = reg
        self.params["W1"] = torch.zeros(input_dim, hidden_dim, dtype=dtype, device=device)
        self.params["W1"] += weight_scale * torch.randn(
            input_dim, hidden_dim, dtype=dtype, device=device
        )
        self.params["b1"] = torch.zeros(hidden_dim, dtype=dtype, device=device)
        self.params["W2"] = torch.zeros(hidden_dim, num_classes, dtype=dtype, device=device)
        self.params["W2"] += weight_scale * torch.randn(
            hidden_dim, num_classes, dtype=dtype, device=device
        )
        self.params["b2"] = torch.zeros(num_classes, dtype=dtype, device=device)

    def loss(self, X, y=None):
        scores = None
        out_LR, cache_LR = Linear_ReLU.forward(X, self.params["W1"], self.params["b1"])
        scores, cache_L = Linear.forward(out_LR, self.params["W2"], self.params["b2"])
        if y is None:
            return scores
        loss, grads = 0, {}
        loss, dout = softmax_loss(scores, y)
        loss += ((self.params["W1"] ** 2).sum() + (self.params["W2"] ** 2).sum()) * self.reg
        dx, dw, db = Linear.backward(dout, cache_L)
        grads["W2"] = dw + 2 * self.reg * self.params["W2"]
        grads["b2"] = db
        dx, dw, db = Linear_ReLU.backward(dx, cache_LR)
        grads["W1"] = dw + 2 * self.reg * self.params["W1"]
        grads["b1"] = db
        return loss, grads
