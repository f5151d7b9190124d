"""The projector's imports point one way: from the edges (the consume loop, the read
API) down through the projection, churn and history to the rules and the storage.

Every import counts, those inside functions and under TYPE_CHECKING too: a module that
needs a type from a layer above it is in the wrong layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import basewatch_projector

ROOT = Path(basewatch_projector.__file__).parent
PACKAGE = "basewatch_projector"
# Concept -> layer. A module may import a lower layer, or its own concept; never a
# higher one, and never another concept of its own layer.
LAYERS = {
    "rules": 0,
    "storage": 0,
    "errors": 0,
    "settings": 0,
    "threaded": 0,
    "metrics": 1,
    "opening": 1,
    "projection": 2,
    "outbox": 2,
    "churn": 3,
    "history": 4,
    "consume": 5,
    "api": 5,
    "tasks": 5,
    "bootstrap": 6,
    "app": 7,
    "main": 8,
}


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the projector (migrations aside: they are history)."""
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[:2] != ("storage", "migrations"):
            name = ".".join((PACKAGE, *relative.with_suffix("").parts))
            yield name.removesuffix(".__init__"), path


def imports(path: Path) -> set[str]:
    """The projector modules ``path`` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == PACKAGE:
                found |= {f"{PACKAGE}.{alias.name}" for alias in node.names}
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(PACKAGE + ".")}
    return found


def concept(module: str) -> str:
    """``rules`` for ``basewatch_projector.rules.signals``."""
    return module.split(".")[1]


def graph() -> dict[str, set[str]]:
    """Module -> the projector modules it imports."""
    known = dict(modules())
    return {name: {m for m in imports(path) if m in known} for name, path in known.items()}


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = {concept(name) for name in graph() if name != PACKAGE} - LAYERS.keys()
    assert not unplaced


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{source} imports {target}"
        for source, targets in graph().items()
        if source != PACKAGE
        for target in targets
        if concept(source) != concept(target) and LAYERS[concept(target)] >= LAYERS[concept(source)]
    ]
    assert not upward


def test_no_module_imports_itself_through_others() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError(" -> ".join([*path[path.index(module) :], module]))
        if module not in done:
            for target in sorted(edges[module]):
                visit(target, [*path, module])
            done.add(module)

    for module in sorted(edges):
        visit(module, [])


def test_the_walk_sees_the_imports() -> None:
    edges = graph()
    assert "basewatch_projector.rules.policy" in edges["basewatch_projector.churn.sweep"]
    assert "basewatch_projector.churn.schedule" in edges["basewatch_projector.history.recorder"]
