"""Who sweeps, and when: the one owner of churn sweeps.

Each instance sweeps only the installations of the telemetry partitions assigned to it,
inside the lock that serializes its batches (the consume loop holds it when it calls),
so a transition is decided once. Each partition is swept on its own clock
(``rules/clock.py``), from where its last sweep left it. Three occasions:

- a partition's next clock reaches its next deadline (a record held there by
  ``churn/cut.py``, or, caught up, the wall clock minus the ingest delay passed it);
- every ``BASEWATCH_SWEEP_INTERVAL`` (held transitions are decided again);
- the history recorder, at each boundary it samples, on the boundary's clock, inside
  the sample's transaction.

Every sweep covers all owned telemetry partitions (the mass-silence guard weighs them
together) and no clock runs ahead of the history still to be sampled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.churn.cut import Cut
from basewatch_projector.churn.sweep import SweepResult, sweep
from basewatch_projector.metrics import Metrics
from basewatch_projector.projection.installations import installations_by_status
from basewatch_projector.projection.known import Known
from basewatch_projector.rules.clock import PartitionPosition, Standing, partition_clock
from basewatch_projector.rules.installation import Installation
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.signals import OnSignals
from basewatch_projector.rules.silence import next_deadline
from basewatch_projector.storage.counts import fold
from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient

log = logging.getLogger("basewatch.projector.churn")
Positions = Mapping[Any, PartitionPosition]


class Sweeper:
    """Sweeps this instance's telemetry partitions when their clocks pass a deadline,
    on a schedule, or on a given clock."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        policy: Policy,
        loyal_min_orders: int,
        every: timedelta,
        ingest_delay: timedelta,
        telemetry_topic: str,
        metrics: Metrics,
        on_signals: OnSignals,
        known: Known | None = None,
    ) -> None:
        self._known = known
        self._engine, self.policy, self._loyal_min_orders = engine, policy, loyal_min_orders
        self._every, self._delay, self._topic = every.total_seconds(), ingest_delay, telemetry_topic
        self._window = every
        self._metrics, self._on_signals = metrics, on_signals
        self._next = 0.0  # loop time of the next periodic sweep
        self._retry = 0.0  # after a failed sweep: no sweep before this loop time
        self._held = 0  # moves the last sweep held (mass-silence guard)

    def cut(self, boundary: datetime | None, positions: Positions) -> Cut:
        """Where the next fetch's records must wait (one Cut per decision)."""
        return Cut(
            boundary, positions, telemetry_topic=self._topic, earliest=self.policy.earliest()
        )

    def touched(self, states: Iterable[Installation], positions: Positions) -> None:
        """After a batch committed: its installations' deadlines lower their partitions'."""
        for inst in states:
            position = positions.get((self._topic, inst.partition))
            if position is None or position.deadline is None:
                continue
            deadline = next_deadline(self.policy, inst.status, inst.silent_since, inst.product_id)
            if deadline is not None and deadline < position.deadline:
                position.deadline = deadline

    async def sweep(
        self,
        conn: AsyncConnection,
        positions: Positions,
        partitions: Collection[int],
        clock: datetime,
        now: datetime,
    ) -> SweepResult:
        """Sweep ``partitions`` up to ``clock`` in the caller's transaction; ``settle``
        once it committed."""
        clocks, deadlines = {}, {}
        for p in partitions:
            position = positions.get((self._topic, p))
            since = None if position is None else position.swept_to
            clocks[p] = (since, clock if since is None else max(since, clock))
            if since is not None and position and position.deadline:
                deadlines[p] = position.deadline
        if not self._held and all(
            p in deadlines and c[1] < deadlines[p] for p, c in clocks.items()
        ):
            # Nothing is due (each deadline is a lower bound): the clocks move on without
            # the sweep's two queries, a quarter of a replay's sample (bench.replay).
            swept = {p: until for p, (_, until) in clocks.items()}
            return SweepResult(deadlines=deadlines, swept=swept)
        return await self._sweep(conn, clocks, now)

    async def _sweep(
        self,
        conn: AsyncConnection,
        clocks: Mapping[int, tuple[datetime | None, datetime]],
        now: datetime,
    ) -> SweepResult:
        result = await sweep(
            conn,
            clocks=clocks,
            now=now,
            policy=self.policy,
            loyal_min_orders=self._loyal_min_orders,
            window=self._window,
        )
        result.swept = {p: until for p, (_, until) in clocks.items()}
        if result.signals and self._known is not None:
            # The rows it moved: the consume loop's cached states of them are old.
            self._known.drop(row["installation_id"] for row in result.signals)
        return result

    def settle(self, positions: Positions, result: SweepResult) -> None:
        """A sweep committed: its partitions' clocks and deadlines are known exactly."""
        self._held = result.held  # held moves are weighed again at the next sweep
        for p, until in result.swept.items():
            position = positions.get((self._topic, p))
            if position is not None:
                position.swept_to, position.deadline = until, result.deadlines[p]

    async def catch_up(self, at: Standing, bound: Callable[[datetime], datetime]) -> None:
        """Sweep when a partition's next clock reaches its deadline, or when the periodic
        sweep is due; each partition on its clock, held by ``bound`` (never ahead of the
        history still to be sampled)."""
        clocks = self._clocks(at, bound)
        positions, now = at.positions, at.now
        loop = asyncio.get_running_loop()
        passed = any(
            (deadline := positions[tp].deadline) is None or until >= deadline
            for tp, (_, until) in clocks.items()
        )
        if not clocks or loop.time() < self._retry or not (passed or loop.time() >= self._next):
            return
        self._next = loop.time() + self._every
        self._metrics.churn_clock_lag.set(
            max(0.0, (now - min(u for _, u in clocks.values())).total_seconds())
        )
        try:
            async with self._engine.begin() as conn:
                result = await self._sweep(conn, {tp.partition: c for tp, c in clocks.items()}, now)
                await fold(conn)  # what the counts' readers sum stays small
                counts = await installations_by_status(conn)
        except MAYBE_TRANSIENT as exc:
            if not transient(exc):
                raise
            log.warning("churn sweep failed; next sweep retries", extra={"error": repr(exc)})
            self._retry = self._next  # not at every turn of the loop meanwhile
            return
        self.settle(positions, result)
        self._metrics.held.set(result.held)
        self._metrics.set_installations(counts)
        self._on_signals(result.signals)

    def _clocks(
        self, at: Standing, bound: Callable[[datetime], datetime]
    ) -> dict[TopicPartition, tuple[datetime | None, datetime]]:
        """Per owned telemetry partition with a known clock: (its last sweep's clock, the
        clock to sweep it on): a held record's time, or the partition's clock."""
        clocks = {}
        for tp in at.owned:
            position = at.positions.get(tp)
            if tp.topic != self._topic or position is None:
                continue
            until = partition_clock(position, at.now, self._delay)
            if (held := at.held.get(tp)) is not None:
                until = held if until is None else max(until, held)
            if until is None:
                continue
            since = position.swept_to
            until = bound(until)
            clocks[tp] = (since, until if since is None else max(since, until))
        return clocks
