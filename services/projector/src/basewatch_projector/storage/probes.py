"""The last row at or before each of many times, one index probe per time.

A series stored as rows only where it changes (the history's samples, running totals)
is read at N step boundaries with N probes of its primary key, whatever the number of
rows between them: a year of hourly rows read at daily steps is 367 probes, not 8,784
rows scanned and ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    bindparam,
    column,
    func,
    select,
    true,
    values,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.storage.bulk import is_postgres
from basewatch_projector.storage.columns import UtcDateTime


def _listed(conn: AsyncConnection, name: str, items: Sequence[Any], kind: Any) -> Any:
    """``items`` as a table (``name``) of ``at`` and its 1-based position ``k``."""
    if is_postgres(conn):  # one array parameter, not one per item
        array = bindparam(None, list(items), type_=postgresql.ARRAY(kind))
        return func.unnest(array).table_valued("at", with_ordinality="k").render_derived(name=name)
    rows = [(k + 1, at) for k, at in enumerate(items)]
    return values(column("k", Integer), column("at", kind), name=name).data(rows).cte()


async def last_at(
    conn: AsyncConnection,
    value: ColumnElement[Any],
    bucket: ColumnElement[datetime],
    where: Sequence[ColumnElement[bool]],
    times: Sequence[datetime],
) -> list[Any]:
    """Per time, ``value`` of the last row (``where``) whose ``bucket`` is at or before
    it; None where there is none. ``where`` and ``bucket`` should lead an index."""
    if not times:
        return []
    t = _listed(conn, "t", times, UtcDateTime())
    last = (
        select(value).where(*where, bucket <= t.c.at).order_by(bucket.desc()).limit(1)
    ).scalar_subquery()
    found: dict[int, Any] = dict((await conn.execute(select(t.c.k, last))).all())
    return [found.get(k + 1) for k in range(len(times))]


async def last_at_each(
    conn: AsyncConnection,
    value: ColumnElement[Any],
    bucket: ColumnElement[datetime],
    key: ColumnElement[str],
    keys: Sequence[str],
    times: Sequence[datetime],
) -> dict[str, list[Any]]:
    """``last_at`` for each of ``keys`` (the rows whose ``key`` is it), in one query."""
    if not times or not keys:
        return {k: [None] * len(times) for k in keys}
    t, each = _listed(conn, "t", times, UtcDateTime()), _listed(conn, "each", keys, String())
    rows = select(value).where(key == each.c.at, bucket <= t.c.at)
    last = rows.order_by(bucket.desc()).limit(1).scalar_subquery()
    found = {k: [None] * len(times) for k in keys}
    every_pair = select(each.c.k, t.c.k, last).select_from(each.join(t, true()))
    for n, k, v in await conn.execute(every_pair):
        found[keys[n - 1]][k - 1] = v
    return found
