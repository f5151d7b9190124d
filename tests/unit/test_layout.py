"""Layout rules: one category per test, no test imports a test, no import cycle, small modules."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.categories import CATEGORIES, category

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything a module imports, ``from a import b`` as ``a.b``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def _is_test_module(name: str) -> bool:
    """Whether ``name`` is a test module or a conftest of this repository."""
    parts = name.split(".")
    is_file = (ROOT.joinpath(*parts).with_suffix(".py")).is_file()
    return (
        parts[0] == "tests"
        and is_file
        and (parts[-1].startswith("test_") or parts[-1] == "conftest")
    )


def test_the_folder_rule_marks_this_test_unit(request: pytest.FixtureRequest) -> None:
    markers = [m.name for m in request.node.iter_markers() if m.name in CATEGORIES]
    assert markers == ["unit"]


def test_every_test_module_lives_in_the_folder_of_one_category() -> None:
    misplaced = []
    for path in TESTS.rglob("test_*.py"):
        try:
            category(path.relative_to(TESTS))
        except pytest.UsageError as refused:
            misplaced.append(str(refused))
    assert not misplaced, "\n".join(misplaced)


def test_no_test_marks_its_own_category() -> None:
    # The folder gives the category; a module's own would make it two.
    marked = [
        f"{path.relative_to(ROOT)}:{node.lineno} pytest.mark.{node.attr}"
        for path in _modules(TESTS)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr in CATEGORIES
        and ast.unparse(node.value) == "pytest.mark"
    ]
    assert not marked, "\n".join(marked)


def test_no_module_imports_a_test_module_or_a_fixture_module() -> None:
    # Helpers live in tests/support; fixtures are asked for by name (tests/conftest.py
    # registers tests/fixtures), never imported.
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in [*_modules(TESTS), *_modules(ROOT / "bench")]
        for line, name in _imported(ast.parse(path.read_text()))
        if _is_test_module(name) or name.split(".")[:2] == ["tests", "fixtures"]
    ]
    assert not wrong, "\n".join(wrong)


# The services' and shared's own modules: imports point one way, and modules stay small.
SOURCES = sorted([*ROOT.glob("services/*/src"), ROOT / "shared" / "src"])
MAX_LINES = 250
# Alembic's migrations are written once and never edited again; nothing is vendored.
NOT_COUNTED = "migrations"


def _project_modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the services and of shared."""
    found = {}
    for src in SOURCES:
        for path in _modules(src):
            parts = path.relative_to(src).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a ``from ... import`` names, with its leading dots resolved."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports: at the top, in functions, under TYPE_CHECKING.

    ``from a.b import c`` imports the module ``a.b.c`` if there is one, else ``a.b``; the
    parent packages Python initialises on the way do not count.
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, name, path.name == "__init__.py")
            candidates = [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            parts = candidate.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts:
                found.add(".".join(parts))
    found.discard(name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each group of modules that reach each other (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = {stack.pop()}
            while node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest way from the group's first module back to itself (breadth first)."""
    start = min(group)
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for nxt in sorted(graph[node] & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                todo.append(nxt)
    raise AssertionError(f"{sorted(group)} is no cycle")


def test_no_import_cycle_between_the_project_modules() -> None:
    modules = _project_modules()
    graph = {name: _targets(name, path, modules) for name, path in modules.items()}
    cycles = [" -> ".join(cycle) for cycle in _cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_project_module_is_over_250_lines() -> None:
    over = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in _project_modules().values()
        if NOT_COUNTED not in path.parts
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not over, f"modules over {MAX_LINES} lines:\n" + "\n".join(sorted(over))
