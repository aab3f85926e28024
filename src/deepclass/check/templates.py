"""Starter files for ``deepclass check --template NAME``: the course's signatures and
docstrings with TODO bodies that raise ``NotImplementedError`` (graded as *not implemented*)."""

from __future__ import annotations

import textwrap

from deepclass.check.registry import CourseName, course_names
from deepclass.errors import ConfigError

HEADERS = {
    "linear": "import torch\n",
    "layers": "import torch\n",
    "optim": "import torch\n",
    "models": (
        "import torch\n\n"
        "# The layers the models stack: deepclass's, or your own (from my_layers import ...).\n"
        "from deepclass.scratch import Dropout, Linear, Linear_ReLU, ReLU, softmax_loss\n"
    ),
    "barebones": (
        "import numpy as np\nimport torch\nimport torch.nn.functional as F\n\n"
        'device = torch.device("cpu")\ndtype = torch.float32\n'
    ),
}
TITLES = {
    "linear": "rung 1, linear classifiers (EECS 498 A2, seed 001)",
    "layers": "rung 2, layers with forward/backward (EECS 498 A3, seed 002)",
    "optim": "rung 2, update rules (EECS 498 A3 optim)",
    "models": "rung 2, networks from the layers (EECS 498 A3, seed 002)",
    "barebones": "rung 3, barebones PyTorch (seed 000)",
}
TODO = "# TODO: your code here. Remove the raise below when you are done."


def template_names() -> list[str]:
    return list(TITLES)


def _doc(text: str, indent: str) -> str:
    body = textwrap.indent(text.strip("\n"), indent)
    return f'{indent}"""\n{body}\n{indent}"""\n'


def _function(entry: CourseName, indent: str = "") -> str:
    inner = indent + "    "
    return (
        f"{indent}{entry.signature}\n{_doc(entry.doc, inner)}{inner}{TODO}\n"
        f'{inner}raise NotImplementedError("{entry.name}")\n'
    )


def _class(entry: CourseName) -> str:
    parts = [f"class {entry.name}:\n", _doc(entry.doc, "    ")]
    for line in entry.signature.splitlines():
        method = line.strip().removeprefix("def ").split("(")[0]
        decorator = "" if entry.kind == "model" else "    @staticmethod\n"
        parts.append(
            f"\n{decorator}    {line.strip()}\n        {TODO}\n"
            f'        raise NotImplementedError("{entry.name}.{method}")\n'
        )
    return "".join(parts)


def template(name: str) -> str:
    """The starter file ``name`` (one of :func:`template_names`)."""
    if name not in TITLES:
        raise ConfigError(f"--template: unknown template {name!r}; valid: {', '.join(TITLES)}")
    entries = [e for e in course_names().values() if e.template == name]
    head = (
        f'"""Starter file: {TITLES[name]}.\n\nFill in each TODO, then grade it with\n'
        f'    deepclass check THIS_FILE.py\n"""\n\n'
    )
    blocks = [_function(e) if e.kind == "function" else _class(e) for e in entries]
    return head + HEADERS[name] + "\n\n" + "\n\n".join(blocks)
