"""``deepclass check`` end to end: tables, summary lines, the grade table, --json/--csv,
--template/--list, exit statuses 0/1/2 with one-line messages."""

from __future__ import annotations

import csv
import json

import pytest

from .conftest import SUBMISSIONS


def test_a_correct_file_exits_0_with_its_table_and_summary(run_cli):
    code, out, err = run_cli("check", SUBMISSIONS / "seed_barebones.py")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith("seed_barebones.py")
    assert lines[1].split() == ["function", "check", "result", "measured", "bar", "why"]
    assert lines[9].split()[:2] == ["random_weight", "shape,"]
    kaiming = lines[10].split()
    assert kaiming[:5] == ["Kaiming", "std", "sqrt(2", "/", "fan_in)"] and kaiming[5] == "pass"
    assert "seed_barebones.py: 10/10 checks pass" in lines


def test_several_files_grade_table_json_csv_and_exit_1(run_cli, tmp_path):
    j, c = tmp_path / "grades.json", tmp_path / "grades.csv"
    code, out, err = run_cli(
        "check",
        SUBMISSIONS / "seed_linear.py",
        SUBMISSIONS / "bug_sign.py",
        "--only",
        "svm_loss_vectorized,predict_linear_classifier",
        "--json",
        j,
        "--csv",
        c,
    )
    assert code == 1, err
    assert "seed_linear.py: 10/10 checks pass" in out
    assert (
        "bug_sign.py: 5/8 checks pass (FAIL: svm_loss_vectorized dW rel error 1.5e-01 > 1e-07; "
        "dW[0, 0]: yours -0.2309, expected 0.2309 (sign flipped)"
    ) in out
    table = out[out.index("  file ") :].splitlines()
    assert table[0].split() == [
        "file",
        "svm_loss_vectorized",
        "predict_linear_classifier",
        "checks",
    ]
    assert table[1].split() == ["seed_linear.py", "8/8", "2/2", "10/10"]
    assert table[2].split() == ["bug_sign.py", "FAIL", "5/8", "-", "5/8"]
    data = json.loads(j.read_text())
    files = {f["file"].rsplit("/", 1)[-1]: f for f in data["files"]}
    assert files["seed_linear.py"]["ok"] and not files["bug_sign.py"]["ok"]
    (fn,) = files["bug_sign.py"]["functions"]
    failed = [ch for ch in fn["checks"] if ch["status"] == "FAIL"]
    assert {ch["check"] for ch in failed} >= {"dW vs ours (reg 0)"}
    with c.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 18 and set(rows[0]) == {
        "file",
        "function",
        "check",
        "status",
        "value",
        "bar",
        "why",
    }
    assert sum(r["status"] == "pass" for r in rows) == 15


def test_template_prints_a_starter_file_and_list_names_every_check(run_cli):
    code, out, _ = run_cli("check", "--template", "layers")
    assert code == 0
    compile(out, "starter.py", "exec")
    assert "class BatchNorm:\n" in out and 'raise NotImplementedError("BatchNorm.backward")' in out
    code, out, _ = run_cli("check", "--list")
    assert code == 0
    assert "svm_loss_vectorized (function, template linear)" in out
    assert "    speed-up over naive: >= 3x" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "no FILE given"),
        (["check", "nope.py"], "no such file: nope.py"),
        (["check", "{empty}"], "nothing gradable found in"),
        (["check", "{linear}", "--only", "Linaer"], "--only: unknown course name(s) Linaer"),
        (["check", "{linear}", "--only", "ReLU"], "nothing gradable of --only ReLU found"),
        (["check", "--template", "cnn"], "--template: unknown template 'cnn'; valid: linear,"),
        (["check", "{linear}", "--template", "linear"], "FILE does not apply to --template"),
        (["check", "--list", "--seed", "0"], "--seed does not apply to --list"),
        (["check", "{linear}", "--timeout", "0"], "--timeout must be a finite number > 0"),
        (["check", "{binary}"], "is not a UTF-8 text file"),
        (["check", "{linear}", "--device", "cpu"], "unrecognized arguments: --device cpu"),
    ],
)
def test_bad_usage_exits_2_with_one_line(run_cli, tmp_path, args, message):
    (tmp_path / "empty.py").write_text("def helper():\n    return 1\n")
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00")
    paths = {
        "empty": tmp_path / "empty.py",
        "linear": SUBMISSIONS / "seed_linear.py",
        "binary": tmp_path / "binary.py",
    }
    code, out, err = run_cli(*[a.format(**paths) for a in args])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert out == ""


def test_docs_list_every_check_with_its_bar():
    from pathlib import Path

    from deepclass.check.registry import course_names

    text = (Path(__file__).resolve().parents[2] / "docs" / "check.md").read_text()
    rows = {
        tuple(c.strip() for c in line.strip().strip("|").split("|"))
        for line in text.splitlines()
        if line.startswith("| ")
    }
    missing = []
    for name, entry in course_names().items():
        for i, c in enumerate(entry.checks):
            row = (f"`{name}`" if i == 0 else "", c.name, c.bar.replace("|", "&#124;"))
            if row not in rows:
                missing.append(row)
    assert not missing
