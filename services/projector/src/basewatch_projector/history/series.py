"""The series of ``GET /v1/history``, read from the samples and the signals table.

Customers and installations are gauges: the value at t is the last sample at or before
t (``samples.py`` writes a row only when a value changes, so the last row of a series at
or before t is its value), null before the first sample. Signals are counted from the
signals table by their time: the value at t is the number in (t - step, t].
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.history.steps import gauge, per_step
from basewatch_projector.storage.tables import history, history_progress, signals
from basewatch_shared.contract.vocabulary import InstallationStatus, Segment, SignalKind


async def gauges(
    conn: AsyncConnection, metric: str, times: Sequence[datetime]
) -> list[dict[str, Any]]:
    """The series of a sampled metric: the last row at or before times[0] and every
    row up to times[-1], carried forward."""
    first = await conn.scalar(select(history_progress.c.first_bucket))
    h = history.c
    rows: dict[tuple[tuple[str, Any], ...], list[tuple[datetime, int]]] = defaultdict(list)
    if times:
        start = (
            select(h.labels, func.max(h.bucket).label("bucket"))
            .where(h.metric == metric, h.bucket <= times[0])
            .group_by(h.labels)
            .subquery()
        )
        before = select(h.labels, h.bucket, h.value).join(
            start, and_(h.metric == metric, h.labels == start.c.labels, h.bucket == start.c.bucket)
        )
        within = select(h.labels, h.bucket, h.value).where(
            h.metric == metric, h.bucket > times[0], h.bucket <= times[-1]
        )
        for query in (before, within.order_by(h.bucket)):
            for labels, bucket, value in await conn.execute(query):
                rows[tuple(sorted(labels.items()))].append((bucket, int(value)))
    return [
        {"labels": dict(key), "values": gauge(times, first, rows.get(key, []))}
        for key in _series_keys(metric, rows)
    ]


def _series_keys(
    metric: str, seen: Iterable[tuple[tuple[str, Any], ...]]
) -> list[tuple[tuple[str, Any], ...]]:
    """Every segment; every status of every product seen (a stable set for charts)."""
    if metric == "customers":
        return [(("segment", s),) for s in Segment]
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
