"""The consume loop: batches from Kafka, applied exactly once to the database.

Each batch is one transaction that applies the records and moves the stored offsets
with a compare-and-set (``store.advance_offsets``). On assignment the consumer seeks
to the offsets stored in the database, so the database, not Kafka, is the source of
truth; Kafka offsets are committed afterwards, best effort, for standard lag tools.

- A record that cannot be processed (not JSON, fails the contract, violates a
  constraint) goes to the dead-letter topic, acknowledged before the offset moves past
  it, and the partition keeps moving. (A crash between the two can dead-letter a
  record twice; it is never lost.)
- An infrastructure error (database down) is retried with backoff while the
  partitions are paused and the consumer keeps polling, so it keeps its membership.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector import store
from basewatch_projector.apply import apply_records
from basewatch_projector.churn import Policy, churn_clock, sweep
from basewatch_projector.errors import FencedError
from basewatch_projector.lag import LagTracker
from basewatch_projector.metrics import Metrics
from basewatch_projector.outbox import Outbox
from basewatch_projector.recorder import Recorder
from basewatch_shared.contract.events import Heartbeat, Install, Uninstall
from basewatch_shared.contract.records import Record, RecordError, decode_record
from basewatch_shared.topics import Topics

log = logging.getLogger("basewatch.projector.consumer")
KafkaRecord: TypeAlias = ConsumerRecord  # [bytes, bytes]; aiokafka ships no types
Moves = dict[tuple[str, int], tuple[int | None, int]]
MAX_BACKOFF_S = 30.0
INFRASTRUCTURE = (DBAPIError, PoolTimeout, OSError, KafkaError)


@dataclass(frozen=True, slots=True)
class Item:
    """A consumed record, what decoding made of it, and its partition's epoch at fetch."""

    raw: KafkaRecord
    decoded: Record | None
    error: str | None
    epoch: int = 0


def decode(raw: KafkaRecord, epoch: int = 0) -> Item:
    """Decode a Kafka record; a failure is data for the dead-letter topic, not a crash."""
    try:
        return Item(raw, decode_record(raw.value or b""), None, epoch)
    except RecordError as exc:
        return Item(raw, None, str(exc), epoch)


def _telemetry_partitions(items: Sequence[Item]) -> dict[str, int]:
    """installation_id -> the partition its events arrive on."""
    return {
        item.decoded.event.installation_id: item.raw.partition
        for item in items
        if item.decoded is not None
        and isinstance(item.decoded.event, Install | Heartbeat | Uninstall)
    }


