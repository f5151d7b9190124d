"""The outbox rides out an outage like the rest of the projector, and holds back nothing.

Found by reading: the outbox kept its own list of transient errors, without the pool
timeout, so a pool timeout ended the outbox task (and with it the projector).

Found by watching ``pg_stat_activity`` during a benchmark: the publisher's session took
its advisory lock in a transaction it never ended, idle in transaction for the whole
life of the projector with a snapshot's xmin, so PostgreSQL could prune or vacuum no
row version dead since: every heartbeat's update left one more (158,345 dead rows for
30,000 installations after 300,000 events), and only the first fifth were heap-only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from basewatch_projector.outbox import Outbox, lock_parts
from basewatch_projector.projection.signals import store_signals
from basewatch_projector.rules.signals import signal_row
from basewatch_projector.storage.engine import normalize_url
from basewatch_projector.storage.tables import signals
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.polling import eventually

NOW = datetime(2026, 11, 20, tzinfo=UTC)


@asynccontextmanager
async def running_outbox(
    engine: AsyncEngine, kafka_bootstrap: str, kafka_idempotence: bool, topics: Topics
) -> AsyncIterator[tuple[Outbox, asyncio.Task[None]]]:
    """An outbox publishing from ``engine`` on a task of its own, and that task; stopped,
    and its producer with it, on leaving."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=kafka_idempotence
    )
    await producer.start()
    outbox = Outbox(engine, producer, kafka_bootstrap, topics.signals)
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    try:
        yield outbox, task
    finally:
        stop.set()
        await task
        await producer.stop()


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


async def store_one_signal(engine: AsyncEngine) -> None:
    """Commit one signal for the outbox to publish."""
    async with engine.begin() as conn:
        row = signal_row(
            "customer.lapsed",
            previous="active",
            status="lapsed",
            occurred_at=NOW,
            detected_at=NOW,
            customer_id="c1",
        )
        await store_signals(conn, [row])


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
    held: list[AsyncConnection] = [await engine.connect() for _ in range(2)]  # the whole pool
    try:
        async with running_outbox(engine, kafka_bootstrap, kafka_idempotence, topics) as (
            outbox,
            task,
        ):

            async def state() -> tuple[bool, list[str]]:
                """Whether the task ended, and the pool timeouts it logged and retried."""
                retried = [
                    str(getattr(r, "error", ""))
                    for r in caplog.records
                    if r.getMessage() == "signal publishing failed, retrying"
                ]
                return task.done(), [error for error in retried if "QueuePool limit" in error]

            ended, _ = await eventually(state, lambda s: s[0] or bool(s[1]))
            assert not ended, task.exception()  # the old code: the TimeoutError ended the task
            for conn in held:
                await conn.close()
            await store_one_signal(migrated)
            outbox.notify()
            await eventually(lambda: published(migrated), lambda marks: bool(marks) and all(marks))
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class LockSession:
    """The session that holds the publisher's advisory lock, as PostgreSQL shows it."""

    pid: int
    state: str
    has_snapshot: bool  # a backend_xmin: row versions dead since cannot be removed


async def lock_session(engine: AsyncEngine, key: int) -> LockSession | None:
    """The session holding the advisory lock ``key``; None while none holds it."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT a.pid, a.state, a.backend_xmin IS NOT NULL FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.classid = :high AND l.objid = :low AND l.objsubid = 1"
                ),
                lock_parts(key),
            )
        ).first()
    return None if row is None else LockSession(int(row[0]), str(row[1]), bool(row[2]))


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_the_publisher_holds_its_lock_without_a_transaction_open(
    migrated: AsyncEngine, kafka_bootstrap: str, kafka_idempotence: bool, topics: Topics
) -> None:
    async with running_outbox(migrated, kafka_bootstrap, kafka_idempotence, topics) as (outbox, _):
        # The old code: idle in transaction with a snapshot, for as long as it publishes.
        await eventually(
            lambda: lock_session(migrated, outbox.lock_key),
            lambda s: s is not None and (s.state, s.has_snapshot) == ("idle", False),
            within=10,
        )


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_publisher_whose_session_ended_takes_the_lock_again_and_publishes_on(
    migrated: AsyncEngine, kafka_bootstrap: str, kafka_idempotence: bool, topics: Topics
) -> None:
    # The lock is the session's: when the session ends (the database restarted, or an
    # operator ended it) it is free for another replica, and a publisher that went on
    # without it would publish beside that one. It must notice and take the lock again.
    async with running_outbox(migrated, kafka_bootstrap, kafka_idempotence, topics) as (outbox, _):
        first = await eventually(lambda: lock_session(migrated, outbox.lock_key), bool)
        assert first is not None
        async with migrated.connect() as conn:
            ended = await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.pid})
        assert ended
        # The old code went on publishing with no lock held, for as long as it ran.
        await eventually(
            lambda: lock_session(migrated, outbox.lock_key),
            lambda s: s is not None and s.pid != first.pid,
            within=15,
        )
        await store_one_signal(migrated)
        outbox.notify()
        await eventually(lambda: published(migrated), lambda marks: bool(marks) and all(marks))
