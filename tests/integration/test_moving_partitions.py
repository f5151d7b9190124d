"""Three projector processes while partitions move between them again and again.

Members join and leave mid-backlog; each keeps installation states in memory
(projection/known.py) for the partitions it owns. Whatever moved when, the tables and
the installations' signals equal those of one undisturbed projector over the same
topics. (A customer's signals are left out: whether a customer was ever seen ``active``
before ``lapsed`` depends on how the customers and the telemetry topics interleave,
which Kafka does not fix, here as between any two runs; the customers' final statuses
are in the tables compared.)
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.tables import signals
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.history import history
from tests.support.kafka import KafkaBackend, produce
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, service_env
from tests.support.services import serve
from tests.support.stack import wait_healthy
from tests.support.tables import applied_offsets, snapshot

pytestmark = pytest.mark.slow


async def _signals(engine: AsyncEngine) -> Counter[tuple[Any, ...]]:
    """Every stored installation signal by what it says (ids and wall-clock times left out)."""
    s = signals.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(s.kind, s.installation_id, s.customer_id, s.previous_status, s.status).where(
                s.installation_id.is_not(None)
            )
        )
        return Counter(tuple(row) for row in rows)


async def _state(engine: AsyncEngine) -> tuple[dict[str, Any], Counter[tuple[Any, ...]]]:
    return await snapshot(engine), await _signals(engine)


async def _clean_pass(
    db: TestDatabase, settings: Callable[..., Settings], total: int
) -> tuple[dict[str, Any], Counter[tuple[Any, ...]]]:
    group = f"clean-{uuid.uuid4().hex[:8]}"
    engine = db.engine()
    try:
        await migrate(engine)
        async with serve(create_app(settings(consumer_group=group, **db.settings()))):
            await eventually(
                lambda: applied_offsets(engine, group), lambda n: n == total, within=120
            )
        return await _state(engine)
    finally:
        await engine.dispose()


async def test_members_joining_and_leaving_mid_backlog_change_nothing(
    migrated: AsyncEngine,
    database: TestDatabase,
    another_database: TestDatabase,
    topics: Topics,
    kafka_bootstrap: str,
    kafka_backend: KafkaBackend,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    if database.kind == "sqlite":
        pytest.skip("several projector processes share one database only on PostgreSQL")
    # Few installations, many heartbeats each: every batch folds cached states.
    backlog = list(history(120, 60, 12_000, seed=5))
    env = service_env(database, kafka_backend, topics, group_id, BASEWATCH_BATCH_MAX_RECORDS="250")
    # Members join and leave, each step with a fresh slice of the backlog produced just
    # before, so partitions move while records wait. ``a`` stays throughout: it gets back
    # partitions that others applied meanwhile, where its cached states are old.
    steps = ["+a", "+b", "+c", "-c", "-b", "+c", "-c"]
    size = -(-len(backlog) // len(steps))
    members: dict[str, ServiceProcess] = {}
    total = 0
    try:
        for n, step in enumerate(steps):
            total += await produce(kafka_bootstrap, topics, backlog[n * size : (n + 1) * size])
            if step[0] == "+":
                members[step[1]] = member = await ServiceProcess("projector", env).start()
                await wait_healthy(member)  # serving, so a later SIGTERM stops it cleanly
            else:
                assert await members.pop(step[1]).stop() == 0

            def done(applied: int, total: int = total) -> bool:
                return applied == total

            await eventually(
                lambda: applied_offsets(migrated, group_id), done, within=120, interval=0.05
            )
    finally:
        for proc in members.values():
            assert await proc.stop() == 0
    tables, stored = await _state(migrated)
    clean_tables, clean_signals = await _clean_pass(another_database, projector_settings, total)
    assert tables == clean_tables
    assert stored == clean_signals, (stored - clean_signals, clean_signals - stored)
