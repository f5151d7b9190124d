"""Put accepted events on Kafka as broker batches and wait for the acknowledgement.

Concurrent requests share batches. Each partition has a *lane*: an open batch that
every request appends its records to. One flusher task hands batches to the producer
in *rounds*, one per broker node at a time, like the producer's one request in flight
per node: a round takes the open batch of every lane led by that node, so they travel
in one produce request, and while the broker works on it the next batches fill. A
record waits at most for the round in flight and its own. Under load batches grow
instead of queueing up one per request (a broker's cost is mostly per batch and per
request, not per record). A request waits for the acknowledgement of every batch
that holds one of its records.

``publish`` returns only when the broker has acknowledged every record (``acks=all``)
and raises ``BrokerUnavailable`` when that does not happen within the produce
timeout, or the broker answers an error, so the API answers 503 instead of 202 and no
request hangs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from basewatch_ingest.broker import Broker
from basewatch_ingest.errors import BROKER_ERRORS, BrokerUnavailable
from basewatch_ingest.lanes import Lane, partition_index, settle
from basewatch_ingest.metrics import Metrics

log = logging.getLogger("basewatch.ingest.publisher")


class OutRecord(Protocol):
    """One record to produce: its topic, partition key and encoded value."""

    @property
    def topic(self) -> str:
        """The topic's name."""

    @property
    def key(self) -> bytes:
        """The partition key."""

    @property
    def value(self) -> bytes:
        """The record value."""


