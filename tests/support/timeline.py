"""Records as ingest produces them at given receive times, and the signals stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.tables import signals
from tests.support.history import Out

Signal = tuple[str, str, datetime]  # kind, subject, occurred_at


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z."""
    return moment.isoformat().replace("+00:00", "Z")


def record_at(
    kind: str, key: str, event: dict[str, Any], at: datetime, received: datetime | None = None
) -> Out:
    """A record as ingest produces it for an event that happened at ``at``, received
    then unless ``received`` says when."""
    value = event | {
        "occurred_at": iso(at),
        "received_at": iso(at if received is None else received),
        "source": "test",
    }
    return Out(kind, key.encode(), orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def purchase(iid: str) -> dict[str, Any]:
    """The one purchase of customer ``c-<iid>``, who owns installation ``iid``."""
    return {
        "event_id": f"buy-{iid}",
        "type": "purchase",
        "customer_id": f"c-{iid}",
        "order_id": f"o-{iid}",
        "product_id": "p1",
        "amount": "5",
        "currency": "EUR",
    }


def telemetry_at(kind: str, iid: str, n: int, at: datetime) -> tuple[datetime, Out]:
    """(receive time, record) of ``iid``'s ``n``-th event of ``kind``; an install names
    customer ``c-<iid>`` and product p1."""
    event = {"event_id": f"{iid}-{kind}-{n}", "type": kind, "installation_id": iid}
    if kind == "install":
        event |= {"customer_id": f"c-{iid}", "product_id": "p1", "version": "1"}
    return at, record_at("telemetry", iid, event, at)


async def stored(engine: AsyncEngine) -> list[Signal]:
    """The stored signals as (kind, installation or customer, occurred_at), sorted."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(signals))
        return sorted((r.kind, r.installation_id or r.customer_id, r.occurred_at) for r in rows)
