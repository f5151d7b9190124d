"""Events sent to ingest reach the topics as the contract says, and the read API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app as create_projector
from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_shared.contract.records import decode_record
from basewatch_shared.topics import Topics
from tests.support.keys import INGEST_AUTH, READ_AUTH
from tests.support.polling import eventually
from tests.support.services import serve

HISTORY: list[dict[str, Any]] = [
    {
        "event_id": "e1",
        "type": "identify",
        "occurred_at": "2026-11-01T10:00:00Z",
        "customer_id": "c1",
        "traits": {"email": "ada@example.com", "country": "de"},
    },
    {
        "event_id": "e2",
        "type": "purchase",
        "occurred_at": "2026-11-01T10:01:00+01:00",
        "customer_id": "c1",
        "order_id": "o1",
        "product_id": "p1",
        "amount": "19.99",
        "currency": "eur",
    },
    {
        "event_id": "e3",
        "type": "install",
        "occurred_at": "2026-11-01T10:02:00Z",
        "customer_id": "c1",
        "installation_id": "i1",
        "product_id": "p1",
        "version": "1.0",
    },
    {
        "event_id": "e4",
        "type": "heartbeat",
        "occurred_at": "2026-11-01T10:03:00Z",
        "installation_id": "i1",
        "usage": {"sessions": 3},
    },
]


async def test_accepted_events_are_on_their_topics(
    ingest: httpx.AsyncClient, topics: Topics, kafka_bootstrap: str, group_id: str
) -> None:
    response = await ingest.post("/v1/events", json={"events": HISTORY}, headers=INGEST_AUTH)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 4, "rejected": []}

    consumer = AIOKafkaConsumer(
        topics.customers,
        topics.telemetry,
        bootstrap_servers=kafka_bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen: list[Any] = []

        async def fetch() -> list[Any]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(records)
            return seen

        await eventually(fetch, lambda s: len(s) >= 4)
    finally:
        await consumer.stop()
    by_id = {decode_record(r.value).event.event_id: r for r in seen}
    assert set(by_id) == {"e1", "e2", "e3", "e4"}
    partitioner = DefaultPartitioner()
    for event_id, topic, key in [
        ("e1", topics.customers, b"c1"),
        ("e2", topics.customers, b"c1"),
        ("e3", topics.telemetry, b"i1"),
        ("e4", topics.telemetry, b"i1"),
    ]:
        record = by_id[event_id]
        assert (record.topic, record.key) == (topic, key)
        assert record.partition == partitioner(key, list(range(6)), list(range(6)))
        decoded = decode_record(record.value)
        assert decoded.source == "test-app"
        assert decoded.received_at.tzinfo is not None
    purchase = decode_record(by_id["e2"].value).event
    assert purchase.occurred_at.isoformat() == "2026-11-01T09:01:00+00:00"  # normalised to UTC


async def test_events_reach_the_read_api(
    ingest: httpx.AsyncClient,
    migrated: AsyncEngine,
    projector_settings: Callable[..., ProjectorSettings],
) -> None:
    async with serve(create_projector(projector_settings())) as projector:
        response = await ingest.post("/v1/events", json={"events": HISTORY}, headers=INGEST_AUTH)
        assert response.status_code == 202, response.text

        async def customer() -> httpx.Response:
            return await projector.get("/v1/customers/c1", headers=READ_AUTH)

        found = await eventually(
            customer,
            lambda r: (
                r.status_code == 200
                and r.json()["installations"]
                and r.json()["installations"][0]["last_heartbeat_at"] is not None
                and r.json()["orders"] == 1
            ),
        )
        body = found.json()
        assert body["traits"] == {"email": "ada@example.com", "country": "DE"}
        assert (body["segment"], body["status"]) == ("one_time", "active")
        assert body["revenue"] == {"EUR": "19.99"}
        assert body["first_purchase_at"] == "2026-11-01T09:01:00Z"
        [installation] = body["installations"]
        assert installation["usage"] == {"sessions": 3}
        assert installation["status"] == "active"

        missing = await projector.get("/v1/customers/nobody", headers=READ_AUTH)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        forbidden = await projector.get("/v1/customers/c1", headers=INGEST_AUTH)
        assert forbidden.status_code == 403
