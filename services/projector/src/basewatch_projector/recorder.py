"""The history recorder in the consume loop: cut batches at the boundary, sample it.

Each fetched batch is cut per partition at the first record received at or after the
pending boundary B. The records from there on are held in memory and the partition is
paused (*parked*), so nothing received at or after B is applied before B is sampled.
B is passed when every partition this instance owns is parked or caught up (and the
wall clock is past B by a small grace, for records still on their way to the broker);
then the sweep runs on clock B and the sample is written, and the held records are
released up to the next boundary. Held records are never fetched twice: a replay
crosses a boundary without a round trip to the broker.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.churn import Policy, sweep
from basewatch_projector.history import (
    EPOCH,
    boundary_after,
    claim,
    counts,
    grace,
    settled_through,
    write,
)
from basewatch_projector.metrics import Metrics
from basewatch_projector.outbox import Outbox

if TYPE_CHECKING:
    from basewatch_projector.consumer import Item
    from basewatch_projector.lag import PartitionPosition

log = logging.getLogger("basewatch.projector.history")
MAX_BOUNDARIES_PER_TICK = 500  # the consume loop moves on; the next tick continues
# Boundaries sampled one by one in a stretch without records; beyond, the stretch is
# crossed in one step (only the sweep could differ between them; a demo database
# restarted a day later would otherwise walk 17,280 boundaries of 5 s).
MAX_IDLE_BOUNDARIES = 100
# A partition behind whose offset has not moved for this long (its leader is down, say)
# no longer holds the boundary: the instance's other partitions go on.
STALLED = timedelta(seconds=60)


def partition_passed(
    bucket: datetime,
    *,
    held_from: datetime | None,
    records: int | None,
    stalled_for: timedelta,
    now: datetime,
    grace: timedelta,
) -> bool:
    """Whether a partition has passed boundary ``bucket``: its next record, held, was
    received at or after it; or it is caught up and the wall clock is past the boundary
    by the grace; or it is behind (or unknown) but has not moved for STALLED."""
    if held_from is not None:
        return held_from >= bucket
    if records == 0:
        return now >= bucket + grace
    return stalled_for >= STALLED


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
        metrics: Metrics,
        outbox: Outbox | None = None,
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._outbox = outbox
        self._consumer = consumer
        self._telemetry = telemetry_topic
        self._policy = policy
        self._loyal_min_orders = loyal_min_orders
        self.interval = interval
        self._grace = grace(interval)
        # The next boundary to sample; None before the first ever (set from the data).
        self.pending: datetime | None = None
        # Per parked partition, the records held back, in offset order.
        self._held: dict[TopicPartition, list[Item]] = {}
        # Per partition, its stored offset when last looked at, and since when.
        self._moved: dict[TopicPartition, tuple[int | None, datetime]] = {}

    async def admit(
        self, items: Sequence[Item], epochs: Mapping[TopicPartition, int]
    ) -> list[Item]:
        """The records to apply now: the held ones and ``items``, per partition those
        received before the pending boundary. The rest is held and its partition paused."""
        was_parked = set(self._held)
        queue = [i for held in self._held.values() for i in held] + list(items)
        self._held = defaultdict(list)
        kept: list[Item] = []
        for item in queue:
            tp = TopicPartition(item.raw.topic, item.raw.partition)
            if item.epoch != epochs.get(tp):
                if tp not in was_parked:
                    kept.append(item)  # a stale fetch: the consumer drops it
                continue  # held before the partition was repositioned: fetched again
            received = item.decoded.received_at if item.decoded is not None else None
            if tp in self._held or (
                received is not None and (self.pending is None or received >= self.pending)
            ):
                self._held[tp].append(item)
            else:
                kept.append(item)
        self._held = dict(self._held)
        if parked := self._held.keys() - was_parked:
            self._consumer.pause(*parked)
        if released := (was_parked - self._held.keys()) & self._consumer.assignment():
            self._consumer.resume(*released)
        return kept

    def parked(self) -> set[TopicPartition]:
        """Partitions waiting for the pending boundary to be sampled."""
        return set(self._held)

    def ready(self) -> bool:
        """True when held records belong before the pending boundary: admit them now."""
        return self.pending is not None and any(self._first(tp) < self.pending for tp in self._held)

    def bound(self, clock: datetime) -> datetime:
        """The churn clock, held at the pending boundary: a sweep never runs ahead of
        the history still to be sampled (a replay would otherwise churn at 'now')."""
        return clock if self.pending is None else min(clock, self.pending)

    async def tick(
        self,
        owned: Collection[TopicPartition],
        positions: Mapping[Any, PartitionPosition],
        now: datetime,
    ) -> None:
        """Sample every boundary this instance's partitions have all passed (the caller
        holds the consumer's lock: no batch is applied meanwhile)."""
        for tp in self._held.keys() - set(owned):
            del self._held[tp]  # revoked: the new owner fetches them from the database's offset
        self._moved = {tp: seen for tp, seen in self._moved.items() if tp in owned}
        signals: list[dict[str, Any]] = []
        try:
            if owned and self.pending is None:
                self._start(owned, positions, now)
            for walked in range(MAX_BOUNDARIES_PER_TICK):
                bucket = self.pending
                if not owned or bucket is None or not self._passed(bucket, owned, positions, now):
                    break
                if walked >= MAX_IDLE_BOUNDARIES:  # nothing was applied since the first
                    bucket = max(bucket, self._last_passed(owned, now))
                signals += await self._sample(bucket, owned, now)
        except (DBAPIError, PoolTimeout, OSError) as exc:
            log.warning("history sample failed; the next tick retries", extra={"error": repr(exc)})
        self._metrics.observe_signals(signals)
        if signals and self._outbox is not None:
            self._outbox.notify()

    def _first(self, tp: TopicPartition) -> datetime:
        """The receive time of the first record held in a parked partition."""
        decoded = self._held[tp][0].decoded
        assert decoded is not None  # a partition is parked at a record with a time
        return decoded.received_at

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
            if tp in self._held:
                starts.append(self._first(tp))
            elif position is not None and position.records == 0:
                starts.append(now)
            elif self._stalled_for(tp, position, now) < STALLED:
                return  # not seen yet: its first record may be the earliest
        self.pending = boundary_after(min(starts, default=now), self.interval)

    def _passed(
        self,
        bucket: datetime,
        owned: Collection[TopicPartition],
        positions: Mapping[Any, PartitionPosition],
        now: datetime,
    ) -> bool:
        return all(
            partition_passed(
                bucket,
                held_from=self._first(tp) if tp in self._held else None,
                records=None if positions.get(tp) is None else positions[tp].records,
                stalled_for=self._stalled_for(tp, positions.get(tp), now),
                now=now,
                grace=self._grace,
            )
            for tp in owned
        )

    def _stalled_for(
        self, tp: TopicPartition, position: PartitionPosition | None, now: datetime
    ) -> timedelta:
        """How long the partition has been behind without its stored offset moving."""
        committed = None if position is None else position.committed
        seen = self._moved.get(tp)
        if seen is None or seen[0] != committed or (position and position.records == 0):
            self._moved[tp] = (committed, now)
            return timedelta(0)
        return now - seen[1]

    def _last_passed(self, owned: Collection[TopicPartition], now: datetime) -> datetime:
        """The latest boundary every owned partition has passed (all have passed one)."""
        horizon = min(self._first(tp) if tp in self._held else now - self._grace for tp in owned)
        return EPOCH + ((horizon - EPOCH) // self.interval) * self.interval

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
                self.pending = boundary_after(max(bucket, settled), self.interval)
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

    async def load(self) -> None:
        """Continue after the last boundary sampled (by any instance), if any."""
        async with self._engine.connect() as conn:
            settled = await settled_through(conn)
        if settled is not None:  # aligned on this interval, if it was changed
            self.pending = boundary_after(settled, self.interval)
