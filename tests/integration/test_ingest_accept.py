"""Accepted events reach the broker exactly as the contract says, whatever the body shape."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from aiokafka.partitioner import DefaultPartitioner

from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import corrected, decode_record, encode_record
from basewatch_shared.topics import Topics
from tests.support.ingest import IngestFactory
from tests.support.kafka import TEST_PARTITIONS, key_ring, read_records
from tests.support.keys import INGEST_AUTH, ROTATED_AUTH

PARTITIONS = list(range(TEST_PARTITIONS))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def history(prefix: str = "e") -> list[dict[str, Any]]:
    """One event of each type, with skewed client clocks on two of them."""
    now = datetime.now(UTC)
    ahead = now + timedelta(minutes=50)  # a client clock 50 minutes fast
    return [
        {
            "event_id": f"{prefix}1",
            "type": "identify",
            "occurred_at": _iso(now - timedelta(minutes=5)),
            "customer_id": "c1",
            "traits": {"email": "ada@example.com", "country": "de", "seats": 3},
            "properties": {"utm": {"source": "ads"}},
        },
        {
            "event_id": f"{prefix}2",
            "type": "purchase",
            "occurred_at": _iso(ahead - timedelta(seconds=30)),
            "sent_at": _iso(ahead),
            "customer_id": "c1",
            "order_id": "o1",
            "product_id": "p1",
            "amount": 19.99,
            "currency": "eur",
            "quantity": 2,
        },
        {
            "event_id": f"{prefix}3",
            "type": "install",
            "occurred_at": _iso(now - timedelta(minutes=4)),
            "customer_id": "c1",
            "installation_id": "i1",
            "product_id": "p1",
            "version": "1.0",
            "platform": "linux",
        },
        {
            "event_id": f"{prefix}4",
            "type": "heartbeat",
            "occurred_at": "2026-01-01T10:00:00.5+02:00",
            "sent_at": "2026-01-01T10:00:01+02:00",
            "installation_id": "i1",
            "usage": {"sessions": 3, "active_minutes": 12.5},
        },
        {
            "event_id": f"{prefix}5",
            "type": "uninstall",
            "occurred_at": _iso(now - timedelta(minutes=1)),
            "installation_id": "i2",
        },
    ]


def expected_topic(topics: Topics, event: dict[str, Any]) -> tuple[str, bytes]:
    """The contract's topic table: (topic, key) for a raw event."""
    if event["type"] in ("identify", "purchase"):
        return topics.customers, event["customer_id"].encode()
    return topics.telemetry, event["installation_id"].encode()


async def test_accepted_events_are_on_the_broker_byte_for_byte(
    ingest: httpx.AsyncClient, topics: Topics, kafka_bootstrap: str
) -> None:
    events = history()
    before = datetime.now(UTC)
    response = await ingest.post("/v1/events", json={"events": events}, headers=INGEST_AUTH)
    after = datetime.now(UTC)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 5, "rejected": []}

    records = await read_records(kafka_bootstrap, [topics.customers, topics.telemetry])
    ring = await key_ring(kafka_bootstrap, topics)
    by_id = {decode_record(r.value).event.event_id: r for r in records}
    assert sorted(by_id) == ["e1", "e2", "e3", "e4", "e5"]
    # c1 had no key: the request was taken, keyed and taken again, and produced once.
    assert len(records) == len(events)
    assert ring.kids("c1")
    partitioner = DefaultPartitioner()
    for sent in events:
        record = by_id[sent["event_id"]]
        topic, key = expected_topic(topics, sent)
        assert (record.topic, record.key) == (topic, key)
        assert record.partition == partitioner(key, PARTITIONS, PARTITIONS)
        decoded = decode_record(record.value, ring)
        assert decoded.source == "test-app"
        assert before <= decoded.received_at <= after
        # The contract's encoding of the validated, skew-corrected event: the same bytes,
        # but for the personal fields of a customer's event, sealed with their key.
        event = corrected(EVENT_ADAPTER.validate_python(sent), decoded.received_at)
        assert decoded.event == event and not decoded.withheld
        if "customer_id" in sent and ("traits" in sent or "properties" in sent):
            assert b'"sealed":' in record.value and b"ada@example.com" not in record.value
        else:
            assert record.value == encode_record(event, decoded.received_at, "test-app")


async def test_clock_skew_is_corrected_once_and_received_at_is_the_servers(
    ingest: httpx.AsyncClient, topics: Topics, kafka_bootstrap: str
) -> None:
    # A client whose clock is 50 minutes fast: its purchase happened 30 s before sending.
    [_, purchase, *_] = history()
    response = await ingest.post("/v1/events", json=purchase, headers=INGEST_AUTH)
    assert response.status_code == 202, response.text

    [record] = await read_records(kafka_bootstrap, [topics.customers])
    decoded = decode_record(record.value)
    assert decoded.event.occurred_at == decoded.received_at - timedelta(seconds=30)
    assert decoded.event.sent_at == datetime.fromisoformat(purchase["sent_at"])  # kept as sent


