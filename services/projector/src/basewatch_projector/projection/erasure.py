"""An erasure record applied to the tables (docs/erasure.md#in-the-tables).

The customer's row stays, as a pseudonymous id with ``erased_at``: orders, revenue,
installations, segment and status keep counting, so the two bases stay exact. What goes
is every personal field the tables hold: the traits (and the country taken from them).
No table holds an event's ``properties``. The request itself is recorded once per
``erasure_id`` in ``erasures``. ``customers.save_traits`` writes no traits to a row
with ``erased_at``, so an event applied after the erasure (or in the same batch,
before it, while this instance still held the key) carries nothing personal in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.storage.bulk import upsert
from basewatch_projector.storage.tables import customers, erasures
from basewatch_shared.contract.erasure import Erasure


async def apply_erasures(conn: AsyncConnection, requests: Sequence[Erasure], now: datetime) -> None:
    """Forget each named customer's personal fields and record each request; the rows
    exist and are locked already (``touch_customers``). Idempotent: applying the same
    requests again changes nothing but ``updated_at``."""
    if not requests:
        return
    first: dict[str, datetime] = {}
    for request in sorted(requests, key=lambda r: r.requested_at, reverse=True):
        first[request.customer_id] = request.requested_at
    c = customers.c
    stmt = (
        update(customers)
        .where(c.customer_id == bindparam("b_id"))
        .values(
            traits={},
            trait_times={},
            country=None,
            # The first erasure's time: a later request (erasing twice) changes nothing.
            erased_at=func.coalesce(c.erased_at, bindparam("b_at", type_=c.erased_at.type)),
            updated_at=now,
        )
    )
    await conn.execute(stmt, [{"b_id": cid, "b_at": at} for cid, at in sorted(first.items())])
    rows = [
        {
            "erasure_id": r.erasure_id,
            "customer_id": r.customer_id,
            "requested_at": r.requested_at,
            "source": r.source,
            "applied_at": now,
        }
        for r in {r.erasure_id: r for r in requests}.values()  # a redelivery: once
    ]
    await upsert(conn, erasures, rows, ["erasure_id"], ())
