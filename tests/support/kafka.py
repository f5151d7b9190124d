"""Kafka in tests: the session's broker, producing prepared records, reading topics back."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from basewatch_shared.keyring.master import Master, parse_master_key
from basewatch_shared.keyring.reader import KeysReader
from basewatch_shared.keyring.ring import KeyRing
from basewatch_shared.topics import Topics
from tests.support.history import Out
from tests.support.keys import MASTER_KEY

TEST_PARTITIONS = 6


@dataclass(frozen=True)
class KafkaBackend:
    """The Kafka this test session talks to."""

    bootstrap_servers: str
    kind: str  # "environment", "testcontainers" or "embedded"
    idempotence: bool  # whether producers may use enable_idempotence=True


def fresh_topics() -> Topics:
    """basewatch's topic names under a prefix no other test uses (not created yet)."""
    return Topics(prefix=f"bwtest.{uuid.uuid4().hex[:10]}.")


def fresh_group() -> str:
    """A consumer group name no other test uses."""
    return f"bwtest-{uuid.uuid4().hex[:10]}"


async def produce(bootstrap: str, topics: Topics, records: Iterable[Out]) -> int:
    """Produce ``records`` keyed as ingest would; return how many were acknowledged."""
    async with producing(bootstrap) as producer:
        return await send(producer, topics, records)


@contextlib.asynccontextmanager
async def producing(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer (``acks=all``), for records stamped as they are sent: starting
    one takes seconds on a loaded machine, which must not come between a stamp and its
    send."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def send(producer: AIOKafkaProducer, topics: Topics, records: Iterable[Out]) -> int:
    """Send ``records`` with a started ``producer``, keyed as ingest would; return how
    many were acknowledged."""
    partitioner = DefaultPartitioner()
    buckets: dict[tuple[str, int], list[Out]] = defaultdict(list)
    count = 0
    for out in records:
        topic = topics.customers if out.kind == "customers" else topics.telemetry
        parts = sorted(await producer.partitions_for(topic))
        buckets[(topic, partitioner(out.key, parts, parts))].append(out)
        count += 1
    futures = []
    for (topic, partition), outs in buckets.items():
        batch = producer.create_batch()
        for out in outs:
            if batch.append(key=out.key, value=out.value, timestamp=None) is None:
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=out.key, value=out.value, timestamp=None)
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*futures)
    return count


async def log_ends(
    bootstrap: str, names: Sequence[str], *, within: float = 10.0
) -> dict[tuple[str, int], int]:
    """The log end offset of every partition of the topics ``names``.

    From fetch responses (``highwater``): the embedded broker's ListOffsets answers the
    last batch's base offset + 1 instead (../shared/local-kafka.md).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + within
        while None in (ends := [consumer.highwater(tp) for tp in partitions]):
            assert time.monotonic() < deadline, f"no fetch reported every end of {names}"
            await consumer.getmany(*partitions, timeout_ms=100, max_records=1)
        return {(tp.topic, tp.partition): end for tp, end in zip(partitions, ends, strict=True)}
    finally:
        await consumer.stop()


async def read_records(
    bootstrap: str, names: Sequence[str], *, within: float = 10.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the topics ``names``, from the beginning to the end of each partition.

    Without a consumer group (assigned partitions), so there is no rebalance to wait for;
    done once a fetch has reported each partition's end (its highwater) and it is reached.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        await consumer.topics()  # metadata, so that the partitions are known
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        assert partitions, f"no partitions for {names}"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + within
        while True:
            batches = await consumer.getmany(*partitions, timeout_ms=100)
            for batch in batches.values():
                records.extend(batch)
            ends = [consumer.highwater(tp) for tp in partitions]
            if None not in ends:
                positions = [await consumer.position(tp) for tp in partitions]
                if all(pos >= end for pos, end in zip(positions, ends, strict=True)):
                    return records
            if time.monotonic() > deadline:
                raise AssertionError(f"partitions not read to their end within {within} s")
    finally:
        await consumer.stop()


async def key_ring(bootstrap: str, topics: Topics) -> KeyRing:
    """The customers' data keys as the test services' keys topic holds them now."""
    ring = KeyRing(Master(parse_master_key(MASTER_KEY)))
    reader = KeysReader(bootstrap, topics.keys, ring)
    try:
        await reader.start(timeout_s=10)
    finally:
        await reader.stop()
    return ring
