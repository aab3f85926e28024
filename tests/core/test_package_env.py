"""Process settings that importing deepclass makes."""

import os
import subprocess
import sys


def _thp_after_import(env: dict[str, str]) -> str:
    code = "import os, deepclass; print(os.environ.get('THP_MEM_ALLOC_ENABLE'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_turns_on_huge_pages_for_large_tensors():
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    assert _thp_after_import(env) == "1"


def test_import_keeps_a_value_the_user_set():
    assert _thp_after_import({**os.environ, "THP_MEM_ALLOC_ENABLE": "0"}) == "0"
