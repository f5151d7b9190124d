"""Installations folded from the cache are written only while their rows are unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.projection.apply import apply_records
from basewatch_projector.projection.known import Known, StaleState
from basewatch_projector.storage.bulk import STATEMENT_ROWS
from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.tables import installations
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from tests.support.databases import TestDatabase
from tests.support.history import ts
from tests.support.policy import POLICY

T = datetime(2026, 11, 2, tzinfo=UTC)
INSTALL = {"event_id": "in", "type": "install", "occurred_at": ts(1), "customer_id": "c1",
           "installation_id": "i1", "product_id": "p1", "version": "1.0"}  # fmt: skip


def _beat(n: int) -> dict[str, Any]:
    return {"event_id": f"hb{n}", "type": "heartbeat", "occurred_at": ts(10 + n),
            "installation_id": "i1", "version": f"1.{n}"}  # fmt: skip


async def _apply(engine: Any, event: dict[str, Any], now: datetime, known: Known) -> None:
    record = Record(EVENT_ADAPTER.validate_python(event), now, "t")
    async with engine.begin() as conn:
        applied = await apply_records(
            conn, [record], loyal_min_orders=2, policy=POLICY, now=now, known=known
        )
    known.remember((after for _, after in applied.installations), now)


async def test_a_cached_state_folds_without_a_read_and_a_changed_row_refuses_it(
    postgres_db: TestDatabase,
) -> None:
    engine = postgres_db.engine()
    await migrate(engine)
    known = Known(limit=10)
    try:
        await _apply(engine, INSTALL, T, known)
        await _apply(engine, _beat(1), T + timedelta(seconds=1), known)
        async with engine.connect() as conn:
            version = await conn.scalar(select(installations.c.version))
        assert (version, len(known)) == ("1.1", 1)
        # Someone else writes the row (the sweep, another member): the cache is stale.
        async with engine.begin() as conn:
            await conn.execute(update(installations).values(updated_at=T + timedelta(hours=1)))
        with pytest.raises(StaleState):
            await _apply(engine, _beat(2), T + timedelta(seconds=2), known)
        known.forget()  # what the consume loop does (a rewind), then the batch again
        await _apply(engine, _beat(2), T + timedelta(seconds=2), known)
        async with engine.connect() as conn:
            version = await conn.scalar(select(installations.c.version))
    finally:
        await engine.dispose()
    assert version == "1.2"


async def test_a_batch_larger_than_a_statement_is_written_whole_or_refused_whole(
    postgres_db: TestDatabase,
) -> None:
    # More installations than two statements carry (bulk.STATEMENT_ROWS): the rows go in
    # three parts, and a row changed meanwhile in the last part refuses the whole batch.
    n = 2 * STATEMENT_ROWS + 500
    ids = [f"i{k:05d}" for k in range(n)]
    engine = postgres_db.engine()
    await migrate(engine)
    known = Known(limit=n)

    async def batch(kind: str, at: datetime, second: int) -> None:
        events = [{"event_id": f"{kind}-{second}-{i}", "type": kind, "occurred_at": ts(second),
                   "installation_id": i, "product_id": "p1", "customer_id": "c1", "version": "1"}
                  for i in ids]  # fmt: skip
        records = [Record(EVENT_ADAPTER.validate_python(e), at, "t") for e in events]
        async with engine.begin() as conn:
            applied = await apply_records(
                conn, records, loyal_min_orders=2, policy=POLICY, now=at, known=known
            )
        known.remember((after for _, after in applied.installations), at)

    async def beats() -> set[Any]:
        async with engine.connect() as conn:
            return set((await conn.execute(select(installations.c.last_heartbeat_at))).scalars())

    try:
        await batch("install", T, 0)
        assert (await beats(), len(known)) == ({None}, n)
        await batch("heartbeat", T + timedelta(minutes=4), 4)  # from the cache, every part
        assert await beats() == {datetime.fromisoformat(ts(4))}
        async with engine.begin() as conn:  # another writer, in the last part's rows
            await conn.execute(
                update(installations)
                .where(installations.c.installation_id == ids[-1])
                .values(updated_at=T + timedelta(hours=1))
            )
        with pytest.raises(StaleState):
            await batch("heartbeat", T + timedelta(minutes=5), 5)
        # The parts written before the refusal rolled back with it.
        assert await beats() == {datetime.fromisoformat(ts(4))}
        known.forget()
        await batch("heartbeat", T + timedelta(minutes=5), 5)
        assert await beats() == {datetime.fromisoformat(ts(5))}
    finally:
        await engine.dispose()


# One event per batch, for each of two installations: version, usage, product, status
# (uninstalled, then active again), platform and owner move; the last changes nothing.
_BATCHES: list[dict[str, Any]] = [
    {"type": "heartbeat", "occurred_at": ts(10), "version": "1.1", "usage": {"s": 1}},
    {"type": "heartbeat", "occurred_at": ts(20), "product_id": "p2", "usage": {"s": 2}},
    {"type": "uninstall", "occurred_at": ts(30)},
    {"type": "heartbeat", "occurred_at": ts(40), "usage": {"s": 4}},  # back: active
    {"type": "heartbeat", "occurred_at": ts(50), "platform": "linux", "usage": {"s": 5}},
    {"type": "heartbeat", "occurred_at": ts(70), "customer_id": "c2"},
    {"type": "heartbeat", "occurred_at": ts(5), "usage": {"s": 0}},  # older: changes nothing
]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_row_folded_from_the_cache_equals_the_row_folded_from_a_read(
    migrated: AsyncEngine,
) -> None:
    # The same events for c1, folded from the cache and written back guarded, and r1,
    # read first and upserted (a cache of none): after every batch both rows are the same.
    cached, read = Known(limit=10), Known(limit=0)
    for prefix, known in (("c", cached), ("r", read)):
        await _apply(migrated, INSTALL | {"installation_id": f"{prefix}1"}, T, known)
    for n, event in enumerate(_BATCHES, 1):
        now = T + timedelta(minutes=n)
        for prefix, known in (("c", cached), ("r", read)):
            named = {"event_id": f"e{n}", "installation_id": f"{prefix}1"}  # in the stamps compared
            await _apply(migrated, event | named, now, known)
        async with migrated.connect() as conn:
            rows = {
                row.installation_id: row._asdict()
                for row in await conn.execute(select(installations))
            }
        assert rows["c1"] | {"installation_id": None} == rows["r1"] | {"installation_id": None}, n
    assert len(cached) == 1  # folded from the cache throughout
