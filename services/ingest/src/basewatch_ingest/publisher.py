"""Put accepted events on Kafka as broker batches and wait for the acknowledgement.

``publish`` returns only when the broker has acknowledged every record (``acks=all``);
it raises ``BrokerUnavailable`` when that does not happen within the produce timeout,
so the API can answer 503 instead of 202 and no request hangs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from basewatch_ingest.errors import BrokerUnavailable

log = logging.getLogger("basewatch.ingest.publisher")


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to produce: its topic, partition key and encoded value."""

    topic: str
    key: bytes
    value: bytes


def make_producer(bootstrap_servers: str, idempotence: bool) -> AIOKafkaProducer:
    """The one long-lived producer of the process (created in the lifespan)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id="basewatch-ingest",
        acks="all",
        enable_idempotence=idempotence,
        # Below Kafka's default message.max.bytes (1 MiB) with room for the batch header.
        max_batch_size=512 * 1024,
        max_request_size=1024 * 1024,
        linger_ms=2,
        request_timeout_ms=10_000,
        retry_backoff_ms=100,
    )


class Publisher:
    """Groups records by partition into broker batches and awaits all acknowledgements."""

    def __init__(self, producer: AIOKafkaProducer, timeout: timedelta) -> None:
        self._producer = producer
        self._timeout = timeout.total_seconds()
        # The same murmur2 partitioner as the Java client, so keys land where Kafka's own
        # producers would put them.
        self._partitioner = DefaultPartitioner()

    async def publish(self, records: Sequence[OutRecord]) -> None:
        """Produce ``records``; return once the broker acknowledged all of them."""
        try:
            async with asyncio.timeout(self._timeout):
                futures = await self._send_batches(records)
                await asyncio.gather(*futures)
        except TimeoutError:
            raise BrokerUnavailable("the broker did not acknowledge in time") from None
        except KafkaError as exc:
            raise BrokerUnavailable(f"the broker refused the batch: {exc}") from exc

    async def _send_batches(self, records: Sequence[OutRecord]) -> list[asyncio.Future[object]]:
        by_partition: dict[tuple[str, int], list[OutRecord]] = defaultdict(list)
        partitions: dict[str, list[int]] = {}
        for record in records:
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await self._producer.partitions_for(record.topic))
            all_parts = partitions[record.topic]
            partition = self._partitioner(record.key, all_parts, all_parts)
            by_partition[(record.topic, partition)].append(record)
        futures: list[asyncio.Future[object]] = []
        for (topic, partition), batch_records in by_partition.items():
            batch = self._producer.create_batch()
            for record in batch_records:
                if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                    futures.append(
                        await self._producer.send_batch(batch, topic, partition=partition)
                    )
                    batch = self._producer.create_batch()
                    batch.append(key=record.key, value=record.value, timestamp=None)
            futures.append(await self._producer.send_batch(batch, topic, partition=partition))
        return futures
