"""What is stored per installation: its row, loaded locked and saved in one statement."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.projection.known import StaleState
from basewatch_projector.rules.installation import FIELDS, Installation, field_values
from basewatch_projector.storage.bulk import EXPECTED, any_of, update_rows, upsert
from basewatch_projector.storage.counts import INSTALLATIONS, kept
from basewatch_projector.storage.tables import installations

_CHANGED = tuple(
    c for c in (*FIELDS, "updated_at") if c not in ("installation_id", "first_seen_at")
)


async def load_installations(
    conn: AsyncConnection, ids: Collection[str]
) -> dict[str, Installation]:
    """Current installation rows, locked for this transaction on PostgreSQL."""
    if not ids:
        return {}
    cols = [installations.c[name] for name in FIELDS]
    query = select(*cols).where(any_of(conn, installations.c.installation_id, ids))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    # Positional: the columns are selected in the dataclass's field order.
    return {row[0]: Installation(*row) for row in await conn.execute(query)}


async def save_installations(
    conn: AsyncConnection,
    rows: Iterable[Installation],
    now: datetime,
    expected: Mapping[str, datetime] | None = None,
) -> None:
    """Upsert the new states of the installations a batch touched. Those in ``expected``
    were folded from the cache without a read: each is updated only while its row still
    has that ``updated_at``; StaleState when one has not (the caller's batch rolls back)."""
    expected = expected or {}
    fresh: list[dict[str, Any]] = []
    cached: list[dict[str, Any]] = []
    for inst in rows:
        row = dict(zip(FIELDS, field_values(inst), strict=True))
        row["updated_at"] = now
        if inst.installation_id in expected:
            row[EXPECTED] = expected[inst.installation_id]
            cached.append(row)
        else:
            fresh.append(row)
    await upsert(conn, installations, fresh, ["installation_id"], _CHANGED)
    if cached:
        updated = await update_rows(conn, installations, cached, "installation_id", "updated_at")
        if updated != len(cached):
            raise StaleState(f"{len(cached) - updated} cached installations changed meanwhile")


async def installations_by_status(conn: AsyncConnection) -> dict[str, int]:
    """How many installations there are in each status (the counts the database keeps)."""
    by_status: dict[str, int] = {}
    for count in await kept(conn):
        if count.base == INSTALLATIONS:
            by_status[count.status] = by_status.get(count.status, 0) + count.n
    return by_status