def _names(partitions: Sequence[TopicPartition] | set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


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
        lag: LagTracker,
        policy: Policy,
        sweep_interval: timedelta,
        outbox: Outbox | None = None,
        history: Recorder | None = None,
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
        self.lag = lag
        self._policy = policy
        self._sweep_every = sweep_interval.total_seconds()
        self._next_sweep = 0.0
        self._outbox = outbox
        self._history = history
        self._lock = asyncio.Lock()  # held while a batch is applied or partitions move
        # Bumped whenever a partition is (re)positioned: records fetched before that
        # belong to an older epoch and are dropped (the seek fetches them again).
        self._epoch: dict[TopicPartition, int] = {}

    def subscribe(self) -> None:
        """Subscribe to the customers and telemetry topics with our rebalance listener."""
        self._consumer.subscribe(
            [self._topics.customers, self._topics.telemetry], listener=_Listener(self)
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in flight finishes or rolls back whole."""
        while not stop.is_set():
            ready = self._history is not None and self._history.ready()  # held records
            fetched = await self._consumer.getmany(
                timeout_ms=0 if ready else 200, max_records=self._batch_max
            )
            epochs = dict(self._epoch)  # taken before any await: the epoch of this fetch
            self._note_fetch()
            items = [
                decode(raw, epochs.get(tp, -1))
                for tp, records in fetched.items()
                for raw in records
            ]
            if self._history is not None:  # cut at the next history boundary
                items = await self._history.admit(items, epochs)
            if items:
                await self._process(items, stop)
            self.lag.export()
            if self._history is not None:  # sample the boundaries the partitions passed
                async with self._lock:
                    owned = self._consumer.assignment()
                    await self._history.tick(owned, self.lag.positions(), self._clock())
            if asyncio.get_running_loop().time() >= self._next_sweep:
                await self._sweep()

    async def _sweep(self) -> None:
        """Run the churn sweep over this instance's telemetry partitions, on the churn clock."""
        self._next_sweep = asyncio.get_running_loop().time() + self._sweep_every
        now = self._clock()
        async with self._lock:
            owned = [tp for tp in self._consumer.assignment() if tp.topic == self._topics.telemetry]
            clock = churn_clock(self.lag.positions(), now, owned)
            if clock is None:
                return
            if self._history is not None:
                clock = self._history.bound(clock)
            self._metrics.churn_clock_lag.set(max(0.0, (now - clock).total_seconds()))
            try:
                async with self._engine.begin() as conn:
                    result = await sweep(
                        conn,
                        partitions=[tp.partition for tp in owned],
                        clock=clock,
                        now=now,
                        policy=self._policy,
                        loyal_min_orders=self._loyal_min_orders,
                    )
                    counts = await store.installations_by_status(conn)
            except INFRASTRUCTURE as exc:
                log.warning("churn sweep failed; next sweep retries", extra={"error": repr(exc)})
                return
        self._metrics.held.set(result.held)
        self._metrics.observe_signals(result.signals)
        self._metrics.set_installations(counts)
        if result.signals and self._outbox is not None:
            self._outbox.notify()

    def _unparked(self) -> set[TopicPartition]:
        parked = self._history.parked() if self._history is not None else set()
        return set(self._consumer.assignment()) - parked

    def _note_fetch(self) -> None:
        for tp in self._consumer.assignment():
            self.lag.fetched(tp, self._consumer.highwater(tp))

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek each new partition to the offset the database holds (or the beginning)."""
        # Paused first: nothing is fetched from wherever Kafka thinks we are.
        self._consumer.pause(*assigned)
        async with self._engine.connect() as conn:
            stored = await store.load_offsets(conn, self._group, assigned)
        async with self._lock:
            self.lag.assigned({tp: stored.get(tp) for tp in assigned})
            await self._rewind(assigned)
        self._consumer.resume(*assigned)
        self._metrics.rebalances.inc()
        log.info("partitions assigned", extra={"partitions": _names(assigned)})

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Let the batch in flight finish before the partitions go to another member."""
        async with self._lock:
            self.lag.revoked(revoked)
            for tp in revoked:
                self._epoch.pop(tp, None)
        if revoked:
            log.info("partitions revoked", extra={"partitions": _names(revoked)})

    async def _rewind(self, partitions: set[TopicPartition]) -> None:
        """Position partitions at their stored offsets; records fetched before are stale."""
        positions = self.lag.positions()
        for tp in partitions:
            self._epoch[tp] = self._epoch.get(tp, 0) + 1
            position = positions.get(tp)
            if position is None:
                continue
            if position.committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, position.committed)

    async def _process(self, items: list[Item], stop: asyncio.Event) -> None:
        backoff = 0.5
        while True:
            try:
                await self._apply(items)
                self._consumer.resume(*self._unparked())
                return
            except FencedError:
                log.warning("another member moved these partitions first; batch dropped")
                await self._resync()
                return
            except (DataError, IntegrityError):
                await self._apply_one_by_one(items)
                return
            except INFRASTRUCTURE as exc:
                # Infrastructure, not data: retry the same batch, never drop or dead-letter it.
                if stop.is_set():
                    raise
                self._metrics.retries.inc()
                log.warning(
                    "batch failed, retrying", extra={"error": repr(exc), "backoff_s": backoff}
                )
            # Keep polling with the partitions paused: the group sees us alive. A partition
            # assigned meanwhile may still deliver records; they are not applied now, so
            # rewind it to fetch them again.
            self._consumer.pause(*self._consumer.assignment())
            stray = await self._consumer.getmany(timeout_ms=int(backoff * 1000))
            if stray:
                async with self._lock:
                    await self._rewind(set(stray))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _resync(self) -> None:
        """Reload the stored offsets of every assigned partition and seek there."""
        assigned = self._consumer.assignment()
        async with self._engine.connect() as conn:
            stored = await store.load_offsets(conn, self._group, assigned)
        async with self._lock:
            self.lag.assigned({tp: stored.get(tp) for tp in assigned})
            await self._rewind(assigned)

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
                applied = await apply_records(
                    conn,
                    records,
                    loyal_min_orders=self._loyal_min_orders,
                    now=now,
                    partitions=_telemetry_partitions(items),
                )
                if not await store.advance_offsets(conn, self._group, moves, now):
                    raise FencedError("offsets moved by another member")
            self._metrics.observe_batch(
                records, applied.duplicates, asyncio.get_running_loop().time() - started
            )
            self._metrics.observe_signals(applied.signals)
            if applied.signals and self._outbox is not None:
                self._outbox.notify()
            self._note_applied(items, moves)
        await self._commit_kafka(moves)

    def _note_applied(self, items: Sequence[Item], moves: Moves) -> None:
        last: dict[tuple[str, int], Record] = {}
        for item in items:
            if item.decoded is not None:
                last[(item.raw.topic, item.raw.partition)] = item.decoded
        for tp, (_, new) in moves.items():
            decoded = last.get(tp)
            self.lag.applied(
                tp,
                new,
                decoded.received_at if decoded else self._clock(),
                decoded.event.occurred_at if decoded else None,
            )

    async def _apply_one_by_one(self, items: Sequence[Item]) -> None:
        """Isolate the record that violates a constraint: apply each alone."""
        for item in items:
            try:
                await self._apply([item])
            except (DataError, IntegrityError) as exc:
                reason = f"database refused the record: {exc.orig!r}"[:1000]
                await self._apply([Item(item.raw, None, reason)])

    def _still_ours(self, items: Sequence[Item]) -> list[Item]:
        """Drop records of partitions revoked or repositioned since the fetch, and
        records already applied."""
        positions = self.lag.positions()
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

    def _moves(self, items: Sequence[Item]) -> Moves:
        """Per partition: (the offset the database should hold now, the new one)."""
        positions = self.lag.positions()
        moves: Moves = {}
        for item in items:
            tp = (item.raw.topic, item.raw.partition)
            expected = positions[tp].committed
            moves[tp] = (expected, max(moves.get(tp, (expected, -1))[1], item.raw.offset + 1))
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
            # The reason names fields, never their values: no personal data in logs.
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

    async def _commit_kafka(self, moves: Moves) -> None:
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
