"""``/v1/signals``: the churn-signal feed, oldest first, resumable from a cursor.

``order=newest`` serves a dashboard: the newest signals after the cursor, newest first.
Polled with its ``next_cursor`` it returns what arrived since, but at most ``limit`` of
it: to read every signal, use the default order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api import pagination
from basewatch_projector.api.deps import Conn
from basewatch_projector.api.pagination import Cursor, Limit
from basewatch_projector.api.problems import LIST
from basewatch_projector.storage.tables import signals
from basewatch_shared.contract.vocabulary import CustomerStatus, InstallationStatus, SignalKind

router = APIRouter()


class Signal(BaseModel):
    """One status change: an installation going at_risk, churned, back, or uninstalled; a
    customer lapsing or coming back."""

    signal_id: int
    kind: SignalKind
    installation_id: str | None
    customer_id: str | None
    product_id: str | None
    previous_status: InstallationStatus | CustomerStatus
    status: InstallationStatus | CustomerStatus
    occurred_at: datetime
    detected_at: datetime
    silent_since: datetime | None


class Order(StrEnum):
    """Which end of the feed a page comes from."""

    oldest = "oldest"
    newest = "newest"


class SignalFeed(BaseModel):
    """Signals after the cursor; ``next_cursor`` is where to continue (also when empty)."""

    items: list[Signal]
    next_cursor: str | None


async def feed(
    conn: AsyncConnection,
    *,
    kind: str | None,
    after: str | None,
    limit: int,
    order: Order = Order.oldest,
) -> dict[str, Any]:
    """Up to ``limit`` signals after the cursor, from the oldest or from the newest end."""
    # Both orders continue after the newest signal they returned, so a cursor serves either.
    filters = {"kind": kind}
    last = pagination.decode_position(after, "signals", filters) if after else 0
    query = select(signals).where(signals.c.signal_id > last)
    if kind is not None:
        query = query.where(signals.c.kind == kind)
    newest = order is Order.newest
    key = signals.c.signal_id.desc() if newest else signals.c.signal_id
    rows = (await conn.execute(query.order_by(key).limit(limit))).all()
    items = [{c: getattr(row, c) for c in Signal.model_fields} for row in rows]
    resume = (rows[0] if newest else rows[-1]).signal_id if rows else last
    # A feed is polled: the cursor to continue from is given even when nothing is new.
    return {"items": items, "next_cursor": pagination.encode("signals", filters, str(resume))}


@router.get("/signals", response_model=SignalFeed, responses=LIST)
async def get_signals(
    conn: Conn,
    limit: Limit = 100,
    kind: Annotated[SignalKind | None, Query()] = None,
    after: Cursor = None,
    order: Annotated[
        Order,
        Query(
            description="`oldest` (default): every signal in order, for consumers. `newest`: "
            "the newest `limit` signals after the cursor, newest first, for dashboards "
            "(older ones beyond `limit` are skipped)."
        ),
    ] = Order.oldest,
) -> dict[str, Any]:
    """The churn-signal feed, oldest first; poll again with ``next_cursor``."""
    return await feed(conn, kind=kind, after=after, limit=limit, order=order)
