"""A file whose functions do what untrusted code can: loop forever, os._exit, sys.exit,
print megabytes, crash the interpreter, exhaust memory, return the wrong type.
predict_linear_classifier is correct: it must still be graded (and pass)."""

import ctypes
import os
import sys

import torch


def sample_batch(X, y, num_train, batch_size):
    while True:  # an infinite loop
        pass


def svm_loss_naive(W, X, y, reg):
    os._exit(3)


def svm_loss_vectorized(W, X, y, reg):
    sys.exit(1)


def softmax_loss_naive(W, X, y, reg):
    for _ in range(100_000):
        print("x" * 100)
    return None


def softmax_loss_vectorized(W, X, y, reg):
    ctypes.string_at(0)  # a segmentation fault


def train_linear_classifier(
    loss_func, W, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, verbose=False
):
    hog = torch.empty(64 * 1024**3, dtype=torch.uint8)  # 64 GiB
    hog.fill_(1)
    return W, []


def svm_get_search_params():
    return "1e-3, 1e-2", [1.0, 2.0]  # the wrong type


def predict_linear_classifier(W, X):
    return X.matmul(W).argmax(dim=1)
