"""Erasure against time: a replay never shows the erased traits, not even for a moment,
and an erasure in the middle of a customer's stream of events leaves the same tables
live and replayed. On the real broker and both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app as create_projector
from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.tables import customers, erasures
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.ingest import IngestFactory
from tests.support.kafka import fresh_group, read_records
from tests.support.keys import ERASE_AUTH, INGEST_AUTH, READ_AUTH
from tests.support.polling import eventually
from tests.support.services import projector_app, serve

EMAIL = "grace.hopper@example.org"
OTHER = "someone.else@example.org"  # the others' email: what the poller can see
OTHERS = 400


def identify(event_id: str, customer_id: str, email: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "identify",
        "occurred_at": "2026-11-22T10:00:00Z",
        "customer_id": customer_id,
        "traits": {"email": email, "country": "us"},
    }


def purchase(event_id: str, customer_id: str, order_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "purchase",
        "occurred_at": "2026-11-22T10:01:00Z",
        "customer_id": customer_id,
        "order_id": order_id,
        "product_id": "editor",
        "amount": "2.50",
        "currency": "EUR",
        "properties": {"note": EMAIL},
    }


async def test_a_replay_never_shows_the_erased_traits_not_even_for_a_moment(
    ingest_with: IngestFactory,
    migrated: AsyncEngine,
    projector_settings: Callable[..., ProjectorSettings],
) -> None:
    others = [identify(f"k{n}", f"k{n:04}", OTHER) for n in range(OTHERS)]
    async with ingest_with() as ingest:

        async def send(*events: dict[str, Any]) -> None:
            sent = await ingest.post("/v1/events", json={"events": events}, headers=INGEST_AUTH)
            assert sent.status_code == 202, sent.text

        await send(identify("e1", "c1", EMAIL), purchase("e2", "c1", "o1"))
        await send(*others)
        asked = await ingest.post("/v1/customers/c1/erase", headers=ERASE_AUTH)
        assert asked.status_code == 202, asked.text
        await send(purchase("e3", "c1", "o2"), identify("e4", "c1", EMAIL))

    seen: list[str] = []
    done = asyncio.Event()

    # A second app on the same database serves the read API only (no consumer): polling
    # starts before the replay's first record and runs until its last.
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as reader:

        async def poll() -> None:
            while not done.is_set():
                one = await reader.get("/v1/customers/c1", headers=READ_AUTH)
                listed = await reader.get("/v1/customers?limit=1000", headers=READ_AUTH)
                async with migrated.connect() as conn:
                    table = (await conn.execute(select(customers.c.traits))).all()
                seen.append(f"{one.status_code} {one.text} {listed.text} {table!r}")
                await asyncio.sleep(0.05)

        poller = asyncio.create_task(poll())
        try:
            # Small batches: the replay is many transactions, each one visible.
            settings = projector_settings(batch_max_records=20)
            async with serve(create_projector(settings)) as projector:
                final = await eventually(
                    lambda: projector.get("/v1/customers/c1", headers=READ_AUTH),
                    lambda r: r.status_code == 200 and r.json()["orders"] == 2,
                )
                await eventually(
                    lambda: projector.get("/v1/summary", headers=READ_AUTH),
                    lambda r: r.json()["customer_base"]["by_segment"]["suspect"] == OTHERS,
                )
        finally:
            done.set()
            await poller
    assert final.json()["erased"] is True and final.json()["traits"] == {}
    assert final.json()["revenue"] == {"EUR": "5"}
    assert seen[0].startswith("404")  # the poller saw the database before the replay
    assert any(OTHER in s for s in seen)  # it sees traits when there are some
    assert [s for s in seen if EMAIL in s] == []
    assert len(seen) >= 3


async def test_an_erasure_while_another_replica_takes_the_customers_events(
    ingest_with: IngestFactory,
    topics: Topics,
    kafka_bootstrap: str,
    migrated: AsyncEngine,
    another_database: TestDatabase,
    projector_settings: Callable[..., ProjectorSettings],
) -> None:
    accepted = {"before": 0, "after": 0}
    erased = asyncio.Event()
    stop = asyncio.Event()

    async with (
        ingest_with() as first,
        ingest_with() as second,
        serve(create_projector(projector_settings())) as projector,
    ):

        async def c1() -> dict[str, Any]:
            got = await projector.get("/v1/customers/c1", headers=READ_AUTH)
            return dict(got.json()) if got.status_code == 200 else {}

        async def stream() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                batch = [identify(f"i{n}", "c1", EMAIL), purchase(f"p{n}", "c1", f"o{n}")]
                sent = await second.post("/v1/events", json={"events": batch}, headers=INGEST_AUTH)
                assert sent.status_code == 202, sent.text
                accepted["after" if erased.is_set() else "before"] += 1
                if accepted["after"] >= 20:
                    stop.set()

        streaming = asyncio.create_task(stream())
        await eventually(c1, lambda c: c.get("traits", {}).get("email") == EMAIL)
        asked = await first.post("/v1/customers/c1/erase", headers=ERASE_AUTH)
        assert asked.status_code == 202, asked.text
        erased.set()
        await streaming
        total = accepted["before"] + accepted["after"]
        live = await eventually(c1, lambda c: c["orders"] == total, within=30)
        assert live["erased"] is True and live["traits"] == {}
        assert live["erased_at"] == asked.json()["requested_at"]

    # A replay of the same log into another empty database ends with the same rows.
    replayed = another_database.engine()
    try:
        await migrate(replayed)
        settings = projector_settings(**another_database.settings(), consumer_group=fresh_group())
        async with serve(create_projector(settings)) as projector:  # what c1() asks now
            again = await eventually(c1, lambda c: c.get("orders") == total, within=30)
        assert again == live
        assert await rows(replayed) == await rows(migrated)
    finally:
        await replayed.dispose()

    everything = await read_records(kafka_bootstrap, list(topics.all))
    assert [r for r in everything if EMAIL.encode() in (r.value or b"")] == []
    assert [r for r in everything if r.topic == topics.deadletter] == []


async def rows(engine: AsyncEngine) -> list[Any]:
    """The customer row of c1 and the erasure requests, without the wall-clock columns."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(customers).where(customers.c.customer_id == "c1"))).one()
        requests = (await conn.execute(select(erasures))).all()
    volatile = {"updated_at", "first_seen_at", "applied_at", "position"}
    return [
        {k: v for k, v in row._asdict().items() if k not in volatile},
        [{k: v for k, v in r._asdict().items() if k not in volatile} for r in requests],
    ]
