"""Set-based SQL for the projection: a batch becomes a few multi-row statements.

Runs on PostgreSQL and SQLite alike. Lock order (PostgreSQL): installation rows first,
then customer rows in sorted order. Every transaction that changes a customer's facts
(purchases, installations) locks that customer's row before it recomputes the segment
and status, so the recomputations serialize and the last one sees every committed fact
(no write skew between the owners of different partitions).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, case, distinct, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.bulk import any_of, upsert
from basewatch_projector.projection import IN_USE, Installation, customer_status, segment
from basewatch_projector.tables import (
    churn_control,
    consumer_offsets,
    customers,
    installations,
    purchases,
)

TopicPartition = tuple[str, int]
_INSTALLATION_FIELDS = tuple(f.name for f in fields(Installation))


def _insert(conn: AsyncConnection, table: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


# -- offsets -----------------------------------------------------------------------------


async def load_offsets(
    conn: AsyncConnection, group: str, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """The next offset to consume per partition, as the database records it."""
    wanted = list(partitions)
    if not wanted:
        return {}
    rows = await conn.execute(
        select(
            consumer_offsets.c.topic, consumer_offsets.c.partition, consumer_offsets.c.next_offset
        ).where(
            consumer_offsets.c.group_id == group,
            tuple_(consumer_offsets.c.topic, consumer_offsets.c.partition).in_(wanted),
        )
    )
    return {(t, p): o for t, p, o in rows}


async def advance_offsets(
    conn: AsyncConnection,
    group: str,
    moves: dict[TopicPartition, tuple[int | None, int]],
    now: datetime,
) -> bool:
    """Move each partition from its expected offset to the new one, all or nothing.

    A compare-and-set: if another instance already moved a partition (a rebalance
    raced this batch), nothing matches and the caller rolls the whole batch back.
    """
    for (topic, partition), (expected, new) in moves.items():
        if expected is None:
            stmt = (
                _insert(conn, consumer_offsets)
                .values(
                    group_id=group,
                    topic=topic,
                    partition=partition,
                    next_offset=new,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
            )
        else:
            stmt = (
                update(consumer_offsets)
                .where(
                    consumer_offsets.c.group_id == group,
                    consumer_offsets.c.topic == topic,
                    consumer_offsets.c.partition == partition,
                    consumer_offsets.c.next_offset == expected,
                )
                .values(next_offset=new, updated_at=now)
            )
        if (await conn.execute(stmt)).rowcount != 1:
            return False
    return True


# -- customers ---------------------------------------------------------------------------


async def touch_customers(conn: AsyncConnection, ids: Iterable[str], now: datetime) -> None:
    """Make sure each customer row exists, locking them in sorted order (PostgreSQL)."""
    rows = [
        {
            "customer_id": cid,
            "traits": {},
            "trait_times": {},
            "orders": 0,
            "installations_in_use": 0,
            "segment": "suspect",
            "status": "none",
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
    """Write merged traits (and the country column the API filters on)."""
    if not merged:
        return
    stmt = (
        update(customers)
        .where(customers.c.customer_id == bindparam("b_id"))
        .values(
            traits=bindparam("traits"),
            trait_times=bindparam("trait_times"),
            country=bindparam("country"),
        )
    )
    await conn.execute(
        stmt,
        [
            {"b_id": cid, "traits": t, "trait_times": times, "country": t.get("country")}
            for cid, (t, times) in merged.items()
        ],
    )


async def insert_purchases(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Add purchases to the ledger; return how many were there already (counted once)."""
    if not rows:
        return 0
    ids = [row["event_id"] for row in rows]
    known = set(
        (
            await conn.execute(
                select(purchases.c.event_id).where(any_of(conn, purchases.c.event_id, ids))
            )
        ).scalars()
    )
    await upsert(conn, purchases, [r for r in rows if r["event_id"] not in known], ["event_id"], ())
    return len(known)


async def refresh_customers(
    conn: AsyncConnection, ids: Collection[str], loyal_min_orders: int, now: datetime
) -> list[tuple[str, str, str]]:
    """Recompute orders, purchase dates, segment and status from committed facts.

    Two grouped aggregates joined to the customers; returns the status changes as
    (customer_id, old, new).
    """
    if not ids:
        return []
    wanted = sorted(ids)
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
    query = (
        select(
            customers.c.customer_id,
            customers.c.status,
            bought.c.orders,
            bought.c.first,
            bought.c.last,
            owns.c.n,
            owns.c.in_use,
        )
        .outerjoin(bought, bought.c.customer_id == customers.c.customer_id)
        .outerjoin(owns, owns.c.customer_id == customers.c.customer_id)
        .where(any_of(conn, customers.c.customer_id, wanted))
    )
    updates, changes = [], []
    for cid, old_status, orders, first, last, n, used in await conn.execute(query):
        orders, n, used = orders or 0, n or 0, used or 0
        new_segment = segment(orders, n, loyal_min_orders)
        new_status = customer_status(orders, n, used)
        if new_status != old_status:
            changes.append((cid, old_status, new_status))
        updates.append(
            {
                "b_id": cid,
                "orders": orders,
                "first_purchase_at": first,
                "last_purchase_at": last,
                "segment": new_segment,
                "status": new_status,
                "installations_in_use": used,
                "updated_at": now,
            }
        )
    if updates:
        stmt = update(customers).where(customers.c.customer_id == bindparam("b_id"))
        await conn.execute(stmt, updates)
    return changes


# -- installations -----------------------------------------------------------------------


async def load_installations(
    conn: AsyncConnection, ids: Collection[str]
) -> dict[str, Installation]:
    """Current installation rows, locked for this transaction on PostgreSQL."""
    if not ids:
        return {}
    cols = [installations.c[name] for name in _INSTALLATION_FIELDS]
    query = select(*cols).where(any_of(conn, installations.c.installation_id, ids))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.installation_id: Installation(**row._asdict()) for row in await conn.execute(query)}


async def save_installations(
    conn: AsyncConnection, rows: Iterable[Installation], now: datetime
) -> None:
    """Upsert the new states of the installations a batch touched."""
    # A shallow copy per row: dataclasses.asdict deep-copies every dict, which dominated.
    data = [
        {**{f: getattr(inst, f) for f in _INSTALLATION_FIELDS}, "updated_at": now} for inst in rows
    ]
    changed = [
        c
        for c in (*_INSTALLATION_FIELDS, "updated_at")
        if c not in ("installation_id", "first_seen_at")
    ]
    await upsert(conn, installations, data, ["installation_id"], changed)


# -- churn control -----------------------------------------------------------------------


async def upsert_control(conn: AsyncConnection, released_until: datetime, now: datetime) -> None:
    """Store until when the mass-silence hold is released (one row)."""
    await upsert(
        conn,
        churn_control,
        [{"id": 1, "hold_released_until": released_until, "updated_at": now}],
        ["id"],
        ["hold_released_until", "updated_at"],
    )


async def installations_by_status(conn: AsyncConnection) -> dict[str, int]:
    """How many installations there are in each status."""
    rows = await conn.execute(
        select(installations.c.status, func.count()).group_by(installations.c.status)
    )
    return {status: int(n) for status, n in rows}
