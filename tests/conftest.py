"""Every test: fixtures of real brokers and databases, and a category from its folder.

The fixtures are plugins (``tests/fixtures``): a test asks for them by name; what a test
imports lives in ``tests/support``. A test's category is the folder it lives in
(``tests/unit`` is ``unit``...), so ``-m unit`` or ``-m integration`` selects a folder
and no test is left unmarked; ``slow`` is set on the tests that take many seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import profiles
from tests.support.categories import category

settings.load_profile(profiles.DEFAULT)

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.databases",
    "tests.fixtures.services",
    "tests.fixtures.ingest",
]

TESTS = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    """After every plugin has loaded: hypothesis reports failing examples in full."""
    profiles.report_examples()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the category of its folder."""
    for item in items:
        item.add_marker(category(item.path.relative_to(TESTS)))
