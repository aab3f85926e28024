"""deepclass: image classification with PyTorch, up the whole ladder.

Rungs (one sub-package each):

1. ``deepclass.linear``    linear classifiers with hand-derived gradients
2. ``deepclass.scratch``   layers with explicit forward/backward, Solver
3. ``deepclass.barebones`` models as plain functions of parameter tensors
4. ``deepclass.nn``        ``torch.nn`` models, custom layers, a fit loop
5. ``deepclass.lightning`` the production trainer on PyTorch Lightning

Shared by every rung: ``deepclass.data`` (datasets, splits, batching),
``deepclass.viz`` (every PNG), ``deepclass.gradcheck``, ``deepclass.metrics``,
``deepclass.seed`` and ``deepclass.registry``.
"""

import os

# CPU tensors of 2 MiB and more go on transparent huge pages (torch's c10 allocator reads
# this): a training step of the main recipe page-faulted 330,000 times without it and
# 7,300 times with it (steps of 0.9-1.2 s instead of 1.1-1.3 s in A/B runs on a noisy
# 2-core host). A value the user set is kept.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"
