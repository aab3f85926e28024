"""The house: no import loops, public names exported by every rung's package, the
course's layers.py / fast_layers.py / layer_utils.py split, one atomic writer."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import deepclass

SRC = Path(deepclass.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the deepclass modules it imports, at the top or inside a function."""
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                for a in node.names:  # `from pkg import module` depends on the module
                    deps.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_another_that_imports_it_back():
    graph = _import_graph()
    assert "deepclass.scratch.solver" in graph and "deepclass.files" in graph
    assert _cycles(graph) == []
    # the loop this test was written for: the models and the Solver shared a file writer
    assert "deepclass.scratch.models" not in graph["deepclass.scratch.solver"]


def test_cycle_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("rung", ["linear", "scratch", "barebones", "nn", "lightning"])
def test_every_rung_exports_its_public_names(rung):
    pkg = importlib.import_module(f"deepclass.{rung}")
    assert pkg.__all__, rung
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None, f"deepclass.{rung}.{name}"


def test_scratch_package_exports_the_course_names():
    from deepclass.scratch import (
        FastConv,
        Linear,
        Linear_ReLU,
        Solver,
        TwoLayerNet,
        adam,
        fast_layers,
        layer_utils,
        layers,
        optim,
        softmax_loss,
        solver,
    )

    assert Solver is solver.Solver and adam is optim.adam and FastConv is fast_layers.FastConv
    assert Linear is layers.Linear and softmax_loss is layers.softmax_loss
    assert Linear_ReLU is layer_utils.Linear_ReLU and TwoLayerNet.__module__.endswith("models")


def test_layers_py_is_the_lesson_and_fast_layers_py_the_engineering():
    from deepclass.scratch import fast_layers, layer_utils, layers

    lesson = {n for n in vars(layers) if not n.startswith("__")}
    assert {"Linear", "ReLU", "Dropout", "BatchNorm", "Conv", "MaxPool", "svm_loss"} <= lesson
    # no fast machinery and no sandwiches in the student's file
    assert not lesson & {"FastConv", "FastMaxPool", "_Layout", "_Grid", "Conv_ReLU_Pool"}
    assert {"FastConv", "FastMaxPool", "_Layout", "_shifted_sum"} <= set(vars(fast_layers))
    assert {"Linear_ReLU", "Conv_BatchNorm_ReLU_Pool"} <= set(vars(layer_utils))
    assert "deepclass.scratch.fast_layers" not in _import_graph()["deepclass.scratch.layers"]


def test_one_atomic_writer_for_every_rung():
    from deepclass import files
    from deepclass.lightning import checkpoints
    from deepclass.scratch import models, solver

    assert models.atomic_torch_save is files.atomic_torch_save
    assert solver.atomic_torch_save is files.atomic_torch_save
    assert checkpoints.atomic_torch_save is files.atomic_torch_save
