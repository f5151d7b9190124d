"""The bases over time: a sample of both bases at every boundary the pipeline passes.

Boundaries are multiples of ``BASEWATCH_HISTORY_INTERVAL`` since the Unix epoch. The
sample at boundary B is the customers by segment and the installations by product and
status as they stood once every record *received* before B had been applied, and none
received at or after B, with the churn sweep run on clock B. That is the pipeline's
clock (``received_at``), not the wall clock, so a projector replaying a backlog into an
empty database writes the series as they were at those past times.

To make that exact, each fetched batch is cut per partition at the first record
received at or after the pending boundary B; the partition is then *parked* (paused,
positioned at that record) until B is sampled. B is passed when every partition this
instance owns is parked or caught up (and the wall clock is past B by a small grace,
for records still on their way to the broker). The signal counts need no sample: they
are counted from the signals table by their time (see ``history_api``).

Several instances: whoever passes B first claims it with a compare-and-set on the one
``history_progress`` row, so each boundary is sampled exactly once. That instance's own
partitions are cut exactly at B; the partitions of the others are as far as those had
got (caught up: within their lag; replaying: wherever they are). Exact with one
instance; replay a backlog with one instance for an exact history.

Compact: a series gets a row only when its value differs from the previous sample (a
series that disappears gets a 0); the reader carries the last value forward.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.bulk import upsert
from basewatch_projector.churn import Policy, sweep
from basewatch_projector.tables import customers, history, history_progress, installations

if TYPE_CHECKING:
    from basewatch_projector.consumer import Item
    from basewatch_projector.lag import PartitionPosition

log = logging.getLogger("basewatch.projector.history")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_BOUNDARIES_PER_TICK = 500  # the consume loop moves on; the next tick continues
Labels = tuple[tuple[str, Any], ...]
Key = tuple[str, Labels]  # (metric, labels in key order)


def boundary_after(t: datetime, interval: timedelta) -> datetime:
    """The first boundary (a multiple of ``interval`` since the epoch) strictly after t."""
    return EPOCH + ((t - EPOCH) // interval + 1) * interval


def grace(interval: timedelta) -> timedelta:
    """How long past a boundary a caught-up partition waits for records still in flight."""
    return min(timedelta(seconds=1), interval / 5)


def changes(previous: Mapping[Key, int], current: Mapping[Key, int]) -> dict[Key, int]:
    """The series whose value differs from the previous sample; one that is gone is 0."""
    return {
        key: current.get(key, 0)
        for key in previous.keys() | current.keys()
        if current.get(key, 0) != previous.get(key, 0)
    }


async def counts(conn: AsyncConnection) -> dict[Key, int]:
    """The current size of every series: customers by segment, installations by
    product and status (two grouped counts over indexes)."""
    c, i = customers.c, installations.c
    found: dict[Key, int] = {}
    for segment, n in await conn.execute(select(c.segment, func.count()).group_by(c.segment)):
        found[("customers", (("segment", segment),))] = int(n)
    by_product = select(i.product_id, i.status, func.count()).group_by(i.product_id, i.status)
    for product_id, status, n in await conn.execute(by_product):
        found[("installations", (("product_id", product_id), ("status", status)))] = int(n)
    return found


async def claim(conn: AsyncConnection, bucket: datetime, now: datetime) -> dict[Key, int] | None:
    """Take boundary ``bucket`` if nobody has; return the previous sample's values, or
    None when another instance got there first. Locks the progress row (PostgreSQL)."""
    p = history_progress.c
    moved = await conn.execute(
        update(history_progress)
        .where(p.id == 1, p.settled_through < bucket)
        .values(settled_through=bucket, updated_at=now)
    )
    if moved.rowcount == 1:
        latest = await conn.scalar(select(p.latest).where(p.id == 1))
        return {(m, tuple(labels)): v for m, labels, v in _decode(latest)}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    first = dialect.insert(history_progress).values(
        id=1, first_bucket=bucket, settled_through=bucket, latest=[], updated_at=now
    )
    inserted = await conn.execute(first.on_conflict_do_nothing())
    return {} if inserted.rowcount == 1 else None


def _decode(latest: Any) -> Iterable[tuple[str, Labels, int]]:
    for metric, labels, value in latest or []:
        yield metric, tuple((k, v) for k, v in labels), int(value)


async def write(
    conn: AsyncConnection, bucket: datetime, previous: Mapping[Key, int], now: Mapping[Key, int]
) -> int:
    """Store the changed series at ``bucket`` and remember ``now`` as the latest sample."""
    rows = [
        {"metric": metric, "labels": dict(labels), "bucket": bucket, "value": value}
        for (metric, labels), value in changes(previous, now).items()
    ]
    await upsert(conn, history, rows, ["metric", "labels", "bucket"], ["value"])
    latest = [[m, [list(pair) for pair in labels], v] for (m, labels), v in sorted(now.items())]
    await conn.execute(
        update(history_progress).where(history_progress.c.id == 1).values(latest=latest)
    )
    return len(rows)


async def settled_through(conn: AsyncConnection) -> datetime | None:
    """The last boundary sampled, by any instance."""
    value: datetime | None = await conn.scalar(select(history_progress.c.settled_through))
    return value


class Recorder:
    """Cuts fetched batches at the pending boundary and samples each boundary passed."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        consumer: AIOKafkaConsumer,
        telemetry_topic: str,
        policy: Policy,
        loyal_min_orders: int,
        interval: timedelta,
    ) -> None:
        self._engine = engine
        self._consumer = consumer
        self._telemetry = telemetry_topic
        self._policy = policy
        self._loyal_min_orders = loyal_min_orders
        self.interval = interval
        self._grace = grace(interval)
        self._loaded = False
        # The next boundary to sample; None before the first ever (set from the data).
        self.pending: datetime | None = None
        # Parked partitions and the received_at of the first record held back in each.
        self._parked: dict[TopicPartition, datetime] = {}

    async def admit(
        self, items: Sequence[Item], epochs: Mapping[TopicPartition, int]
    ) -> tuple[list[Item], set[TopicPartition]]:
        """The records to apply now (per partition, those received before the pending
        boundary) and the partitions held back, now paused: the caller rewinds them to
        their stored offsets. Records of an older epoch pass through (they are dropped)."""
        await self._load()
        kept: list[Item] = []
        held: dict[TopicPartition, datetime] = {}
        for item in items:
            tp = TopicPartition(item.raw.topic, item.raw.partition)
            if tp in held:
                continue
            received = item.decoded.received_at if item.decoded is not None else None
            if (
                received is None
                or item.epoch != epochs.get(tp)
                or (self.pending is not None and received < self.pending)
            ):
                kept.append(item)
            else:
                held[tp] = received
        if held:
            self._consumer.pause(*held)
            self._parked.update(held)
        return kept, set(held)

    def parked(self) -> set[TopicPartition]:
        """Partitions waiting for the pending boundary to be sampled."""
        return set(self._parked)

    def bound(self, clock: datetime) -> datetime:
        """The churn clock, held at the pending boundary: a sweep never runs ahead of
        the history still to be sampled (a replay would otherwise churn at 'now')."""
        return clock if self.pending is None else min(clock, self.pending)

    async def tick(
        self,
        owned: Collection[TopicPartition],
        positions: Mapping[Any, PartitionPosition],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Sample every boundary this instance's partitions have all passed; return the
        signals the sweeps at those boundaries stored."""
        await self._load()
        for tp in self._parked.keys() - set(owned):
            del self._parked[tp]
        if not owned:
            return []
        if self.pending is None:
            self._start(owned, positions, now)
            return []
        signals: list[dict[str, Any]] = []
        for _ in range(MAX_BOUNDARIES_PER_TICK):
            if not self._passed(self.pending, owned, positions, now):
                break
            signals += await self._sample(self.pending, owned, now)
        self._unpark()
        return signals

    def _start(
        self,
        owned: Collection[TopicPartition],
        positions: Mapping[Any, PartitionPosition],
        now: datetime,
    ) -> None:
        """The first boundary ever: after the earliest record of every owned partition."""
        starts = []
        for tp in owned:
            position = positions.get(tp)
            if tp in self._parked:
                starts.append(self._parked[tp])
            elif position is not None and position.records == 0:
                starts.append(now)
            else:
                return  # not seen yet: its first record may be the earliest
        self.pending = boundary_after(min(starts), self.interval)
        self._unpark()

    def _passed(
        self,
        bucket: datetime,
        owned: Collection[TopicPartition],
        positions: Mapping[Any, PartitionPosition],
        now: datetime,
    ) -> bool:
        for tp in owned:
            if tp in self._parked:
                if self._parked[tp] < bucket:
                    return False
                continue
            position = positions.get(tp)
            if position is None or position.records != 0 or now < bucket + self._grace:
                return False
        return True

    async def _sample(
        self, bucket: datetime, owned: Collection[TopicPartition], now: datetime
    ) -> list[dict[str, Any]]:
        """Sweep on clock ``bucket`` and write the sample, in one transaction."""
        telemetry = sorted(tp.partition for tp in owned if tp.topic == self._telemetry)
        async with self._engine.begin() as conn:
            previous = await claim(conn, bucket, now)
            if previous is None:  # another instance sampled it: continue after theirs
                settled = await settled_through(conn)
                assert settled is not None
                self.pending = max(bucket, settled) + self.interval
                return []
            result = await sweep(
                conn,
                partitions=telemetry,
                clock=bucket,
                now=now,
                policy=self._policy,
                loyal_min_orders=self._loyal_min_orders,
            )
            await write(conn, bucket, previous, await counts(conn))
        self.pending = bucket + self.interval
        return result.signals

    def _unpark(self) -> None:
        """Resume the partitions whose first held record belongs before the new boundary."""
        if self.pending is None:
            return
        ready = [tp for tp, at in self._parked.items() if at < self.pending]
        for tp in ready:
            del self._parked[tp]
        if ready:
            self._consumer.resume(*ready)

    async def _load(self) -> None:
        if self._loaded:
            return
        async with self._engine.connect() as conn:
            settled = await settled_through(conn)
        if settled is not None:
            self.pending = settled + self.interval
        self._loaded = True
