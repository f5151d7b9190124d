"""The outbox rides out an outage like the rest of the projector.

Found by reading: the outbox kept its own list of transient errors, without the pool
timeout, so a pool timeout ended the outbox task (and with it the projector).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from basewatch_projector.outbox import Outbox
from basewatch_projector.projection.signals import store_signals
from basewatch_projector.rules.signals import signal_row
from basewatch_projector.storage.engine import normalize_url
from basewatch_projector.storage.tables import signals
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.polling import eventually

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def two_connections(database: TestDatabase) -> AsyncEngine:
    """An engine whose pool has two connections and waits a tenth of a second for one."""
    server_settings = {"search_path": database.schema} if database.schema else {}
    return create_async_engine(
        normalize_url(database.url),
        pool_size=2,
        max_overflow=0,
        pool_timeout=0.1,
        connect_args={"server_settings": server_settings} if server_settings else {},
    )


async def published(engine: AsyncEngine) -> list[datetime | None]:
    """When each stored signal was marked published (None: not yet)."""
    async with engine.connect() as conn:
        return list((await conn.scalars(select(signals.c.published_at))).all())


async def test_a_pool_timeout_in_the_outbox_is_retried(
    database: TestDatabase,
    migrated: AsyncEngine,
    kafka_bootstrap: str,
    kafka_idempotence: bool,
    topics: Topics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="basewatch.projector.outbox")
    engine = two_connections(database)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=kafka_idempotence
    )
    await producer.start()
    held: list[AsyncConnection] = [await engine.connect() for _ in range(2)]  # the whole pool
    outbox = Outbox(engine, producer, kafka_bootstrap, topics.signals)
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))

    async def state() -> tuple[bool, list[str]]:
        """Whether the task ended, and the pool timeouts it logged and retried."""
        retried = [
            str(getattr(r, "error", ""))
            for r in caplog.records
            if r.getMessage() == "signal publishing failed, retrying"
        ]
        return task.done(), [error for error in retried if "QueuePool limit" in error]

    try:
        ended, _ = await eventually(state, lambda s: s[0] or bool(s[1]))
        assert not ended, task.exception()  # the old code: the TimeoutError ended the task
        for conn in held:
            await conn.close()
        async with migrated.begin() as conn:
            row = signal_row(
                "customer.lapsed",
                previous="active",
                status="lapsed",
                occurred_at=NOW,
                detected_at=NOW,
                customer_id="c1",
            )
            await store_signals(conn, [row])
        outbox.notify()
        await eventually(lambda: published(migrated), lambda marks: bool(marks) and all(marks))
    finally:
        stop.set()
        await task
        await producer.stop()
        await engine.dispose()
