"""Layer bugs: a loss averaged over the wrong axis, batchnorm with batch statistics at test
time, a ReLU that changes its input in place, a Linear whose output is transposed."""

import torch


def softmax_loss(x, y):
    N, C = x.shape
    shifted = x - x.max(dim=1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    loss = -log_probs[torch.arange(N), y].sum() / C  # the bug: averaged over C, not N
    dx = log_probs.exp()
    dx[torch.arange(N), y] -= 1
    return loss, dx / N


class BatchNorm:
    @staticmethod
    def forward(x, gamma, beta, bn_param):
        eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
        D = x.shape[1]
        rm = bn_param.get("running_mean", torch.zeros(D, dtype=x.dtype))
        rv = bn_param.get("running_var", torch.zeros(D, dtype=x.dtype))
        mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)  # the bug: also at test time
        xhat = (x - mean) / torch.sqrt(var + eps)
        if bn_param["mode"] == "train":
            bn_param["running_mean"] = momentum * rm + (1 - momentum) * mean
            bn_param["running_var"] = momentum * rv + (1 - momentum) * var
        return gamma * xhat + beta, (xhat, gamma, var + eps)

    @staticmethod
    def backward(dout, cache):
        xhat, gamma, v = cache
        N = dout.shape[0]
        dbeta, dgamma = dout.sum(dim=0), (dout * xhat).sum(dim=0)
        dxhat = dout * gamma
        dx = (dxhat - dxhat.mean(dim=0) - xhat * (dxhat * xhat).mean(dim=0)) / torch.sqrt(v)
        return dx * N / N, dgamma, dbeta


class ReLU:
    @staticmethod
    def forward(x):
        x[x < 0] = 0  # the bug: changes the caller's tensor
        return x, x

    @staticmethod
    def backward(dout, cache):
        return dout * (cache > 0)


class Linear:
    @staticmethod
    def forward(x, w, b):
        out = x.reshape(x.shape[0], -1) @ w + b
        return out.t(), (x, w, b)  # the bug: (M, N) instead of (N, M)

    @staticmethod
    def backward(dout, cache):
        x, w, b = cache
        return dout.t() @ w.t(), x.reshape(x.shape[0], -1).t() @ dout.t(), dout.sum(dim=1)


class MaxPool:
    """The bug: the output is float32 whatever the input's dtype."""

    @staticmethod
    def forward(x, pool_param):
        out = torch.nn.functional.max_pool2d(x, pool_param["pool_height"], pool_param["stride"])
        return out.float(), (x, pool_param)

    @staticmethod
    def backward(dout, cache):
        x, p = cache
        xg = x.detach().requires_grad_(True)
        out = torch.nn.functional.max_pool2d(xg, p["pool_height"], p["stride"])
        out.backward(dout.to(x.dtype))
        return xg.grad
