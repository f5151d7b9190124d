"""Erasure in the tables: a live projector forgets the customer and keeps counting them.

On the real broker and both databases: the read API and every table show no trace of
the email once the erasure is applied, the customer still counts, events after it count
without personal fields, and the dead-letter topic holds only what no key opens.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app as create_projector
from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_projector.storage.tables import customers, metadata
from basewatch_shared.contract.records import decode_record
from basewatch_shared.topics import Topics
from tests.support.ingest import IngestFactory
from tests.support.kafka import key_ring, read_records
from tests.support.keys import ERASE_AUTH, INGEST_AUTH, READ_AUTH
from tests.support.polling import eventually
from tests.support.services import serve

EMAIL = "grace.hopper@example.org"
REFUSED = "refused-order"
# A test trigger refuses one order, so that a sealed record of the customer is
# dead-lettered (as in test_refused_records.py): what the dead-letter topic then holds.
_SQLITE_TRIGGER = f"""
CREATE TRIGGER refuse_one_order BEFORE INSERT ON purchases
WHEN NEW.order_id = '{REFUSED}'
BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END
"""
_POSTGRES = [
    f"""
CREATE FUNCTION refuse_one_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.order_id = '{REFUSED}' THEN
    RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$
""",
    """
CREATE TRIGGER refuse_one_order BEFORE INSERT ON purchases
FOR EACH ROW EXECUTE FUNCTION refuse_one_order()
""",
]


def identify(event_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "identify",
        "occurred_at": "2026-11-22T10:00:00Z",
        "customer_id": customer_id,
        "traits": {"email": EMAIL, "country": "us"},
    }


def purchase(event_id: str, order_id: str, amount: str, currency: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "purchase",
        "occurred_at": "2026-11-22T10:01:00Z",
        "customer_id": "c1",
        "order_id": order_id,
        "product_id": "editor",
        "amount": amount,
        "currency": currency,
        "properties": {"note": EMAIL},
    }


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


async def every_cell(engine: AsyncEngine) -> str:
    """Every row of every table, as one text: what a search for a value looks through."""
    async with engine.connect() as conn:
        rows = [await conn.execute(select(table)) for table in metadata.sorted_tables]
        return repr([list(result) for result in rows])


async def refuse_one_order(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for statement in [_SQLITE_TRIGGER] if engine.dialect.name == "sqlite" else _POSTGRES:
            await conn.execute(text(statement))


async def test_a_live_projector_forgets_the_customer_and_keeps_counting_them(
    ingest_with: IngestFactory,
    topics: Topics,
    kafka_bootstrap: str,
    migrated: AsyncEngine,
    projector_settings: Callable[..., ProjectorSettings],
) -> None:
    await refuse_one_order(migrated)
    async with (
        ingest_with() as ingest,
        serve(create_projector(projector_settings())) as projector,
    ):

        async def send(*events: dict[str, Any]) -> None:
            for event in events:
                sent = await ingest.post("/v1/events", json=event, headers=INGEST_AUTH)
                assert sent.status_code == 202, sent.text

        async def get(path: str) -> httpx.Response:
            return await projector.get(path, headers=READ_AUTH)

        await send(
            identify("e1", "c1"),
            purchase("e2", "o1", "19.99", "EUR"),
            purchase("e3", REFUSED, "1", "EUR"),
            identify("e4", "kept"),
        )
        seen = await eventually(
            lambda: get("/v1/customers/c1"),
            lambda r: r.status_code == 200 and r.json()["orders"] == 1 and r.json()["traits"],
        )
        assert seen.json()["traits"]["email"] == EMAIL and seen.json()["erased"] is False
        [dead] = await read_records(kafka_bootstrap, [topics.deadletter])
        assert EMAIL.encode() not in dead.value  # sealed, even before the erasure

        erased = await ingest.post("/v1/customers/c1/erase", headers=ERASE_AUTH)
        assert erased.status_code == 202, erased.text
        first = erased.json()
        done = await eventually(lambda: get("/v1/customers/c1"), lambda r: r.json()["erased"])
        assert done.json()["traits"] == {}
        assert done.json()["erased_at"] == first["requested_at"]
        assert (done.json()["orders"], done.json()["revenue"]) == (1, {"EUR": "19.99"})

        # Events after the erasure count, without any personal field; erasing twice is
        # one erasure and two requests.
        await send(identify("e5", "c1"), purchase("e6", "o2", "5", "USD"))
        again = await ingest.post("/v1/customers/c1/erase", headers=ERASE_AUTH)
        assert again.status_code == 202, again.text
        feed = await eventually(lambda: get("/v1/erasures"), lambda r: len(r.json()["items"]) == 2)
        after = await eventually(lambda: get("/v1/customers/c1"), lambda r: r.json()["orders"] == 2)
        assert after.json()["traits"] == {} and after.json()["erased_at"] == first["requested_at"]
        assert after.json()["revenue"] == {"EUR": "19.99", "USD": "5"}
        listed = (await get("/v1/customers")).json()["items"]
        assert [(c["customer_id"], c["erased"], c["traits"] == {}) for c in listed] == [
            ("c1", True, True),
            ("kept", False, False),
        ]
        by_country = (await get("/v1/customers?country=us")).json()["items"]
        assert [c["customer_id"] for c in by_country] == ["kept"]
        summary = (await get("/v1/summary")).json()["customer_base"]
        assert summary["total"] == 1  # c1 still counts

        items = feed.json()["items"]
        assert [i["erasure_id"] for i in items] == [first["erasure_id"], again.json()["erasure_id"]]
        assert {(i["customer_id"], i["source"]) for i in items} == {("c1", "test-dpo")}
        assert items[0]["requested_at"] == first["requested_at"]
        assert all(when(i["applied_at"]) >= when(i["requested_at"]) for i in items)
        # Paged one by one with the cursor, then nothing new, the cursor kept.
        one = (await get("/v1/erasures?limit=1")).json()
        two = (await get(f"/v1/erasures?limit=1&after={one['next_cursor']}")).json()
        end = (await get(f"/v1/erasures?after={two['next_cursor']}")).json()
        assert [one["items"][0], two["items"][0]] == items
        assert end == {"items": [], "next_cursor": two["next_cursor"]}

    async with migrated.connect() as conn:
        row = (
            await conn.execute(
                select(customers.c.traits, customers.c.trait_times, customers.c.country).where(
                    customers.c.customer_id == "c1"
                )
            )
        ).one()
    assert tuple(row) == ({}, {}, None)
    # "kept" still has the email: remove it, and no table holds a trace of c1's.
    async with migrated.begin() as conn:
        await conn.execute(customers.delete().where(customers.c.customer_id == "kept"))
    assert EMAIL not in await every_cell(migrated)

    # The dead-letter topic: one sealed copy, the reason naming no value, opening to
    # nothing now that the key is gone.
    [dead] = await read_records(kafka_bootstrap, [topics.deadletter])
    assert EMAIL.encode() not in dead.value + repr(dead.headers).encode()
    copy = decode_record(dead.value, await key_ring(kafka_bootstrap, topics))
    assert copy.event.customer_id == "c1" and copy.event.properties is None
