"""Reads the keys topic from its start into a KeyRing, and follows it.

No consumer group: every process reads every partition (each replica needs every key).
``caught_up()`` returns once the ring holds every record that was on the topic when it
was called: a fetch after the call reported each partition's end (its highwater, which
is what both Apache Kafka and the embedded broker report correctly) and it was read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from basewatch_shared.keyring.ring import KeyRing

log = logging.getLogger("basewatch.keyring")


class KeysReader:
    """The one consumer of the keys topic in a process; owns the KeyRing it fills."""

    def __init__(
        self, bootstrap_servers: str, topic: str, ring: KeyRing, request_timeout_s: float = 10
    ) -> None:
        self.ring = ring
        self._topic = topic
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="basewatch-keys",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            # Bounds each request, and so how long a start that timed out is waited for.
            request_timeout_ms=int(request_timeout_s * 1000),
        )
        self._partitions: list[TopicPartition] = []
        self._read: dict[TopicPartition, int] = {}  # next offset to read, per partition
        self._ends: dict[TopicPartition, int] = {}  # highwater seen by the last fetch
        self._fetches = 0
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout_s: float = 30) -> None:
        """Connect, take every partition, and read the topic to its end (TimeoutError).

        The client's own start is never cancelled half-way: aiokafka leaks its bootstrap
        connection when cancelled while it waits for the metadata answer
        (aio-libs/aiokafka#715). On a timeout (or a cancellation) it is waited for, bounded
        by the request timeout, and the error raised after."""
        started = asyncio.ensure_future(self._consumer.start())
        try:
            await asyncio.wait_for(asyncio.shield(started), timeout_s)
        except BaseException:
            await asyncio.wait({started})  # a second cancellation leaves it running
            if not started.cancelled():
                started.exception()  # retrieved: the timeout or cancellation says it
            raise
        async with asyncio.timeout(timeout_s):
            known = self._consumer.partitions_for_topic(self._topic)
            while not known:
                await self._consumer.topics()
                known = self._consumer.partitions_for_topic(self._topic)
                if not known:
                    await asyncio.sleep(0.1)  # the topic is being created: ask again
            self._partitions = [TopicPartition(self._topic, p) for p in sorted(known)]
            self._consumer.assign(self._partitions)
            await self._consumer.seek_to_beginning(*self._partitions)
            self._task = asyncio.create_task(self._follow())
            await self.caught_up()

    async def stop(self) -> None:
        """Stop following; safe to call twice."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._consumer.stop()

    async def caught_up(self) -> None:
        """Return once every record on the topic at the time of the call is in the ring."""
        async with self._progress:
            after = self._fetches
            await self._progress.wait_for(lambda: self._fetches > after + 1 and self._at_end())

    async def read_past(self, partition: int, offset: int) -> None:
        """Return once the record at ``offset`` of ``partition`` is in the ring."""
        tp = TopicPartition(self._topic, partition)
        async with self._progress:
            await self._progress.wait_for(lambda: self._read.get(tp, 0) > offset)

    def partitions(self) -> int:
        """How many partitions the keys topic has."""
        return len(self._partitions)

    def _at_end(self) -> bool:
        return all(self._read.get(tp, 0) >= self._ends.get(tp, 0) for tp in self._partitions)

    async def _follow(self) -> None:
        while True:
            batches = await self._consumer.getmany(*self._partitions, timeout_ms=200)
            self._take(tp_records for tp_records in batches.items())
            for tp in self._partitions:
                end = self._consumer.highwater(tp)
                if end is not None:
                    self._ends[tp] = end
            async with self._progress:
                self._fetches += 1
                self._progress.notify_all()

    def _take(self, batches: Iterable[tuple[TopicPartition, list[object]]]) -> None:
        for tp, records in batches:
            for record in records:
                self.ring.apply(record.key or b"", record.value)  # type: ignore[attr-defined]
                self._read[tp] = record.offset + 1  # type: ignore[attr-defined]
