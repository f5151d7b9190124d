"""The series of ``GET /v1/history``, read from the samples and the signals table.

Customers and installations are gauges: the value at t is the last sample at or before
t (``samples.py`` writes a row only when a value changes, so the last row of a series at
or before t is its value), null before the first sample. Signals are counted from the
signals table by their time: the value at t is the number in (t - step, t].
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.history.steps import gauge, per_step
from basewatch_projector.storage.instants import step_index
from basewatch_projector.storage.tables import history, history_progress, signals
from basewatch_shared.contract.vocabulary import InstallationStatus, Segment, SignalKind

Labels = tuple[tuple[str, Any], ...]
# Values in one answer at most: series times times. Customers (4 segments) and signals
# (6 kinds) stay below it at 10,000 times; installations per product are as many series
# as products, which clients invent.
MAX_VALUES: Final = 100_000


class Unset:
    """No product filter (None is a filter: installations of no product)."""


UNSET: Final = Unset()


class TooManyValues(ValueError):
    """The answer would hold more than ``MAX_VALUES`` values; str() says how many series."""


async def gauges(
    conn: AsyncConnection,
    metric: str,
    times: Sequence[datetime],
    *,
    product_id: Unset | str | None = UNSET,
    per_product: bool = True,
    step: timedelta | None = None,
    statuses: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The series of a sampled metric: the last row at or before times[0] and every
    row up to times[-1], carried forward.

    Installations may be narrowed to one product (``product_id``), or summed over the
    products into one series per status (``per_product=False``). ``step``, when the
    times are its multiples: only the last row of each series in each step is read.
    ``statuses``: only the installations' series of these statuses are read.
    TooManyValues when the series times the times would pass MAX_VALUES (products are
    what clients invent).
    """
    first = await conn.scalar(select(history_progress.c.first_bucket))
    keys = await _keys(conn, metric, times, product_id, per_product)
    values: dict[Labels, list[int | None]] = {}
    if statuses is not None:
        keys = [key for key in keys if dict(key)["status"] in statuses]
    chosen = statuses is not None or not isinstance(product_id, Unset) or metric == "in_use"
    only = [dict(key) for key in keys] if chosen else None
    async for key, rows in _rows(conn, metric, times, only, step):
        series = gauge(times, first, rows)
        if per_product:
            values[key] = series
            continue
        summed = (("status", dict(key)["status"]),)
        values[summed] = _add(values.get(summed), series)
    if not per_product:
        keys = [(("status", s),) for s in InstallationStatus if statuses is None or s in statuses]
    return [
        {"labels": dict(key), "values": values.get(key) or gauge(times, first, [])} for key in keys
    ]


def _add(total: list[int | None] | None, series: list[int | None]) -> list[int | None]:
    if total is None:
        return series
    return [
        None if a is None and b is None else (a or 0) + (b or 0)
        for a, b in zip(total, series, strict=True)
    ]


async def _keys(
    conn: AsyncConnection,
    metric: str,
    times: Sequence[datetime],
    product_id: Unset | str | None,
    per_product: bool,
) -> list[Labels]:
    """The series the answer holds, in order; TooManyValues past the bound."""
    if metric == "customers":
        return [(("segment", s),) for s in Segment]
    if metric == "retained" or (metric == "in_use" and isinstance(product_id, Unset)):
        return [()]
    if metric == "in_use":
        return [(("product_id", product_id),)]
    if not isinstance(product_id, Unset):
        return [(("product_id", product_id), ("status", s)) for s in InstallationStatus]
    bound = MAX_VALUES // max(1, len(times)) if per_product else None
    h = history.c
    query = select(h.labels).where(h.metric == metric).distinct()
    if times:
        query = query.where(h.bucket <= times[-1])
    if bound is not None:
        query = query.limit(bound + 1)
    found = (await conn.execute(query)).scalars()
    seen: list[Labels] = [tuple(sorted(labels.items())) for labels in found]
    keys = _series_keys(metric, seen)
    if bound is not None and (len(seen) > bound or len(keys) > bound):
        raise TooManyValues(f"more than {bound} series")
    return keys


async def _rows(
    conn: AsyncConnection,
    metric: str,
    times: Sequence[datetime],
    only: list[dict[str, Any]] | None,
    step: timedelta | None,
) -> AsyncIterator[tuple[Labels, list[tuple[datetime, int]]]]:
    """Per series with rows (those labelled ``only``, if given): the last row at or before
    times[0] and those after, one series at a time (never every row in memory)."""
    if not times:
        return
    h = history.c
    chosen = h.labels.in_(only) if only is not None else true()
    start = (
        select(h.labels, func.max(h.bucket).label("bucket"))
        .where(h.metric == metric, h.bucket <= times[0], chosen)
        .group_by(h.labels)
        .subquery()
    )
    before = select(h.labels, h.bucket, h.value).join(
        start, and_(h.metric == metric, h.labels == start.c.labels, h.bucket == start.c.bucket)
    )
    initial = {
        tuple(sorted(labels.items())): (bucket, int(value))
        for labels, bucket, value in await conn.execute(before)
    }
    within = (
        select(h.labels, h.bucket, h.value)
        .where(h.metric == metric, h.bucket > times[0], h.bucket <= times[-1])
        .where(chosen)
    )
    if step is not None:  # gauge() reads only the last row of a series in each step
        nth = func.row_number().over(
            partition_by=(h.labels, step_index(conn, h.bucket, times[0], step)),
            order_by=h.bucket.desc(),
        )
        ranked = within.add_columns(nth.label("nth")).subquery()
        r = ranked.c
        within = select(r.labels, r.bucket, r.value).where(r.nth == 1).order_by(r.labels, r.bucket)
    else:
        within = within.order_by(h.labels, h.bucket)
    current: Labels | None = None
    rows: list[tuple[datetime, int]] = []
    async for labels, bucket, value in await conn.stream(within):
        key = tuple(sorted(labels.items()))
        if key != current:
            if current is not None:
                yield current, rows
            current = key
            rows = [initial.pop(key)] if key in initial else []
        rows.append((bucket, int(value)))
    if current is not None:
        yield current, rows
    for key, row in initial.items():  # series that did not change within the times
        yield key, [row]


def _series_keys(metric: str, seen: Iterable[Labels]) -> list[Labels]:
    """Every status of every product seen (a stable set for charts), null last."""
    products = {dict(key).get("product_id") for key in seen}
    ordered = sorted(products, key=lambda p: (p is None, p or ""))
    return [(("product_id", p), ("status", s)) for p in ordered for s in InstallationStatus]


async def signal_counts(
    conn: AsyncConnection, times: Sequence[datetime], step: timedelta
) -> list[dict[str, Any]]:
    """Signals per kind whose time falls in each step (t - step, t]."""
    by_kind: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    if times:
        s = signals.c
        query = (
            select(s.kind, s.occurred_at, func.count())
            .where(s.occurred_at > times[0] - step, s.occurred_at <= times[-1])
            .group_by(s.kind, s.occurred_at)
        )
        for kind, at, n in await conn.execute(query):
            by_kind[kind].append((at, int(n)))
    return [
        {"labels": {"kind": k}, "values": per_step(times, step, by_kind[k])} for k in SignalKind
    ]
