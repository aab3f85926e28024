"""Keep freed CPU memory in the process for reuse (glibc ``malloc`` settings).

glibc hands allocations above its mmap threshold (at most 32 MiB) to fresh
``mmap`` regions and unmaps them on free, so a training step that frees and
re-allocates its large activations page-faults on every one of them again
(~150,000 faults per step of the main CIFAR-10 recipe: steps of 0.55 s
instead of 0.42 s). ``reuse_freed_memory`` turns that off for the process:
large blocks come from the heap and freed ones stay there for the next
allocation. The price: memory a process freed is not returned to the system
before it exits (its resident size stays at its peak).

``import deepclass`` calls it once; ``DEEPCLASS_REUSE_MEMORY=0`` opts out, and
a process that set glibc's own ``MALLOC_MMAP_MAX_`` / ``MALLOC_TRIM_THRESHOLD_``
/ ``MALLOC_MMAP_THRESHOLD_`` keeps its settings.
"""

from __future__ import annotations

import ctypes
import os

ENV = "DEEPCLASS_REUSE_MEMORY"
_GLIBC_ENV = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters, from glibc's malloc.h
_KEEP_AT_TOP = 2**31 - 1  # bytes of free heap top kept instead of trimmed (mallopt takes an int)

active = False  # whether this process runs with the settings (set by reuse_freed_memory)


def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
        return ctypes.CDLL("libc.so.6")
    except (AttributeError, ValueError, OSError):  # not Linux/glibc (no confstr name, no libc.so.6)
        return None


def reuse_freed_memory() -> bool:
    """Serve every allocation from the heap and keep freed memory there (glibc only).

    Returns whether the settings are now in effect: False on other C
    libraries, with ``DEEPCLASS_REUSE_MEMORY=0``, or when the environment
    already tunes glibc's malloc. Safe to call more than once.
    """
    global active
    if os.environ.get(ENV, "1").strip() == "0" or any(k in os.environ for k in _GLIBC_ENV):
        return False
    libc = _glibc()
    if libc is None:
        return False
    # mallopt returns 1 on success; M_MMAP_MAX 0 = never mmap, the trim threshold keeps the top
    active = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_AT_TOP)
    )
    return active
