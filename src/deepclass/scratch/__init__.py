"""Rung 2: networks from scratch (EECS 498 Assignment 3).

Every layer is a class with a static ``forward(...) -> (out, cache)`` and
``backward(dout, cache)`` side by side; gradients are derived by hand and
autograd is never used, not even by the fast convolution and pooling layers.

- ``deepclass.scratch.layers``  Linear, ReLU, Dropout, BatchNorm, Conv, MaxPool
  (naive and fast), the sandwich layers, ``softmax_loss`` and ``svm_loss``
- ``deepclass.scratch.optim``   ``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam``
- ``deepclass.scratch.models``  TwoLayerNet, FullyConnectedNet, ThreeLayerConvNet,
  DeepConvNet (registered as ``two_layer``, ``fc``, ``conv``, ``deep_conv``)
- ``deepclass.scratch.solver``  the course's ``Solver``
- ``deepclass.scratch.experiment``  one CIFAR-10 training run (``deepclass scratch``)
"""
