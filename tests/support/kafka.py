"""Produce prepared records to the test topics in broker batches."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from basewatch_shared.topics import Topics
from tests.support.history import Out


async def produce(bootstrap: str, topics: Topics, records: Iterable[Out]) -> int:
    """Produce ``records`` keyed as ingest would; return how many were acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
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
    finally:
        await producer.stop()
