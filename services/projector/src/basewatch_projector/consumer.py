"""The consume loop: batches from Kafka, applied exactly once to the database.

Each batch is one transaction that applies the records and moves the stored offsets
with a compare-and-set (``store.advance_offsets``). On assignment the consumer seeks
to the offsets stored in the database, so the database, not Kafka, is the source of
truth; Kafka offsets are committed afterwards, best effort, for standard lag tools.

- A record that cannot be processed (not JSON, fails the contract, violates a
  constraint) goes to the dead-letter topic, acknowledged before the offset moves past
  it, and the partition keeps moving.
- An infrastructure error (database down) is retried with backoff while the
  partitions are paused and the consumer keeps polling, so it keeps its membership.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector import store
from basewatch_projector.apply import apply_records
from basewatch_projector.errors import FencedError
from basewatch_projector.metrics import Metrics
from basewatch_shared.records import Record, RecordError, decode_record
from basewatch_shared.topics import Topics

log = logging.getLogger("basewatch.projector.consumer")
KafkaRecord: TypeAlias = ConsumerRecord  # [bytes, bytes]; aiokafka ships no types
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True, slots=True)
class Item:
    """A consumed record and what decoding made of it (a Record or the reason it failed)."""

    raw: KafkaRecord
    decoded: Record | None
    error: str | None


def decode(raw: KafkaRecord) -> Item:
    """Decode a Kafka record; a failure is data for the dead-letter topic, not a crash."""
    try:
        return Item(raw, decode_record(raw.value or b""), None)
    except RecordError as exc:
        return Item(raw, None, str(exc))


class Consumer:
    """Owns the Kafka consumer and applies what it fetches to the database."""

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        engine: AsyncEngine,
        topics: Topics,
        group: str,
        loyal_min_orders: int,
        batch_max_records: int,
        metrics: Metrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._engine = engine
        self._topics = topics
        self._group = group
        self._loyal_min_orders = loyal_min_orders
        self._batch_max = batch_max_records
        self._metrics = metrics
        self._clock = clock
        self._lock = asyncio.Lock()  # held while a batch is applied
        self._expected: dict[TopicPartition, int | None] = {}

    def subscribe(self) -> None:
        """Subscribe to the customers and telemetry topics with our rebalance listener."""
        self._consumer.subscribe(
            [self._topics.customers, self._topics.telemetry], listener=_Listener(self)
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in flight finishes or rolls back whole."""
        while not stop.is_set():
            fetched = await self._consumer.getmany(timeout_ms=200, max_records=self._batch_max)
            items = [decode(raw) for records in fetched.values() for raw in records]
            if items:
                await self._process(items, stop)

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek each new partition to the offset the database holds (or the beginning)."""
        async with self._engine.connect() as conn:
            stored = await store.load_offsets(
                conn, self._group, [(tp.topic, tp.partition) for tp in assigned]
            )
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition))
            self._expected[tp] = offset
            if offset is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, offset)
        self._metrics.rebalances.inc()
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)},
        )

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let the batch in flight finish before the partitions go to another member."""
        async with self._lock:
            for tp in revoked:
                self._expected.pop(tp, None)
        if revoked:
            log.info(
                "partitions revoked",
                extra={"partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in revoked)},
            )

    async def _process(self, items: list[Item], stop: asyncio.Event) -> None:
        backoff = 0.5
        while True:
            try:
                await self._apply(items)
                self._consumer.resume(*self._consumer.assignment())
                return
            except FencedError:
                log.warning("another member moved these partitions first; batch dropped")
                await self._resync()
                return
            except (DataError, IntegrityError):
                await self._apply_one_by_one(items)
                return
            except (DBAPIError, PoolTimeout, OSError, KafkaError) as exc:
                # Infrastructure, not data: retry the same batch, never drop or dead-letter it.
                if stop.is_set():
                    raise
                self._metrics.retries.inc()
                log.warning(
                    "batch failed, retrying", extra={"error": repr(exc), "backoff_s": backoff}
                )
            # Keep polling with the partitions paused: the group sees us alive.
            self._consumer.pause(*self._consumer.assignment())
            await self._consumer.getmany(timeout_ms=int(backoff * 1000))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _resync(self) -> None:
        """Seek every assigned partition back to the offset the database holds."""
        async with self._lock:
            await self.on_assigned(self._consumer.assignment())

    async def _apply(self, items: Sequence[Item]) -> None:
        async with self._lock:
            items = self._still_ours(items)
            if not items:
                return
            await self._dead_letter([i for i in items if i.error is not None])
            records = [i.decoded for i in items if i.decoded is not None]
            moves = self._moves(items)
            now = self._clock()
            started = asyncio.get_running_loop().time()
            async with self._engine.begin() as conn:
                await apply_records(conn, records, loyal_min_orders=self._loyal_min_orders, now=now)
                if not await store.advance_offsets(conn, self._group, moves, now):
                    raise FencedError("offsets moved by another member")
            self._metrics.observe_batch(items, asyncio.get_running_loop().time() - started)
            for (topic, partition), (_, new) in moves.items():
                self._expected[TopicPartition(topic, partition)] = new
        await self._commit_kafka(moves)

    async def _apply_one_by_one(self, items: Sequence[Item]) -> None:
        """Isolate the record that violates a constraint: apply each alone."""
        for item in items:
            try:
                await self._apply([item])
            except (DataError, IntegrityError) as exc:
                reason = f"database refused the record: {exc.orig!r}"[:1000]
                await self._apply([Item(item.raw, None, reason)])

    def _still_ours(self, items: Sequence[Item]) -> list[Item]:
        """Drop records of partitions revoked meanwhile and records already applied."""
        kept = []
        for item in items:
            tp = TopicPartition(item.raw.topic, item.raw.partition)
            if tp in self._expected and item.raw.offset >= (self._expected[tp] or 0):
                kept.append(item)
        return kept

    def _moves(self, items: Sequence[Item]) -> dict[tuple[str, int], tuple[int | None, int]]:
        moves: dict[tuple[str, int], tuple[int | None, int]] = {}
        for item in items:
            tp = TopicPartition(item.raw.topic, item.raw.partition)
            key = (tp.topic, tp.partition)
            prev = moves.get(key, (self._expected[tp], -1))[1]
            moves[key] = (self._expected[tp], max(prev, item.raw.offset + 1))
        return moves

    async def _dead_letter(self, failed: Sequence[Item]) -> None:
        if not failed:
            return
        futures = []
        for item in failed:
            raw = item.raw
            headers = [
                ("basewatch.original.topic", raw.topic.encode()),
                ("basewatch.original.partition", str(raw.partition).encode()),
                ("basewatch.original.offset", str(raw.offset).encode()),
                ("basewatch.error", (item.error or "").encode()[:1000]),
            ]
            futures.append(
                await self._producer.send(
                    self._topics.deadletter, value=raw.value, key=raw.key, headers=headers
                )
            )
            log.error(
                "record dead-lettered",
                extra={
                    "topic": raw.topic,
                    "partition": raw.partition,
                    "offset": raw.offset,
                    "reason": item.error,
                },
            )
        await asyncio.gather(*futures)
        self._metrics.events.labels(type="unknown", outcome="dead_lettered").inc(len(failed))

    async def _commit_kafka(self, moves: dict[tuple[str, int], tuple[int | None, int]]) -> None:
        offsets = {TopicPartition(t, p): new for (t, p), (_, new) in moves.items()}
        try:
            await self._consumer.commit(offsets)
        except (KafkaError, AssertionError) as exc:
            # The database already holds these offsets; Kafka's copy is for lag tools only.
            log.info("kafka offset commit skipped", extra={"error": repr(exc)})


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._consumer.on_assigned(assigned)
