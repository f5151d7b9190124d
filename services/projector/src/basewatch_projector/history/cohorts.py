"""Cohorts (GET /v1/cohorts), counted at each history sample.

Rows are the periods (UTC weeks from Monday, or months) in which a cohort started: an
installation's ``installed_at`` (its latest install), a customer's first purchase.
At each sample at boundary B, per cohort of the last PERIODS periods, the sample stores
the counts as they stand at B in the column of B's period (a step (start, end], as every
series: the sample at a period's end is its last): installations, per product and in
all, the cohort's size and those in use (active or at_risk); customers who bought, the
size, those ``active`` and those with a second order. A later sample in the same period
overwrites the column; a period without a sample carries the previous column. So each
cell is the state at the last sample of its period, exact at the history interval,
whatever came back or left between (an installation that churned and came back counts
as it stood at each period's end), and a replay writes the same cells.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, Integer, String, case, cast, delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.history.steps import boundary_at_or_before
from basewatch_projector.storage.bulk import upsert
from basewatch_projector.storage.tables import cohort_cells, customers, installations
from basewatch_shared.contract.vocabulary import IN_USE, CustomerStatus

Period = Literal["week", "month"]
PERIODS: Final[dict[Period, int]] = {"week": 52, "month": 24}  # cohorts in one answer
_US: Final = timedelta(microseconds=1)
Cell = tuple[str, str, bool, str, str]  # (base, period, every, product_id, cohort)


def starts(period: Period, now: datetime) -> list[date]:
    """The first days of the last PERIODS[period] periods, oldest first, up to now's."""
    today = now.astimezone(UTC).date()
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return [monday - timedelta(weeks=n) for n in reversed(range(PERIODS[period]))]
    months = today.year * 12 + today.month - 1
    return [date(m // 12, m % 12 + 1, 1) for m in range(months - PERIODS[period] + 1, months + 1)]


def _first_day(period: Period, at: datetime) -> date:
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday()) if period == "week" else day.replace(day=1)


def period_end(bucket: datetime, interval: timedelta) -> datetime:
    """The last boundary of ``bucket``'s week or month, whichever ends first: a stretch
    crossed in one step (``recorder.py``) stops there, so its cells are written."""
    day = _first_day("week", bucket - _US)
    month = _first_day("month", bucket - _US)
    after = min(
        day + timedelta(weeks=1), date(month.year + month.month // 12, month.month % 12 + 1, 1)
    )
    return boundary_at_or_before(datetime.combine(after, datetime.min.time(), UTC), interval)


def due(
    bucket: datetime, interval: timedelta, now: datetime, *, latest: bool = True
) -> list[Period]:
    """The periods whose cells the sample at ``bucket`` writes: those it is the last
    boundary of (the next is in another period), and, if it is the ``latest`` sample for
    now, the period going on at ``now``. A replay skips the other samples' cells: a later
    sample in their period overwrites them (a profile of bench.replay: cohorts were half
    of each sample's time), and so does a catch-up in the period going on, whose next
    boundary is already passed (``recorder.py``)."""
    return [
        period
        for period in PERIODS
        if _first_day(period, bucket - _US) != _first_day(period, bucket + interval - _US)
        or (latest and _first_day(period, bucket - _US) == _first_day(period, now))
    ]


def key(conn: AsyncConnection, at: ColumnElement[Any], period: Period) -> ColumnElement[str]:
    """The first day of ``at``'s period as 'YYYY-MM-DD', on either database."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.date_trunc(period, func.timezone("UTC", at)), "YYYY-MM-DD")
    day = func.substr(at, 1, 10)  # 'YYYY-MM-DD HH:MM:SS.ffffff': no rounding of the time
    if period == "month":
        return func.strftime("%Y-%m-01", day)
    back = (cast(func.strftime("%w", day), Integer) + 6) % 7
    return func.date(day, literal("-").concat(cast(back, String)).concat(" days"))


async def _installations(
    conn: AsyncConnection, period: Period, since: datetime
) -> dict[Cell, Counter[str]]:
    i = installations.c
    in_use = func.sum(case((i.status.in_(IN_USE), 1), else_=0))
    cohort = key(conn, i.installed_at, period)
    query = select(i.product_id, cohort, func.count(), in_use).where(i.installed_at >= since)
    found: dict[Cell, Counter[str]] = defaultdict(Counter)
    for product, start, size, using in await conn.execute(query.group_by(i.product_id, cohort)):
        for every, scope in ((True, ""), (False, product or "")):
            found["installations", period, every, scope, start].update(size=size, value=using)
    return found


async def _customers(
    conn: AsyncConnection, period: Period, since: datetime
) -> dict[Cell, Counter[str]]:
    c = customers.c
    active = func.sum(case((c.status == CustomerStatus.ACTIVE, 1), else_=0))
    again = func.sum(case((c.orders >= 2, 1), else_=0))
    cohort = key(conn, c.first_purchase_at, period)
    query = select(cohort, func.count(), active, again)
    query = query.where(c.orders > 0, c.first_purchase_at >= since).group_by(cohort)
    return {
        ("customers", period, True, "", start): Counter(size=size, value=n_active, again=n_again)
        for start, size, n_active, n_again in await conn.execute(query)
    }


async def sample_cohorts(
    conn: AsyncConnection, bucket: datetime, periods: Collection[Period] = tuple(PERIODS)
) -> int:
    """Store the cohorts' counts at ``bucket`` in the column of its period."""
    rows: list[dict[str, Any]] = []
    for period in periods:
        first = starts(period, bucket - _US)
        since = datetime.combine(first[0], datetime.min.time(), UTC)
        at = first[-1].isoformat()
        found = await _installations(conn, period, since) | await _customers(conn, period, since)
        await conn.execute(
            delete(cohort_cells).where(cohort_cells.c.period == period, cohort_cells.c.at == at)
        )
        rows += [
            dict(zip(("base", "period", "every", "product_id", "cohort"), cell, strict=True))
            | {"at": at, "size": n["size"], "value": n["value"], "again": n["again"]}
            for cell, n in sorted(found.items())
        ]
    keys = ["base", "period", "every", "product_id", "cohort", "at"]
    await upsert(conn, cohort_cells, rows, keys, ["size", "value", "again"])
    return len(rows)


async def cohort_table(
    conn: AsyncConnection, base: str, period: Period, product_id: str | None, now: datetime
) -> list[dict[str, Any]]:
    """Per cohort of the last periods: its size (at the latest sample) and per period
    since, the counts at that period's last sample (carried over periods without one)."""
    first = starts(period, now)
    index = {d.isoformat(): n for n, d in enumerate(first)}
    c = cohort_cells.c
    query = select(c.cohort, c.at, c.size, c.value, c.again).where(
        c.base == base, c.period == period, c.every == (product_id is None),
        c.product_id == (product_id or ""), c.cohort >= first[0].isoformat(),
    )  # fmt: skip
    cells: dict[int, dict[int, tuple[int, int, int]]] = defaultdict(dict)
    for cohort, at, size, value, again in await conn.execute(query):
        if cohort in index and at in index:
            cells[index[cohort]][index[at]] = (int(size), int(value), int(again))
    answer = []
    for k, start in enumerate(first):
        row: list[tuple[int, int, int]] = []
        current = (0, 0, 0)
        for column in range(k, len(first)):
            current = cells[k].get(column, current)
            row.append(current)
        answer.append({"start": start, "cells": row})
    return answer
