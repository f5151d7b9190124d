"""Fixtures of the fuzz tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    """One HTTP session per module: schemathesis' requests reuse their connections."""
    with requests.Session() as session:
        yield session
