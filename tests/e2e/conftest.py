"""Fixtures of the end-to-end fault scenarios: a stack of processes on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from basewatch_projector.migrate import migrate
from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.topics import Topics, create_topics
from tests.fixtures.databases import TestDatabase, _schema
from tests.fixtures.kafka import TEST_PARTITIONS, KafkaBackend
from tests.support.stack import Stack

# BASEWATCH_SOAK=1 (`make soak`): histories ten times bigger, faults more numerous.
SOAK = os.environ.get("BASEWATCH_SOAK", "") not in ("", "0")


def scale(ci: int) -> int:
    """A size for CI, or ten times it in a soak."""
    return ci * 10 if SOAK else ci


async def _stack(
    bootstrap: str,
    idempotence: bool,
    topics: Topics,
    db: TestDatabase,
    broker: EmbeddedBroker | None = None,
) -> AsyncIterator[Stack]:
    engine = db.engine()
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    stack = Stack(
        bootstrap,
        idempotence,
        topics,
        db,
        f"bwtest-{uuid.uuid4().hex[:10]}",
        TEST_PARTITIONS,
        broker,
        patience=10 if SOAK else 1,
    )
    try:
        yield stack
    finally:
        await stack.close()


@pytest.fixture
async def stack(
    kafka_backend: KafkaBackend, topics: Topics, postgres_db: TestDatabase
) -> AsyncIterator[Stack]:
    """Topics on the session's broker and a fresh PostgreSQL schema; no process yet."""
    async for s in _stack(
        kafka_backend.bootstrap_servers, kafka_backend.idempotence, topics, postgres_db
    ):
        yield s


@pytest.fixture
async def private_stack(
    embedded_broker: EmbeddedBroker, postgres_db: TestDatabase
) -> AsyncIterator[Stack]:
    """Like ``stack``, on a broker of this test alone (to freeze it)."""
    topics = Topics(prefix=f"bwtest.{uuid.uuid4().hex[:10]}.")
    await create_topics(embedded_broker.bootstrap_servers, topics, TEST_PARTITIONS, 1)
    async for s in _stack(
        embedded_broker.bootstrap_servers, False, topics, postgres_db, embedded_broker
    ):
        yield s


@pytest.fixture
async def second_postgres(pg_url: str) -> AsyncIterator[TestDatabase]:
    """Another fresh PostgreSQL schema (a replay's empty database)."""
    async with _schema(pg_url) as db:
        yield db
