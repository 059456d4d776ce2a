"""The core's imports: at most six floors, no cycle, nothing from outside the standard library.

A module stands one floor above the deepest core module it imports; a module that imports
no core module stands on the first. Read from the source (``ast``), not by importing it.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "voicecore" / "core"
MAX_FLOORS = 6


def core_imports(path: Path) -> set[str]:
    """The core modules ``path`` imports (``voicecore.core.x`` -> ``x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {name.split(".")[2] for name in names if name.startswith("voicecore.core.")}
    return found


def outside_imports(path: Path) -> set[str]:
    """What ``path`` imports from outside the standard library and the core (an adapter, a package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {
        name
        for name in found
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("voicecore.core.")
    }


MODULES = {path.stem: path for path in sorted(CORE.glob("*.py")) if path.stem != "__init__"}
GRAPH = {name: core_imports(path) - {name} for name, path in MODULES.items()}


@cache
def floor(name: str, visiting: frozenset[str] = frozenset()) -> int:
    assert name not in visiting, f"an import cycle through {sorted(visiting | {name})}"
    below = [floor(other, visiting | {name}) for other in GRAPH[name]]
    return 1 + max(below, default=0)


def test_the_core_imports_only_the_standard_library_and_itself() -> None:
    assert {name: outside_imports(path) for name, path in MODULES.items() if outside_imports(path)} == {}


def test_the_core_stands_at_most_six_floors_deep_without_a_cycle() -> None:
    floors = {name: floor(name) for name in MODULES}
    deepest = max(floors.values())
    assert deepest <= MAX_FLOORS, sorted(floors.items(), key=lambda item: -item[1])
    # The rule reads the graph: a module that imports a sibling stands above it.
    assert all(floors[name] > floors[other] for name, others in GRAPH.items() for other in others)
