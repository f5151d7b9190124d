"""What is stored per installation: its row, loaded locked and saved in one statement."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import fields
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.rules.installation import Installation
from basewatch_projector.storage.bulk import any_of, upsert
from basewatch_projector.storage.tables import installations

_FIELDS = tuple(f.name for f in fields(Installation))


async def load_installations(
    conn: AsyncConnection, ids: Collection[str]
) -> dict[str, Installation]:
    """Current installation rows, locked for this transaction on PostgreSQL."""
    if not ids:
        return {}
    cols = [installations.c[name] for name in _FIELDS]
    query = select(*cols).where(any_of(conn, installations.c.installation_id, ids))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.installation_id: Installation(**row._asdict()) for row in await conn.execute(query)}


async def save_installations(
    conn: AsyncConnection, rows: Iterable[Installation], now: datetime
) -> None:
    """Upsert the new states of the installations a batch touched."""
    # A shallow copy per row: dataclasses.asdict deep-copies every dict, which dominated.
    data = [{**{f: getattr(inst, f) for f in _FIELDS}, "updated_at": now} for inst in rows]
    changed = [c for c in (*_FIELDS, "updated_at") if c not in ("installation_id", "first_seen_at")]
    await upsert(conn, installations, data, ["installation_id"], changed)


async def installations_by_status(conn: AsyncConnection) -> dict[str, int]:
    """How many installations there are in each status."""
    rows = await conn.execute(
        select(installations.c.status, func.count()).group_by(installations.c.status)
    )
    return {status: int(n) for status, n in rows}
