"""GET /v1/signals in both orders, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.tables import signals
from tests.support.keys import READ_AUTH
from tests.support.services import projector_app

T = datetime(2026, 11, 20, tzinfo=UTC)


async def add_signals(engine: AsyncEngine, *kinds: str) -> None:
    """Store one signal per kind, in this order (as the sweep and the batches do)."""
    async with engine.begin() as conn:
        for n, kind in enumerate(kinds):
            subject = {"customer_id": f"c{n}"} if kind.startswith("customer.") else {}
            await conn.execute(
                insert(signals).values(
                    kind=kind,
                    installation_id=None if subject else f"i{n}",
                    product_id=None if subject else "p1",
                    previous_status="active",
                    status=kind.split(".")[1],
                    occurred_at=T + timedelta(minutes=n),
                    detected_at=T + timedelta(minutes=n),
                    **subject,
                )
            )


@pytest.fixture
async def client(migrated: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=READ_AUTH
    ) as client:
        yield client


async def page(client: httpx.AsyncClient, **params: Any) -> tuple[list[str], str]:
    response = await client.get("/v1/signals", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    who = [s["installation_id"] or s["customer_id"] for s in body["items"]]
    return who, body["next_cursor"]


async def test_newest_first_for_a_dashboard_then_only_what_is_new(
    migrated: AsyncEngine, client: httpx.AsyncClient
) -> None:
    at_risk, lapsed = "installation.at_risk", "customer.lapsed"
    await add_signals(migrated, at_risk, at_risk, lapsed, at_risk, at_risk)

    assert (await page(client, limit=3))[0] == ["i0", "i1", "c2"]  # the default: oldest first
    newest, cursor = await page(client, order="newest", limit=3)
    assert newest == ["i4", "i3", "c2"]
    assert (await page(client, order="newest", after=cursor))[0] == []
    # The cursor continues after the newest signal seen, in either order.
    assert (await page(client, after=cursor))[0] == []

    await add_signals(migrated, at_risk, at_risk, at_risk)  # i0, i1, i2 again: ids 6, 7, 8
    assert (await page(client, order="newest", after=cursor, limit=2))[0] == ["i2", "i1"]
    assert (await page(client, after=cursor))[0] == ["i0", "i1", "i2"]
    filtered, _ = await page(client, order="newest", kind=lapsed)
    assert filtered == ["c2"]


async def test_an_unknown_order_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/signals", params={"order": "random"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "position", ["abc", str(2**63), str(10**40), "-1", "1.5", "٣", " 7"], ids=repr
)
async def test_a_forged_cursor_is_a_400_problem(
    migrated: AsyncEngine, client: httpx.AsyncClient, position: str
) -> None:
    # Found by attacking a running stack: a cursor holding "abc", or a number past 2^63,
    # answered 500 with two tracebacks.
    await add_signals(migrated, "installation.at_risk")
    _, cursor = await page(client)
    body = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = base64.urlsafe_b64encode(orjson.dumps({**body, "a": position})).decode()
    for order in ("oldest", "newest"):
        response = await client.get("/v1/signals", params={"after": forged, "order": order})
        assert response.status_code == 400, (position, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Invalid cursor"
    # The largest position a signal id can have is still a cursor: nothing comes after it.
    largest = base64.urlsafe_b64encode(orjson.dumps({**body, "a": str(2**63 - 1)})).decode()
    assert (await page(client, after=largest))[0] == []
