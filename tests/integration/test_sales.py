"""GET /v1/sales on SQLite and PostgreSQL: units, orders and revenue per product and
step, bucketed by when the purchases happened, exact at the step boundaries; a late
purchase corrects its own step; the all-time sums are the product's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.history.sales import settle_sales
from basewatch_projector.projection.apply import apply_records
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from tests.support.keys import READ_AUTH
from tests.support.policy import POLICY
from tests.support.services import projector_app

NOW = datetime(2026, 11, 20, tzinfo=UTC)
HOURS = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-01T06:00:00Z", "step": "1h"}
# (product, customer, order, quantity, amount, currency, occurred_at)
ON_TIME = [
    ("p1", "c1", "o1", 2, "9.50", "EUR", "2026-11-01T01:00:00Z"),  # on a boundary: 01:00
    ("p1", "c1", "o1", 1, "1.25", "EUR", "2026-11-01T01:00:00.000001Z"),  # just after: 02:00
    ("p1", "c2", "o2", 1, "5", "USD", "2026-11-01T01:30:00Z"),
    ("p2", "c1", "o1", 3, "2", "EUR", "2026-11-01T01:59:59.999999Z"),  # an order of two products
    ("p1", "c3", "o9", 1, "100", "EUR", "2026-10-31T20:00:00Z"),  # before the range
]
LATE = [
    ("p1", "c4", "o4", 4, "7.77", "EUR", "2026-11-01T00:15:00Z"),
    # An earlier line of o2, in another currency: o2 now counts at 01:00, not at 02:00.
    ("p1", "c2", "o2", 1, "3", "EUR", "2026-11-01T00:30:00Z"),
]


def _records(rows: list[tuple[Any, ...]], first: int) -> list[Record]:
    events = [
        {
            "event_id": f"buy-{first + n}",
            "type": "purchase",
            "product_id": product,
            "customer_id": customer,
            "order_id": order,
            "quantity": quantity,
            "amount": amount,
            "currency": currency,
            "occurred_at": at,
        }
        for n, (product, customer, order, quantity, amount, currency, at) in enumerate(rows)
    ]
    return [
        Record(event=EVENT_ADAPTER.validate_python(e), received_at=NOW, source="test")
        for e in events
    ]


@pytest.fixture
async def client(migrated: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with migrated.begin() as conn:
        await apply_records(conn, _records(ON_TIME, 0), loyal_min_orders=2, policy=POLICY, now=NOW)
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def _sales(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/v1/sales", params=params, headers=READ_AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _by_product(body: dict[str, Any]) -> dict[str, Any]:
    """Per product: units, orders, and revenue per currency as decimals."""
    return {
        p["product_id"]: {
            "units": p["units"],
            "orders": p["orders"],
            **{c: [Decimal(v) for v in values] for c, values in p["revenue"].items()},
        }
        for p in body["products"]
    }


async def _settle(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await settle_sales(conn, timedelta(hours=1))


def _d(*values: str) -> list[Decimal]:
    return [Decimal(v) for v in values]


async def test_sales_per_step_exact_at_the_boundaries_and_late_purchases_correct_their_step(
    client: httpx.AsyncClient, migrated: AsyncEngine
) -> None:
    before = await _sales(client, **HOURS)
    assert (before["step"], len(before["times"])) == ("1h", 7)
    assert [p["product_id"] for p in before["products"]] == ["p1", "p2"]
    assert _by_product(before) == {
        "p1": {
            "units": [0, 2, 2, 0, 0, 0, 0],
            "orders": [0, 1, 1, 0, 0, 0, 0],  # o1 counts once: at its first line
            "EUR": _d("0", "9.50", "1.25", "0", "0", "0", "0"),
            "USD": _d("0", "0", "5", "0", "0", "0", "0"),
        },
        "p2": {
            "units": [0, 0, 3, 0, 0, 0, 0],
            "orders": [0, 0, 1, 0, 0, 0, 0],
            "EUR": _d("0", "0", "2", "0", "0", "0", "0"),
        },
    }
    # A history sample sums the pending sales into the running totals: the same answer.
    await _settle(migrated)
    assert await _sales(client, **HOURS) == before
    # Purchases that happened at 00:15 and 00:30 arrive now: the steps they change are
    # corrected (ending 01:00, and 02:00 that o2 left), nothing is appended to the latest
    # step; before the next sample (pending) and after it (in the totals) alike.
    async with migrated.begin() as conn:
        await apply_records(conn, _records(LATE, 100), loyal_min_orders=2, policy=POLICY, now=NOW)
    after = _by_product(await _sales(client, **HOURS))
    expected = _by_product(before)
    expected["p1"]["units"][1] += 5
    expected["p1"]["orders"][1] += 2
    expected["p1"]["orders"][2] -= 1
    expected["p1"]["EUR"][1] += Decimal("10.77")
    assert after == expected
    await _settle(migrated)
    assert _by_product(await _sales(client, **HOURS)) == expected
    one = await _sales(client, **HOURS, product_id="p2")
    assert _by_product(one) == {"p2": expected["p2"]}


async def test_all_time_sums_are_the_products_and_bad_ranges_are_problems(
    client: httpx.AsyncClient,
) -> None:
    every = await _sales(
        client, since="2026-10-01T00:00:00Z", until="2026-12-01T00:00:00Z", step="1d"
    )
    for sold in every["products"]:
        product = await client.get(f"/v1/products/{sold['product_id']}", headers=READ_AUTH)
        assert product.status_code == 200, product.text
        assert sum(sold["units"]) == product.json()["units_sold"]
        assert sum(sold["orders"]) == product.json()["orders"]
        assert {c: sum(map(Decimal, values)) for c, values in sold["revenue"].items()} == {
            c: Decimal(v) for c, v in product.json()["revenue"].items()
        }
    assert [sum(p["units"]) for p in every["products"]] == [5, 3]
    bad = [
        {"step": "soon"},
        {"step": "90s"},  # not a multiple of the 1h interval
        {"since": "2026-11-22T10:00:00"},  # no offset
        {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        {"since": "2020-01-01T00:00:00Z", "step": "1h"},  # too many times
        {"product_id": ""},
        {"metric": "customers"},  # unknown
    ]
    for params in bad:
        response = await client.get("/v1/sales", params=params, headers=READ_AUTH)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
