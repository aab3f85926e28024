"""deepclass.memory: freed CPU memory is reused, not page-faulted in again."""

import os
import subprocess
import sys

import pytest

from deepclass import memory

# A training-step-like pattern of 32 MiB tensors, repeated: print the minor page faults of
# ten rounds after a warm-up (8,192 4-KiB pages per tensor if freshly mapped, ~0 if reused).
_PROBE = """
import resource, torch, deepclass, deepclass.memory as m
def step():
    a = torch.ones(8 << 20); b = a * 2; c = torch.relu(b); del a, b; d = c + 1; del c, d
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    step()
f0 = faults()
for _ in range(10):
    step()
f1 = faults()
print(m.active, f1 - f0)
"""

glibc_only = pytest.mark.skipif(memory._glibc() is None, reason="needs glibc's mallopt")


def _probe(**env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k != memory.ENV and k not in memory._GLIBC_ENV}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    active, faults = out.stdout.split()
    return active, int(faults)


@glibc_only
def test_import_makes_freed_large_blocks_reusable_without_page_faults():
    active, faults = _probe()
    assert active == "True"
    off_active, off_faults = _probe(DEEPCLASS_REUSE_MEMORY="0")
    assert off_active == "False"
    # glibc's default maps ~4 fresh tensors a round (327,720 faults here); reused: 0-16,384
    # (posix_memalign's slack now and then keeps a freed block from fitting the next request)
    assert faults * 10 < off_faults


@glibc_only
def test_glibc_settings_from_the_environment_are_kept():
    active, _ = _probe(MALLOC_MMAP_MAX_="65536")
    assert active == "False"


def test_opt_out_returns_false(monkeypatch):
    monkeypatch.setenv(memory.ENV, "0")
    assert memory.reuse_freed_memory() is False


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.delenv(memory.ENV, raising=False)
    for k in memory._GLIBC_ENV:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.reuse_freed_memory() is False
