"""Installations folded from the cache are written only while their rows are unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from basewatch_projector.projection.apply import apply_records
from basewatch_projector.projection.known import Known, StaleState
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
