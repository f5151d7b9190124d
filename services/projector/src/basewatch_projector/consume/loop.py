"""The consume loop: batches from Kafka, applied exactly once to the database.

Each batch is one transaction that applies the records and moves the stored offsets
with a compare-and-set (``projection/offsets.py``); Kafka offsets are committed
afterwards, best effort, for standard lag tools. Per turn of the loop:

1. hold back what belongs after the pending history boundary or a partition's next
   silence deadline (``holding.py``, ``churn/cut.py``);
2. apply the rest in one transaction, while the next fetch is decoded (``fetching.py``);
   a record the database refuses goes to the dead-letter topic; an outage is retried
   with the partitions paused while polling (membership kept); a bug propagates;
3. sample the history boundaries this instance has passed, then sweep the partitions
   whose clocks reached a deadline (or all, when the periodic sweep is due).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.churn.cut import Cut
from basewatch_projector.churn.schedule import Sweeper
from basewatch_projector.consume.deadletter import DeadLetters
from basewatch_projector.consume.decode import Item, offset_moves, telemetry_partitions
from basewatch_projector.consume.fetching import GET_RECORDS, Fetched, Fetcher
from basewatch_projector.consume.holding import Holding
from basewatch_projector.consume.lag import LagTracker
from basewatch_projector.consume.pausing import Pausing, Reason
from basewatch_projector.consume.rebalance import Assignment
from basewatch_projector.errors import FencedError
from basewatch_projector.history.recorder import Recorder
from basewatch_projector.metrics import Metrics
from basewatch_projector.projection.apply import apply_records
from basewatch_projector.projection.known import Known
from basewatch_projector.projection.offsets import Moves, advance_offsets
from basewatch_projector.rules.clock import Standing
from basewatch_projector.rules.signals import OnSignals
from basewatch_projector.storage.counts import fold
from basewatch_projector.storage.statistics import Statistics
from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient
from basewatch_shared.contract.records import Record
from basewatch_shared.keyring.reader import KeysReader
from basewatch_shared.topics import Topics

log = logging.getLogger("basewatch.projector.consumer")
MAX_BACKOFF_S = 30.0


class Consumer:
    """Owns the Kafka consumer and applies what it fetches to the database."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        engine: AsyncEngine,
        *,
        topics: Topics,
        group: str,
        loyal_min_orders: int,
        batch_max_records: int,
        lag: LagTracker,
        metrics: Metrics,
        dead_letters: DeadLetters,
        recorder: Recorder,
        sweeper: Sweeper,
        on_signals: OnSignals,
        known: Known,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        keys: KeysReader | None = None,
    ) -> None:
        self._kafka, self._engine, self._topics = consumer, engine, topics
        self._group, self._loyal_min_orders = group, loyal_min_orders
        self.lag, self._metrics, self._dead_letters = lag, metrics, dead_letters
        self._recorder, self._sweeper, self._on_signals = recorder, sweeper, on_signals
        self._clock, self._known = clock, known
        self._pausing = Pausing(consumer)
        self._statistics = Statistics(engine)
        self._holding = Holding(self._pausing, batch_max_records)
        self._assignment = Assignment(
            consumer, engine, group=group, lag=lag, pausing=self._pausing,
            holding=self._holding, metrics=metrics, known=known,
        )  # fmt: skip
        self._fetcher = Fetcher(  # keys: opens sealed personal fields
            consumer, self._assignment, lag, max_records=batch_max_records, keys=keys
        )

    def subscribe(self) -> None:
        """Subscribe to the customers and telemetry topics with our rebalance listener."""
        self._kafka.subscribe(
            [self._topics.customers, self._topics.telemetry],
            listener=self._assignment.listener(),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in flight finishes or rolls back whole."""
        fetched: Fetched | None = None  # decoded while the batch before was applied
        sampled = False  # the last tick moved the boundary: a replay's empty hour, no wait
        while not stop.is_set():
            if fetched is None and self._holding.overflowing:
                fetched = self._fetcher.nothing()  # a batch's worth is held already
            elif fetched is None:
                ready = sampled or self._holding.ready(self._cut())
                # Until the first boundary is known every record is held, waiting for
                # each partition's first one: a part is enough (whole batches held 51,000
                # records at a catch-up's start, and their memory stayed the process's).
                most = GET_RECORDS if self._recorder.pending is None else None
                fetched = await self._fetcher.fetch(wait_ms=0 if ready else 200, most=most)
            # Cut at the pending boundary and the deadlines now, after the batch before.
            items = self._holding.admit(fetched.items, fetched.epochs, self._cut())
            fetched = None
            if items and self._holding.overflowing:
                await self._process(items, stop)
            elif items:
                fetched = await self._fetcher.fetch_while(self._process(items, stop))
            self.lag.export()
            await self._statistics.keep()  # a catch-up's tables outgrow their statistics
            async with self._assignment.lock:
                sampled = await self._recorder.tick(self._standing(), stop)
            async with self._assignment.lock:
                await self._sweeper.catch_up(self._standing(), self._recorder.bound)

    def _cut(self) -> Cut:
        return self._sweeper.cut(self._recorder.pending, self.lag.positions())

    def _standing(self) -> Standing:
        return Standing(
            owned=self._kafka.assignment(),
            positions=self.lag.positions(),
            held=self._holding.first_held(),
            now=self._clock(),
        )

    async def _process(self, items: list[Item], stop: asyncio.Event) -> None:
        """Apply a batch; retry it while the database or the broker is out."""
        backoff = 0.5
        try:
            while not await self._attempt(items, stop, backoff):
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        finally:
            self._pausing.release(Reason.RETRYING)

    async def _attempt(self, items: list[Item], stop: asyncio.Event, backoff: float) -> bool:
        """One try at a batch: True when it is done with, False after waiting ``backoff``."""
        try:
            await self._apply(items)
            return True
        except FencedError:
            log.warning("another member moved these partitions first; batch dropped")
            await self._assignment.resync()
            return True
        except (DataError, IntegrityError) as exc:
            await self._isolate_refused(items, exc)
            return True
        except MAYBE_TRANSIENT as exc:
            # An outage, not data: retry the same batch, never drop or dead-letter it.
            if stop.is_set() or not transient(exc):
                raise
            self._metrics.retries.inc()
            log.warning("batch failed, retrying", extra={"error": repr(exc), "backoff_s": backoff})
        await self._wait_polling(backoff)
        return False

    async def _wait_polling(self, seconds: float) -> None:
        """Keep polling with the partitions paused (the group sees us alive); records of a
        partition assigned meanwhile are not applied now: rewind it to fetch them again."""
        self._pausing.hold(Reason.RETRYING, self._kafka.assignment())
        stray = await self._kafka.getmany(timeout_ms=int(seconds * 1000))
        if stray:
            async with self._assignment.lock:
                await self._assignment.rewind(set(stray))

    async def _apply(self, items: Sequence[Item]) -> None:
        async with self._assignment.lock:
            items = self._assignment.still_ours(items)
            if not items:
                return
            await asyncio.sleep(0)  # a turn for the read API between walks of the batch
            await self._dead_letters.send([i for i in items if i.error is not None])
            records = [i.decoded for i in items if i.decoded is not None]
            moves = offset_moves(items, self.lag.positions())
            await asyncio.sleep(0)
            await self._commit(items, records, moves)
        await self._commit_kafka(moves)

    async def _commit(self, items: Sequence[Item], records: list[Record], moves: Moves) -> None:
        """Apply ``records`` and move the stored offsets, in one transaction."""
        now = self._clock()
        started = asyncio.get_running_loop().time()
        partitions = telemetry_partitions(items)
        async with self._engine.begin() as conn:
            applied = await apply_records(
                conn,
                records,
                loyal_min_orders=self._loyal_min_orders,
                policy=self._sweeper.policy,
                now=now,
                partitions=partitions,
                known=self._known,
                erasures=[i.erasure for i in items if i.erasure is not None],
            )
            if not await advance_offsets(conn, self._group, moves, now):
                raise FencedError("offsets moved by another member")
            await fold(conn)  # the batch's changes of the kept counts, summed
        elapsed = asyncio.get_running_loop().time() - started
        # Each step walks the batch: the read API gets turns between them (the lock held
        # keeps the rebalance listener and the sweep out meanwhile).
        self._known.remember((after for _, after in applied.installations), now)
        await asyncio.sleep(0)
        self._metrics.observe_batch(records, applied.duplicates, elapsed)
        self._on_signals(applied.signals)
        await asyncio.sleep(0)
        self.lag.note_applied(items, moves)
        self._sweeper.touched((after for _, after in applied.installations), self.lag.positions())

    async def _isolate_refused(self, items: Sequence[Item], exc: DBAPIError) -> None:
        """Halve a batch the database refused (``exc``) until each refused record is alone,
        then dead-letter it with its epoch (without, it is dropped as stale: lost). The
        reason names the error's class only: its message may quote the record's values."""
        if len(items) == 1:
            item = items[0]
            where = {"topic": item.raw.topic, "partition": item.raw.partition}
            log.warning("database refused a record; dead-lettered", extra=where)
            reason = f"database refused the record: {type(exc.orig).__name__}"
            await self._apply([Item(item.raw, None, reason, item.epoch)])
            return
        half = len(items) // 2
        for part in (items[:half], items[half:]):
            try:
                await self._apply(part)
            except (DataError, IntegrityError) as refused:
                await self._isolate_refused(part, refused)

    async def _commit_kafka(self, moves: Moves) -> None:
        offsets = {TopicPartition(t, p): new for (t, p), (_, new) in moves.items()}
        try:
            await self._kafka.commit(offsets)
        except (KafkaError, AssertionError) as exc:
            # The database already holds these offsets; Kafka's copy is for lag tools only.
            log.info("kafka offset commit skipped", extra={"error": repr(exc)})
