"""POST /v1/customers/{id}/erase: scoped, acknowledged by the broker, in order, no body."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner

from basewatch_shared.contract.erasure import decode_erasure, is_erasure
from basewatch_shared.topics import Topics
from tests.support.ingest import IngestFactory
from tests.support.kafka import TEST_PARTITIONS, read_records
from tests.support.keys import (
    BOTH_AUTH,
    ERASE_AUTH,
    INGEST_AUTH,
    INGEST_ERASE_AUTH,
    READ_AUTH,
)

PARTITIONS = list(range(TEST_PARTITIONS))


def _identify(event_id: str, customer_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "type": "identify",
        "occurred_at": "2026-11-22T10:00:00Z",
        "customer_id": customer_id,
        "traits": {"email": "ada@example.com"},
    }


async def test_an_erasure_is_on_the_customers_partition_after_the_events_before_it(
    ingest_with: IngestFactory, topics: Topics, kafka_bootstrap: str
) -> None:
    async with ingest_with() as ingest:
        sent = await ingest.post("/v1/events", json=_identify("e1", "c-x"), headers=INGEST_AUTH)
        assert sent.status_code == 202, sent.text
        before = datetime.now(UTC)
        answer = await ingest.post("/v1/customers/c-x/erase", headers=ERASE_AUTH)
        after = datetime.now(UTC)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["customer_id"] == "c-x"
    assert body["erasure_id"].startswith("er_")
    assert before <= datetime.fromisoformat(body["requested_at"]) <= after

    records = await read_records(kafka_bootstrap, [topics.customers])
    assert len(records) == 2
    first, second = sorted(records, key=lambda r: r.offset)
    assert (first.partition, second.partition) == (second.partition, first.partition)
    assert second.partition == DefaultPartitioner()(b"c-x", PARTITIONS, PARTITIONS)
    assert second.key == b"c-x"
    assert not is_erasure(first.headers)
    assert is_erasure(second.headers)
    asked = decode_erasure(second.value)
    assert asked.erasure_id == body["erasure_id"]
    assert (asked.customer_id, asked.source) == ("c-x", "test-dpo")
    assert b"ada@example.com" not in second.value


async def test_erasing_twice_and_an_unseen_customer_are_each_recorded(
    ingest_with: IngestFactory, topics: Topics, kafka_bootstrap: str
) -> None:
    ids = []
    async with ingest_with() as ingest:
        for customer in ("never-seen", "never-seen"):
            answer = await ingest.post(f"/v1/customers/{customer}/erase", headers=ERASE_AUTH)
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["erasure_id"])
    assert ids[0] != ids[1]
    records = await read_records(kafka_bootstrap, [topics.customers])
    assert sorted(decode_erasure(r.value).erasure_id for r in records) == sorted(ids)


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (INGEST_AUTH, 403), (READ_AUTH, 403), (BOTH_AUTH, 403)],
)
async def test_only_an_erase_key_may_erase(
    ingest_with: IngestFactory, headers: dict[str, str], status: int
) -> None:
    async with ingest_with() as ingest:
        answer = await ingest.post("/v1/customers/c1/erase", headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status"),
    [
        ("/v1/customers/" + "x" * 129 + "/erase", None, None, 422),
        ("/v1/customers/%20%20/erase", None, None, 422),
        ("/v1/customers/a%01b/erase", None, None, 422),
        ("/v1/customers/c1/erase", b"{}", "application/json", 422),
        ("/v1/customers/c1/erase", b"email=a", "text/plain", 415),
    ],
)
async def test_bad_erase_requests_are_refused_with_a_problem(
    ingest_with: IngestFactory, path: str, body: bytes | None, content_type: str | None, status: int
) -> None:
    headers = ERASE_AUTH | ({"Content-Type": content_type} if content_type else {})
    async with ingest_with() as ingest:
        answer = await ingest.post(path, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "email=a" not in answer.text


async def test_an_erase_key_over_its_rate_limit_gets_429(ingest_with: IngestFactory) -> None:
    batch = {"events": [_identify(f"e{i}", "c1") for i in range(1000)]}
    async with ingest_with(rate_limit_events=0.001, rate_limit_burst=1000) as client:
        spent = await client.post("/v1/events", json=batch, headers=INGEST_ERASE_AUTH)
        assert spent.status_code == 202, spent.text
        limited = await client.post("/v1/customers/c1/erase", headers=INGEST_ERASE_AUTH)
        assert limited.status_code == 429, limited.text
        assert "Retry-After" in limited.headers
