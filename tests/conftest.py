"""Shared test fixtures: real data from ../shared/datasets, a per-checkout decode cache, the CLI.

Environment: ``DEEPCLASS_DATA`` (default ``<repo>/../shared/datasets``),
``DEEPCLASS_CACHE`` (default ``<repo>/.pytest_cache/deepclass-data``, so the
60,000 images are decoded once per checkout, not once per test run) and
``DEEPCLASS_OFFLINE=1`` (tests never download).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("DEEPCLASS_DATA", str(REPO.parent / "shared" / "datasets"))
os.environ.setdefault("DEEPCLASS_CACHE", str(REPO / ".pytest_cache" / "deepclass-data"))
os.environ["DEEPCLASS_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")


# The rungs whose tensors are tiny (a (200, 3073) @ (3073, 10) matmul a step) run torch
# single-threaded: far below where a second thread pays off, and on a shared 2-core machine
# each multi-threaded op can wait milliseconds for the other thread to be scheduled.
SINGLE_THREAD_DIRS = ("barebones", "ladder", "linear", "nn")


@pytest.fixture(autouse=True)
def _single_thread_for_small_tensors(request):
    """torch single-threaded for the tests under ``SINGLE_THREAD_DIRS``; restored after."""
    if request.path.parent.name not in SINGLE_THREAD_DIRS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data sets (CIFAR-10 JPEG, MNIST PNG + IDX)."""
    path = Path(os.environ["DEEPCLASS_DATA"])
    assert path.is_dir(), f"DEEPCLASS_DATA={path} does not exist: the tests need the real data sets"
    return path


@pytest.fixture(scope="session")
def cifar10(data_dir):
    """CIFAR-10 with the default 49,000/1,000/10,000 splits (decoded once, then cached)."""
    from deepclass.data import load_dataset

    return load_dataset("cifar10", data_dir, progress=False)


@pytest.fixture(scope="session")
def mnist(data_dir):
    """MNIST with the default 55,000/5,000/10,000 splits."""
    from deepclass.data import load_dataset

    return load_dataset("mnist", data_dir, progress=False)


@pytest.fixture(scope="session")
def cifar_subset_dir(tmp_path_factory, cifar10) -> Path:
    """A small real CIFAR-10 image folder (``cifar10/{train,test}/<class>/*.png``) for CLI end-to-end tests.

    2,000 train and 500 test images, class-balanced, written losslessly from the
    real copy; pass it as ``--data-dir``.
    """
    from PIL import Image

    root = tmp_path_factory.mktemp("cifar-small")
    for split, ds, n in (("train", cifar10.train, 2000), ("test", cifar10.test, 500)):
        per_class = n // 10
        for c, cname in enumerate(ds.classes):
            d = root / "cifar10" / split / cname
            d.mkdir(parents=True)
            idx = np.flatnonzero(ds.labels == c)[:per_class]
            for k, i in enumerate(idx):
                Image.fromarray(ds.images[i]).save(d / f"{k:04d}.png")
    return root


@pytest.fixture
def run_cli(capsys):
    """Run ``deepclass ARGS`` in-process: returns ``(exit status, stdout, stderr)``."""
    from deepclass.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse exits on usage errors
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
