"""The counts the database keeps (``base_counts``, migration 0008) are the counts of the
rows, whatever statement writes them, on PostgreSQL and SQLite; a fold keeps them and
concurrent folds never count a row twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.storage.bulk import insert_of
from basewatch_projector.storage.counts import fold
from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.tables import base_counts, customers, installations
from tests.support.databases import TestDatabase
from tests.support.tables import kept_and_scanned

T = datetime(2026, 12, 1, tzinfo=UTC)
Step = Callable[[AsyncConnection], Awaitable[Any]]
c, i = customers.c, installations.c


def customer(customer_id: str, segment: str, status: str, in_use: int = 0) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "traits": {},
        "trait_times": {},
        "orders": 0,
        "installations_in_use": in_use,
        "segment": segment,
        "status": status,
        "first_seen_at": T,
        "updated_at": T,
    }


def installation(
    installation_id: str, customer_id: str | None, product_id: str | None, status: str
) -> dict[str, Any]:
    return {
        "installation_id": installation_id,
        "customer_id": customer_id,
        "product_id": product_id,
        "version": "1.0" if product_id else None,
        "attr_times": {},
        "status": status,
        "status_changed_at": T,
        "first_seen_at": T,
        "updated_at": T,
    }


async def rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(base_counts)) or 0)


def upsert_installation(values: dict[str, Any]) -> Step:
    """An insert that updates on conflict, as the projector's upserts do."""

    async def step(conn: AsyncConnection) -> None:
        statement = insert_of(conn, installations).values(values)
        changed = {k: statement.excluded[k] for k in ("customer_id", "status", "version")}
        await conn.execute(
            statement.on_conflict_do_update(index_elements=["installation_id"], set_=changed)
        )

    return step


def execute(statement: Any, *params: dict[str, Any]) -> Step:
    async def step(conn: AsyncConnection) -> None:
        await conn.execute(statement, list(params) if params else None)

    return step


STEPS: dict[str, Step] = {
    "customers arrive": execute(
        customers.insert(),
        customer("c1", "prospect", "active", 1),
        customer("c2", "new", "never_installed"),
        customer("c3", "loyal", "active", 2),
    ),
    "installations arrive": execute(
        installations.insert(),
        installation("i1", "c1", "editor", "active"),
        installation("i2", None, "editor", "active"),  # in use, no owner known
        installation("i3", None, None, "active"),  # a heartbeat before its install
        installation("i4", "c3", "viewer", "at_risk"),
        installation("i5", "c3", "viewer", "churned"),
    ),
    "an owner arrives, nothing else": execute(
        update(installations).where(i.installation_id == "i2").values(customer_id="c2")
    ),
    "a product arrives": execute(
        update(installations).where(i.installation_id == "i3").values(product_id="editor")
    ),
    "a version changes": execute(
        update(installations).where(i.installation_id == "i1").values(version="2.0")
    ),
    "a status changes": execute(
        update(installations).where(i.installation_id == "i4").values(status="churned")
    ),
    "the owner is forgotten": execute(
        update(installations).where(i.installation_id == "i1").values(customer_id=None)
    ),
    "installations in use change": execute(
        update(customers).where(c.customer_id == "c3").values(installations_in_use=0)
    ),
    "a segment and a status change": execute(
        update(customers).where(c.customer_id == "c2").values(segment="loyal", status="active")
    ),
    "an upsert updates": upsert_installation(installation("i5", None, "viewer", "active")),
    "an upsert inserts": upsert_installation(installation("i6", None, "viewer", "at_risk")),
    "many rows in one statement": execute(
        update(installations).where(i.status != "uninstalled").values(status="at_risk")
    ),
    "rows go": execute(delete(installations).where(i.installation_id.in_(["i2", "i6"]))),
    "a customer goes": execute(delete(customers).where(c.customer_id == "c1")),
}


async def test_every_write_of_a_counted_column_is_counted(migrated: AsyncEngine) -> None:
    for name, step in STEPS.items():
        async with migrated.begin() as conn:
            await step(conn)
        kept, scanned = await kept_and_scanned(migrated)
        assert kept == scanned, name
    assert scanned  # the steps left rows to count


async def test_a_batch_that_rolls_back_leaves_the_counts_as_they_were(
    migrated: AsyncEngine,
) -> None:
    """A batch refused half-way (a cached state gone stale, an outage, a record the
    database refuses) rolls back whole: so do the changes of the counts it made."""
    async with migrated.begin() as conn:
        await STEPS["customers arrive"](conn)
    before = await kept_and_scanned(migrated)
    with pytest.raises(RuntimeError):
        async with migrated.begin() as conn:
            await STEPS["installations arrive"](conn)
            await STEPS["a segment and a status change"](conn)
            await fold(conn)
            raise RuntimeError("the batch fails after writing and folding")
    assert await kept_and_scanned(migrated) == before
    assert before[0] == before[1]


async def test_a_write_that_changes_nothing_counted_adds_no_row(migrated: AsyncEngine) -> None:
    for name in ("customers arrive", "installations arrive"):
        async with migrated.begin() as conn:
            await STEPS[name](conn)
    before = await rows(migrated)
    async with migrated.begin() as conn:  # what every heartbeat does
        await conn.execute(update(installations).values(last_heartbeat_at=T, usage={"n": 1}))
        await conn.execute(update(customers).values(orders=3, updated_at=T))
    assert before > 0
    assert await rows(migrated) == before


async def test_a_fold_keeps_the_counts_in_one_row_per_count(migrated: AsyncEngine) -> None:
    for step in STEPS.values():
        async with migrated.begin() as conn:
            await step(conn)
    kept, _ = await kept_and_scanned(migrated)
    assert await rows(migrated) > len(kept)
    async with migrated.begin() as conn:
        await fold(conn)
    assert await kept_and_scanned(migrated) == (kept, kept)
    assert await rows(migrated) == len(kept)


async def test_the_migration_counts_what_is_there(database: TestDatabase) -> None:
    engine = database.engine()
    try:
        await migrate(engine, "0007")
        for name in ("customers arrive", "installations arrive", "a status changes"):
            async with engine.begin() as conn:
                await STEPS[name](conn)
        await migrate(engine)
        kept, scanned = await kept_and_scanned(engine)
        assert kept == scanned
        assert len(kept) == 6  # 3 groups of customers, 3 of installations
    finally:
        await engine.dispose()


async def test_folds_at_the_same_time_count_each_row_once(postgres_db: TestDatabase) -> None:
    """Two instances fold while a third writes: the second fold skips the rows the first
    deleted and has not committed, never waits for it, and folds what is left; the sums
    stay the counts."""
    engine = postgres_db.engine()
    try:
        await migrate(engine)
        for step in STEPS.values():
            async with engine.begin() as conn:
                await step(conn)
        kept, _ = await kept_and_scanned(engine)
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            await fold(first)  # holds the rows it deleted until it commits
            async with engine.begin() as writer:  # rows are only appended: never waits
                await STEPS["an upsert inserts"](writer)
            await second.begin()
            await asyncio.wait_for(fold(second), timeout=10)  # would wait for `first`
            await first.commit()
            await second.commit()
        after, scanned = await kept_and_scanned(engine)
        assert after == scanned
        assert after != kept  # the writer's installation is counted
        assert await rows(engine) == len(kept) + 1  # the first's sums, the second's one
    finally:
        await engine.dispose()
