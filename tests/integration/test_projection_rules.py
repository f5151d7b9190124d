"""A scripted history through the real broker gives exactly the expected rows (docs/tables.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.projection.apply import apply_records
from basewatch_projector.settings import Settings
from basewatch_projector.storage.tables import customers, installations
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from basewatch_shared.topics import Topics
from tests.support.history import Out, record, ts
from tests.support.kafka import produce
from tests.support.keys import READ_AUTH
from tests.support.metrics import metric
from tests.support.policy import POLICY
from tests.support.polling import eventually
from tests.support.services import serve
from tests.support.tables import applied_offsets


def _c(event: dict[str, Any]) -> Out:
    return Out("customers", event["customer_id"].encode(), record(event))


def _t(event: dict[str, Any]) -> Out:
    return Out("telemetry", event["installation_id"].encode(), record(event))


BUY_O1 = {
    "event_id": "b1",
    "type": "purchase",
    "occurred_at": ts(100),
    "customer_id": "c1",
    "order_id": "o1",
    "product_id": "p1",
    "amount": "10.00",
    "currency": "EUR",
}
HB_LATE = {"event_id": "h2", "type": "heartbeat", "occurred_at": ts(150), "installation_id": "i2"}

# Delivered in this order: newer identify before older, heartbeats reversed, a
# duplicated purchase, a heartbeat from before an uninstall delivered after it.
HISTORY = [
    _c(
        {
            "event_id": "id2",
            "type": "identify",
            "occurred_at": ts(50),
            "customer_id": "c1",
            "traits": {"email": "new@example.com"},
        }
    ),
    _c(
        {
            "event_id": "id1",
            "type": "identify",
            "occurred_at": ts(10),
            "customer_id": "c1",
            "traits": {"email": "old@example.com", "country": "DE", "name": "Ada"},
        }
    ),
    _c(BUY_O1),
    _c(
        {
            "event_id": "b2",
            "type": "purchase",
            "occurred_at": ts(120),
            "customer_id": "c1",
            "order_id": "o2",
            "product_id": "p1",
            "amount": 5.5,
            "currency": "USD",
        }
    ),
    _c(BUY_O1),
    _t(
        {
            "event_id": "in1",
            "type": "install",
            "occurred_at": ts(60),
            "customer_id": "c1",
            "installation_id": "i1",
            "product_id": "p1",
            "version": "1.0",
            "platform": "linux",
        }
    ),
    _t(
        {
            "event_id": "h1b",
            "type": "heartbeat",
            "occurred_at": ts(300),
            "installation_id": "i1",
            "version": "1.1",
            "usage": {"sessions": 5},
        }
    ),
    _t(
        {
            "event_id": "h1a",
            "type": "heartbeat",
            "occurred_at": ts(200),
            "installation_id": "i1",
            "version": "1.0",
            "usage": {"sessions": 3},
        }
    ),
    _c(
        {
            "event_id": "b3",
            "type": "purchase",
            "occurred_at": ts(130),
            "customer_id": "c2",
            "order_id": "o3",
            "product_id": "p2",
            "amount": "99.99",
            "currency": "GBP",
            "quantity": 3,
        }
    ),
    _t(
        {
            "event_id": "in2",
            "type": "install",
            "occurred_at": ts(140),
            "customer_id": "c2",
            "installation_id": "i2",
            "product_id": "p2",
            "version": "2.0",
        }
    ),
    _t({"event_id": "un2", "type": "uninstall", "occurred_at": ts(160), "installation_id": "i2"}),
    _t(HB_LATE),
    _c(
        {
            "event_id": "b4",
            "type": "purchase",
            "occurred_at": ts(170),
            "customer_id": "c3",
            "order_id": "o4",
            "product_id": "p1",
            "amount": "1",
            "currency": "EUR",
        }
    ),
    _t(
        {
            "event_id": "in4",
            "type": "install",
            "occurred_at": ts(180),
            "customer_id": "c4",
            "installation_id": "i4",
            "product_id": "p1",
            "version": "1.0",
        }
    ),
    _c({"event_id": "id5", "type": "identify", "occurred_at": ts(190), "customer_id": "c5"}),
    _t(
        {
            "event_id": "h9",
            "type": "heartbeat",
            "occurred_at": ts(210),
            "installation_id": "i9",
            "product_id": "p1",
        }
    ),
]

EXPECTED_CUSTOMERS = {
    "c1": ("loyal", "active", 2, {"EUR": "10", "USD": "5.5"}),
    "c2": ("one_time", "lapsed", 1, {"GBP": "99.99"}),
    "c3": ("one_time", "never_installed", 1, {"EUR": "1"}),
    "c4": ("prospect", "active", 0, {}),
    "c5": ("suspect", "none", 0, {}),
}


async def test_scripted_history_gives_exactly_the_expected_rows(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    sent = await produce(kafka_bootstrap, topics, HISTORY)
    async with serve(create_app(projector_settings())) as api:
        await eventually(lambda: applied_offsets(migrated, group_id), lambda n: n == sent)

        async def get(path: str) -> Any:
            response = await api.get(path, headers=READ_AUTH)
            assert response.status_code == 200, response.text
            return response.json()

        for cid, (segment, status, orders, revenue) in EXPECTED_CUSTOMERS.items():
            body = await get(f"/v1/customers/{cid}")
            assert (body["segment"], body["status"], body["orders"], body["revenue"]) == (
                segment,
                status,
                orders,
                revenue,
            ), cid
        c1 = await get("/v1/customers/c1")
        assert c1["traits"] == {"email": "new@example.com", "country": "DE", "name": "Ada"}
        assert (c1["first_purchase_at"], c1["last_purchase_at"]) == (
            "2026-11-01T00:01:40Z",
            "2026-11-01T00:02:00Z",
        )
        i1 = await get("/v1/installations/i1")
        assert {
            k: i1[k]
            for k in ("version", "platform", "last_heartbeat_at", "usage", "status", "customer_id")
        } == {
            "version": "1.1",
            "platform": "linux",
            "last_heartbeat_at": "2026-11-01T00:05:00Z",
            "usage": {"sessions": 5},
            "status": "active",
            "customer_id": "c1",
        }
        i2 = await get("/v1/installations/i2")
        assert (i2["status"], i2["last_heartbeat_at"]) == ("uninstalled", "2026-11-01T00:02:30Z")
        i9 = await get("/v1/installations/i9")
        assert (i9["customer_id"], i9["product_id"], i9["status"]) == (None, "p1", "active")
        missing = await api.get("/v1/customers/c9", headers=READ_AUTH)
        assert missing.status_code == 404

        duplicates = await metric(
            api, "basewatch_projector_events_total", outcome="duplicate", type="purchase"
        )
        assert duplicates == 1
        assert await metric(api, "basewatch_projector_consumer_lag_records") == 0


@pytest.mark.parametrize("batches", [[2], [1, 1]], ids=["one batch", "two batches"])
async def test_an_owner_replaced_in_the_same_batch_still_has_a_row(
    migrated: AsyncEngine, batches: list[int]
) -> None:
    # "One row per customer_id ever seen", whatever the batches: c-old names i1 first,
    # c-new takes it over; c-old never owns it at the end of a batch if both come at once.
    events = [
        {"event_id": "in-old", "type": "install", "occurred_at": ts(1), "customer_id": "c-old",
         "installation_id": "i1", "product_id": "p1", "version": "1.0"},
        {"event_id": "in-new", "type": "install", "occurred_at": ts(2), "customer_id": "c-new",
         "installation_id": "i1", "product_id": "p1", "version": "1.0"},
    ]  # fmt: skip
    now = datetime.now(UTC)
    records = [
        Record(event=EVENT_ADAPTER.validate_python(e), received_at=now, source="t") for e in events
    ]
    start = 0
    for size in batches:
        async with migrated.begin() as conn:
            await apply_records(
                conn, records[start : start + size], loyal_min_orders=2, policy=POLICY, now=now
            )
        start += size
    async with migrated.connect() as conn:
        seen = set((await conn.execute(select(customers.c.customer_id))).scalars())
        owner = (await conn.execute(select(installations.c.customer_id))).scalar_one()
    assert seen == {"c-old", "c-new"}
    assert owner == "c-new"


async def test_a_heartbeat_of_an_unchanged_owner_writes_no_customer_row(
    migrated: AsyncEngine,
) -> None:
    # The hot path: heartbeats that only move last_heartbeat_at leave customers alone.
    first, later = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    install = {
        "event_id": "in",
        "type": "install",
        "occurred_at": ts(1),
        "customer_id": "c1",
        "installation_id": "i1",
        "product_id": "p1",
        "version": "1.0",
    }
    beat = {"event_id": "hb", "type": "heartbeat", "occurred_at": ts(2), "customer_id": "c1",
            "installation_id": "i1"}  # fmt: skip
    for event, now in ((install, first), (beat, later)):
        record = Record(event=EVENT_ADAPTER.validate_python(event), received_at=now, source="t")
        async with migrated.begin() as conn:
            await apply_records(conn, [record], loyal_min_orders=2, policy=POLICY, now=now)
    async with migrated.connect() as conn:
        updated = (await conn.execute(select(customers.c.updated_at))).scalar_one()
    assert updated == first