async def test_a_batch_accepts_the_valid_events_and_lists_the_others(
    ingest: httpx.AsyncClient, topics: Topics, kafka_bootstrap: str
) -> None:
    valid = history()
    bad_currency = valid[1] | {"event_id": "bad1", "currency": "XXQ"}
    unknown_field = valid[4] | {"event_id": "bad2", "colour": "blue"}
    future = valid[2] | {
        "event_id": "bad3",
        "occurred_at": _iso(datetime.now(UTC) + timedelta(hours=3)),
    }
    body = {"events": [valid[0], bad_currency, valid[3], unknown_field, future, "not an event"]}
    response = await ingest.post("/v1/events", json=body, headers=INGEST_AUTH)

    assert response.status_code == 202, response.text
    result = response.json()
    assert result["accepted"] == 2
    rejected = {r["index"]: r for r in result["rejected"]}
    assert sorted(rejected) == [1, 3, 4, 5]
    assert rejected[1]["event_id"] == "bad1"
    assert [e["field"] for e in rejected[1]["errors"]] == ["currency"]
    assert [e["field"] for e in rejected[3]["errors"]] == ["colour"]
    assert [e["field"] for e in rejected[4]["errors"]] == ["occurred_at"]
    assert rejected[5]["event_id"] is None
    records = await read_records(kafka_bootstrap, [topics.customers, topics.telemetry])
    assert sorted(decode_record(r.value).event.event_id for r in records) == ["e1", "e4"]


async def test_ndjson_and_gzip_bodies_are_accepted(
    ingest: httpx.AsyncClient, topics: Topics, kafka_bootstrap: str
) -> None:
    ndjson = b"".join(orjson.dumps(e) + b"\r\n" for e in history("n")) + b"\n\n"
    response = await ingest.post(
        "/v1/events",
        content=gzip.compress(ndjson),
        headers=INGEST_AUTH | {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 5, "rejected": []}

    single = gzip.compress(orjson.dumps(history("g")[0]))
    response = await ingest.post(
        "/v1/events",
        content=single,
        headers=INGEST_AUTH
        | {"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 202, response.text
    records = await read_records(kafka_bootstrap, [topics.customers, topics.telemetry])
    assert len(records) == 6


async def test_a_malformed_ndjson_line_is_rejected_alone(
    ingest: httpx.AsyncClient, topics: Topics, kafka_bootstrap: str
) -> None:
    lines = [orjson.dumps(e) for e in history()[:2]]
    body = lines[0] + b"\n{not json\n" + lines[1] + b"\n"
    response = await ingest.post(
        "/v1/events", content=body, headers=INGEST_AUTH | {"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 202, response.text
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 1
    assert rejected["event_id"] is None
    assert "not valid JSON" in rejected["errors"][0]["message"]
    records = await read_records(kafka_bootstrap, [topics.customers])
    assert len(records) == 2


async def test_rotated_keys_are_both_valid_and_name_the_source(
    ingest_with: IngestFactory, topics: Topics, kafka_bootstrap: str
) -> None:
    async with ingest_with() as client:
        old = await client.post("/v1/events", json=history("a")[0], headers=INGEST_AUTH)
        new = await client.post("/v1/events", json=history("b")[0], headers=ROTATED_AUTH)
    assert (old.status_code, new.status_code) == (202, 202)
    records = await read_records(kafka_bootstrap, [topics.customers])
    sources = {
        decode_record(r.value).event.event_id: decode_record(r.value).source for r in records
    }
    assert sources == {"a1": "test-app", "b1": "test-app-2026b"}


async def test_a_batch_larger_than_a_broker_batch_keeps_its_order_per_key(
    ingest: httpx.AsyncClient, topics: Topics, kafka_bootstrap: str
) -> None:
    # ~900 KB for one installation: more than one 512 KiB broker batch.
    now = _iso(datetime.now(UTC) - timedelta(minutes=1))
    padding = {"note": "p" * 1200}
    events = [
        {
            "event_id": f"h{i:03d}",
            "type": "heartbeat",
            "occurred_at": now,
            "installation_id": "busy",
            "properties": padding,
        }
        for i in range(700)
    ]
    response = await ingest.post("/v1/events", json={"events": events}, headers=INGEST_AUTH)
    assert response.status_code == 202, response.text

    records = await read_records(kafka_bootstrap, [topics.telemetry])
    assert len({r.partition for r in records}) == 1
    ordered = sorted(records, key=lambda r: r.offset)
    assert [decode_record(r.value).event.event_id for r in ordered] == [
        e["event_id"] for e in events
    ]
