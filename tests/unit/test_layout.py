"""The layout holds: each test has one category, and no test imports another test."""

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
