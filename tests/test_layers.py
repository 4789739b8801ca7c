"""The direction of imports is the architecture: a module imports only from its own layer or the layers below.

The ticketing system's core (foundation → domain → store, measurement, kafka → cluster → runtime → services) never
imports the lab (`labkit.lab` and `labkit.experiments`), which never imports the widgets, the exercises or the
CLI. The package root re-exports the public API from every layer, so only the CLI may import it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).parent.parent / "labkit"

# Lowest first. A module belongs to the first entry whose prefix names it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("labkit.errors", "labkit.checks", "labkit.client_config", "labkit.settings", "labkit.polling", "labkit.lazy"),
    ("labkit.domain",),
    ("labkit.store", "labkit.measurement", "labkit.kafka"),
    ("labkit.cluster",),
    ("labkit.runtime",),
    ("labkit.services",),
    ("labkit.lab", "labkit.experiments"),
    ("labkit.widgets",),
    ("labkit.exercises",),
    ("labkit.cli",),
)
CORE = 6  # the layers below labkit.lab


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The layer of a labkit module; the package root sits with the CLI, above everything it re-exports."""
    if module == "labkit":
        return len(LAYERS) - 1
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def labkit_imports(path: Path) -> set[str]:
    """The labkit modules a file imports, anywhere in it (functions' lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "labkit"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "labkit":
            module = node.module or ""
            for alias in node.names:  # `from labkit.store import keyspace` imports the submodule
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module)
    return found


@pytest.mark.parametrize("module", [m for m in MODULES if m != "labkit"])
def test_a_module_imports_only_its_layer_and_those_below(module: str) -> None:
    upward = sorted(i for i in labkit_imports(MODULES[module]) if layer_of(i) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports from layers above it: {upward}"


def test_the_check_sees_a_core_module_that_imports_an_experiment(tmp_path: Path) -> None:
    offender = tmp_path / "offender.py"
    offender.write_text("from labkit.experiments.load import send_burst\nimport labkit\n")
    imported = labkit_imports(offender)
    assert imported == {"labkit.experiments.load", "labkit"}
    assert all(layer_of(i) >= CORE for i in imported)


def test_module_names_do_not_collide() -> None:
    """One name, one module: two `keys.py` are two things a reader must tell apart. The CLI's modules are named
    after the commands they add, and each exercises module after its lesson (`exercises.keys` in a notebook)."""
    names: dict[str, list[str]] = {}
    for module in MODULES:
        if module.startswith(("labkit.cli.", "labkit.exercises.")) or module == "labkit":
            continue
        names.setdefault(module.rsplit(".", 1)[-1], []).append(module)
    collisions = {name: modules for name, modules in names.items() if len(modules) > 1}
    assert not collisions, f"modules that share a name: {collisions}"


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def test_modules_and_functions_stay_small_enough_to_read() -> None:
    too_long = []
    for module, path in MODULES.items():
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{module}: {lines} lines")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{module}.{node.name}: {length} lines")
    assert not too_long, f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function: {too_long}"
