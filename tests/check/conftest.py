"""Fixtures of the ``deepclass check`` tests: submission files, deepclass's own
implementations written out as submissions, and grading with short limits."""

from __future__ import annotations

from pathlib import Path

import pytest

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
REFERENCE_MODULE = {"linear": "_linear", "barebones": "_barebones"}


def reference_source(template: str) -> str:
    """A submission whose every course name of ``template`` is deepclass's own (a thin
    delegate: a ``def`` or a class with ``forward``/``backward``, as discovery wants)."""
    from deepclass.check.registry import course_names

    lines = [
        "import torch",
        "import deepclass.barebones as _barebones",
        "import deepclass.linear as _linear",
        "import deepclass.scratch as _scratch",
        "",
        "dtype = torch.float32",
        "",
    ]
    for e in course_names().values():
        if e.template != template:
            continue
        mod = REFERENCE_MODULE.get(template, "_scratch")
        if e.kind == "function":
            lines.append(
                f"def {e.name}(*args, **kwargs):\n    return {mod}.{e.name}(*args, **kwargs)\n"
            )
        elif e.kind == "layer":
            lines.append(
                f"class {e.name}:\n    forward = staticmethod({mod}.{e.name}.forward)\n"
                f"    backward = staticmethod({mod}.{e.name}.backward)\n"
            )
        else:
            lines.append(
                f"class {e.name}({mod}.{e.name}):\n    def loss(self, X, y=None):\n"
                "        return super().loss(X, y)\n"
            )
    return "\n".join(lines)


GRADED = [
    "seed_linear",
    "seed_layers",
    "seed_barebones",
    "bug_sign",
    "bug_reg",
    "bug_layers",
    "bug_syntax",
    "bug_import",
]


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> dict:
    """Every submission of ``submissions/`` (but the hostile one), deepclass's own
    implementations (``ours_TEMPLATE``) and the starter files (``starter_TEMPLATE``),
    graded once, in one child process: name -> FileResult."""
    from deepclass.check.runner import grade_files
    from deepclass.check.templates import template, template_names

    folder = tmp_path_factory.mktemp("submissions")
    files = {name: SUBMISSIONS / f"{name}.py" for name in GRADED}
    for tpl in template_names():
        files[f"ours_{tpl}"] = folder / f"ours_{tpl}.py"
        files[f"ours_{tpl}"].write_text(reference_source(tpl))
        files[f"starter_{tpl}"] = folder / f"starter_{tpl}.py"
        files[f"starter_{tpl}"].write_text(template(tpl))
    results = grade_files(list(files.values()), timeout=30.0)
    return dict(zip(files, results, strict=True))


def rows(result) -> dict[tuple[str, str], object]:
    """``(function, check) -> CheckResult`` of a graded file."""
    return {(c.function, c.check): c for f in result.functions for c in f.checks}
