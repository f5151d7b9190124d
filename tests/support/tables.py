"""Read the projector's tables into plain data, to compare two databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.tables import consumer_offsets, customers, installations, purchases

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
