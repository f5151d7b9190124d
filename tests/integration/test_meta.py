"""``GET /v1/meta``: the vocabulary, the history interval, and the products with their
versions, in one request (the page took them from hard-coded lists and probes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.api import meta
from basewatch_projector.projection.apply import apply_records
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from basewatch_shared.contract.vocabulary import (
    CustomerStatus,
    InstallationStatus,
    Segment,
    SignalKind,
)
from tests.support.keys import READ_AUTH
from tests.support.policy import POLICY
from tests.support.services import projector_app

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def record(event: dict[str, Any]) -> Record:
    """A record of ``event`` as ingest would have put it on the broker."""
    stamped = {"occurred_at": "2026-11-02T10:00:00Z", **event}
    return Record(event=EVENT_ADAPTER.validate_python(stamped), received_at=NOW, source="t")


def install(n: int, product: str, version: str) -> Record:
    """Installation ``i<n>`` of ``product`` at ``version``."""
    event = {"event_id": f"in-{n}", "type": "install", "installation_id": f"i{n}"}
    return record({**event, "customer_id": "c1", "product_id": product, "version": version})


def heartbeat(n: int, product: str | None) -> Record:
    """A heartbeat of installation ``i<n>``, the first event it sends: no version."""
    event = {"event_id": f"hb-{n}", "type": "heartbeat", "installation_id": f"i{n}"}
    return record(event if product is None else {**event, "product_id": product})


def purchase(n: int, product: str) -> Record:
    """Purchase ``buy-<n>`` of ``product``."""
    return record(
        {
            "event_id": f"buy-{n}",
            "type": "purchase",
            "customer_id": "c1",
            "order_id": f"o{n}",
            "product_id": product,
            "amount": "1",
            "currency": "EUR",
        }
    )


BATCH = [
    install(1, "editor", "2.0"),
    install(2, "editor", "1.0"),
    install(3, "editor", "1.0"),
    heartbeat(4, "editor"),  # never reported a version
    install(5, "viewer", "1.0"),
    heartbeat(6, None),  # no product yet: not a product
    purchase(1, "editor"),
    purchase(2, "add-on"),  # sold, never installed
]


@pytest.fixture
async def client(migrated: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The read API (no lifespan) over the batch, with the read key and a 5 s interval."""
    async with migrated.begin() as conn:
        await apply_records(conn, BATCH, loyal_min_orders=2, policy=POLICY, now=NOW)
    app = projector_app(migrated, history_interval="5s")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=READ_AUTH
    ) as client:
        yield client


async def test_meta_gives_the_vocabulary_the_interval_and_the_products(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/meta")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "segments": list(Segment),
        "customer_statuses": list(CustomerStatus),
        "installation_statuses": list(InstallationStatus),
        "signal_kinds": list(SignalKind),
        "movements": {
            "installations": {
                "new": 1,
                "reactivated": 1,
                "churned": -1,
                "uninstalled": -1,
                "relabelled": 1,
            },
            "customers": {"new": 1, "reactivated": 1, "lapsed": -1},
        },
        "history_interval": "5s",
        "products": [
            {"product_id": "add-on", "versions": [], "more_versions": False},
            {"product_id": "editor", "versions": ["1.0", "2.0", None], "more_versions": False},
            {"product_id": "viewer", "versions": ["1.0"], "more_versions": False},
        ],
        "more_products": False,
    }


async def test_meta_is_bounded_and_says_when_it_left_products_or_versions_out(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(meta, "MAX_PRODUCTS", 2)
    monkeypatch.setattr(meta, "MAX_VERSIONS", 2)
    body = (await client.get("/v1/meta")).json()
    assert body["more_products"] is True
    assert body["products"] == [
        {"product_id": "add-on", "versions": [], "more_versions": False},
        {"product_id": "editor", "versions": ["1.0", "2.0"], "more_versions": True},
    ]


async def test_meta_is_documented_with_its_words_as_enums(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    ok = document["paths"]["/v1/meta"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Meta"}
    schemas = document["components"]["schemas"]
    meta = schemas["Meta"]["properties"]
    for field, words in (("signal_kinds", SignalKind), ("segments", Segment)):
        enum = meta[field]["items"]["$ref"].rsplit("/", 1)[-1]
        assert schemas[enum]["enum"] == list(words)
    assert "1,000" in meta["products"]["description"]
