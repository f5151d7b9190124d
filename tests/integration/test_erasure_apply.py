"""An erasure applied by the projection, batch by batch, on both databases: whatever
order the batches cut the events in, the row ends erased, without traits, counting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.projection.apply import apply_records
from basewatch_projector.storage.tables import customers, erasures
from basewatch_shared.contract.erasure import Erasure, erasure
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from tests.support.policy import POLICY

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ASKED = NOW - timedelta(hours=1)


def identify(n: int, customer_id: str = "c1") -> Record:
    event = {
        "event_id": f"id-{n}",
        "type": "identify",
        "occurred_at": (ASKED + timedelta(seconds=n)).isoformat(),
        "customer_id": customer_id,
        "traits": {"email": f"person{n}@example.org", "country": "DE"},
    }
    return Record(EVENT_ADAPTER.validate_python(event), NOW, "app")


def purchase(n: int, customer_id: str = "c1") -> Record:
    event = {
        "event_id": f"buy-{n}",
        "type": "purchase",
        "occurred_at": (ASKED + timedelta(seconds=n)).isoformat(),
        "customer_id": customer_id,
        "order_id": f"o{n}",
        "product_id": "editor",
        "amount": "10",
        "currency": "EUR",
    }
    return Record(EVENT_ADAPTER.validate_python(event), NOW, "app")


async def apply(
    engine: AsyncEngine, records: list[Record], requests: list[Erasure] | None = None
) -> None:
    async with engine.begin() as conn:
        await apply_records(
            conn, records, loyal_min_orders=2, policy=POLICY, now=NOW, erasures=requests or []
        )


async def row(engine: AsyncEngine, customer_id: str = "c1") -> dict[str, Any]:
    async with engine.connect() as conn:
        found = await conn.execute(select(customers).where(customers.c.customer_id == customer_id))
        return dict(found.one()._asdict())


async def requests(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(erasures.c.erasure_id, erasures.c.customer_id).order_by(erasures.c.position)
        )
        return [(e, c) for e, c in found]


async def test_traits_applied_with_or_after_the_erasure_are_never_written(
    migrated: AsyncEngine,
) -> None:
    await apply(migrated, [identify(1), purchase(2)])
    assert (await row(migrated))["traits"]["email"] == "person1@example.org"
    # In one batch, an identify before the erasure (this instance still held the key)
    # and one after it (sealed by a replica that had not read the marker yet).
    forget = erasure("c1", ASKED, "dpo")
    await apply(migrated, [identify(3)], [forget])
    await apply(migrated, [identify(4), purchase(5)])
    c1 = await row(migrated)
    assert (c1["traits"], c1["trait_times"], c1["country"]) == ({}, {}, None)
    assert c1["erased_at"] == ASKED
    assert (c1["orders"], c1["segment"]) == (2, "loyal")  # still counts


async def test_erasing_twice_is_one_erasure_and_a_redelivery_one_request(
    migrated: AsyncEngine,
) -> None:
    first, second = erasure("c1", ASKED, "dpo"), erasure("c1", NOW, "dpo")
    await apply(migrated, [purchase(1)], [first, first])
    await apply(migrated, [], [first, second])
    assert (await row(migrated))["erased_at"] == ASKED
    assert await requests(migrated) == [(first.erasure_id, "c1"), (second.erasure_id, "c1")]


async def test_a_customer_erased_before_any_event_is_erased_when_they_arrive(
    migrated: AsyncEngine,
) -> None:
    await apply(migrated, [], [erasure("c9", ASKED, "dpo")])
    before = await row(migrated, "c9")
    assert (before["erased_at"], before["segment"], before["orders"]) == (ASKED, "suspect", 0)
    await apply(migrated, [identify(1, "c9"), purchase(2, "c9")])
    after = await row(migrated, "c9")
    assert (after["traits"], after["erased_at"]) == ({}, ASKED)
    assert (after["orders"], after["segment"]) == (1, "one_time")
