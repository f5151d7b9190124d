"""Revenue at the contract's largest amounts, on SQLite and PostgreSQL.

Ten purchases of 999999999999.999999 EUR overflowed SQLite's integer ``sum()``: the
customer, the product and the customer list then failed on every read. Revenue is now
exact for every amount the contract accepts, however many purchases add up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.projection.apply import apply_records
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from tests.support.keys import READ_AUTH
from tests.support.policy import POLICY
from tests.support.services import projector_app

NOW = datetime(2026, 11, 20, tzinfo=UTC)
LARGEST = "999999999999.999999"  # 12 integer and 6 fractional digits: the contract's most
# Per currency: many purchases at the largest amount, and one micro-unit on top, which a
# sum through a binary float (SQLite's total()) would lose.
AMOUNTS = {"EUR": [LARGEST] * 250 + ["0.000001"], "KWD": [LARGEST] * 12}


def purchases() -> list[Record]:
    """Customer c1 buys product p1 once per amount, each its own order."""
    events = [
        {
            "event_id": f"buy-{currency}-{n}",
            "type": "purchase",
            "occurred_at": "2026-11-01T10:00:00Z",
            "customer_id": "c1",
            "order_id": f"o-{currency}-{n}",
            "product_id": "p1",
            "amount": amount,
            "currency": currency,
        }
        for currency, amounts in AMOUNTS.items()
        for n, amount in enumerate(amounts)
    ]
    return [
        Record(event=EVENT_ADAPTER.validate_python(e), received_at=NOW, source="test-app")
        for e in events
    ]


@pytest.fixture
async def client(migrated: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The read API over those purchases."""
    async with migrated.begin() as conn:
        await apply_records(conn, purchases(), loyal_min_orders=2, policy=POLICY, now=NOW)
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def exact() -> dict[str, str]:
    """The revenue per currency, summed as decimals."""
    return {currency: str(sum(map(Decimal, amounts))) for currency, amounts in AMOUNTS.items()}


async def test_revenue_at_the_largest_amounts_is_exact_everywhere_it_is_shown(
    client: httpx.AsyncClient,
) -> None:
    assert exact()["EUR"] == "249999999999999.999751"  # more than 64 bits of micro-units
    one = await client.get("/v1/customers/c1", headers=READ_AUTH)
    assert one.status_code == 200, one.text
    assert one.json()["revenue"] == exact()
    listed = await client.get("/v1/customers", headers=READ_AUTH)
    assert listed.status_code == 200, listed.text
    assert [c["revenue"] for c in listed.json()["items"]] == [exact()]
    product = await client.get("/v1/products/p1", headers=READ_AUTH)
    assert product.status_code == 200, product.text
    assert product.json()["revenue"] == exact()
    assert product.json()["orders"] == sum(map(len, AMOUNTS.values()))
