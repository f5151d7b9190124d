"""The last row at or before each of many times, one index probe per time.

A series stored as rows only where it changes (the history's samples, running totals)
is read at N step boundaries with N probes of its primary key, whatever the number of
rows between them: a year of hourly rows read at daily steps is 366 probes, not 8,784
rows scanned and ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, column, func, select, values
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.storage.bulk import is_postgres
from basewatch_projector.storage.types import UtcDateTime


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
    t: Any
    if is_postgres(conn):  # one array parameter, not two per time
        array = bindparam(None, list(times), type_=postgresql.ARRAY(UtcDateTime()))
        t = func.unnest(array).table_valued("at", with_ordinality="k").render_derived(name="t")
    else:
        rows = [(k + 1, at) for k, at in enumerate(times)]
        t = values(column("k", Integer), column("at", UtcDateTime()), name="t").data(rows).cte()
    last = (
        select(value).where(*where, bucket <= t.c.at).order_by(bucket.desc()).limit(1)
    ).scalar_subquery()
    found: dict[int, Any] = dict((await conn.execute(select(t.c.k, last))).all())
    return [found.get(k + 1) for k in range(len(times))]
