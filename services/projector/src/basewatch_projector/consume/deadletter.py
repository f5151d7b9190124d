"""The dead-letter topic: records that cannot be applied, with where they came from.

A record goes there when it is not JSON, fails the contract, or violates a constraint;
it is acknowledged by the broker before the offset moves past it, so the partition
keeps moving and nothing is lost (a crash between the two can dead-letter a record
twice). The reason names fields, never their values: no personal data in headers or
logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from basewatch_projector.consume.decode import Item
from basewatch_projector.metrics import Metrics

log = logging.getLogger("basewatch.projector.consumer")
MAX_REASON_BYTES = 1000


class DeadLetters:
    """Sends failed records to the dead-letter topic and waits for the acknowledgements."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, metrics: Metrics) -> None:
        self._producer = producer
        self._topic = topic
        self._metrics = metrics

    async def send(self, failed: Sequence[Item]) -> None:
        """Dead-letter ``failed``, each with its origin and reason in its headers."""
        if not failed:
            return
        futures = []
        for item in failed:
            raw = item.raw
            headers = [
                ("basewatch.original.topic", raw.topic.encode()),
                ("basewatch.original.partition", str(raw.partition).encode()),
                ("basewatch.original.offset", str(raw.offset).encode()),
                ("basewatch.error", (item.error or "").encode()[:MAX_REASON_BYTES]),
            ]
            futures.append(
                await self._producer.send(
                    self._topic, value=raw.value, key=raw.key, headers=headers
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
