"""svm_loss_vectorized with a wrong sign in one gradient entry (dW[0, 0])."""

import torch


def svm_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    rows = torch.arange(N)
    scores = X @ W
    margins = (scores - scores[rows, y][:, None] + 1).clamp(min=0)
    margins[rows, y] = 0
    loss = margins.sum() / N + reg * (W * W).sum()
    mask = (margins > 0).to(X.dtype)
    mask[rows, y] = -mask.sum(dim=1)
    dW = X.t() @ mask / N + 2 * reg * W
    dW[0, 0] = -dW[0, 0]  # the bug
    return loss, dW
