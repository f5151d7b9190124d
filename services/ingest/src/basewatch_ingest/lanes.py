"""Lanes: the records bound for one partition, in batches that concurrent requests share.

A lane holds full ("sealed") batches in order and one open batch that requests append
to; each batch has one future that settles when the broker acknowledged it (or not).
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2


@functools.lru_cache(maxsize=1 << 15)
def partition_index(key: bytes, partitions: int) -> int:
    """The partition Kafka's Java client picks for ``key`` (murmur2), as an index."""
    # aiokafka's murmur2 is pure Python; events of one entity repeat keys, so cache.
    index: int = (murmur2(key) & 0x7FFFFFFF) % partitions
    return index


class Lane:
    """The records bound for one partition: full batches in order, then an open one."""

    __slots__ = ("acked", "batch", "busy", "partition", "sealed", "topic", "tp")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.tp = TopicPartition(topic, partition)
        self.batch: Any = None  # the open BatchBuilder, or None
        self.acked: asyncio.Future[None] | None = None  # settles when `batch` is acknowledged
        self.sealed: deque[tuple[Any, asyncio.Future[None]]] = deque()
        self.busy = False  # a batch of this lane is with the producer, not yet acknowledged

    def append(self, producer: AIOKafkaProducer, key: bytes, value: bytes) -> asyncio.Future[None]:
        """Append a record to the open batch; the future of the batch that holds it."""
        if self.batch is None or self.acked is None:
            self._open(producer)
        if self.batch.append(key=key, value=value, timestamp=None) is None:
            # The open batch is full: seal it and start another.
            assert self.acked is not None
            self.sealed.append((self.batch, self.acked))
            self._open(producer)
            if self.batch.append(key=key, value=value, timestamp=None) is None:
                # Events are at most 32 KiB and batches 512 KiB: a bug, not a client error.
                raise ValueError("a record is larger than the producer's batch size")
        assert self.acked is not None
        return self.acked

    def take(self) -> tuple[Any, asyncio.Future[None]] | None:
        """The next batch to hand to the producer: full ones first, then the open one."""
        if self.sealed:
            return self.sealed.popleft()
        if self.batch is None or self.acked is None:
            return None
        taken = (self.batch, self.acked)
        self.batch = self.acked = None
        return taken

    def has_records(self) -> bool:
        """Whether a batch waits to be handed to the producer."""
        return bool(self.sealed) or self.batch is not None

    def _open(self, producer: AIOKafkaProducer) -> None:
        self.batch = producer.create_batch()
        self.acked = asyncio.get_running_loop().create_future()
        # Every request waiting for it may have given up: never leave an error unread.
        self.acked.add_done_callback(_read_exception)


def settle(acked: asyncio.Future[None], exc: BaseException | None) -> None:
    """Resolve a batch's future with its outcome, unless it already has one."""
    if acked.done():
        return
    if exc is None:
        acked.set_result(None)
    else:
        acked.set_exception(exc)


def _read_exception(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
