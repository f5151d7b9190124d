"""A heartbeat's update of its installation row is HOT on PostgreSQL: no index entries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.projection.apply import apply_records
from basewatch_projector.storage.migrate import migrate
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from tests.support.databases import TestDatabase
from tests.support.history import ts
from tests.support.policy import POLICY

N = 10
ROUNDS = 5


def _records(events: list[dict[str, Any]], now: datetime) -> list[Record]:
    return [Record(EVENT_ADAPTER.validate_python(e), now, "t") for e in events]


async def test_heartbeats_update_installations_without_touching_an_index(
    postgres_db: TestDatabase,
) -> None:
    engine = postgres_db.engine()
    await migrate(engine)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    installs = [
        {"event_id": f"in-{i}", "type": "install", "occurred_at": ts(1), "customer_id": "c1",
         "installation_id": f"i{i}", "product_id": "p1", "version": "1.0"}
        for i in range(N)
    ]  # fmt: skip
    counts = []
    try:
        async with engine.begin() as conn:
            await apply_records(
                conn, _records(installs, now), loyal_min_orders=2, policy=POLICY, now=now
            )
        for n in range(ROUNDS):
            beats = [
                {"event_id": f"hb-{n}-{i}", "type": "heartbeat", "occurred_at": ts(60 + n),
                 "installation_id": f"i{i}", "usage": {"sessions": n}}
                for i in range(N)
            ]  # fmt: skip
            async with engine.begin() as conn:
                await apply_records(
                    conn, _records(beats, now), loyal_min_orders=2, policy=POLICY, now=now
                )
                # This transaction's own counts: known at once, no statistics collector.
                counts.append(tuple(await _updates(conn)))
    finally:
        await engine.dispose()
    # The statistics add up over the connection's transactions. While the page has the
    # room fill factor 80 leaves, every heartbeat's update is heap-only; later most are
    # (pruning reclaims room when it can). With an index on silent_since, none is.
    assert counts[0] == (N, N)
    updated, hot = counts[-1]
    assert updated == N * ROUNDS
    assert hot / updated > 0.5


async def _updates(conn: AsyncConnection) -> Row[Any]:
    return (
        await conn.execute(
            text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                "WHERE relname = 'installations' AND schemaname = current_schema()"
            )
        )
    ).one()
