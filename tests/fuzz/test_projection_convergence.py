"""Property test of the projection on real databases (SQLite and PostgreSQL).

``apply_records`` over any permutation of a history, with redeliveries, cut into
batches that each commit on their own, leaves the same customers, installations and
purchases as applying the history once, in order, in one batch; and the counts the
database keeps of them (``base_counts``) are the counts of the rows, also once emptied.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.projection.apply import apply_records
from basewatch_projector.projection.known import Known
from basewatch_projector.storage.tables import customers, installations, purchases, signals
from basewatch_shared.contract.events import Event
from basewatch_shared.contract.records import Record
from tests.support.policy import POLICY
from tests.support.profiles import scaled
from tests.support.strategies import NOW, as_dict, deliveries, histories
from tests.support.tables import kept_and_scanned, snapshot

RECEIVED = datetime(2026, 11, 1, 12, tzinfo=UTC)


async def applied(engine: AsyncEngine, batches: Sequence[Sequence[Event]]) -> dict[str, Any]:
    """The tables after applying each batch in a transaction of its own, installation
    states cached between batches as the consume loop does; then empty them."""
    known = Known(limit=1000)
    for batch in batches:
        async with engine.begin() as conn:
            records = [Record(event=event, received_at=RECEIVED, source="test") for event in batch]
            done = await apply_records(
                conn, records, loyal_min_orders=2, policy=POLICY, now=NOW, known=known
            )
        known.remember((after for _, after in done.installations), NOW)
    tables = await snapshot(engine)
    kept, scanned = await kept_and_scanned(engine)
    assert kept == scanned
    async with engine.begin() as conn:  # the next example starts from empty tables
        for table in (signals, purchases, installations, customers):
            await conn.execute(delete(table))
    assert await kept_and_scanned(engine) == ([], [])
    return tables


@scaled(ci=100, soak=2000)
@given(data=st.data())
async def test_tables_converge_whatever_the_order_duplicates_and_batches(
    migrated: AsyncEngine, data: st.DataObject
) -> None:
    history = data.draw(histories(), label="history")
    delivery = data.draw(deliveries(history), label="delivery")
    expected = await applied(migrated, [history])
    got = await applied(migrated, delivery.batches)
    assert got == expected, [[as_dict(e) for e in batch] for batch in delivery.batches]
