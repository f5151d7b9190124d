"""Read the projector's tables into plain data, to compare two databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.storage.counts import CUSTOMERS, INSTALLATIONS, Count, kept
from basewatch_projector.storage.tables import consumer_offsets, customers, installations, purchases
from basewatch_shared.contract.vocabulary import IN_USE

# Wall-clock bookkeeping differs between runs; everything else must be identical.
_VOLATILE = {"updated_at", "first_seen_at", "status_changed_at"}


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    """Every row of the live tables, without wall-clock columns, in key order."""
    async with engine.connect() as conn:
        out: dict[str, Any] = {}
        for table, key in (
            (customers, "customer_id"),
            (installations, "installation_id"),
            (purchases, "event_id"),
        ):
            rows = await conn.execute(select(table).order_by(table.c[key]))
            out[table.name] = [
                {k: v for k, v in row._asdict().items() if k not in _VOLATILE} for row in rows
            ]
        return out


async def applied_offsets(engine: AsyncEngine, group: str) -> int:
    """The sum of the stored next offsets of a group: records applied (offsets from 0)."""
    async with engine.connect() as conn:
        total = await conn.scalar(
            select(func.coalesce(func.sum(consumer_offsets.c.next_offset), 0)).where(
                consumer_offsets.c.group_id == group
            )
        )
    return int(total or 0)


async def kept_and_scanned(engine: AsyncEngine) -> tuple[list[Count], list[Count]]:
    """The counts the database keeps (base_counts) and the same counts scanned from the
    customers and installations, in one snapshot, in one order: they must be equal."""
    async with engine.connect() as conn:
        return sorted(await kept(conn), key=str), sorted(await _scanned(conn), key=str)


async def _scanned(conn: AsyncConnection) -> list[Count]:
    c, i = customers.c, installations.c
    unowned_in_use = case((i.customer_id.is_(None) & i.status.in_(IN_USE), 1), else_=0)
    by_customer = select(
        literal(CUSTOMERS),
        c.segment,
        null(),
        c.status,
        func.count(),
        func.sum(c.installations_in_use),
    ).group_by(c.segment, c.status)
    by_installation = select(
        literal(INSTALLATIONS),
        i.product_id,
        i.version,
        i.status,
        func.count(),
        func.sum(unowned_in_use),
    ).group_by(i.product_id, i.version, i.status)
    rows = await conn.execute(union_all(by_customer, by_installation))
    return [Count(b, label, v, s, int(n), int(used)) for b, label, v, s, n, used in rows]
