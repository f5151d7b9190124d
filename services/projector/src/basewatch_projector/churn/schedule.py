"""Who sweeps, and when: the one owner of churn sweeps.

Each instance sweeps only the installations of the telemetry partitions assigned to it,
inside the lock that serializes its batches (the consume loop holds it when it calls),
so a transition is decided once. Two callers ask for a sweep: the consume loop every
``BASEWATCH_SWEEP_INTERVAL``, on the churn clock held at the pending history boundary,
and the history recorder at each boundary it samples, on the boundary's clock, inside
the sample's transaction. Both go through ``Sweeper``, which holds the policy and
reports what the periodic sweep found.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.churn.sweep import SweepResult, sweep
from basewatch_projector.metrics import Metrics
from basewatch_projector.projection.installations import installations_by_status
from basewatch_projector.projection.known import Known
from basewatch_projector.rules.clock import PartitionPosition, churn_clock
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.signals import OnSignals
from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient

log = logging.getLogger("basewatch.projector.churn")


class Sweeper:
    """Sweeps this instance's telemetry partitions, on a schedule or on a given clock."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        policy: Policy,
        loyal_min_orders: int,
        every: timedelta,
        telemetry_topic: str,
        metrics: Metrics,
        on_signals: OnSignals,
        known: Known | None = None,
    ) -> None:
        self._known = known
        self._engine, self.policy, self._loyal_min_orders = engine, policy, loyal_min_orders
        self._every, self._topic = every.total_seconds(), telemetry_topic
        self._metrics, self._on_signals = metrics, on_signals
        self._next = 0.0  # loop time of the next periodic sweep

    async def sweep(
        self, conn: AsyncConnection, partitions: Collection[int], clock: datetime, now: datetime
    ) -> SweepResult:
        """Sweep ``partitions`` on ``clock`` in the caller's transaction."""
        result = await sweep(
            conn,
            partitions=partitions,
            clock=clock,
            now=now,
            policy=self.policy,
            loyal_min_orders=self._loyal_min_orders,
        )
        if result.signals and self._known is not None:
            self._known.forget()  # rows moved: the consume loop's cached states are old
        return result

    def due(self) -> bool:
        """Whether the periodic sweep is due."""
        return asyncio.get_running_loop().time() >= self._next

    async def sweep_owned(
        self,
        owned: Collection[TopicPartition],
        positions: Mapping[Any, PartitionPosition],
        now: datetime,
        bound: Callable[[datetime], datetime],
    ) -> None:
        """The periodic sweep of the owned telemetry partitions, on the churn clock held
        by ``bound`` (never ahead of the history still to be sampled)."""
        self._next = asyncio.get_running_loop().time() + self._every
        telemetry = [tp for tp in owned if tp.topic == self._topic]
        clock = churn_clock(positions, now, telemetry)
        if clock is None:
            return
        clock = bound(clock)
        self._metrics.churn_clock_lag.set(max(0.0, (now - clock).total_seconds()))
        try:
            async with self._engine.begin() as conn:
                result = await self.sweep(conn, [tp.partition for tp in telemetry], clock, now)
                counts = await installations_by_status(conn)
        except MAYBE_TRANSIENT as exc:
            if not transient(exc):
                raise
            log.warning("churn sweep failed; next sweep retries", extra={"error": repr(exc)})
            return
        self._metrics.held.set(result.held)
        self._metrics.set_installations(counts)
        self._on_signals(result.signals)