class Publisher:
    """Appends records to shared per-partition batches and awaits their acknowledgement."""

    def __init__(self, broker: Broker, timeout: float, metrics: Metrics) -> None:
        self._broker = broker
        self._timeout = timeout
        self._metrics = metrics
        self._lanes: dict[tuple[str, int], Lane] = {}
        self._ready: dict[Lane, None] = {}  # idle lanes with records, in arrival order
        self._unacked: Counter[int | None] = Counter()  # batches out, by leader node
        self._wakeup = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    @property
    def timeout(self) -> float:
        """Seconds a record may wait for the broker's acknowledgement."""
        return self._timeout

    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Produce ``records``; return once the broker acknowledged all of them."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self._timeout
        try:
            producer = self._broker.producer
            acks = await self._append(producer, records, deadline)
            # wait(), not gather(): a request that gives up must not cancel batches that
            # other requests share. (And cheaper than asyncio.timeout on this hot path.)
            done, pending = await asyncio.wait(acks, timeout=max(0.0, deadline - loop.time()))
            if pending:
                raise TimeoutError
            for ack in done:
                ack.result()
        except BrokerUnavailable:
            self._metrics.produce_errors.labels("not_connected").inc()
            raise
        except TimeoutError:
            self._metrics.produce_errors.labels("timeout").inc()
            raise BrokerUnavailable("the broker did not acknowledge in time") from None
        except BROKER_ERRORS as exc:
            self._metrics.produce_errors.labels("broker_error").inc()
            raise BrokerUnavailable(f"the broker refused the batch: {exc!r}") from exc
        finally:
            self._metrics.produce_seconds.observe(loop.time() - started)

    async def close(self) -> None:
        """Stop the flusher; requests still waiting are refused (503), never left hanging."""
        if self._flusher is not None:
            flusher, self._flusher = self._flusher, None
            flusher.remove_done_callback(self._flusher_died)
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
        gone = BrokerUnavailable("ingest is shutting down")
        for lane in self._lanes.values():
            while (taken := lane.take()) is not None:
                settle(taken[1], gone)

    async def _append(
        self, producer: AIOKafkaProducer, records: Sequence[OutRecord], deadline: float
    ) -> set[asyncio.Future[None]]:
        partitions: dict[str, list[int]] = {}
        acks: set[asyncio.Future[None]] = set()
        touched: dict[Lane, None] = {}
        lanes = self._lanes
        for record in records:  # per record: find its lane, append
            topic, key = record.topic, record.key
            parts = partitions.get(topic)
            if parts is None:  # once per topic and request
                parts = partitions[topic] = _known_partitions(producer, topic) or await _partitions(
                    producer, topic, deadline
                )
            partition = parts[partition_index(key, len(parts))]
            lane = lanes.get((topic, partition))
            if lane is None:
                lane = lanes[(topic, partition)] = Lane(topic, partition)
            acks.add(lane.append(producer, key, record.value))
            touched[lane] = None
        cluster = producer.client.cluster
        for lane in touched:  # per lane: make it ready
            if not lane.busy and lane not in self._ready:
                self._ready[lane] = None
                # Wake the flusher only if it can send now; else the round's end will.
                if not self._unacked[cluster.leader_for_partition(lane.tp)]:
                    self._wakeup.set()
        if self._flusher is None:
            self._start_flusher(producer)
        return acks

    def _start_flusher(self, producer: AIOKafkaProducer) -> None:
        self._flusher = asyncio.create_task(self._flush_forever(producer))
        self._flusher.add_done_callback(self._flusher_died)

    def _flusher_died(self, task: asyncio.Task[None]) -> None:
        # Only a bug ends the flusher; without it every request would wait until its
        # timeout, so say so loudly and start another.
        if not task.cancelled():
            log.error("the flusher stopped; starting another", exc_info=task.exception())
            self._start_flusher(self._broker.producer)

    async def _flush_forever(self, producer: AIOKafkaProducer) -> None:
        cluster = producer.client.cluster
        while True:
            await self._wakeup.wait()
            # Two turns of the loop before taking the round: the requests whose bodies
            # arrived in the same turn as the one that woke it append first, and travel
            # in this round instead of the next (bench.ingest, single events: 172-177 ->
            # 160-164 us of server CPU per request; no wait when nothing else is ready).
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            self._wakeup.clear()
            busy = {node for node, batches in self._unacked.items() if batches}
            ready, self._ready = self._ready, {}
            held: dict[Lane, None] = {}
            for lane in ready:
                node = cluster.leader_for_partition(lane.tp)
                if node in busy:  # joins that node's next round, with what comes meanwhile
                    held[lane] = None
                    continue
                # The producer holds no batch of an idle lane, so this does not suspend
                # and the round's batches go into one produce request.
                await self._send(producer, lane, node)
            self._ready = held | self._ready

    async def _send(self, producer: AIOKafkaProducer, lane: Lane, node: int | None) -> None:
        if (taken := lane.take()) is None:
            return
        batch, acked = taken
        try:
            delivered = await producer.send_batch(batch, lane.topic, partition=lane.partition)
        except BROKER_ERRORS as exc:
            settle(acked, exc)
            self._requeue(lane)
            return
        lane.busy = True
        self._unacked[node] += 1
        delivered.add_done_callback(functools.partial(self._delivered, lane, node, acked))

    def _delivered(
        self,
        lane: Lane,
        node: int | None,
        acked: asyncio.Future[None],
        delivered: asyncio.Future[Any],
    ) -> None:
        """Pass the producer's outcome on to the requests waiting; the lane is idle again."""
        if delivered.cancelled():
            settle(acked, BrokerUnavailable("the batch was cancelled"))
        else:
            settle(acked, delivered.exception())
        lane.busy = False
        self._unacked[node] -= 1
        if lane.has_records():
            self._ready.setdefault(lane, None)
        if not self._unacked[node] and self._ready:  # the node's round is done: next one
            self._wakeup.set()

    def _requeue(self, lane: Lane) -> None:
        if lane.has_records() and lane not in self._ready:
            self._ready[lane] = None
            self._wakeup.set()


def _known_partitions(producer: AIOKafkaProducer, topic: str) -> list[int] | None:
    """The topic's partitions, sorted, from cached metadata (no coroutine: the hot path)."""
    known: set[int] | None = producer.client.cluster.partitions_for_topic(topic)
    return sorted(known) if known else None


async def _partitions(producer: AIOKafkaProducer, topic: str, deadline: float) -> list[int]:
    """The topic's partitions, sorted; asked within the deadline when not cached."""
    known: set[int] | None = producer.client.cluster.partitions_for_topic(topic)
    if known is None:  # the topic's first use, or a topic that does not exist
        async with asyncio.timeout_at(deadline):
            known = await producer.partitions_for(topic)
    if not known:
        raise BrokerUnavailable(f"the broker has no partitions for {topic!r}")
    return sorted(known)
