"""Bad requests get the right 4xx as problem+json, never a 500, and nothing reaches the broker."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from basewatch_shared.topics import Topics
from tests.support.ingest import IngestFactory
from tests.support.kafka import read_records
from tests.support.keys import INGEST_AUTH, READ_AUTH

JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}
GZIP = {"Content-Encoding": "gzip"}


def event(**changes: Any) -> dict[str, Any]:
    """A valid purchase, changed."""
    base: dict[str, Any] = {
        "event_id": "evt-1",
        "type": "purchase",
        "occurred_at": "2026-01-01T10:00:00Z",
        "customer_id": "c1",
        "order_id": "o1",
        "product_id": "p1",
        "amount": "19.99",
        "currency": "EUR",
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


@dataclass(frozen=True)
class Bad:
    """A bad request and what it must get."""

    body: bytes
    status: int
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    fields: tuple[str, ...] = ()  # for 422: the fields each rejection names


DEEP = 3000  # past any JSON parser's nesting limit
CASES: dict[str, Bad] = {
    "malformed JSON": Bad(b'{"event_id": "e1", "type": ', 400),
    "empty body": Bad(b"", 400),
    "deep nesting": Bad(b"[" * DEEP + b"]" * DEEP, 400),
    "deep nesting in properties": Bad(
        dumps(event()).replace(
            b'"amount"', b'"properties":{"a":' + b"[" * 600 + b"]" * 600 + b'},"amount"'
        ),
        422,
        fields=("properties",),
    ),
    "5000-digit number": Bad(dumps(event()).replace(b'"19.99"', b"1" * 5000), 400),
    "5000-digit amount string": Bad(dumps(event(amount="9" * 5000)), 422, fields=("amount",)),
    "NaN": Bad(dumps(event()).replace(b'"19.99"', b"NaN"), 400),
    "Infinity": Bad(dumps(event()).replace(b'"19.99"', b"1e400"), 400),
    "lone surrogate escape": Bad(dumps(event()).replace(b'"c1"', b'"c\\ud800"'), 400),
    "lone surrogate bytes": Bad(dumps(event()).replace(b'"c1"', b'"c\xed\xa0\x80"'), 400),
    "NUL escape": Bad(dumps(event(customer_id="c\x00")), 422, fields=("customer_id",)),
    "raw NUL byte": Bad(dumps(event()).replace(b'"c1"', b'"c\x001"'), 400),
    "unknown field": Bad(dumps(event(colour="blue")), 422, fields=("colour",)),
    # Accepted before, and then unreadable: /v1/customers/a%2Fb routes to no customer.
    "ids with a slash": Bad(
        dumps({"events": [event(customer_id="a/b"), event(product_id="p/1")]}),
        422,
        fields=("customer_id", "product_id"),
    ),
    "wrong types": Bad(dumps(event(quantity="2")), 422, fields=("quantity",)),
    "missing event_id": Bad(dumps(event(event_id=None)), 422, fields=("event_id",)),
    "unknown type": Bad(dumps(event(type="refund")), 422, fields=("type",)),
    "bad currency": Bad(dumps(event(currency="EURO")), 422, fields=("currency",)),
    "negative amount": Bad(dumps(event(amount="-1")), 422, fields=("amount",)),
    "timestamp without offset": Bad(
        dumps(event(occurred_at="2026-01-01T10:00:00")), 422, fields=("occurred_at",)
    ),
    "every event invalid": Bad(
        dumps({"events": [event(currency="x"), event(amount="-2")]}),
        422,
        fields=("currency", "amount"),
    ),
    "oversized event": Bad(
        dumps(event(properties={"blob": "x" * 8000, "more": ["y" * 8000] * 4})), 413
    ),
    "oversized body": Bad(
        dumps({"events": [event(event_id="x" * 100)] * 999}) + b" " * (1 << 20), 413
    ),
    "gzip bomb": Bad(gzip.compress(b"\0" * (16 << 20)), 413, headers=JSON | GZIP),
    "truncated gzip": Bad(gzip.compress(dumps(event()))[:-8], 400, headers=JSON | GZIP),
    "wrong content type": Bad(dumps(event()), 415, headers={"Content-Type": "text/plain"}),
    "no content type": Bad(dumps(event()), 415, headers={}),
    "not UTF-8": Bad(
        dumps(event()), 415, headers={"Content-Type": "application/json; charset=latin-1"}
    ),
    "unknown encoding": Bad(dumps(event()), 415, headers=JSON | {"Content-Encoding": "br"}),
    "empty batch": Bad(dumps({"events": []}), 422),
    "1001 events": Bad(dumps({"events": [event()] * 1001}), 413),
    "batch with other keys": Bad(dumps({"events": [event()], "batch": 1}), 422),
    "events not a list": Bad(dumps({"events": {"a": event()}}), 422),
    "array body": Bad(dumps([event()]), 422),
    "empty NDJSON": Bad(b"\n\n", 422, headers=NDJSON),
    "NDJSON of malformed lines": Bad(b"{x\n[1,\n", 400, headers=NDJSON),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_bad_request_is_refused_and_nothing_is_produced(
    ingest: httpx.AsyncClient, topics: Topics, kafka_bootstrap: str, case: Bad
) -> None:
    response = await ingest.post(
        "/v1/events", content=case.body, headers=INGEST_AUTH | case.headers
    )

    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == case.status
    assert problem["title"]
    assert problem.get("detail")
    if case.fields:
        named = [[e["field"] for e in r["errors"]] for r in problem["rejected"]]
        assert named == [[name] for name in case.fields]
        assert all(name in problem["detail"] for name in case.fields)
    assert await read_records(kafka_bootstrap, [topics.customers, topics.telemetry]) == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-key"}, 401),
        ({"Authorization": "Basic dGVzdDp0ZXN0"}, 401),
        (READ_AUTH, 403),
    ],
    ids=["no key", "unknown key", "not bearer", "read-only key"],
)
async def test_without_an_ingest_key_nothing_is_produced(
    ingest: httpx.AsyncClient,
    topics: Topics,
    kafka_bootstrap: str,
    headers: dict[str, str],
    status: int,
) -> None:
    response = await ingest.post("/v1/events", json=event(), headers=headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await read_records(kafka_bootstrap, [topics.customers, topics.telemetry]) == []


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after(
    ingest_with: IngestFactory, topics: Topics, kafka_bootstrap: str
) -> None:
    batch = {"events": [event(event_id=f"e{i}") for i in range(600)]}
    async with ingest_with(rate_limit_events=10, rate_limit_burst=1000) as client:
        first = await client.post("/v1/events", json=batch, headers=INGEST_AUTH)
        second = await client.post("/v1/events", json=batch, headers=INGEST_AUTH)
        small = await client.post("/v1/events", json=event(event_id="s1"), headers=INGEST_AUTH)

    assert first.status_code == 202, first.text
    # 400 events left and 10 a second: 600 more fit in 20 s. Nothing is charged for it,
    assert second.status_code == 429, second.text
    assert second.headers["content-type"] == "application/problem+json"
    assert 18 <= int(second.headers["retry-after"]) <= 20  # 20 s, less the time it took
    # so a smaller request still fits.
    assert small.status_code == 202, small.text
    records = await read_records(kafka_bootstrap, [topics.customers])
    assert len(records) == 601


async def test_an_exhausted_key_is_refused_before_its_body_is_read(
    ingest_with: IngestFactory,
) -> None:
    batch = {"events": [event(event_id=f"e{i}") for i in range(1000)]}
    async with ingest_with(rate_limit_events=0.5, rate_limit_burst=1000) as client:
        first = await client.post("/v1/events", json=batch, headers=INGEST_AUTH)
        # Not even the content type is looked at: the request is refused first.
        refused = await client.post(
            "/v1/events", content=b"x", headers=INGEST_AUTH | {"Content-Type": "text/plain"}
        )
    assert first.status_code == 202, first.text
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] in ("1", "2")  # one event at 0.5/s


def many_errors(n: int) -> dict[str, Any]:
    """A purchase with ``n`` unknown fields: ``n`` errors."""
    return event(**{f"unknown_{k}": k for k in range(n)})


@pytest.mark.parametrize("valid", [False, True], ids=["422", "202"])
async def test_a_huge_invalid_batch_gets_a_bounded_answer(
    ingest: httpx.AsyncClient, valid: bool
) -> None:
    # Found by attacking a running stack: 883 KB of invalid events answered 6.15 MB.
    batch = [{**many_errors(30), "event_id": f"e{n}"} for n in range(999)]
    batch.append(event(event_id="ok") if valid else many_errors(30))
    response = await ingest.post("/v1/events", json={"events": batch}, headers=INGEST_AUTH)

    assert response.status_code == (202 if valid else 422), response.text[:500]
    assert len(response.content) < 200_000
    rejected = response.json()["rejected"]
    # Every refused event is still named (what was not accepted), with its errors capped.
    assert [r["index"] for r in rejected] == list(range(999 if valid else 1000))
    assert all(len(r["errors"]) <= 10 for r in rejected)
    assert sum(len(r["errors"]) for r in rejected) == 200
    assert [len(r["errors"]) + r["more_errors"] for r in rejected] == [30] * len(rejected)
    assert rejected[0]["errors"][0] == {
        "field": "unknown_0",
        "message": "Extra inputs are not permitted",
    }
