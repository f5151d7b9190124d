"""What is stored per installation: its row, loaded locked and saved in one statement."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.projection.known import StaleState
from basewatch_projector.rules.installation import Installation
from basewatch_projector.storage.bulk import any_of, guarded_update, upsert_columns
from basewatch_projector.storage.counts import INSTALLATIONS, kept
from basewatch_projector.storage.tables import installations

_FIELDS = tuple(f.name for f in fields(Installation))
_VALUES = attrgetter(*_FIELDS)
_CHANGED = tuple(
    c for c in (*_FIELDS, "updated_at") if c not in ("installation_id", "first_seen_at")
)
# What a heartbeat that changes nothing else moves: a cached row whose other fields are
# as before is written with these alone (half the arrays to encode and unnest: a
# throwaway script on 30,000 installations, 1,000 rows a statement, 17-18 ms against
# 21-22 ms, the client's CPU 7.5-7.9 against 10.2-11.3 ms).
_HEARTBEAT = ("installation_id", "version", "attr_times", "last_heartbeat_at", "usage",
              "usage_at", "silent_since")  # fmt: skip
_HEARTBEAT_VALUES = attrgetter(*_HEARTBEAT)
_OTHERS = attrgetter(*(f for f in _FIELDS if f not in _HEARTBEAT))


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
    # Positional: the columns are selected in the dataclass's field order.
    return {row[0]: Installation(*row) for row in await conn.execute(query)}


async def save_installations(
    conn: AsyncConnection,
    rows: Iterable[Installation],
    now: datetime,
    cached: Mapping[str, tuple[Installation, datetime]] | None = None,
) -> None:
    """Upsert the new states of the installations a batch touched. Those in ``cached``
    (the state before the batch, and the ``updated_at`` written with it) were folded
    without a read: each is updated only while its row still has that ``updated_at``;
    StaleState when one has not (the caller's batch rolls back)."""
    cached = cached or {}
    fresh: list[tuple[Any, ...]] = []
    whole: list[tuple[Any, ...]] = []  # cached, a field beyond a heartbeat's changed
    beats: list[tuple[Any, ...]] = []  # cached, only a heartbeat's fields may have changed
    guards: tuple[list[datetime], list[datetime]] = ([], [])
    for inst in rows:
        known = cached.get(inst.installation_id)
        if known is None:
            fresh.append(_VALUES(inst))
        elif _OTHERS(inst) == _OTHERS(known[0]):
            beats.append(_HEARTBEAT_VALUES(inst))
            guards[0].append(known[1])
        else:
            whole.append(_VALUES(inst))
            guards[1].append(known[1])
    await upsert_columns(conn, installations, _columns(fresh, now), ["installation_id"], _CHANGED)
    updated = 0
    for values, names, expected in ((beats, _HEARTBEAT, guards[0]), (whole, _FIELDS, guards[1])):
        if values:
            columns = _columns(values, now, names)
            updated += await guarded_update(
                conn, installations, columns, "installation_id", "updated_at", expected
            )
    if updated != len(beats) + len(whole):
        stale = len(beats) + len(whole) - updated
        raise StaleState(f"{stale} cached installations changed meanwhile")


def _columns(
    values: list[tuple[Any, ...]], now: datetime, names: Sequence[str] = _FIELDS
) -> dict[str, Sequence[Any]]:
    """Rows of field values (in the order of ``names``) as columns, with updated_at."""
    # Transposed in C: a dict per row, then a list per column from the dicts, cost
    # ~20 % of a catch-up's busy time (py-spy, 300,000 heartbeats).
    if not values:
        return {}
    return {
        **dict(zip(names, zip(*values, strict=True), strict=True)),
        "updated_at": [now] * len(values),
    }


async def installations_by_status(conn: AsyncConnection) -> dict[str, int]:
    """How many installations there are in each status (the counts the database keeps)."""
    by_status: dict[str, int] = {}
    for count in await kept(conn):
        if count.base == INSTALLATIONS:
            by_status[count.status] = by_status.get(count.status, 0) + count.n
    return by_status
