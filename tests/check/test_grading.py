"""Grading in the child process: correct submissions pass every check, templates are "not
implemented", each buggy submission is caught by the named check with a message saying
what is wrong, and hostile code becomes verdicts, never a crash of the grader."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from deepclass.check.registry import course_names
from deepclass.check.runner import deepclass_src, grade_files
from deepclass.check.templates import template_names

from .conftest import SUBMISSIONS, rows


def _line(file: str, text: str) -> int:
    """The line of ``submissions/FILE.py`` that holds ``text``."""
    lines = (SUBMISSIONS / f"{file}.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def _all_pass(result):
    bad = [
        (c.function, c.check, c.status, c.why)
        for f in result.functions
        for c in f.checks
        if c.status != "pass"
    ]
    assert not bad
    assert result.ok and result.passed == result.total


@pytest.mark.parametrize("name", ["seed_linear", "seed_layers", "seed_barebones"])
def test_the_seeds_course_code_passes_every_check(graded, name):
    result = graded[name]
    _all_pass(result)
    expected = {
        "seed_linear": 9,  # every rung-1 name of the seed
        "seed_layers": 4,  # Linear, ReLU, Linear_ReLU, TwoLayerNet
        "seed_barebones": 5,
    }[name]
    assert len(result.functions) == expected


@pytest.mark.parametrize("tpl", template_names())
def test_deepclass_own_implementations_pass_and_templates_are_not_implemented(graded, tpl):
    names = [n for n, e in course_names().items() if e.template == tpl]
    result = graded[f"ours_{tpl}"]
    assert [f.name for f in result.functions] == names
    _all_pass(result)

    result = graded[f"starter_{tpl}"]
    assert [f.name for f in result.functions] == names
    for f in result.functions:
        assert {c.status for c in f.checks} == {"not implemented"}, f.name
        assert all(c.why.startswith("raises NotImplementedError (line ") for c in f.checks)
    assert result.passed == 0 and not result.ok


BUGS = [
    # (file, function, check that catches it, words of the message)
    ("bug_sign", "svm_loss_vectorized", "dW vs ours (reg 0)", "dW[0, 0]: yours -0.2309, expected 0.2309 (sign flipped); 1 of 300"),
    ("bug_reg", "softmax_loss_vectorized", "regularisation (no 1/2)", "dW has no regularisation gradient"),
    ("bug_reg", "svm_loss_naive", "regularisation (no 1/2)", "0.5 * reg * sum(W * W): the course has no 1/2 factor"),
    ("bug_layers", "softmax_loss", "loss vs ours", "divided by C (the classes) instead of N (the examples)"),
    ("bug_layers", "BatchNorm", "test mode uses the running statistics", "test mode normalizes with the batch's own mean and variance"),
    ("bug_layers", "ReLU", "inputs unchanged", "ReLU.forward changed its input x in place"),
    ("bug_layers", "Linear", "forward vs ours", "out has shape (5, 4), expected (4, 5)"),
    ("bug_layers", "MaxPool", "forward vs ours", "out has dtype float32, expected float64 (the input's dtype)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("file", "function", "check", "message"), BUGS, ids=[f"{b[0]}-{b[1]}" for b in BUGS]
)
def test_each_bug_is_caught_by_the_named_check(graded, file, function, check, message):
    result = graded[file]
    row = rows(result)[(function, check)]
    assert row.status == "FAIL" and message in row.why
    # the same bug does not fail checks that have nothing to do with it
    assert (
        rows(result)[
            (function, "inputs unchanged" if function != "ReLU" else "forward vs ours")
        ].status
        == "pass"
    )


def test_a_syntax_error_is_every_function_s_verdict(graded):
    result = graded["bug_syntax"]
    assert result.problem == "syntax error at line 8: '(' was never closed"
    (f,) = result.functions
    assert f.name == "flatten" and {(c.status, c.why) for c in f.checks} == {
        ("error", result.problem)
    }


def test_a_missing_module_is_every_function_s_verdict(graded):
    result = graded["bug_import"]
    assert [f.name for f in result.functions] == ["flatten", "zero_weight"]
    why = "importing the file raised ModuleNotFoundError: No module named 'not_a_module_anyone_has' (line 4)"
    assert {(c.status, c.why) for f in result.functions for c in f.checks} == {("error", why)}
    assert result.problem == why


def test_hostile_code_becomes_verdicts_and_the_rest_is_graded():
    (result,) = grade_files([SUBMISSIONS / "bug_hostile.py"], timeout=2.0, memory_mb=1024)
    r = rows(result)
    assert r[("sample_batch", "shapes")].status == "timeout"
    assert (
        r[("sample_batch", "shapes")].why
        == "timeout: still running after 2 s during check 'shapes'"
    )
    assert r[("sample_batch", "with replacement")].status == "not run"
    assert r[("svm_loss_naive", "returns (loss, dW)")].why.startswith(
        "the process exited with status 3 (os._exit?)"
    )
    assert r[("svm_loss_vectorized", "returns (loss, dW)")].why == (
        f"called sys.exit(1) (line {_line('bug_hostile', 'sys.exit(1)')})"
    )
    printed = r[("softmax_loss_naive", "returns (loss, dW)")]
    assert (
        printed.status == "FAIL"
        and "returned NoneType (it printed 70.7 MB; output kept: 64 KB)" in printed.why
    )
    assert "killed by SIGSEGV" in r[("softmax_loss_vectorized", "returns (loss, dW)")].why
    assert r[("train_linear_classifier", "returns (W, loss_history)")].why.startswith(
        f"ran out of memory (line {_line('bug_hostile', 'torch.empty')})"
    )
    assert "got '1e-3, 1e-2'" in r[("svm_get_search_params", "grid")].why
    (predict,) = [f for f in result.functions if f.name == "predict_linear_classifier"]
    assert predict.verdict == "pass" and len(predict.output) <= 64 * 1024


def test_the_child_imports_this_deepclass_and_the_submission_stays_out(tmp_path, monkeypatch):
    sub = tmp_path / "where.py"
    sub.write_text(
        "import subprocess\nimport deepclass\nopen('marker.txt', 'w').write('x')\n"
        "def flatten(x):\n    raise RuntimeError(deepclass.__file__)\n"
        "def zero_weight(shape):\n"
        "    p = subprocess.Popen(['sleep', '60'])\n"
        "    raise RuntimeError(f'pid {p.pid}')\n"
    )
    monkeypatch.chdir(tmp_path)
    (result,) = grade_files([sub])
    (row,) = result.functions[0].checks
    assert row.status == "error" and row.why.startswith(
        f"raised RuntimeError: {deepclass_src()}/deepclass/"
    )
    assert not (tmp_path / "marker.txt").exists()  # it ran in a temporary directory
    assert "submission" not in sys.modules  # and never in this process
    # what a function starts in the background ends with its process
    pid = int(re.search(r"pid (\d+)", result.functions[1].checks[0].why).group(1))
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split(") ")[1][0] in "ZX"
