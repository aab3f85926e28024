"""Seed 001's answers (EECS 498 A2, linear classifiers), as a student would hand them in.

The course code of the seed, unchanged but for formatting: an implementation
independent of deepclass's, which ``deepclass check`` must pass on every check.
"""

import torch


def svm_loss_naive(W, X, y, reg):
    dW = torch.zeros_like(W)  # initialize the gradient as zero
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = W.t().mv(X[i])
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1  # note delta = 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    loss += reg * torch.sum(W * W)
    dW /= num_train
    dW += 2 * W * reg
    return loss, dW


def svm_loss_vectorized(W, X, y, reg):
    loss = 0.0
    dW = torch.zeros_like(W)  # initialize the gradient as zero
    num_train = X.shape[0]
    scores = X.mm(W)
    correct_class_score = scores[range(num_train), y].view(-1, 1)
    margin = scores - correct_class_score + 1
    loss = margin.clamp(min=0).sum() - num_train
    loss /= num_train
    loss += reg * torch.sum(W * W)
    margin_mask = (margin > 0).type(X.dtype)
    margin_mask[range(num_train), y] -= margin_mask.sum(axis=1)
    dW = X.T.mm(margin_mask)
    dW /= num_train
    dW += 2 * reg * W
    return loss, dW


def sample_batch(X, y, num_train, batch_size):
    batch_indices = torch.randint(0, num_train, (batch_size,))
    X_batch = X[batch_indices]
    y_batch = y[batch_indices]
    return X_batch, y_batch


def train_linear_classifier(
    loss_func, W, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, verbose=False
):
    num_train, dim = X.shape
    if W is None:
        num_classes = torch.max(y) + 1
        W = 0.000001 * torch.randn(dim, num_classes, device=X.device, dtype=X.dtype)
    else:
        num_classes = W.shape[1]
    loss_history = []
    for it in range(num_iters):
        X_batch, y_batch = sample_batch(X, y, num_train, batch_size)
        loss, grad = loss_func(W, X_batch, y_batch, reg)
        loss_history.append(loss.item())
        W -= learning_rate * grad
        if verbose and it % 100 == 0:
            print("iteration %d / %d: loss %f" % (it, num_iters, loss))  # noqa: UP031 (the seed)
    return W, loss_history


def predict_linear_classifier(W, X):
    y_pred = torch.zeros(X.shape[0], dtype=torch.int64)
    y_pred = X.matmul(W).argmax(axis=1)
    return y_pred


def svm_get_search_params():
    learning_rates = [42e-5, 44e-5]
    regularization_strengths = [7e-3, 9e-3]
    return learning_rates, regularization_strengths


def softmax_loss_naive(W, X, y, reg):
    loss = 0.0
    dW = torch.zeros_like(W)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    for i in range(num_train):
        scores = W.t().mv(X[i])
        scores -= scores.max()
        scores = torch.exp(scores)
        scores_prob = scores / scores.sum()
        loss -= torch.log(scores_prob[y[i]])
        for j in range(num_classes):
            dW[:, j] += (scores_prob[j] - (1 if j == y[i] else 0)) * X[i]
    loss /= num_train
    loss += reg * torch.sum(W * W)
    dW /= num_train
    dW += 2 * reg * W
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    loss = 0.0
    dW = torch.zeros_like(W)
    num_train = X.shape[0]
    scores = X.matmul(W)
    scores -= scores.max(axis=1).values.view(-1, 1)
    scores = torch.exp(scores)
    scores_prob = scores / scores.sum(axis=1).view(-1, 1)
    offset = scores_prob[range(num_train), y]
    loss -= torch.log(offset).sum()
    scores_prob[range(num_train), y] -= 1
    dW = X.T.matmul(scores_prob)
    loss /= num_train
    loss += reg * torch.sum(W * W)
    dW /= num_train
    dW += 2 * reg * W
    return loss, dW


def softmax_get_search_params():
    learning_rates = [1e-3, 7e-4]
    regularization_strengths = [7e-3, 5e-3]
    return learning_rates, regularization_strengths


def test_one_param_set(cls, data_dict, lr, reg, num_iters=2000):
    return cls, 0.0, 0.0
