"""Erasure on the log: personal fields never in plaintext, and unreadable once erased."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app as create_projector
from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_shared.contract.events import Identify
from basewatch_shared.contract.records import decode_record
from basewatch_shared.keyring.ring import ERASED, record_key
from basewatch_shared.topics import Topics
from tests.support.ingest import IngestFactory
from tests.support.kafka import key_ring, read_records
from tests.support.keys import ERASE_AUTH, INGEST_AUTH, READ_AUTH
from tests.support.polling import eventually
from tests.support.services import serve

EMAIL = "grace.hopper@example.org"


def identify(event_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "identify",
        "occurred_at": "2026-11-22T10:00:00Z",
        "customer_id": customer_id,
        "traits": {"email": EMAIL, "country": "us"},
    }


def purchase(event_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "purchase",
        "occurred_at": "2026-11-22T10:01:00Z",
        "customer_id": customer_id,
        "order_id": f"o-{event_id}",
        "product_id": "editor",
        "amount": "19.99",
        "currency": "EUR",
        "properties": {"note": EMAIL},
    }


async def test_the_email_is_on_no_topic_and_no_longer_opens_after_the_erasure(
    ingest_with: IngestFactory, topics: Topics, kafka_bootstrap: str
) -> None:
    async with ingest_with() as ingest:
        for event in (identify("e1", "c1"), purchase("e2", "c1")):
            sent = await ingest.post("/v1/events", json=event, headers=INGEST_AUTH)
            assert sent.status_code == 202, sent.text
        before = await key_ring(kafka_bootstrap, topics)
        erased = await ingest.post("/v1/customers/c1/erase", headers=ERASE_AUTH)
        assert erased.status_code == 202, erased.text
        later = await ingest.post("/v1/events", json=identify("e3", "c1"), headers=INGEST_AUTH)
        assert later.status_code == 202, later.text

    everything = await read_records(kafka_bootstrap, list(topics.all))
    assert everything
    assert not [r for r in everything if EMAIL.encode() in (r.value or b"")]
    customers = sorted(
        (r for r in everything if r.topic == topics.customers and not r.headers),
        key=lambda r: r.offset,
    )
    # Before the erasure the key opened them; a ring read from the log now does not.
    opened = decode_record(customers[0].value, before).event
    assert isinstance(opened, Identify) and opened.traits is not None
    assert opened.traits.email == EMAIL
    after = await key_ring(kafka_bootstrap, topics)
    assert after.is_erased("c1") and after.kids("c1") == []
    for record in customers:
        decoded = decode_record(record.value, after)
        assert decoded.event.customer_id == "c1"
        assert decoded.event.properties is None
        assert not isinstance(decoded.event, Identify) or decoded.event.traits is None
    # the event after the erasure carries no personal field at all, sealed or not
    assert b"sealed" not in customers[-1].value and b"traits" not in customers[-1].value
    keys = [r for r in everything if r.topic == topics.keys]
    assert record_key("c1", ERASED) in {r.key for r in keys}
    assert any(r.value is None for r in keys)  # the tombstone of the key


async def test_a_customer_erased_before_their_first_identify_never_gets_a_key(
    ingest_with: IngestFactory, topics: Topics, kafka_bootstrap: str
) -> None:
    async with ingest_with() as ingest:
        erased = await ingest.post("/v1/customers/c9/erase", headers=ERASE_AUTH)
        assert erased.status_code == 202, erased.text
        again = await ingest.post("/v1/customers/c9/erase", headers=ERASE_AUTH)
        assert again.status_code == 202, again.text
        sent = await ingest.post("/v1/events", json=identify("e1", "c9"), headers=INGEST_AUTH)
        assert sent.status_code == 202, sent.text

    everything = await read_records(kafka_bootstrap, list(topics.all))
    assert not [r for r in everything if EMAIL.encode() in (r.value or b"")]
    [event] = [r for r in everything if r.topic == topics.customers and not r.headers]
    assert b"sealed" not in event.value and b"traits" not in event.value
    keys = [r for r in everything if r.topic == topics.keys]
    assert {r.key for r in keys} == {record_key("c9", ERASED)}  # no key was ever minted


async def test_a_projector_started_after_the_erasure_counts_the_customer_without_traits(
    ingest_with: IngestFactory,
    topics: Topics,
    kafka_bootstrap: str,
    migrated: AsyncEngine,
    projector_settings: Callable[..., ProjectorSettings],
) -> None:
    async with ingest_with() as ingest:
        for event in (identify("e1", "c1"), purchase("e2", "c1"), identify("e3", "kept")):
            sent = await ingest.post("/v1/events", json=event, headers=INGEST_AUTH)
            assert sent.status_code == 202, sent.text
        erased = await ingest.post("/v1/customers/c1/erase", headers=ERASE_AUTH)
        assert erased.status_code == 202, erased.text

    # A replay from offset 0 into an empty database: the key is gone before it starts.
    async with serve(create_projector(projector_settings())) as projector:

        async def customer(customer_id: str) -> httpx.Response:
            return await projector.get(f"/v1/customers/{customer_id}", headers=READ_AUTH)

        found = await eventually(
            lambda: customer("c1"), lambda r: r.status_code == 200 and r.json()["orders"] == 1
        )
        assert not found.json()["traits"]
        assert found.json()["revenue"] == {"EUR": "19.99"}
        kept = await eventually(lambda: customer("kept"), lambda r: r.status_code == 200)
        assert kept.json()["traits"]["email"] == EMAIL
    # Applied without the personal fields, never dead-lettered (nor the erasure record).
    assert not await read_records(kafka_bootstrap, [topics.deadletter], within=2)
