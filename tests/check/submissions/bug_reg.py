"""Regularisation bugs: softmax's dW misses its reg gradient; the SVM counts 0.5 * reg."""

import torch


def softmax_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    scores = scores - scores.max(dim=1, keepdim=True).values
    p = scores.exp() / scores.exp().sum(dim=1, keepdim=True)
    loss = -p[torch.arange(N), y].log().mean() + reg * (W * W).sum()
    p[torch.arange(N), y] -= 1
    dW = X.t() @ p / N  # the bug: + 2 * reg * W is missing
    return loss, dW


def svm_loss_naive(W, X, y, reg):
    dW = torch.zeros_like(W)
    loss = 0.0
    for i in range(X.shape[0]):
        scores = W.t().mv(X[i])
        for j in range(W.shape[1]):
            if j == y[i]:
                continue
            margin = scores[j] - scores[y[i]] + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= X.shape[0]
    dW /= X.shape[0]
    loss += 0.5 * reg * torch.sum(W * W)  # the bug: the course has no 1/2
    dW += reg * W
    return loss, dW
