"""The notebooks (``notebooks/*.ipynb``): stored without outputs, run top to bottom in CI.

Each notebook is executed as stored by a real Jupyter kernel (``nbclient`` + ``ipykernel``)
on the real data, in a temporary working directory. A cell that raises fails the test, and
so does a key figure out of its bar: the last cell of every notebook asserts them. The
parameter cells hold sizes that run in well under a minute each on the project's 2-core
machine; a cell that runs past ``CELL_TIMEOUT`` fails instead of hanging CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# the ladder side by side, then one per rung, each mirroring its seed's flow
NOTEBOOK_NAMES = [
    "00_the_ladder",
    "01_linear_classifiers",
    "02_networks_from_scratch",
    "03_barebones_pytorch",
    "04_torch_nn",
    "05_lightning_trainer",
]
CELL_TIMEOUT = 300  # seconds; the longest cell takes ~20 s on an idle machine


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_ladder_and_every_rung_have_their_notebook():
    assert set(NOTEBOOK_NAMES) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nb = read(path)
    nbformat.validate(nb)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} hold outputs; clear them before committing "
        f"(jupyter nbconvert --clear-output --inplace {path.relative_to(REPO)})"
    )
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_first_and_figures_asserted_last(path):
    cells = code_cells(read(path))
    assert "parameters" in cells[0].metadata.get("tags", []), "the first code cell sets the sizes"
    assert "assert " in cells[-1].source, "the last cell asserts the key figures"
    for c in cells:  # everything comes from the installed package, nothing from the source tree
        assert "sys.path" not in c.source and "src/deepclass" not in c.source


def kernel_env() -> dict[str, str]:
    """The test process's environment, with the deepclass it imports first on the kernel's path
    (a worktree checked with PYTHONPATH, or the installed package: the same code either way)."""
    import deepclass

    env = dict(os.environ)
    src = str(Path(deepclass.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, data_dir):
    nb = read(path)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute(env=kernel_env())  # raises CellExecutionError at the first failing cell
    cells = code_cells(nb)
    assert all(c.execution_count is not None for c in cells)
    images = sum("image/png" in o.get("data", {}) for c in cells for o in c.outputs)
    assert images >= 2, f"{path.name} showed {images} plots inline"
    assert any((tmp_path / "runs").rglob("*.png")), "the run's PNGs are written beside it"
