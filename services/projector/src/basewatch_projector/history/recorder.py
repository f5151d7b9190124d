"""The history recorder: decides when the pending boundary is passed, and samples it.

The consume loop holds back, per partition, the records received at or after the
pending boundary B (``consume/holding.py``). B is passed when every partition this
instance owns is held at B or caught up (and the wall clock is past B by a small grace,
for records still on their way to the broker); then the sweep runs on clock B and the
sample is written, in one transaction, and the pending boundary moves on.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from aiokafka import TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.churn.schedule import Sweeper
from basewatch_projector.history.cohorts import due, period_end
from basewatch_projector.history.samples import claim, sample, settled_through
from basewatch_projector.history.steps import boundary_after, boundary_at_or_before, grace
from basewatch_projector.rules.clock import PartitionPosition, Standing, caught_up_at
from basewatch_projector.rules.signals import OnSignals, Row
from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient

log = logging.getLogger("basewatch.projector.history")
MAX_BOUNDARIES_PER_TICK = 500  # the consume loop moves on; the next tick continues
# Boundaries sampled one by one in a stretch without records; beyond, the stretch is
# crossed in one step per week or month it ends (only the sweep could differ between
# them; a demo database restarted a day later would otherwise walk 17,280 boundaries of
# 5 s), so that each period's last boundary is sampled (its cohort cells).
MAX_IDLE_BOUNDARIES = 100
# A partition behind whose offset has not moved for this long (its leader is down, say)
# no longer holds the boundary: the instance's other partitions go on.
STALLED = timedelta(seconds=60)


def partition_passed(
    bucket: datetime,
    *,
    held_from: datetime | None,
    records: int | None,
    reported_at: datetime | None,
    stalled_for: timedelta,
    now: datetime,
    grace: timedelta,
) -> bool:
    """Whether a partition has passed boundary ``bucket``: its next record, held, was
    received at or after it; or it is caught up as the broker reported (``reported_at``)
    past the boundary by the grace; or it is behind (or unknown) but has not moved for
    STALLED."""
    if held_from is not None:
        return held_from >= bucket
    if records == 0:
        return min(now, reported_at or now) >= bucket + grace
    return stalled_for >= STALLED


class Recorder:
    """Samples each boundary this instance's partitions have all passed."""

    def __init__(
        self,
        engine: AsyncEngine,
        sweeper: Sweeper,
        *,
        telemetry_topic: str,
        interval: timedelta,
        on_signals: OnSignals,
    ) -> None:
        self._engine, self._sweeper, self._on_signals = engine, sweeper, on_signals
        self._telemetry = telemetry_topic
        self.interval, self._grace = interval, grace(interval)
        # The next boundary to sample; None before the first ever (set from the data).
        self.pending: datetime | None = None
        # Per partition, its stored offset when last looked at, and since when.
        self._moved: dict[TopicPartition, tuple[int | None, datetime]] = {}

    async def load(self) -> None:
        """Continue after the last boundary sampled (by any instance), if any."""
        async with self._engine.connect() as conn:
            settled = await settled_through(conn)
        if settled is not None:  # aligned on this interval, if it was changed
            self.pending = boundary_after(settled, self.interval)

    def bound(self, clock: datetime) -> datetime:
        """The churn clock, held at the pending boundary: a sweep never runs ahead of
        the history still to be sampled (a replay would otherwise churn at 'now')."""
        return clock if self.pending is None else min(clock, self.pending)

    async def tick(self, at: Standing, stop: asyncio.Event | None = None) -> bool:
        """Sample every boundary this instance's partitions have all passed (the caller
        holds the consume loop's lock: no batch is applied meanwhile), until ``stop`` is
        set: the boundaries left are sampled after the next start. True when the pending
        boundary moved (what it held may be released now)."""
        was = self.pending
        self._moved = {tp: seen for tp, seen in self._moved.items() if tp in at.owned}
        signals: list[Row] = []
        try:
            if at.owned and self.pending is None:
                self._start(at)
            for walked in range(MAX_BOUNDARIES_PER_TICK):
                bucket = self.pending
                if not at.owned or bucket is None or not self._passed(bucket, at):
                    break
                if stop is not None and stop.is_set():
                    break  # each sample can take a while (a large base): SIGTERM waits for one
                if walked >= MAX_IDLE_BOUNDARIES:  # nothing was applied since the first
                    # Never past a week's or month's last boundary: its cohort cells.
                    end = period_end(bucket, self.interval)
                    bucket = max(bucket, min(self._last_passed(at), end))
                signals += await self._sample(bucket, at)
        except MAYBE_TRANSIENT as exc:
            if not transient(exc):
                raise
            log.warning("history sample failed; the next tick retries", extra={"error": repr(exc)})
        self._on_signals(signals)
        return self.pending != was

    def _start(self, at: Standing) -> None:
        """The first boundary ever: after the earliest record of every owned partition."""
        starts = []
        for tp in at.owned:
            position = at.positions.get(tp)
            if tp in at.held:
                starts.append(at.held[tp])
            elif position is not None and position.records == 0:
                starts.append(at.now)
            elif self._stalled_for(tp, position, at.now) < STALLED:
                return  # not seen yet: its first record may be the earliest
        self.pending = boundary_after(min(starts, default=at.now), self.interval)

    def _passed(self, bucket: datetime, at: Standing) -> bool:
        return all(self._partition_passed(bucket, tp, at) for tp in at.owned)

    def _partition_passed(self, bucket: datetime, tp: TopicPartition, at: Standing) -> bool:
        position = at.positions.get(tp)
        return partition_passed(
            bucket,
            held_from=at.held.get(tp),
            records=None if position is None else position.records,
            reported_at=None if position is None else position.end_reported_at,
            stalled_for=self._stalled_for(tp, position, at.now),
            now=at.now,
            grace=self._grace,
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

    def _last_passed(self, at: Standing) -> datetime:
        """The latest boundary every owned partition has passed (all have passed one)."""
        horizon = min(at.held.get(tp, self._reached(tp, at)) for tp in at.owned)
        return boundary_at_or_before(horizon, self.interval)

    def _reached(self, tp: TopicPartition, at: Standing) -> datetime:
        """How far a partition not held has surely reached: when it was last known to be
        caught up, less the grace (``_passed`` said it is caught up or stuck)."""
        position = at.positions.get(tp)
        if position is None or position.records != 0:  # stuck: the others go on
            return at.now - self._grace
        return caught_up_at(position, at.now) - self._grace

    async def _sample(self, bucket: datetime, at: Standing) -> list[Row]:
        """Sweep on clock ``bucket`` and write the sample, in one transaction."""
        telemetry = sorted(tp.partition for tp in at.owned if tp.topic == self._telemetry)
        async with self._engine.begin() as conn:
            previous = await claim(conn, bucket, at.now)
            if previous is None:  # another instance sampled it: continue after theirs
                settled = await settled_through(conn)
                assert settled is not None
                self.pending = boundary_after(max(bucket, settled), self.interval)
                return []
            result = await self._sweeper.sweep(conn, at.positions, telemetry, bucket, at.now)
            # Behind (the next boundary is past on the clock, so a later sample comes),
            # the cells of the period going on are left to it: catching up counted every
            # cohort at every boundary (bench.projector's statement times).
            latest = bucket + self.interval + self._grace > at.now
            periods = due(bucket, self.interval, at.now, latest=latest)
            await sample(conn, bucket, previous, self.interval, periods)
        self._sweeper.settle(at.positions, result)
        self.pending = bucket + self.interval
        return result.signals
