"""A test's category is the folder it lives in: one of four, so exactly one per test."""

from __future__ import annotations

from pathlib import Path

import pytest

# The markers declared in pyproject.toml, one per folder below tests/.
CATEGORIES = ("unit", "integration", "e2e", "fuzz")


def category(path: Path) -> str:
    """The category of the test module at ``path``, relative to the tests folder."""
    folder = path.parts[0] if len(path.parts) > 1 else ""
    if folder not in CATEGORIES:
        raise pytest.UsageError(
            f"tests/{path}: a test module belongs in one of "
            + ", ".join(f"tests/{c}" for c in CATEGORIES)
        )
    return folder
