"""Publish stored signals to the signals topic exactly once (the table is the outbox).

One publisher at a time: on PostgreSQL the instance holding an advisory lock, on
SQLite the only instance. A crash between the broker's acknowledgement and marking the
rows published must neither lose nor duplicate a signal, so whoever becomes the
publisher first reads back the tail of every signals partition: a signal whose id is
at most the highest id found in its partition is already there (each partition
receives signals in id order) and is marked published without being sent again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.metrics import Metrics
from basewatch_projector.rules.signals import OnSignals, Row
from basewatch_projector.storage.bulk import any_of
from basewatch_projector.storage.tables import signals
from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient

log = logging.getLogger("basewatch.projector.outbox")
_BATCH = 500


def signal_value(row: Any) -> tuple[bytes, bytes]:
    """The key and JSON value of a signal record."""
    key = row.installation_id if row.kind.startswith("installation.") else row.customer_id
    value = {
        "signal_id": row.signal_id,
        "kind": row.kind,
        "installation_id": row.installation_id,
        "customer_id": row.customer_id,
        "product_id": row.product_id,
        "previous_status": row.previous_status,
        "status": row.status,
        "occurred_at": row.occurred_at,
        "detected_at": row.detected_at,
        "silent_since": row.silent_since,
    }
    return (key or "").encode(), orjson.dumps(value)


class Outbox:
    """Moves unpublished signal rows to the broker, in id order, once."""

    def __init__(
        self, engine: AsyncEngine, producer: AIOKafkaProducer, bootstrap: str, topic: str
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._bootstrap = bootstrap
        self._topic = topic
        self._wake = asyncio.Event()
        self._partitioner = DefaultPartitioner()
        # One publisher per signals topic: the advisory lock is named after the topic.
        digest = hashlib.sha256(f"basewatch-outbox:{topic}".encode()).digest()
        self.lock_key = int.from_bytes(digest[:8], "big", signed=True)

    def notify(self) -> None:
        """New signals were committed: publish soon."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish while this instance holds the publisher role; retry on failures."""
        while not stop.is_set():
            try:
                async with self._engine.connect() as lock_conn:
                    if await self._acquire(lock_conn):
                        try:
                            await self._publish_while_leader(stop, lock_conn)
                        finally:
                            await self._release(lock_conn)
            except MAYBE_TRANSIENT as exc:
                if not transient(exc):
                    raise
                log.warning("signal publishing failed, retrying", extra={"error": repr(exc)})
            await _wait(self._wake, stop, 2.0)

    async def _acquire(self, conn: AsyncConnection) -> bool:
        if conn.dialect.name != "postgresql":
            return True
        # Session-level: released when this connection closes (crash included), and kept
        # across the commit, which ends the transaction the statement began: left open,
        # its snapshot held back every row version dead since, so PostgreSQL could prune
        # or vacuum none of them while this instance published.
        held = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.lock_key})
        await conn.commit()
        return bool(held)

    async def _holds(self, conn: AsyncConnection) -> bool:
        """Whether this session still holds the lock. A session that ended (the database
        restarted, an operator ended it) took its lock along, and another replica may
        hold it now: the error its connection raises sends ``run`` to take it again."""
        if conn.dialect.name != "postgresql":
            return True
        held = await conn.scalar(_HELD, lock_parts(self.lock_key))
        await conn.commit()
        return bool(held)

    async def _release(self, conn: AsyncConnection) -> None:
        # The connection goes back to the pool: a session lock would outlive us there.
        if conn.dialect.name == "postgresql" and not conn.invalidated:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.lock_key})
            await conn.commit()

    async def _publish_while_leader(self, stop: asyncio.Event, lock_conn: AsyncConnection) -> None:
        await self._skip_already_published()
        while not stop.is_set():
            self._wake.clear()
            # The lock checked before each batch: a publisher that lost it sends at most
            # the batch in flight beside the one that took it over.
            while await self._holds(lock_conn):
                if not await self._publish_batch():
                    break
            else:
                return  # lost without an error: take it again before publishing more
            await _wait(self._wake, stop, 1.0)

    async def _publish_batch(self) -> bool:
        """Send the next unpublished signals and mark them; False when none are left."""
        rows = await self._unpublished(_BATCH)
        if not rows:
            return False
        futures = []
        for row in rows:
            key, value = signal_value(row)
            futures.append(await self._producer.send(self._topic, value=value, key=key))
        await asyncio.gather(*futures)
        await self._mark([row.signal_id for row in rows])
        return True

    async def _unpublished(self, limit: int | None) -> Sequence[Any]:
        """Signals not yet marked published, oldest first."""
        query = select(signals).where(signals.c.published_at.is_(None))
        async with self._engine.connect() as conn:
            return (await conn.execute(query.order_by(signals.c.signal_id).limit(limit))).all()

    async def _mark(self, ids: Sequence[int]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(signals)
                .where(any_of(conn, signals.c.signal_id, ids))
                .values(published_at=datetime.now(UTC))
            )

    async def _skip_already_published(self) -> None:
        """Mark what a previous publisher sent but did not get to mark."""
        pending = await self._unpublished(None)
        if not pending:
            return
        highest = await self._highest_published()
        parts = sorted(highest)
        sent = []
        for row in pending:
            key, _ = signal_value(row)
            partition = self._partitioner(key, parts, parts)
            if row.signal_id <= highest.get(partition, -1):
                sent.append(row.signal_id)
        if sent:
            log.info("signals found on the topic, marked published", extra={"count": len(sent)})
            await self._mark(sent)

    async def _highest_published(self) -> dict[int, int]:
        """Per signals partition, the highest signal_id already on the topic."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(self._topic) or set()
            tps = [TopicPartition(self._topic, p) for p in parts]
            highest = dict.fromkeys(parts, -1)
            if not tps:
                return highest
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                # Some brokers answer the base offset of the last batch + 1 here; reading
                # from one before it to the end covers the last record either way.
                consumer.seek(tp, max(0, ends[tp] - 1))
            remaining = {tp for tp in tps if ends[tp] > 0}
            while remaining:
                fetched = await consumer.getmany(*remaining, timeout_ms=1000)
                for tp, records in fetched.items():
                    for record in records:
                        signal_id = orjson.loads(record.value)["signal_id"]
                        highest[tp.partition] = max(highest[tp.partition], signal_id)
                for tp in list(remaining):
                    if (consumer.highwater(tp) or 0) <= await consumer.position(tp):
                        remaining.discard(tp)
            return highest
        finally:
            await consumer.stop()


# Whether this session holds the advisory lock (key split as pg_locks shows it).
_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
    " AND pid = pg_backend_pid() AND granted"
    " AND classid = :high AND objid = :low AND objsubid = 1)"
)


def lock_parts(key: int) -> dict[str, int]:
    """A bigint advisory lock key as pg_locks shows it: two unsigned 32-bit halves."""
    return {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF}


async def _wait(event: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` or ``stop`` is set, or ``seconds`` pass."""
    waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())}
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def stored_then_published(metrics: Metrics, outbox: Outbox) -> OnSignals:
    """Count committed signals and wake the outbox to publish them."""

    def stored(rows: Sequence[Row]) -> None:
        metrics.observe_signals(rows)
        if rows:
            outbox.notify()

    return stored
