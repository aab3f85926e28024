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

from deepclass.memory import reuse_freed_memory

# Before torch allocates anything large: freed activations are reused instead of being
# unmapped and page-faulted in again every step (see deepclass.memory).
reuse_freed_memory()

__version__ = "0.1.0"
