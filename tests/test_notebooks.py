"""Every notebook runs green under papermill with its CI-sized parameters, on the test cluster.

nbval re-runs the committed notebooks as they are (see pyproject's addopts); this test runs them as a person
would with other parameters: a fresh event each, small counts, a timeout per cell.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import papermill
import pytest

from labkit.cluster.local import ClusterState

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = Path(__file__).parent.parent / "artifacts" / "notebooks"
# Small enough for CI; every notebook gets the ones its parameters cell names.
CI_PARAMETERS = {
    "BOOKINGS": 120,
    "OVERSUBSCRIBED": 150,
    "DEMO_BURST": 30,
    "TIMEOUT": 120,
    "LOAD_RATES": [25, 50],
    "LOAD_SECONDS": 2,
}
CELL_TIMEOUT = 180


def parameters_of(path: Path) -> set[str]:
    """Names the notebook's `parameters` cell assigns."""
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    return {
        line.split("=")[0].strip() for line in cells[0].source.splitlines() if "=" in line and not line.startswith("#")
    }


def test_there_are_five_numbered_notebooks() -> None:
    assert [p.name[:2] for p in NOTEBOOKS][:5] == ["01", "02", "03", "04", "05"]


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_papermill(
    path: Path, cluster: ClusterState, cluster_home: Path, module_event_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_HOME", str(cluster_home))  # the kernel inherits it and finds the test cluster
    names = parameters_of(path)
    parameters = {k: v for k, v in {**CI_PARAMETERS, "EVENT_ID": module_event_id}.items() if k in names}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    papermill.execute_notebook(
        str(path),
        str(ARTIFACTS / path.name),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(path.parent),
        execution_timeout=CELL_TIMEOUT,
        progress_bar=False,
    )  # raises PapermillExecutionError on any cell error
    executed = nbformat.read(ARTIFACTS / path.name, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    if path.stem == "05_dashboard":  # the dashboard's static snapshot shows sold seats
        html = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
        assert any("labkit-seat-sold" in h for h in html)
    else:
        assert [o for o in outputs if "image/png" in o.get("data", {})], f"{path.name} draws at least one plot"
    print(f"{path.name}: {time.monotonic() - started:.1f} s")
