"""Fixtures of the end-to-end fault scenarios: a stack of processes on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.topics import Topics, create_topics
from tests.support.databases import TestDatabase, fresh_schema
from tests.support.kafka import TEST_PARTITIONS, KafkaBackend, fresh_group, fresh_topics
from tests.support.profiles import SOAK
from tests.support.stack import Stack


async def _stack(
    bootstrap: str,
    idempotence: bool,
    topics: Topics,
    db: TestDatabase,
    broker: EmbeddedBroker | None = None,
) -> AsyncIterator[Stack]:
    await db.migrate()
    stack = Stack(
        bootstrap,
        idempotence,
        topics,
        db,
        fresh_group(),
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
    topics = fresh_topics()
    await create_topics(embedded_broker.bootstrap_servers, topics, TEST_PARTITIONS, 1)
    async for s in _stack(
        embedded_broker.bootstrap_servers, False, topics, postgres_db, embedded_broker
    ):
        yield s


@pytest.fixture
async def second_postgres(pg_url: str) -> AsyncIterator[TestDatabase]:
    """Another fresh PostgreSQL schema (a replay's empty database)."""
    async with fresh_schema(pg_url) as db:
        yield db
