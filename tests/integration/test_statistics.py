"""The planner's statistics follow a catch-up: a looked-up table is ANALYZEd as it doubles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.engine import create_engine
from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.statistics import SMALL, Statistics
from basewatch_projector.storage.tables import customers
from tests.support.databases import TestDatabase
from tests.support.ports import free_port

NOW = datetime(2026, 12, 6, tzinfo=UTC)


@pytest.fixture
async def pg_migrated(postgres_db: TestDatabase) -> AsyncIterator[AsyncEngine]:
    engine = postgres_db.engine()
    await migrate(engine)
    yield engine
    await engine.dispose()


async def _add_customers(engine: AsyncEngine, start: int, stop: int) -> None:
    """Insert customers ``start`` to ``stop``; the counts reach the statistics views at
    the end of the transaction (a backend otherwise reports them up to a second later)."""
    rows = [
        {
            "customer_id": f"c{n:06}",
            "segment": "prospect",
            "status": "none",
            "first_seen_at": NOW,
            "updated_at": NOW,
        }
        for n in range(start, stop)
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(customers), rows)
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_stat_force_next_flush()"))


async def _planned_rows(engine: AsyncEngine) -> float:
    async with engine.connect() as conn:
        found = await conn.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = CAST('customers' AS regclass)")
        )
        return float(found.scalar_one())


async def test_a_table_that_doubled_is_analyzed_once_and_not_again_until_it_doubles(
    pg_migrated: AsyncEngine,
) -> None:
    await _add_customers(pg_migrated, 0, SMALL - 1)
    assert await Statistics(pg_migrated).keep() == []  # small: any plan is fast
    await _add_customers(pg_migrated, SMALL - 1, 1200)
    statistics = Statistics(pg_migrated)
    assert await statistics.keep() == ["customers"]
    assert await _planned_rows(pg_migrated) == 1200
    assert await statistics.keep() == []  # checked at most once a second
    await _add_customers(pg_migrated, 1200, 2400)  # twice what the statistics say: not more
    assert await Statistics(pg_migrated).keep() == []
    assert await _planned_rows(pg_migrated) == 1200
    await _add_customers(pg_migrated, 2400, 2401)
    assert await Statistics(pg_migrated).keep() == ["customers"]
    assert await _planned_rows(pg_migrated) == 2401


async def test_sqlite_has_no_statistics_to_keep(sqlite_db: TestDatabase) -> None:
    engine = sqlite_db.engine()
    try:
        await migrate(engine)
        await _add_customers(engine, 0, 1200)
        assert await Statistics(engine).keep() == []
    finally:
        await engine.dispose()


async def test_a_database_that_does_not_answer_leaves_the_check_to_the_next_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test")
    try:
        assert await Statistics(engine).keep() == []
    finally:
        await engine.dispose()
    assert "statistics not refreshed" in caplog.text
