"""The bases over time: what a sample is, and writing one.

Boundaries are multiples of ``BASEWATCH_HISTORY_INTERVAL`` since the Unix epoch, so every
instance agrees on them. The sample at boundary B is the customers by segment and the
installations by product and status as they stood once every record *received* before
B had been applied, and none received at or after B, with the churn sweep run on clock
B (``consume/holding.py`` cuts the batches so, ``recorder.py`` decides when B is
passed). That is the pipeline's clock (``received_at``), not the wall clock: a projector
replaying a backlog into an empty database writes the series as they were at those past
times. Signals need no sample: ``series.py`` counts them from the signals table by their
time.

Exactly one sample per boundary, whatever the number of instances: the one
``history_progress`` row is claimed with a compare-and-set (it only moves forward), and
the sample is written in the claiming transaction. The winner is the first instance
whose own partitions have all passed B; its partitions are cut exactly at B, those of
the other instances are as far as they had got (caught up: within their lag).

Compact: a series gets a row only when its value differs from the previous sample (a
series that disappears gets a 0), and the reader carries the last value forward.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.history.cohorts import PERIODS, Period, sample_cohorts
from basewatch_projector.history.movements import hold_pending, settle
from basewatch_projector.history.sales import settle_sales
from basewatch_projector.storage.bulk import insert_of, upsert
from basewatch_projector.storage.counts import CUSTOMERS, kept
from basewatch_projector.storage.tables import history, history_progress
from basewatch_shared.contract.vocabulary import IN_USE, PAYING, CustomerStatus

Labels = tuple[tuple[str, Any], ...]
Key = tuple[str, Labels]  # (metric, labels in key order)


def changes(previous: Mapping[Key, int], current: Mapping[Key, int]) -> dict[Key, int]:
    """The series whose value differs from the previous sample; one that is gone is 0."""
    return {
        key: current.get(key, 0)
        for key in previous.keys() | current.keys()
        if current.get(key, 0) != previous.get(key, 0)
    }


async def counts(conn: AsyncConnection) -> dict[Key, int]:
    """The current size of every series: customers by segment, the retained customers
    (bought, not lapsed: ``projection/movements.py``), installations by product and
    status, and the installed base (``in_use``: active or at_risk) per product and in
    all, one series each, so that GET /v1/movements reads one series instead of summing
    statuses and products. From the counts the database keeps (``storage/counts.py``)."""
    found: dict[Key, int] = {("retained", ()): 0, ("in_use", ()): 0}
    for count in await kept(conn):
        if count.base == CUSTOMERS:  # label: the segment
            key: Key = ("customers", (("segment", count.label),))
            found[key] = found.get(key, 0) + count.n
            if count.label in PAYING and count.status != CustomerStatus.LAPSED:
                found[("retained", ())] += count.n
            continue
        # Installations, by version too: summed per product and status here.
        key = ("installations", (("product_id", count.label), ("status", count.status)))
        found[key] = found.get(key, 0) + count.n
        if count.status in IN_USE:
            key = ("in_use", (("product_id", count.label),))
            found[key] = found.get(key, 0) + count.n
            found[("in_use", ())] += count.n
    return found


async def claim(conn: AsyncConnection, bucket: datetime, now: datetime) -> dict[Key, int] | None:
    """Take boundary ``bucket`` if nobody has; return the previous sample's values, or
    None when another instance got there first. Locks the progress row (PostgreSQL)."""
    p = history_progress.c
    moved = await conn.execute(
        update(history_progress)
        .where(p.id == 1, p.settled_through < bucket)
        .values(settled_through=bucket, updated_at=now)
        .returning(p.latest)
    )
    row = moved.first()  # one round trip: a replay claims a boundary every few ms
    if row is not None:
        return decode_latest(row.latest)
    first = insert_of(conn, history_progress).values(
        id=1, first_bucket=bucket, settled_through=bucket, latest=[], updated_at=now
    )
    inserted = await conn.execute(first.on_conflict_do_nothing())
    return {} if inserted.rowcount == 1 else None


def _order(item: tuple[Key, int]) -> tuple[str, tuple[tuple[str, bool, str], ...]]:
    """Sort key of a series: a missing label value (an installation of no known product)
    sorts before every value, so None and strings never meet in a comparison."""
    (metric, labels), _ = item
    return metric, tuple((k, v is not None, "" if v is None else str(v)) for k, v in labels)


def encode_latest(sample: Mapping[Key, int]) -> list[list[Any]]:
    """A sample as the JSON document kept in ``history_progress.latest``, in a stable order."""
    return [
        [m, [list(pair) for pair in labels], v]
        for (m, labels), v in sorted(sample.items(), key=_order)
    ]


def decode_latest(latest: Any) -> dict[Key, int]:
    """The sample that ``encode_latest`` wrote (an empty one for no document)."""
    return {
        (metric, tuple((k, v) for k, v in labels)): int(value)
        for metric, labels, value in latest or []
    }


async def write(
    conn: AsyncConnection, bucket: datetime, previous: Mapping[Key, int], now: Mapping[Key, int]
) -> int:
    """Store the changed series at ``bucket`` and remember ``now`` as the latest sample."""
    rows = [
        {"metric": metric, "labels": dict(labels), "bucket": bucket, "value": value}
        for (metric, labels), value in changes(previous, now).items()
    ]
    await upsert(conn, history, rows, ["metric", "labels", "bucket"], ["value"])
    await conn.execute(
        update(history_progress).where(history_progress.c.id == 1).values(latest=encode_latest(now))
    )
    return len(rows)


async def sample(
    conn: AsyncConnection,
    bucket: datetime,
    previous: Mapping[Key, int],
    interval: timedelta,
    periods: Collection[Period] = tuple(PERIODS),
) -> None:
    """Write the sample at ``bucket`` (claimed, swept) and settle the pending movements
    at it: under the hold, the counts and the moves see the same committed batches. Sum
    the pending sales into their totals by ``occurred_at`` at boundaries of ``interval``
    (whichever sample takes a delta, it lands in the same bucket). Write the cohort
    cells of ``periods`` (``cohorts.due``)."""
    await hold_pending(conn)
    await write(conn, bucket, previous, await counts(conn))
    await settle(conn, bucket)
    await settle_sales(conn, interval)
    await sample_cohorts(conn, bucket, periods)


async def settled_through(conn: AsyncConnection) -> datetime | None:
    """The last boundary sampled, by any instance."""
    value: datetime | None = await conn.scalar(select(history_progress.c.settled_through))
    return value
