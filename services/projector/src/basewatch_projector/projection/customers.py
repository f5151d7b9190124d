"""What is stored per customer: the row, its traits, its purchases, and its segment and
status recomputed from committed facts.

Lock order (PostgreSQL): installation rows first, then customer rows in sorted order.
Every transaction that changes a customer's facts (purchases, installations) locks that
customer's row before it recomputes the segment and status, so the recomputations
serialize and the last one sees every committed fact (no write skew between the owners
of different partitions).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.projection.movements import Moves, customer_move
from basewatch_projector.rules.causes import left_use
from basewatch_projector.rules.customer import customer_status, segment
from basewatch_projector.rules.policy import Policy
from basewatch_projector.storage.bulk import EXPECTED, any_of, update_rows, upsert
from basewatch_projector.storage.tables import customers, installations, purchases
from basewatch_shared.contract.vocabulary import IN_USE, CustomerStatus, Segment


async def touch_customers(conn: AsyncConnection, ids: Iterable[str], now: datetime) -> None:
    """Make sure each customer row exists, locking them in sorted order (PostgreSQL)."""
    rows = [
        {
            "customer_id": cid,
            "traits": {},
            "trait_times": {},
            "orders": 0,
            "installations_in_use": 0,
            "segment": Segment.SUSPECT,
            "status": CustomerStatus.NONE,
            "first_seen_at": now,
            "updated_at": now,
        }
        for cid in sorted(set(ids))
    ]
    await upsert(conn, customers, rows, ["customer_id"], ["updated_at"])


async def load_traits(
    conn: AsyncConnection, ids: Collection[str]
) -> dict[str, tuple[dict[str, Any], dict[str, list[str]]]]:
    """Current traits and their per-trait timestamps."""
    rows = await conn.execute(
        select(customers.c.customer_id, customers.c.traits, customers.c.trait_times).where(
            any_of(conn, customers.c.customer_id, ids)
        )
    )
    return {cid: (traits or {}, times or {}) for cid, traits, times in rows}


async def save_traits(
    conn: AsyncConnection, merged: dict[str, tuple[dict[str, Any], dict[str, list[str]]]]
) -> None:
    """Write merged traits (and the country column the API filters on); an erased
    customer's row takes none (docs/erasure.md)."""
    if not merged:
        return
    rows = [
        {
            "customer_id": cid,
            "traits": t,
            "trait_times": times,
            "country": t.get("country"),
            EXPECTED: None,
        }
        for cid, (t, times) in merged.items()
    ]
    await update_rows(conn, customers, rows, "customer_id", guard="erased_at")


async def insert_purchases(
    conn: AsyncConnection, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Add purchases to the ledger; return those that were not there already (a purchase
    is counted once)."""
    if not rows:
        return []
    ids = [row["event_id"] for row in rows]
    known = set(
        (
            await conn.execute(
                select(purchases.c.event_id).where(any_of(conn, purchases.c.event_id, ids))
            )
        ).scalars()
    )
    new = [r for r in rows if r["event_id"] not in known]
    await upsert(conn, purchases, new, ["event_id"], ())
    return new


async def refresh_customers(
    conn: AsyncConnection,
    ids: Collection[str],
    loyal_min_orders: int,
    now: datetime,
    moves: Moves | None = None,
) -> list[tuple[str, str, str]]:
    """Recompute orders, purchase dates, segment and status from committed facts.

    Two grouped aggregates joined to the customers; returns the status changes as
    (customer_id, old, new), and counts the moves in and out of the base in ``moves``.
    """
    if not ids:
        return []
    updates: list[dict[str, Any]] = []
    changes: list[tuple[str, str, str]] = []
    for cid, old_status, old_orders, orders, first, last, n, used in await conn.execute(
        _facts(conn, sorted(ids))
    ):
        orders, n, used = orders or 0, n or 0, used or 0
        new_status = customer_status(orders, n, used)
        if new_status != old_status:
            changes.append((cid, old_status, new_status))
        kind = customer_move(old_orders, old_status, orders, new_status)
        if kind is not None and moves is not None:
            moves["customers", kind, ""] += 1
        updates.append(
            {
                "customer_id": cid,
                "orders": orders,
                "first_purchase_at": first,
                "last_purchase_at": last,
                "segment": segment(orders, n, loyal_min_orders),
                "status": new_status,
                "installations_in_use": used,
                "updated_at": now,
            }
        )
    await update_rows(conn, customers, updates, "customer_id")
    return changes


async def lapse_times(
    conn: AsyncConnection, ids: Collection[str], policy: Policy
) -> dict[str, datetime]:
    """Per customer, when the last of its installations left use (rules/causes.py)."""
    if not ids:
        return {}
    i = installations.c
    rows = await conn.execute(
        select(i.customer_id, i.status, i.silent_since, i.uninstalled_at, i.product_id).where(
            any_of(conn, i.customer_id, ids), i.status.not_in(IN_USE)
        )
    )
    times: dict[str, datetime] = {}
    for cid, status, silent_since, uninstalled_at, product in rows:
        left = left_use(policy, status, silent_since, uninstalled_at, product)
        if left is not None:
            times[cid] = max(left, times.get(cid, left))
    return times


def _facts(conn: AsyncConnection, wanted: list[str]) -> Select[Any]:
    """Per customer: its status, distinct orders, first and last purchase, installations
    and those in use."""
    p, i = purchases.c, installations.c
    bought = (
        select(
            p.customer_id,
            func.count(distinct(p.order_id)).label("orders"),
            func.min(p.occurred_at).label("first"),
            func.max(p.occurred_at).label("last"),
        )
        .where(any_of(conn, p.customer_id, wanted))
        .group_by(p.customer_id)
        .subquery()
    )
    in_use = case((i.status.in_(IN_USE), 1), else_=0)
    owns = (
        select(i.customer_id, func.count().label("n"), func.sum(in_use).label("in_use"))
        .where(any_of(conn, i.customer_id, wanted))
        .group_by(i.customer_id)
        .subquery()
    )
    c = customers.c
    return (
        select(c.customer_id, c.status, c.orders, bought.c.orders, bought.c.first, bought.c.last)
        .add_columns(owns.c.n, owns.c.in_use)
        .outerjoin(bought, bought.c.customer_id == c.customer_id)
        .outerjoin(owns, owns.c.customer_id == c.customer_id)
        .where(any_of(conn, c.customer_id, wanted))
    )
