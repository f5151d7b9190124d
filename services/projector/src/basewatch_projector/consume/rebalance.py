"""The partitions this instance owns, positioned where the database says they stand.

On assignment each partition is paused, sought to the offset stored in the database
(or the beginning), and resumed: the database, not Kafka, is the source of truth.
Every repositioning bumps the partition's epoch, so records fetched before it are
dropped (the seek fetches them again). aiokafka calls the listener from its own task,
concurrently with the consume loop: ``lock`` is held while a batch is applied or
partitions move.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.consume.decode import Item
from basewatch_projector.consume.holding import Holding
from basewatch_projector.consume.lag import LagTracker
from basewatch_projector.consume.pausing import Pausing, Reason
from basewatch_projector.metrics import Metrics
from basewatch_projector.projection.known import Known
from basewatch_projector.projection.offsets import load_offsets

log = logging.getLogger("basewatch.projector.consumer")


class Assignment:
    """Positions assigned partitions, forgets revoked ones, and tells stale records."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        engine: AsyncEngine,
        *,
        group: str,
        lag: LagTracker,
        pausing: Pausing,
        holding: Holding,
        metrics: Metrics,
        known: Known,
    ) -> None:
        self._consumer, self._engine, self._group = consumer, engine, group
        self._lag, self._metrics = lag, metrics
        self._pausing, self._holding, self._known = pausing, holding, known
        self.lock = asyncio.Lock()  # held while a batch is applied or partitions move
        self._epoch: dict[TopicPartition, int] = {}

    def listener(self) -> ConsumerRebalanceListener:
        """The rebalance listener to subscribe with."""
        return _Listener(self)

    def epochs(self) -> dict[TopicPartition, int]:
        """Each partition's epoch now (a copy: take it before awaiting the fetch's fate)."""
        return dict(self._epoch)

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek each new partition to the offset the database holds (or the beginning)."""
        # Paused first: nothing is fetched from wherever Kafka thinks we are.
        self._pausing.hold(Reason.ASSIGNING, assigned)
        await self.resync(assigned)
        self._pausing.release(Reason.ASSIGNING, assigned)
        self._metrics.rebalances.inc()
        log.info("partitions assigned", extra={"partitions": _names(assigned)})

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let the batch in flight finish before the partitions go to another member."""
        async with self.lock:
            self._lag.revoked(revoked)
            self._pausing.forget(revoked)
            self._holding.forget(revoked)
            self._known.forget()
            for tp in revoked:
                self._epoch.pop(tp, None)
        if revoked:
            log.info("partitions revoked", extra={"partitions": _names(revoked)})

    async def resync(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Reload the stored offsets of ``partitions`` (None: all assigned), seek there."""
        chosen = set(self._consumer.assignment() if partitions is None else partitions)
        async with self._engine.connect() as conn:
            stored = await load_offsets(conn, self._group, chosen)
        async with self.lock:
            self._lag.assigned({tp: stored.get(tp) for tp in chosen})
            await self.rewind(chosen)

    async def rewind(self, partitions: Iterable[TopicPartition]) -> None:
        """Position partitions at their stored offsets (the caller holds the lock); the
        cached installation states go too (they may be ahead of those offsets)."""
        self._known.forget()
        positions = self._lag.positions()
        for tp in partitions:
            self._epoch[tp] = self._epoch.get(tp, 0) + 1
            position = positions.get(tp)
            if position is None:
                continue
            if position.committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, position.committed)

    def still_ours(self, items: Sequence[Item]) -> list[Item]:
        """Drop records of partitions revoked or repositioned since the fetch, and
        records already applied."""
        positions = self._lag.positions()
        kept = []
        for item in items:
            tp = TopicPartition(item.raw.topic, item.raw.partition)
            position = positions.get(tp)
            if (
                position is not None
                and item.epoch == self._epoch.get(tp)
                and item.raw.offset >= (position.committed or 0)
            ):
                kept.append(item)
        return kept


def _names(partitions: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, assignment: Assignment) -> None:
        self._assignment = assignment

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._assignment.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._assignment.on_assigned(assigned)
