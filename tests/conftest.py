"""Fixtures for every test: real brokers and real databases (see tests/fixtures)."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.databases",
    "tests.fixtures.services",
    "tests.fixtures.ingest",
]
