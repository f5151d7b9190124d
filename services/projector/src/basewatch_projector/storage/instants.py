"""SQL expressions that place a timestamp column on the step grid, exact on both
databases: integer microseconds since the epoch, and the step a time falls in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, extract, func
from sqlalchemy.ext.asyncio import AsyncConnection

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)


def micros(conn: AsyncConnection, at: ColumnElement[Any]) -> ColumnElement[int]:
    """``at`` (a UtcDateTime column) as integer microseconds since the epoch."""
    if conn.dialect.name == "postgresql":
        return cast(func.round(extract("epoch", at) * 1_000_000), BigInteger)
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): whole seconds, then the fraction
    # (strftime would round the fraction to milliseconds: 59.999999 s is the next minute).
    seconds = cast(func.strftime("%s", func.substr(at, 1, 19)), Integer) * 1_000_000
    return seconds + cast(func.substr(at, 21, 6), Integer)


def step_index(
    conn: AsyncConnection, at: ColumnElement[Any], t0: datetime, step: timedelta
) -> ColumnElement[int]:
    """k such that ``at`` is in (t0 + (k - 1) * step, t0 + k * step], for times after
    t0 - step (an integer division of a positive number: a floor on both)."""
    since = micros(conn, at) - (t0 - _EPOCH) // _US
    size = step // _US
    return case((since <= 0, 0), else_=(since + (size - 1)) // size)
